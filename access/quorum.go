package access

import (
	"context"
	"fmt"
	"strings"
)

// A quorum: a profile (or a severity) may need approvers.required distinct
// approvers. Each approval is stored on the pending request as it comes
// (audited request.approval_counted, "1 of 2"); the one that completes the
// quorum makes the grant in its own transaction (request.approved, "2 of
// 2"). The same person never counts twice, the requester never counts
// towards a quorum of two or more, and any one denial ends the request.

// Approvals returns the distinct approvers counted on a request so far, in
// the order they approved: the approving decisions by people other than
// the requester and jitbot, each person once.
func Approvals(req *Request) []Decision {
	return countedApprovals(req.Decisions, req.Requester)
}

func countedApprovals(ds []Decision, requester Person) []Decision {
	var out []Decision
	seen := map[string]bool{}
	for _, d := range ds {
		k := strings.ToLower(d.Approver.ObjectID)
		if d.Verdict != Approve || seen[k] || d.Approver.ObjectID == System.ObjectID {
			continue
		}
		if strings.EqualFold(d.Approver.ObjectID, requester.ObjectID) && d.Approver.ObjectID != "" {
			// A self-approving requester (demo profiles, quorum 1) settles
			// the request outright; it never counts towards a quorum.
			continue
		}
		seen[k] = true
		out = append(out, d)
	}
	return out
}

// HasApproved reports whether who has approved req already.
func HasApproved(req *Request, who Person) bool {
	for _, d := range req.Decisions {
		if d.Verdict == Approve && strings.EqualFold(d.Approver.ObjectID, who.ObjectID) {
			return true
		}
	}
	return false
}

// countApproval counts approval d on request id as the locked
// membership's transaction reads it: the approvals stored, plus d. An
// approver who approved already gets ErrAlreadyApproved with the count as
// it stands. Every approval stored on a pending request is another
// person's than the requester's (Decide refuses the requester unless the
// profile allows self-approval, whose quorum is 1 and settles at once).
func countApproval(tx MembershipTx, id string, d Decision) (int, error) {
	ds, err := tx.Decisions(id)
	if err != nil {
		return 0, err
	}
	counted := len(countedApprovals(ds, Person{}))
	for _, o := range ds {
		if o.Verdict == Approve && strings.EqualFold(o.Approver.ObjectID, d.Approver.ObjectID) {
			return counted, ErrAlreadyApproved
		}
	}
	return counted + 1, nil
}

// quorumReason is the audit reason of an approval under a quorum: "1 of
// 2 approvals", then the approver's reason.
func quorumReason(n, required int, reason string) string {
	s := fmt.Sprintf("%d of %d approvals", n, required)
	if reason != "" {
		s += ": " + reason
	}
	return s
}

// QuorumLine is how far a request's quorum has come, "1 of 2 approvals",
// for cards and notices.
func QuorumLine(n, required int) string {
	return fmt.Sprintf("%d of %d approvals", n, required)
}

// approvedAlready refuses, before any directory question, an approval by
// someone counted on the request already: "You already approved; 1 of 2
// approvals". It is audited as a refused decision and changes nothing.
func (s *Service) approvedAlready(ctx context.Context, p Profile, req *Request, in DecisionInput) *Refusal {
	if in.Verdict != Approve || !HasApproved(req, in.Approver) {
		return nil
	}
	return s.refuseApprovedAlready(ctx, req, in, len(Approvals(req)), p.Rules(req.Severity).RequiredApprovals)
}

// refuseApprovedAlready is the refusal of a second approval by the same
// person, audited; the request is reloaded so the card shows it as it
// stands.
func (s *Service) refuseApprovedAlready(ctx context.Context, req *Request, in DecisionInput, counted, required int) *Refusal {
	if cur, err := s.cfg.Store.GetRequest(ctx, req.ID); err == nil {
		req = cur
	}
	r := refuse(ErrAlreadyApproved, "You already approved; %s. Another approver has to approve too.", QuorumLine(counted, required))
	r.Request = req
	s.auditRefusal(ctx, in.Approver, ActionDecisionRefused, req, "already approved; "+QuorumLine(counted, required), in.ConversationID, in.ActivityID)
	return r
}

// approverNames names the approvers of an approved request for the
// requester: every counted approver under a quorum ("Alex Approver and
// Blake Approver"), else the one who approved.
func approverNames(req *Request, last Person) string {
	as := Approvals(req)
	if len(as) < 2 {
		return Escape(last.Name)
	}
	names := make([]string, len(as))
	for i, d := range as {
		names[i] = Escape(d.Approver.Name)
	}
	return strings.Join(names[:len(names)-1], ", ") + " and " + names[len(names)-1]
}
