package storage

import (
	"context"
	"errors"
	"fmt"
	"reflect"
	"slices"
	"testing"
	"time"

	"github.com/jitbot/jitbot/access"
)

// WithMembership hands its function the membership as stored and keeps
// nothing of a function that fails; its grant updates apply only under
// their conditions and only to grants of the locked membership.
func TestWithMembership(t *testing.T) {
	forEachBackend(t, func(t *testing.T, db *DB) {
		ctx := context.Background()
		a, other, at := twoClaimedGrants(t, db)
		before := mustGrant(t, db, a.ID)
		events := len(auditActions(t, db, a.RequestID))

		boom := errors.New("boom")
		var seen *access.Membership
		err := db.WithMembership(ctx, a.GroupID, alice.ObjectID, at, func(m *access.Membership, tx access.MembershipTx) error {
			seen = m
			try := func(what string, u access.GrantUpdate, want error) {
				t.Helper()
				if _, err := tx.UpdateGrant(u); !errors.Is(err, want) {
					t.Errorf("%s: %v, want %v", what, err, want)
				}
			}
			active := []access.GrantState{access.GrantActive}
			try("another membership's grant", access.GrantUpdate{ID: other.ID, From: active, Owner: ownerA, State: access.GrantRevoking}, access.ErrStaleGrant)
			try("another owner", access.GrantUpdate{ID: a.ID, From: active, Owner: ownerB, State: access.GrantRevoking}, access.ErrStaleGrant)
			try("a live claim", access.GrantUpdate{ID: a.ID, From: active, At: at, State: access.GrantRevoking}, access.ErrStaleGrant)
			try("another state", access.GrantUpdate{ID: a.ID, From: []access.GrantState{access.GrantGranting}, Owner: ownerA, State: access.GrantActive}, access.ErrStaleGrant)
			try("an unknown grant", access.GrantUpdate{ID: "no-such-grant", From: active, Owner: ownerA, State: access.GrantRevoking}, access.ErrNotFound)
			if _, err := tx.UpdateGrant(access.GrantUpdate{ID: a.ID, From: active, Owner: ownerA, Release: true, ClaimBy: ownerB, ClaimUntil: at}); err == nil {
				t.Error("release and claim at once accepted")
			}
			if _, err := tx.UpdateGrant(access.GrantUpdate{ID: a.ID, From: active, State: access.GrantRevoking}); err == nil {
				t.Error("an update with neither owner nor time accepted")
			}
			g, err := tx.UpdateGrant(access.GrantUpdate{ID: a.ID, From: active, Owner: ownerA, State: access.GrantRevoking})
			if err != nil || g.State != access.GrantRevoking || g.ClaimedBy != ownerA {
				t.Errorf("update by the owner: %+v, %v", g, err)
			}
			if err := tx.SetPreExisting(true, at); err != nil {
				t.Error(err)
			}
			if err := tx.Append(access.AuditEvent{At: at, Actor: botP, Action: access.ActionRevoking, RequestID: a.RequestID}); err != nil {
				t.Error(err)
			}
			return boom
		})
		if !errors.Is(err, boom) {
			t.Fatalf("WithMembership = %v, want the function's error", err)
		}
		if seen == nil || seen.GroupID != a.GroupID || seen.UserID != alice.ObjectID || len(seen.Grants) != 1 || !reflect.DeepEqual(seen.Grants[0], *before) {
			t.Errorf("membership given = %+v, want alice's one grant %+v", seen, before)
		}
		if got := mustGrant(t, db, a.ID); !reflect.DeepEqual(got, before) {
			t.Errorf("a failed function's update was kept:\n%+v\n%+v", before, got)
		}
		if n := len(auditActions(t, db, a.RequestID)); n != events {
			t.Errorf("a failed function's event was kept: %d events, want %d", n, events)
		}
		if users, err := db.PreExisting(ctx, a.GroupID); err != nil || len(users) != 0 {
			t.Errorf("a failed function's ledger change was kept: %v, %v", users, err)
		}
		if err := db.WithMembership(ctx, a.GroupID, alice.ObjectID, time.Time{}, func(*access.Membership, access.MembershipTx) error { return nil }); err == nil {
			t.Error("WithMembership without a time accepted")
		}
	})
}

// A decision that fails before it writes (a stale grant) costs the others
// nothing: each function runs once, the others' writes are kept. One that
// fails after writing is undone, whatever the store does to undo it (run
// again without it, see decisionRunner), and the others run again at most
// once.
func TestWithMembershipsRunsEachDecisionOnceWhenNoneWroteAndFailed(t *testing.T) {
	forEachBackend(t, func(t *testing.T, db *DB) {
		ctx := context.Background()
		a, b, at := twoClaimedGrants(t, db)
		keys := []access.MembershipKey{{GroupID: a.GroupID, UserID: alice.ObjectID}, {GroupID: b.GroupID, UserID: bob.ObjectID}}
		mine := []access.Grant{a, b}
		active := []access.GrantState{access.GrantActive}
		calls := map[int]int{}
		results, err := db.WithMemberships(ctx, keys, at, func(i int, m *access.Membership, tx access.MembershipTx) error {
			calls[i]++
			owner := ownerA
			if i == 1 {
				owner = ownerB // not b's claim holder: the update changes nothing
			}
			_, err := tx.UpdateGrant(access.GrantUpdate{ID: mine[i].ID, From: active, Owner: owner, State: access.GrantRevoking})
			return err
		})
		if err != nil || !errors.Is(results[1].Err, access.ErrStaleGrant) || results[0].Err != nil {
			t.Fatalf("results %+v, %v; want [<nil> stale]", results, err)
		}
		if calls[0] != 1 || calls[1] != 1 {
			t.Errorf("functions ran %v times, want once each", calls)
		}
		if got := mustGrant(t, db, a.ID); got.State != access.GrantRevoking {
			t.Errorf("the kept decision's update: %s", got.State)
		}

		// b writes, then fails: undone; a is kept, and ran at most twice.
		clear(calls)
		boom := errors.New("boom")
		results, err = db.WithMemberships(ctx, keys, at, func(i int, m *access.Membership, tx access.MembershipTx) error {
			calls[i]++
			from := []access.GrantState{access.GrantRevoking}
			if i == 1 {
				from = active
			}
			if _, err := tx.UpdateGrant(access.GrantUpdate{ID: mine[i].ID, From: from, Owner: ownerA, State: access.GrantIrrevocable}); err != nil {
				return err
			}
			if i == 1 {
				return boom
			}
			return nil
		})
		if err != nil || !errors.Is(results[1].Err, boom) || results[0].Err != nil {
			t.Fatalf("results %+v, %v; want [<nil> boom]", results, err)
		}
		if calls[0] > 2 || calls[1] != 1 {
			t.Errorf("functions ran %v times, want the kept one at most twice and the failing one once", calls)
		}
		if got := mustGrant(t, db, a.ID); got.State != access.GrantIrrevocable {
			t.Errorf("the kept decision's update: %s", got.State)
		}
		if got := mustGrant(t, db, b.ID); got.State != access.GrantActive {
			t.Errorf("the failing decision's update was kept: %s", got.State)
		}
	})
}

// WithMemberships decides on several memberships in one transaction: each
// function sees its membership as stored, a failing one keeps nothing it
// wrote while the others' writes and events are kept, and the audit chain
// stays whole.
func TestWithMembershipsKeepsAllButTheFailingOne(t *testing.T) {
	forEachBackend(t, func(t *testing.T, db *DB) {
		ctx := context.Background()
		a, b, at := twoClaimedGrants(t, db)
		beforeB := mustGrant(t, db, b.ID)
		eventsA, eventsB := len(auditActions(t, db, a.RequestID)), len(auditActions(t, db, b.RequestID))
		// b's key first: the store takes the keys in its own order.
		keys := []access.MembershipKey{{GroupID: b.GroupID, UserID: bob.ObjectID}, {GroupID: a.GroupID, UserID: alice.ObjectID}}
		mine := []access.Grant{b, a}
		boom := errors.New("boom")
		active := []access.GrantState{access.GrantActive}
		errs, err := db.WithMemberships(ctx, keys, at, func(i int, m *access.Membership, tx access.MembershipTx) error {
			g := mine[i]
			if m.UserID != g.User.ObjectID || len(m.Grants) != 1 || m.Grants[0].ID != g.ID {
				t.Errorf("fn(%d) got membership %+v, want %s's one grant", i, m, g.User.Name)
			}
			if _, err := tx.UpdateGrant(access.GrantUpdate{ID: g.ID, From: active, Owner: ownerA, State: access.GrantRevoking}); err != nil {
				return err
			}
			if err := tx.Append(access.AuditEvent{At: at, Actor: botP, Action: access.ActionRevoking, RequestID: g.RequestID}); err != nil {
				return err
			}
			if g.ID == b.ID {
				return boom
			}
			return nil
		})
		if err != nil {
			t.Fatalf("WithMemberships: %v", err)
		}
		if len(errs) != 2 || !errors.Is(errs[0].Err, boom) || errs[1].Err != nil {
			t.Fatalf("results = %+v, want [boom <nil>]", errs)
		}
		if got := mustGrant(t, db, a.ID); got.State != access.GrantRevoking {
			t.Errorf("the succeeding function's update was not kept: %s", got.State)
		}
		if got := mustGrant(t, db, b.ID); !reflect.DeepEqual(got, beforeB) {
			t.Errorf("the failing function's update was kept:\n%+v\n%+v", beforeB, got)
		}
		if n := len(auditActions(t, db, a.RequestID)); n != eventsA+1 {
			t.Errorf("%d events of the kept decision, want %d", n, eventsA+1)
		}
		if n := len(auditActions(t, db, b.RequestID)); n != eventsB {
			t.Errorf("the failing function's event was kept: %d events, want %d", n, eventsB)
		}
		if _, err := verifyDB(t, db); err != nil {
			t.Errorf("audit chain after WithMemberships: %v", err)
		}
		// The requests a kept decision moved come back as committed; a
		// failing one's do not.
		expire := []access.RequestState{access.RequestApproved, access.RequestActive}
		results, err := db.WithMemberships(ctx, keys, at, func(i int, _ *access.Membership, tx access.MembershipTx) error {
			g := mine[i]
			if err := tx.MoveRequest(g.RequestID, expire, access.RequestExpired, at); err != nil {
				return err
			}
			if g.ID == b.ID {
				return boom
			}
			return nil
		})
		if err != nil || len(results) != 2 || !errors.Is(results[0].Err, boom) || results[1].Err != nil {
			t.Fatalf("moving the requests: %+v, %v", results, err)
		}
		if n := len(results[0].Requests); n != 0 {
			t.Errorf("the failing decision returned %d requests", n)
		}
		if r := results[1].Requests; len(r) != 1 || r[0].ID != a.RequestID || r[0].State != access.RequestExpired || r[0].Grant == nil || r[0].Grant.ID != a.ID {
			t.Errorf("the kept decision returned %+v, want request %s expired with its grant", r, a.RequestID)
		}
		stored, err := db.GetRequest(ctx, a.RequestID)
		if err != nil || !reflect.DeepEqual(*stored, results[1].Requests[0]) {
			t.Errorf("returned request differs from the one stored:\n%+v\n%+v (%v)", results[1].Requests[0], stored, err)
		}
		if r, err := db.GetRequest(ctx, b.RequestID); err != nil || r.State == access.RequestExpired {
			t.Errorf("the failing decision's request move was kept (%v)", err)
		}
		if _, err := db.WithMemberships(ctx, keys, time.Time{}, func(int, *access.Membership, access.MembershipTx) error { return nil }); err == nil {
			t.Error("WithMemberships without a time accepted")
		}
	})
}

// Two transactions over the same memberships given in opposite orders
// lock them in one order: neither deadlocks (PostgreSQL would abort one).
func TestWithMembershipsInOppositeOrdersDoNotDeadlock(t *testing.T) {
	forEachBackend(t, func(t *testing.T, db *DB) {
		ctx := context.Background()
		a := mustActiveGrant(t, db, alice, "db-admin", t0.Add(time.Hour))
		b := mustActiveGrant(t, db, bob, "db-admin", t0.Add(time.Hour))
		ka := access.MembershipKey{GroupID: a.GroupID, UserID: alice.ObjectID}
		kb := access.MembershipKey{GroupID: b.GroupID, UserID: bob.ObjectID}
		at := t0.Add(time.Minute)
		errs := race(2*10, func(i int) error {
			keys := []access.MembershipKey{ka, kb}
			if i%2 == 1 {
				keys = []access.MembershipKey{kb, ka}
			}
			_, err := db.WithMemberships(ctx, keys, at, func(int, *access.Membership, access.MembershipTx) error {
				time.Sleep(time.Millisecond) // hold the first lock while the other takes its own
				return nil
			})
			return err
		})
		for i, err := range errs {
			if err != nil {
				t.Errorf("transaction %d: %v", i, err)
			}
		}
	})
}

// A key given twice to WithMemberships is decided twice, the second time
// on the membership as the first decision left it.
func TestWithMembershipsSameKeyTwiceSeesTheFirstWrite(t *testing.T) {
	forEachBackend(t, func(t *testing.T, db *DB) {
		ctx := context.Background()
		a := mustActiveGrant(t, db, alice, "db-admin", t0.Add(time.Hour))
		at := t0.Add(time.Hour)
		mustClaim(t, db, ownerA, at, 0)
		key := access.MembershipKey{GroupID: a.GroupID, UserID: alice.ObjectID}
		var seen []access.GrantState
		results, err := db.WithMemberships(ctx, []access.MembershipKey{key, key}, at, func(i int, m *access.Membership, tx access.MembershipTx) error {
			g := m.Grant(a.ID)
			if g == nil {
				return fmt.Errorf("decision %d: grant missing from %+v", i, m)
			}
			seen = append(seen, g.State)
			if i == 0 {
				_, err := tx.UpdateGrant(access.GrantUpdate{ID: a.ID, From: []access.GrantState{access.GrantActive}, Owner: ownerA, State: access.GrantRevoking})
				return err
			}
			return nil
		})
		if err != nil || results[0].Err != nil || results[1].Err != nil {
			t.Fatalf("WithMemberships: %+v, %v", results, err)
		}
		if want := []access.GrantState{access.GrantActive, access.GrantRevoking}; !slices.Equal(seen, want) {
			t.Fatalf("decisions saw %v, want %v", seen, want)
		}
	})
}

// twoClaimedGrants stores active grants of alice and bob ending at t0+1h,
// both claimed by ownerA at that time, and returns them and the time.
func twoClaimedGrants(t *testing.T, db *DB) (a, b access.Grant, at time.Time) {
	t.Helper()
	a = mustActiveGrant(t, db, alice, "db-admin", t0.Add(time.Hour))
	b = mustActiveGrant(t, db, bob, "db-admin", t0.Add(time.Hour))
	at = t0.Add(time.Hour)
	if gs := mustClaim(t, db, ownerA, at, 0); len(gs) != 2 {
		t.Fatalf("claimed %v, want both grants", ids(gs))
	}
	return a, b, at
}
