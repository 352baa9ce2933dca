package storage

import (
	"context"
	"errors"
	"reflect"
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
		a := mustActiveGrant(t, db, alice, "db-admin", t0.Add(time.Hour))
		other := mustActiveGrant(t, db, bob, "db-admin", t0.Add(time.Hour))
		at := t0.Add(time.Hour)
		if gs := mustClaim(t, db, ownerA, at, 0); len(gs) != 2 {
			t.Fatalf("claimed %v, want both grants", ids(gs))
		}
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
