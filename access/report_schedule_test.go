package access_test

import (
	"context"
	"testing"
	"time"

	"github.com/jitbot/jitbot/access"
)

// TestAuditReportOfARequestRevokedBeforeItsStart: a request approved ahead
// and revoked before its start was decided when it was approved. The
// report's time to decision and the grants view's decided_at are the
// approval's, not the revocation's hours later.
func TestAuditReportOfARequestRevokedBeforeItsStart(t *testing.T) {
	forEachStore(t, func(t *testing.T, store storeKind) {
		e := readerEnv(t, store)
		ctx := context.Background()
		req, err := e.svc.Submit(ctx, access.Submission{
			TenantID: tenant, Requester: riley, Profile: "prod-db", Duration: time.Hour, Ticket: "INC-4712",
			Justification: "the nightly migration", Start: "22:00", TimeZone: "UTC",
		})
		if err != nil {
			t.Fatal(err)
		}
		e.clock.Advance(3 * time.Minute)
		approvedAt := e.clock.Now().UTC()
		if got, err := e.decide(req.ID, alex, access.Approve, ""); err != nil || got.State != access.RequestScheduled {
			t.Fatalf("approve ahead: %v %+v", err, got)
		}
		e.clock.Advance(2 * time.Hour)
		if _, err := e.svc.RevokeNow(ctx, access.EndInput{TenantID: tenant, RequestID: req.ID, Who: alex, Reason: "the migration moved to Friday"}); err != nil {
			t.Fatal(err)
		}
		e.clock.Advance(time.Minute)

		rep, err := e.svc.AuditReport(ctx, access.ReportInput{TenantID: tenant, Who: sam, Private: true})
		if err != nil {
			t.Fatal(err)
		}
		if len(rep.Decisions) != 1 || rep.Decisions[0].Median != 3*time.Minute || rep.Decisions[0].P90 != 3*time.Minute {
			t.Errorf("decision times %+v; want the approval's 3m", rep.Decisions)
		}
		var recs []access.GrantRecord
		if err := e.svc.EachGrantRecord(ctx, access.RequestQuery{}, func(r access.GrantRecord) error { recs = append(recs, r); return nil }); err != nil {
			t.Fatal(err)
		}
		if len(recs) != 1 || recs[0].Outcome != access.OutcomeRevokedBeforeStart || !recs[0].DecidedAt.Equal(approvedAt) || recs[0].TimeToDecision != 3*time.Minute {
			t.Errorf("grants view %+v; want revoked_before_start, decided at the approval %v", recs, approvedAt)
		}
	})
}
