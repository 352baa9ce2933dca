package access_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/jitbot/jitbot/access"
)

// TestReconcileLeavesMemberAGrantExplainsByNow: reconcile lists the members
// no grant explains, then removes them one by one, while the bot may be
// running. A member listed who has been granted access through jitbot since
// (here a standing member whose approved request jitbot recorded as
// pre-existing) is left in the group and nothing is audited as removed:
// the removal is decided on the grants as they are then, not as they were
// when the list was made.
func TestReconcileLeavesMemberAGrantExplainsByNow(t *testing.T) {
	forEachStore(t, func(t *testing.T, kind storeKind) {
		e := newEnv(t, kind)
		ctx := context.Background()
		if err := e.dir.SetMember(ctx, prodGroup, riley.ObjectID); err != nil {
			t.Fatal(err)
		}
		profiles := []access.Profile{prodProfile()}
		found, err := access.FindUnexplained(ctx, e.store, e.dir, nil, profiles)
		if err != nil || len(found) != 1 || found[0].UserID != riley.ObjectID {
			t.Fatalf("found %+v, %v; want riley", found, err)
		}

		// Meanwhile riley asks for access and alex approves it.
		req := e.submit(riley, time.Hour)
		if _, err := e.decide(req.ID, alex, access.Approve, ""); err != nil {
			t.Fatal(err)
		}
		before := e.auditCount()

		err = access.RemoveUnexplained(ctx, e.store, e.dir, nil, found[0], access.Person{ObjectID: "jitbot-reconcile", Name: "jitbot reconcile"}, e.clock.Now())
		if !errors.Is(err, access.ErrExplained) {
			t.Errorf("removing a member a grant explains by now: %v, want ErrExplained", err)
		}
		if !e.isMember(riley.ObjectID) {
			t.Fatal("reconcile removed a member whose grant was approved after the list was made")
		}
		if n := e.auditCount(); n != before {
			t.Errorf("%d audit events for a member left alone", n-before)
		}
	})
}
