package access_test

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/jitbot/jitbot/access"
)

// lateness records what the service tells its monitor.
type lateness struct {
	mu   sync.Mutex
	seen []string
	late []time.Duration
}

func (l *lateness) GrantEnded(profile string, late time.Duration) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.seen = append(l.seen, profile)
	l.late = append(l.late, late)
}

func TestMonitorIsToldHowLateExpiredGrantsEnded(t *testing.T) {
	forEachStore(t, func(t *testing.T, store storeKind) {
		e := newEnv(t, store)
		mon := &lateness{}
		e.openWith(func(c *access.Config) { c.Monitor = mon })
		req := e.submit(riley, time.Hour)
		if _, err := e.decide(req.ID, alex, access.Approve, ""); err != nil {
			t.Fatal(err)
		}
		// The scheduler comes to the grant 90 s after its expiry (a
		// restart, a backlog).
		e.clock.Advance(time.Hour + 90*time.Second)
		if n, err := e.svc.Work(context.Background()); err != nil || n != 1 {
			t.Fatalf("revoked %d (err %v)", n, err)
		}
		mon.mu.Lock()
		seen, late := mon.seen, mon.late
		mon.mu.Unlock()
		if len(late) != 1 || seen[0] != "prod-db" || late[0] != 90*time.Second {
			t.Fatalf("monitor told %v %v, want prod-db 1m30s", seen, late)
		}

		// A grant ended early by its holder is not late at all: not
		// reported.
		req2 := e.submit(sam, time.Hour)
		if _, err := e.decide(req2.ID, alex, access.Approve, ""); err != nil {
			t.Fatal(err)
		}
		if _, err := e.svc.Release(context.Background(), access.EndInput{TenantID: tenant, RequestID: req2.ID, Who: sam}); err != nil {
			t.Fatal(err)
		}
		for range 3 {
			if _, err := e.svc.Work(context.Background()); err != nil {
				t.Fatal(err)
			}
			e.clock.Advance(time.Minute)
		}
		if got, _ := e.store.GetRequest(context.Background(), req2.ID); got.Grant.State != access.GrantRevoked {
			t.Fatalf("released grant: %s, want revoked", got.Grant.State)
		}
		mon.mu.Lock()
		defer mon.mu.Unlock()
		if len(mon.late) != 1 {
			t.Errorf("monitor told of the released grant: %v", mon.late)
		}
	})
}
