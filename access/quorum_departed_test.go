package access_test

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/jitbot/jitbot/access"
)

func (d *directory) MemberGroups(ctx context.Context, u string, groups []string) ([]string, error) {
	if down, _ := d.groupsDown.Load().(string); down != "" && strings.EqualFold(down, u) {
		return nil, errors.New("graph: 503 service unavailable")
	}
	return d.demoDirectory.MemberGroups(ctx, u, groups)
}

// TestQuorumRechecksEarlierApprovers: with a quorum of two, an approver
// who left the approver groups after approving does not count when the
// quorum would complete: their approval is withdrawn (audited, on the
// card as 1 of 2 again), the request stays pending, and they may approve
// again once back. A directory that cannot answer for an earlier approver
// fails the click and stores nothing.
func TestQuorumRechecksEarlierApprovers(t *testing.T) {
	forEachStore(t, func(t *testing.T, store storeKind) {
		ctx := context.Background()
		e := newEnv(t, store)
		e.openWith(func(c *access.Config) { c.Profiles[0].RequiredApprovals = 2 })
		if err := e.dir.SetMember(ctx, approverGroup, eve.ObjectID); err != nil {
			t.Fatal(err)
		}
		req := e.submit(riley, time.Hour)
		if _, err := e.decide(req.ID, alex, access.Approve, "ok"); err != nil {
			t.Fatal(err)
		}
		// Alex leaves the approver groups.
		if err := e.dir.RemoveMember(ctx, approverGroup, alex.ObjectID); err != nil {
			t.Fatal(err)
		}

		// The directory cannot answer for Alex: Sam's approval fails closed.
		e.dir.groupsDown.Store(alex.ObjectID)
		audits, changes := e.auditCount(), e.changeCount()
		if _, err := e.decide(req.ID, sam, access.Approve, "ok"); err == nil {
			t.Fatal("an approval completing the quorum was counted while an earlier approver could not be checked")
		}
		if got, _ := e.store.GetRequest(ctx, req.ID); got.State != access.RequestPending || len(access.Approvals(got)) != 1 ||
			e.auditCount() != audits || e.changeCount() != changes || e.isMember(riley.ObjectID) {
			t.Fatalf("after the failed check: %s, %d approvals, audit %d->%d", got.State, len(access.Approvals(got)), audits, e.auditCount())
		}
		e.dir.groupsDown.Store("")

		got, err := e.decide(req.ID, sam, access.Approve, "ok")
		if err != nil {
			t.Fatal(err)
		}
		if got.State != access.RequestPending || e.isMember(riley.ObjectID) {
			t.Fatalf("the quorum completed with an approver who left: %s, member %v", got.State, e.isMember(riley.ObjectID))
		}
		if as := access.Approvals(got); len(as) != 1 || as[0].Approver != sam {
			t.Fatalf("counted approvals %+v; want Sam's alone", as)
		}
		withdrawn := e.actions(access.ActionApprovalWithdrawn)
		if len(withdrawn) != 1 || withdrawn[0].Actor != access.System || !strings.Contains(withdrawn[0].Reason, "Alex Approver") {
			t.Fatalf("withdrawal audited as %+v", withdrawn)
		}
		if counted := e.actions(access.ActionApprovalCounted); len(counted) != 2 || !strings.HasPrefix(counted[1].Reason, "1 of 2 approvals") {
			t.Fatalf("Sam's approval audited as %+v; want 1 of 2", counted)
		}

		// Back in the group, Alex may approve again, and that completes it.
		if err := e.dir.SetMember(ctx, approverGroup, alex.ObjectID); err != nil {
			t.Fatal(err)
		}
		got, err = e.decide(req.ID, alex, access.Approve, "back on the rota")
		if err != nil {
			t.Fatal(err)
		}
		if got.State != access.RequestActive || !e.isMember(riley.ObjectID) {
			t.Fatalf("after Alex approved again: %s, member %v", got.State, e.isMember(riley.ObjectID))
		}
		rec := access.NewGrantRecord(*got)
		if len(rec.Approvals) != 2 || rec.Approvals[0].Approver != sam || rec.Approvals[1].Approver != alex {
			t.Fatalf("grants view approvals %+v", rec.Approvals)
		}
		if d := got.LastDecision(); d == nil || d.Approver != alex || d.Verdict != access.Approve {
			t.Fatalf("last decision %+v", d)
		}
	})
}

// TestQuorumOfThreeWithdrawsADepartedApproverAtOnce: under a quorum of
// three, the approval after Alex left already withdraws Alex's, so that
// two approvals arriving together later can never complete the quorum
// with it.
func TestQuorumOfThreeWithdrawsADepartedApproverAtOnce(t *testing.T) {
	forEachStore(t, func(t *testing.T, store storeKind) {
		ctx := context.Background()
		e := newEnv(t, store)
		e.openWith(func(c *access.Config) { c.Profiles[0].RequiredApprovals = 3 })
		if err := e.dir.SetMember(ctx, approverGroup, eve.ObjectID); err != nil {
			t.Fatal(err)
		}
		req := e.submit(riley, time.Hour)
		if _, err := e.decide(req.ID, alex, access.Approve, ""); err != nil {
			t.Fatal(err)
		}
		if err := e.dir.RemoveMember(ctx, approverGroup, alex.ObjectID); err != nil {
			t.Fatal(err)
		}
		got, err := e.decide(req.ID, sam, access.Approve, "")
		if err != nil {
			t.Fatal(err)
		}
		if as := access.Approvals(got); len(as) != 1 || as[0].Approver != sam || len(e.actions(access.ActionApprovalWithdrawn)) != 1 {
			t.Fatalf("after Sam's approval: counted %+v, withdrawals %d", as, len(e.actions(access.ActionApprovalWithdrawn)))
		}
		if got, err = e.decide(req.ID, eve, access.Approve, ""); err != nil || got.State != access.RequestPending || len(access.Approvals(got)) != 2 {
			t.Fatalf("after Eve's approval: %v, %v", got, err)
		}
	})
}
