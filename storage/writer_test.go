package storage

import (
	"context"
	"errors"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/jitbot/jitbot/access"
)

// TestQueuedWriterWhoseContextEnds: on SQLite a write waits for this
// process's earlier writer in Go. One whose context ends while it waits
// gets an error wrapping the context's, stores nothing and is told to no
// observer; the writer it waited for commits, observed once; and the queue
// is free afterwards.
func TestQueuedWriterWhoseContextEnds(t *testing.T) {
	db := openTest(t, "sqlite:"+filepath.Join(t.TempDir(), "jitbot.db"))
	ctx := context.Background()
	var mu sync.Mutex
	seen := map[access.Action]int{}
	db.OnAudit(func(ev access.AuditEvent) {
		mu.Lock()
		seen[ev.Action]++
		mu.Unlock()
	})
	ev := func(a access.Action) access.AuditEvent {
		return access.AuditEvent{At: t0, Actor: alice, Action: a, Profile: "prod-db"}
	}

	holding, release := make(chan struct{}), make(chan struct{})
	first := make(chan error, 1)
	go func() {
		first <- db.WithMembership(ctx, "group-1", alice.ObjectID, t0, func(_ *access.Membership, tx access.MembershipTx) error {
			close(holding)
			<-release
			return tx.Append(ev(access.ActionDriftFound))
		})
	}()
	<-holding

	wctx, cancel := context.WithTimeout(ctx, 50*time.Millisecond)
	defer cancel()
	err := db.AppendAudit(wctx, ev(access.ActionReconcileRemoved))
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("queued writer whose context ended: %v, want context.DeadlineExceeded", err)
	}
	close(release)
	if err := <-first; err != nil {
		t.Fatal(err)
	}
	if err := db.AppendAudit(ctx, ev(access.ActionDriftRemoved)); err != nil {
		t.Fatalf("a write after the queue emptied: %v", err)
	}

	stored, err := db.Audit(ctx, access.AuditFilter{})
	if err != nil {
		t.Fatal(err)
	}
	count := map[access.Action]int{}
	for _, e := range stored {
		count[e.Action]++
	}
	mu.Lock()
	defer mu.Unlock()
	for _, a := range []access.Action{access.ActionDriftFound, access.ActionReconcileRemoved, access.ActionDriftRemoved} {
		want := 1
		if a == access.ActionReconcileRemoved {
			want = 0
		}
		if count[a] != want || seen[a] != want {
			t.Errorf("%s: stored %d, observed %d; want %d", a, count[a], seen[a], want)
		}
	}
}
