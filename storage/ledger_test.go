package storage

import (
	"context"
	"testing"
	"time"

	"github.com/jitbot/jitbot/access"
)

func TestDrift(t *testing.T) {
	forEachBackend(t, func(t *testing.T, db *DB) {
		ctx := context.Background()
		driftEvents := func() int {
			t.Helper()
			evs, err := db.Audit(ctx, access.AuditFilter{})
			if err != nil {
				t.Fatal(err)
			}
			n := 0
			for _, ev := range evs {
				if ev.Action == access.ActionDriftFound {
					n++
				}
			}
			return n
		}
		mark := func(group, user string, at time.Time) bool {
			t.Helper()
			ev := access.AuditEvent{Actor: botP, Action: access.ActionDriftFound, GroupID: group, TargetUserID: user,
				Reason: "member not explained by any grant"}
			first, err := db.MarkDrift(ctx, group, user, at, ev)
			if err != nil {
				t.Fatalf("MarkDrift(%s, %s): %v", group, user, err)
			}
			return first
		}

		if !mark("g1", "u1", t0) {
			t.Error("first MarkDrift of u1 is not first")
		}
		if mark("g1", "u1", t0.Add(time.Minute)) {
			t.Error("second MarkDrift of u1 is first again")
		}
		if n := driftEvents(); n != 1 {
			t.Errorf("%d drift events, want 1 (only the first is audited)", n)
		}
		evs, err := db.Audit(ctx, access.AuditFilter{})
		if err != nil {
			t.Fatal(err)
		}
		if ev := evs[0]; ev.GroupID != "g1" || ev.TargetUserID != "u1" || !ev.At.Equal(t0) {
			t.Errorf("drift event = %+v, want g1/u1 at %v", ev, t0)
		}
		if !mark("g1", "u2", t0) || !mark("g2", "u1", t0) {
			t.Error("another member or another group is not first")
		}
		results := race(10, func(int) bool { return mark("g3", "u9", t0) })
		firsts := 0
		for _, f := range results {
			if f {
				firsts++
			}
		}
		if firsts != 1 {
			t.Errorf("%d concurrent MarkDrift calls were first, want 1", firsts)
		}
		if n := driftEvents(); n != 4 {
			t.Errorf("%d drift events, want 4", n)
		}

		// u1 left g1; u2 is still there.
		if err := db.ClearDrift(ctx, "g1", []string{"u2", "u3"}); err != nil {
			t.Fatal(err)
		}
		if mark("g1", "u2", t0) {
			t.Error("u2, still present, was forgotten")
		}
		if !mark("g1", "u1", t0.Add(time.Hour)) {
			t.Error("u1 came back but is not reported again")
		}
		if mark("g2", "u1", t0) {
			t.Error("ClearDrift of g1 forgot a member of g2")
		}
		// Nobody left in g1.
		if err := db.ClearDrift(ctx, "g1", nil); err != nil {
			t.Fatal(err)
		}
		if !mark("g1", "u2", t0) || !mark("g1", "u1", t0) {
			t.Error("ClearDrift with no member present kept some")
		}
	})
}

func TestPreExistingPerGroup(t *testing.T) {
	forEachBackend(t, func(t *testing.T, db *DB) {
		ctx := context.Background()
		if users, err := db.PreExisting(ctx, "group-db-admin"); err != nil || len(users) != 0 {
			t.Fatalf("PreExisting of an empty ledger = %v, %v", users, err)
		}
		for _, u := range []access.Person{carol, alice} {
			g := mustApprove(t, db, mustCreate(t, db, newRequest(u, "db-admin", t0)), t0).Grant
			if err := db.RecordCheck(ctx, g.ID, ownerA, true); err != nil {
				t.Fatal(err)
			}
			if err := access.CompleteGrant(ctx, db, g.ID, ownerA, t0, access.AuditEvent{Actor: botP, Action: access.ActionPreExisting}); err != nil {
				t.Fatal(err)
			}
		}
		mustActiveGrant(t, db, bob, "db-admin", t0.Add(time.Hour)) // checked, not a member before
		g := mustApprove(t, db, mustCreate(t, db, newRequest(bob, "web-admin", t0)), t0).Grant
		if err := db.RecordCheck(ctx, g.ID, ownerA, true); err != nil {
			t.Fatal(err)
		}
		if err := access.CompleteGrant(ctx, db, g.ID, ownerA, t0, access.AuditEvent{Actor: botP, Action: access.ActionPreExisting}); err != nil {
			t.Fatal(err)
		}
		users, err := db.PreExisting(ctx, "group-db-admin")
		if err != nil {
			t.Fatal(err)
		}
		if want := []string{alice.ObjectID, carol.ObjectID}; !equalStrings(users, want) {
			t.Errorf("PreExisting = %v, want sorted %v", users, want)
		}
	})
}
