package storage

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/jitbot/jitbot/access"
)

// TestSharedGrantIsAddedWhenItsBackerFailsWithinTheLease: a grant approved
// while another grant of the membership was still adding it shares it;
// when that add fails moments later, the shared grant holds nothing, so it
// goes back to granting and the next replica to look adds its membership.
func TestSharedGrantIsAddedWhenItsBackerFailsWithinTheLease(t *testing.T) {
	forEachBackend(t, func(t *testing.T, db *DB) {
		ctx := context.Background()
		var grants []*access.Grant
		for i := range 2 {
			req := mustCreate(t, db, sharedRequest(alice, fmt.Sprintf("p%d", i), "g-shared", t0))
			grants = append(grants, mustApprove(t, db, req, t0.Add(time.Duration(i+1)*time.Second)).Grant)
		}
		backer, shared := grants[0], grants[1]
		if !shared.Shared || shared.State != access.GrantActive {
			t.Fatalf("second grant %+v: want shared and active", shared)
		}
		at := t0.Add(5 * time.Second) // well within the lease
		if err := access.FailGrant(ctx, db, backer.ID, ownerA, "403", access.AuditEvent{At: at, Actor: botP, Action: access.ActionGrantFailed}); err != nil {
			t.Fatal(err)
		}
		if got := mustGrant(t, db, shared.ID); got.State != access.GrantGranting || got.Shared {
			t.Fatalf("shared grant after its backer failed: state %s shared %v claimed by %q; want granting", got.State, got.Shared, got.ClaimedBy)
		}
		claimed := mustClaim(t, db, ownerB, at, 0)
		if len(claimed) != 1 || claimed[0].ID != shared.ID {
			t.Fatalf("claimable at once: %v, want the shared grant", ids(claimed))
		}
	})
}
