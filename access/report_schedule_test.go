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

// TestScheduledQuorumRequestDeniedOrTimedOutBeforeItsQuorum: a scheduled
// request under a quorum of two with one approval is not approved ahead:
// denied by the second approver it is denied, and undecided at its
// deadline it timed out. Neither is revoked_before_start nor start_missed,
// and the report counts the denial as a denial, not as a grant.
func TestScheduledQuorumRequestDeniedOrTimedOutBeforeItsQuorum(t *testing.T) {
	forEachStore(t, func(t *testing.T, store storeKind) {
		e := readerEnv(t, store)
		e.openWith(func(c *access.Config) {
			c.AuditReaderGroups = []string{auditGroup}
			c.Profiles[0].RequiredApprovals = 2
			c.Profiles[0].ApprovalTimeout = 30 * time.Minute
		})
		ctx := context.Background()
		submit := func(ticket string) *access.Request {
			t.Helper()
			req, err := e.svc.Submit(ctx, access.Submission{
				TenantID: tenant, Requester: riley, Profile: "prod-db", Duration: time.Hour, Ticket: ticket,
				Justification: "the nightly migration", Start: "22:00", TimeZone: "UTC",
			})
			if err != nil {
				t.Fatal(err)
			}
			if _, err := e.decide(req.ID, alex, access.Approve, ""); err != nil {
				t.Fatal(err)
			}
			return req
		}
		denied := submit("INC-1")
		if got, err := e.decide(denied.ID, sam, access.Deny, "not tonight"); err != nil || got.State != access.RequestDenied {
			t.Fatalf("deny: %v %+v", err, got)
		}
		timedOut := submit("INC-2")
		e.clock.Advance(31 * time.Minute)
		if _, err := e.svc.WorkPending(ctx); err != nil {
			t.Fatal(err)
		}
		outcomes := map[string]access.Outcome{}
		if err := e.svc.EachGrantRecord(ctx, access.RequestQuery{}, func(r access.GrantRecord) error { outcomes[r.RequestID] = r.Outcome; return nil }); err != nil {
			t.Fatal(err)
		}
		if outcomes[denied.ID] != access.OutcomeDenied || outcomes[timedOut.ID] != access.OutcomeTimedOut {
			t.Errorf("outcomes: denied %s, timed out %s", outcomes[denied.ID], outcomes[timedOut.ID])
		}
		rep, err := e.svc.AuditReport(ctx, access.ReportInput{TenantID: tenant, Who: sam, Private: true})
		if err != nil {
			t.Fatal(err)
		}
		if rep.Grants != 0 || rep.Denials != 1 || rep.TimedOut != 1 {
			t.Errorf("report: %d grants, %d denials, %d timed out; want 0, 1, 1", rep.Grants, rep.Denials, rep.TimedOut)
		}
	})
}
