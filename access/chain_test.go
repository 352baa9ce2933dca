package access_test

import (
	"context"
	"crypto/ed25519"
	"errors"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/jitbot/jitbot/access"
	"github.com/jitbot/jitbot/audit"
)

// TestEachAuditStreamsTheChain appends more events than one page holds and
// reads them back on each store: one unbroken chain in order, filtered as
// asked, stopped by the callback's error.
func TestEachAuditStreamsTheChain(t *testing.T) {
	forEachStore(t, func(t *testing.T, store storeKind) {
		e := newEnv(t, store)
		ctx := context.Background()
		const n = 2100
		for i := range n {
			ev := access.AuditEvent{At: start.Add(time.Duration(i) * time.Second), Actor: riley, Action: access.ActionRequested, Profile: "prod-db"}
			if i%3 == 0 {
				ev.Profile, ev.Actor, ev.TargetUserID = "staging", alex, riley.ObjectID
			}
			if err := e.store.AppendAudit(ctx, ev); err != nil {
				t.Fatal(err)
			}
		}
		var prev access.AuditEvent
		count := 0
		err := e.store.EachAudit(ctx, access.AuditQuery{}, func(ev access.AuditEvent) error {
			count++
			if ev.Seq != int64(count) || ev.PrevHash != prev.Hash || ev.Hash != audit.HashEvent(ev) {
				t.Fatalf("event %d: seq %d prev %q hash %q, after seq %d hash %q", count, ev.Seq, ev.PrevHash, ev.Hash, prev.Seq, prev.Hash)
			}
			prev = ev
			return nil
		})
		if err != nil || count != n {
			t.Fatalf("EachAudit read %d events (%v), want %d", count, err, n)
		}
		head, err := e.store.ChainHead(ctx)
		if err != nil || head != audit.Head(prev) {
			t.Errorf("ChainHead = %+v, %v; want the last event's %+v", head, err, audit.Head(prev))
		}

		collect := func(q access.AuditQuery) []int64 {
			var seqs []int64
			if err := e.store.EachAudit(ctx, q, func(ev access.AuditEvent) error { seqs = append(seqs, ev.Seq); return nil }); err != nil {
				t.Fatal(err)
			}
			return seqs
		}
		if got := collect(access.AuditQuery{Profile: "staging"}); len(got) != n/3 || got[0] != 1 || got[len(got)-1] != n-2 {
			t.Errorf("profile staging: %d events from %d, want %d from 1", len(got), got[0], n/3)
		}
		if got := collect(access.AuditQuery{UserID: riley.ObjectID, AfterSeq: 1000, Limit: 1500}); len(got) != 1100 || got[0] != 1001 || got[1099] != n {
			t.Errorf("riley after 1000: %d events", len(got))
		}
		if got := collect(access.AuditQuery{UserID: alex.ObjectID, Since: start.Add(1500 * time.Second), Until: start.Add(1510 * time.Second)}); len(got) != 4 || got[0] != 1501 {
			t.Errorf("alex in ten seconds: %v, want 1501, 1504, 1507, 1510", got)
		}
		if got := collect(access.AuditQuery{Limit: 1001}); len(got) != 1001 || got[1000] != 1001 {
			t.Errorf("limit 1001: %d events", len(got))
		}
		stop := errors.New("enough")
		seen := 0
		if err := e.store.EachAudit(ctx, access.AuditQuery{}, func(access.AuditEvent) error { seen++; return stop }); !errors.Is(err, stop) || seen != 1 {
			t.Errorf("EachAudit after the callback's error: %v after %d events", err, seen)
		}
	})
}

// TestCheckpointsAndRetention runs the checkpoint job on each store: it
// signs the head once, prunes the segment below a checkpoint older than
// the retention, and what is left verifies from that checkpoint.
func TestCheckpointsAndRetention(t *testing.T) {
	forEachStore(t, func(t *testing.T, store storeKind) {
		e := newEnv(t, store)
		ctx := context.Background()
		privPEM, _, err := audit.GenerateKey()
		if err != nil {
			t.Fatal(err)
		}
		key, err := audit.ParsePrivateKey(privPEM)
		if err != nil {
			t.Fatal(err)
		}
		now := start
		cp := &audit.Checkpointer{Store: e.store, Key: key, Retention: 24 * time.Hour, Now: func() time.Time { return now }, Logger: slog.New(slog.DiscardHandler)}
		appendN := func(n int) {
			for range n {
				if err := e.store.AppendAudit(ctx, access.AuditEvent{At: now, Actor: riley, Action: access.ActionRequested}); err != nil {
					t.Fatal(err)
				}
			}
		}
		if _, ok, err := cp.Checkpoint(ctx); ok || err != nil {
			t.Fatalf("checkpoint of an empty chain: %v, %v", ok, err)
		}
		appendN(5)
		first, ok, err := cp.Checkpoint(ctx)
		if !ok || err != nil || first.Seq != 5 {
			t.Fatalf("checkpoint: %+v, %v, %v", first, ok, err)
		}
		if _, ok, err := cp.Checkpoint(ctx); ok || err != nil {
			t.Fatalf("second checkpoint of one head: %v, %v", ok, err)
		}
		if err := e.store.AppendCheckpoint(ctx, first); !errors.Is(err, access.ErrDuplicate) {
			t.Errorf("a second checkpoint of seq 5: %v, want ErrDuplicate", err)
		}
		now = now.Add(25 * time.Hour)
		appendN(3)
		if n, err := cp.Prune(ctx); err != nil || n != 5 {
			t.Fatalf("prune: %d, %v; want the 5 events up to the day-old checkpoint", n, err)
		}
		if n, err := cp.Prune(ctx); err != nil || n != 0 {
			t.Fatalf("prune again: %d, %v", n, err)
		}
		if _, ok, err := cp.Checkpoint(ctx); !ok || err != nil {
			t.Fatalf("checkpoint after pruning: %v, %v", ok, err)
		}
		res, err := audit.Verify(ctx, e.store, audit.Options{Keys: []ed25519.PublicKey{key.Public().(ed25519.PublicKey)}, Retention: 24 * time.Hour, Now: func() time.Time { return now }})
		if err != nil || res.Events != 3 || res.FirstSeq != 6 || res.LastSeq != 8 || res.Checkpoints != 2 {
			t.Fatalf("verify after retention: %+v, %v", res, err)
		}
	})
}

// TestAuditQueryMatchesObjectIDsWithoutCase: an export for a person given
// by an upper-case object id finds their events, as Entra ID compares ids.
func TestAuditQueryMatchesObjectIDsWithoutCase(t *testing.T) {
	forEachStore(t, func(t *testing.T, store storeKind) {
		e := newEnv(t, store)
		ctx := context.Background()
		for i, who := range []access.Person{riley, alex, riley} {
			ev := access.AuditEvent{At: start.Add(time.Duration(i) * time.Second), Actor: who, Action: access.ActionRequested}
			if err := e.store.AppendAudit(ctx, ev); err != nil {
				t.Fatal(err)
			}
		}
		for _, id := range []string{riley.ObjectID, strings.ToUpper(riley.ObjectID)} {
			n := 0
			if err := e.store.EachAudit(ctx, access.AuditQuery{UserID: id}, func(access.AuditEvent) error { n++; return nil }); err != nil {
				t.Fatal(err)
			}
			if n != 2 {
				t.Errorf("events of %s: %d, want 2", id, n)
			}
		}
	})
}
