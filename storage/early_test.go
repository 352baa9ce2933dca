package storage

import (
	"context"
	"testing"
	"time"

	"github.com/jitbot/jitbot/access"
)

// An early end is stored with the grant and makes it due: ClaimWork finds
// it at once, and it is read back as written.
func TestEarlyEndMakesGrantDue(t *testing.T) {
	forEachBackend(t, func(t *testing.T, db *DB) {
		ctx := context.Background()
		g := mustActiveGrant(t, db, alice, "db-admin", t0.Add(time.Hour))
		at := t0.Add(10 * time.Minute)
		if gs := mustClaim(t, db, ownerA, at, 0); len(gs) != 0 {
			t.Fatalf("claimed %v before the early end", ids(gs))
		}
		end := access.EarlyEnd{Kind: access.EndRevoked, By: bob, Reason: "incident closed", At: at}
		err := db.WithMembership(ctx, g.GroupID, alice.ObjectID, at, func(_ *access.Membership, tx access.MembershipTx) error {
			_, err := tx.UpdateGrant(access.GrantUpdate{ID: g.ID, From: []access.GrantState{access.GrantActive}, At: at, DueAt: at, Early: &end})
			return err
		})
		if err != nil {
			t.Fatal(err)
		}
		got := mustGrant(t, db, g.ID)
		if got.Early != end || !got.DueAt.Equal(at) || got.State != access.GrantActive {
			t.Fatalf("stored %+v due %v state %s, want %+v due %v", got.Early, got.DueAt, got.State, end, at)
		}
		if gs := mustClaim(t, db, ownerA, at, 0); len(gs) != 1 || gs[0].Early != end {
			t.Fatalf("claimed %v, want the ended grant with its early end", ids(gs))
		}
	})
}
