package storage

import (
	"context"
	"testing"
	"time"

	"github.com/jitbot/jitbot/access"
)

// A force-approval is stored as such; an ordinary approval is not.
func TestForcedDecisionIsStored(t *testing.T) {
	forEachBackend(t, func(t *testing.T, db *DB) {
		forced := mustCreate(t, db, newRequest(alice, "db-admin", t0))
		d := decision(bob, access.Approve, t0.Add(time.Minute))
		d.Forced = true
		if _, err := access.RecordDecision(context.Background(), db, forced.ID, d, grantFor(forced, d.DecidedAt), ownerA, d.DecidedAt.Add(lease), decidedEvent(forced, d)); err != nil {
			t.Fatal(err)
		}
		if got := mustGet(t, db, forced.ID).LastDecision(); got == nil || !got.Forced {
			t.Fatalf("force-approval read back as %+v", got)
		}
		plain := mustApprove(t, db, mustCreate(t, db, newRequest(bob, "db-admin", t0)), t0.Add(time.Minute))
		if got := mustGet(t, db, plain.ID).LastDecision(); got == nil || got.Forced {
			t.Fatalf("ordinary approval read back as %+v", got)
		}
	})
}
