package access_test

import (
	"context"
	"errors"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jitbot/jitbot/access"
)

// withExtensions reopens the service with prod-db's expiry reminder,
// self-extension limit and total bound set, and its max_duration 1h.
func (e *env) withExtensions(remind, selfMax, total time.Duration) {
	e.openWith(func(c *access.Config) {
		c.Profiles[0].MaxDuration = time.Hour
		c.Profiles[0].RemindBefore, c.Profiles[0].SelfExtendMax, c.Profiles[0].MaxTotalDuration = remind, selfMax, total
	})
}

func (e *env) extend(id string, who access.Person, d time.Duration, reason string) (*access.ExtendResult, error) {
	return e.svc.Extend(context.Background(), access.ExtendInput{TenantID: tenant, RequestID: id, Who: who, Duration: d, Reason: reason})
}

// TestExtensionOnEachStore: the reminder, a self-extension and an approved
// extension behave alike on the database and the in-memory store.
func TestExtensionOnEachStore(t *testing.T) {
	forEachStore(t, func(t *testing.T, store storeKind) {
		ctx := context.Background()
		e := newEnv(t, store)
		e.withExtensions(10*time.Minute, 15*time.Minute, 2*time.Hour)
		req := activeGrant(t, e) // 1h from start
		end := start.Add(time.Hour)

		e.clock.Set(end.Add(-10 * time.Minute))
		if n, err := e.svc.WorkExpiryReminders(ctx); n != 1 || err != nil {
			t.Fatalf("reminders: %d %v", n, err)
		}
		if n, _ := e.svc.WorkExpiryReminders(ctx); n != 0 {
			t.Fatal("reminder sent twice")
		}
		if notes := e.notes.Notices(req.ID); notes[len(notes)-1] != access.NoticeExpiring {
			t.Fatalf("notices %v, want the expiry reminder last", notes)
		}

		// Someone else naming the grant is answered as for an unknown id.
		_, err := e.extend(req.ID, eve, 10*time.Minute, "mine now")
		_, unknown := e.extend("00000000-0000-4000-8000-000000000000", eve, 10*time.Minute, "mine now")
		sameAsUnknown(t, "extend by eve", err, unknown, req.ID, "00000000-0000-4000-8000-000000000000")

		// Within self_extend_max: applied at once, with a new reminder.
		res, err := e.extend(req.ID, riley, 10*time.Minute, "almost done")
		if err != nil || res.Extended == nil {
			t.Fatalf("self-extension: %v %+v", err, res)
		}
		g := res.Extended.Grant
		if !g.ExpiresAt.Equal(end.Add(10*time.Minute)) || !g.DueAt.Equal(g.ExpiresAt) || !g.RemindAt.Equal(end) {
			t.Fatalf("self-extended grant %+v", g)
		}

		// Beyond it: an extension request, approved by alex.
		res, err = e.extend(req.ID, riley, 30*time.Minute, "one more migration")
		if err != nil || res.Pending == nil || res.Pending.ExtendsRequestID != req.ID {
			t.Fatalf("extension request: %v %+v", err, res)
		}
		if _, err := e.extend(req.ID, riley, 20*time.Minute, "again"); !errors.Is(err, access.ErrDuplicate) {
			t.Fatalf("second extension: %v, want ErrDuplicate", err)
		}
		// The bound: 1h10m used, 2h in all: 50m left.
		if _, err := e.extend(req.ID, riley, time.Hour, "much more"); !errors.Is(err, access.ErrInvalidInput) {
			t.Fatalf("extension beyond the total: %v", err)
		}
		e.clock.Advance(time.Minute)
		got, err := e.decide(res.Pending.ID, alex, access.Approve, "")
		if err != nil || got.State != access.RequestExtended {
			t.Fatalf("approve extension: %v %+v", err, got)
		}
		orig, _ := e.store.GetRequest(ctx, req.ID)
		newEnd := end.Add(40 * time.Minute)
		if !orig.Grant.ExpiresAt.Equal(newEnd) || !orig.Grant.RemindAt.Equal(newEnd.Add(-10*time.Minute)) || orig.Grant.Extended.Count != 2 {
			t.Fatalf("grant after the approved extension %+v", orig.Grant)
		}
		if !e.isMember(riley.ObjectID) {
			t.Fatal("the member was removed")
		}
		e.clock.Set(newEnd.Add(-10 * time.Minute))
		if n, _ := e.svc.WorkExpiryReminders(ctx); n != 1 {
			t.Fatal("no reminder before the new end")
		}
		e.clock.Set(newEnd)
		if n, err := e.svc.Work(ctx); n != 1 || err != nil || e.isMember(riley.ObjectID) {
			t.Fatalf("expiry at the new end: %d %v", n, err)
		}
	})
}

// Two clicks on one card's Extend at once (a double-click) extend the
// grant once: the card names the end it showed, and the second click finds
// the grant ending later and is refused, saying so; nothing more is
// written for it.
func TestExtendDoubleClickExtendsOnce(t *testing.T) {
	forEachStore(t, func(t *testing.T, store storeKind) {
		ctx := context.Background()
		e := newEnv(t, store)
		e.withExtensions(10*time.Minute, 15*time.Minute, 2*time.Hour)
		req := activeGrant(t, e) // 1h from start
		end := start.Add(time.Hour)
		e.clock.Set(end.Add(-5 * time.Minute))
		in := access.ExtendInput{TenantID: tenant, RequestID: req.ID, Who: riley, Duration: 10 * time.Minute, Reason: "almost done", From: end}
		var wg sync.WaitGroup
		results := make([]*access.ExtendResult, 2)
		errs := make([]error, 2)
		for i := range 2 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				results[i], errs[i] = e.svc.Extend(ctx, in)
			}()
		}
		wg.Wait()
		extended, refused := 0, 0
		for i := range 2 {
			var r *access.Refusal
			switch {
			case errs[i] == nil && results[i].Extended != nil:
				extended++
			case errors.As(errs[i], &r) && errors.Is(errs[i], access.ErrDuplicate) && strings.Contains(r.Reason, "extended already"):
				refused++
			default:
				t.Fatalf("click %d: %+v %v", i, results[i], errs[i])
			}
		}
		if extended != 1 || refused != 1 {
			t.Fatalf("%d extended, %d refused: want one each", extended, refused)
		}
		cur, err := e.store.GetRequest(ctx, req.ID)
		if err != nil {
			t.Fatal(err)
		}
		if g := cur.Grant; !g.ExpiresAt.Equal(end.Add(10*time.Minute)) || g.Extended.Count != 1 {
			t.Fatalf("grant after a double-click: ends %s, %d extensions", g.ExpiresAt, g.Extended.Count)
		}
		if n := countActions(e.audit(req.ID), access.ActionExtended); n != 1 {
			t.Fatalf("%d grant.extended events", n)
		}
		// The same card clicked later still finds the grant extended.
		before := e.changeCount()
		if _, err := e.svc.Extend(ctx, in); !errors.Is(err, access.ErrDuplicate) {
			t.Fatalf("a later click on the same card: %v", err)
		}
		if after := e.changeCount(); after != before {
			t.Fatalf("a refused click wrote %d changes", after-before)
		}
	})
}
