package access_test

import (
	"context"
	"testing"
	"time"

	"github.com/jitbot/jitbot/access"
)

const oncallGrp = "aaaaaaaa-0000-4000-8000-0000000000c0"

// TestAuditReportCountsPolicy: the report counts the break-glass grants by
// what their review came to (acknowledged, revoked unreviewed, not
// reviewed), the auto-approved and force-approved requests, and the
// extensions (approved extension requests and self-extensions), each once.
func TestAuditReportCountsPolicy(t *testing.T) {
	forEachStore(t, func(t *testing.T, store storeKind) {
		ctx := context.Background()
		e := readerEnv(t, store)
		for _, m := range []struct{ g, u string }{{requesterGrp, alex.ObjectID}, {adminGrp, alex.ObjectID}, {oncallGrp, riley.ObjectID}} {
			if err := e.dir.SetMember(ctx, m.g, m.u); err != nil {
				t.Fatal(err)
			}
		}
		withReaders := func(tune func(*access.Config)) {
			e.openWith(func(c *access.Config) {
				c.AuditReaderGroups = []string{auditGroup}
				c.AdminGroups = []string{adminGrp}
				tune(c)
			})
		}

		// Three break-glass grants: one acknowledged, one revoked at its
		// review deadline, one not reviewed yet.
		withReaders(breakGlassProfile(true))
		reviewed := e.submit(riley, 2*time.Hour)
		if _, err := e.svc.Acknowledge(ctx, access.ReviewInput{TenantID: tenant, RequestID: reviewed.ID, Who: alex, Note: "INC-4711 confirmed"}); err != nil {
			t.Fatalf("acknowledge: %v", err)
		}
		revoked := e.submit(sam, 2*time.Hour)
		e.clock.Advance(time.Hour)
		for _, work := range []func(context.Context) (int, error){e.svc.WorkReviews, e.svc.WorkReviews, e.svc.Work} {
			if _, err := work(ctx); err != nil {
				t.Fatal(err)
			}
		}
		if g := mustGrant(t, e, revoked.ID); g.Early.Kind != access.EndUnreviewed {
			t.Fatalf("the unreviewed grant ended %q", g.Early.Kind)
		}
		e.submit(alex, 2*time.Hour) // not reviewed
		e.clock.Advance(2 * time.Hour)
		if _, err := e.svc.Work(ctx); err != nil {
			t.Fatal(err)
		}

		// On call: riley is approved at once and extends by 10m alone; sam
		// is force-approved by alex, then asks for an hour more, which alex
		// approves.
		withReaders(func(c *access.Config) {
			p := &c.Profiles[0]
			p.MaxDuration, p.RemindBefore, p.SelfExtendMax, p.MaxTotalDuration = time.Hour, 10*time.Minute, 15*time.Minute, 3*time.Hour
			p.AutoApprove = &access.AutoApprove{Groups: []string{oncallGrp}, MaxDuration: time.Hour}
		})
		auto := e.submit(riley, time.Hour)
		if got, _ := e.store.GetRequest(ctx, auto.ID); !access.AutoApproved(got) {
			t.Fatalf("riley's request was not auto-approved: %+v", got)
		}
		if res, err := e.extend(auto.ID, riley, 10*time.Minute, "still looking"); err != nil || res.Extended == nil {
			t.Fatalf("self-extension: %+v %v", res, err)
		}
		forced := e.submit(sam, time.Hour)
		if _, err := e.force(forced.ID, alex, "the approvers are asleep"); err != nil {
			t.Fatalf("force-approve: %v", err)
		}
		res, err := e.extend(forced.ID, sam, time.Hour, "migration overran")
		if err != nil || res.Pending == nil {
			t.Fatalf("extension request: %+v %v", res, err)
		}
		if _, err := e.decide(res.Pending.ID, alex, access.Approve, "ok"); err != nil {
			t.Fatalf("approve the extension: %v", err)
		}
		e.clock.Advance(time.Minute)

		rep, err := e.svc.AuditReport(ctx, access.ReportInput{TenantID: tenant, Who: sam, Private: true})
		if err != nil {
			t.Fatal(err)
		}
		if rep.BreakGlass != (access.BreakGlassCounts{Grants: 3, Reviewed: 1, RevokedUnreviewed: 1, Unreviewed: 1}) {
			t.Errorf("break-glass counts %+v", rep.BreakGlass)
		}
		if rep.AutoApproved != 1 || rep.ForceApproved != 1 {
			t.Errorf("auto-approved %d, force-approved %d; want 1 and 1", rep.AutoApproved, rep.ForceApproved)
		}
		if rep.Extensions != 1 || rep.SelfExtensions != 1 {
			t.Errorf("extensions: %d approved, %d self; want 1 and 1", rep.Extensions, rep.SelfExtensions)
		}
		if rep.Requests != 6 || rep.Grants != 5 {
			t.Errorf("requests %d, grants %d; want 6 and 5", rep.Requests, rep.Grants)
		}
	})
}
