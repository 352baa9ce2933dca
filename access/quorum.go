package access

import (
	"context"
	"errors"
	"fmt"
	"slices"
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
		if d.Verdict == Withdrawn && seen[k] {
			// The approval stopped counting: its approver left the
			// approver groups before the quorum completed.
			delete(seen, k)
			out = slices.DeleteFunc(out, func(o Decision) bool { return strings.EqualFold(o.Approver.ObjectID, k) })
			continue
		}
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

// HasApproved reports whether who has approved req already (an approval
// withdrawn since does not count: they may approve again).
func HasApproved(req *Request, who Person) bool {
	return approvedIn(req.Decisions, who)
}

// approvedIn reports whether ds holds an approval by who that was not
// withdrawn later.
func approvedIn(ds []Decision, who Person) bool {
	approved := false
	for _, d := range ds {
		if !strings.EqualFold(d.Approver.ObjectID, who.ObjectID) {
			continue
		}
		switch d.Verdict {
		case Approve:
			approved = true
		case Withdrawn:
			approved = false
		}
	}
	return approved
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
	if approvedIn(ds, d.Approver) {
		return counted, ErrAlreadyApproved
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

// withdrawDeparted re-checks, with every approval under a quorum, that
// every approver counted on req so far is still in the profile's decider
// groups: with every one, not only the one that seems to complete the
// quorum, since two approvals at once each read the request before the
// other was stored, and the one that does complete it may not know it.
// (An approval stored after this read was checked at its own click.) The
// approval of one who left stops counting:
// a Withdrawn decision and its audit event request.approval_withdrawn are
// stored under the membership's lock before in's approval is counted, so
// the quorum then counts without them. A directory that cannot answer
// fails the click (an error, nothing stored): an approval is never counted
// on an unchecked approver.
func (s *Service) withdrawDeparted(ctx context.Context, p Profile, req *Request, in DecisionInput) error {
	required := p.Rules(req.Severity).RequiredApprovals
	earlier := Approvals(req)
	if in.Verdict != Approve || required < 2 || len(earlier) == 0 {
		return nil
	}
	var departed []Person
	for _, d := range earlier {
		ok, err := s.inGroups(ctx, d.Approver.ObjectID, deciderGroups(p, req), false)
		if err != nil {
			return fmt.Errorf("check whether %s, who approved request %s, still is an approver of %s: %w", d.Approver.ObjectID, req.ID, p.Name, err)
		}
		if !ok {
			departed = append(departed, d.Approver)
		}
	}
	if len(departed) == 0 {
		return nil
	}
	now := s.cfg.Clock.Now().UTC()
	err := s.cfg.Store.WithMembership(ctx, req.GroupID, req.Requester.ObjectID, now, func(_ *Membership, tx MembershipTx) error {
		ds, err := tx.Decisions(req.ID)
		if err != nil {
			return err
		}
		for _, who := range departed {
			if !approvedIn(ds, who) {
				continue // withdrawn by a concurrent approval already
			}
			reason := fmt.Sprintf("the approval by %s no longer counts: they are no longer in an approver group of %s", who.Name, p.Name)
			if err := tx.Decide(req.ID, Decision{Approver: who, Verdict: Withdrawn, Reason: reason, DecidedAt: now}, RequestPending); err != nil {
				return err
			}
			ev := s.event(now, System, ActionApprovalWithdrawn, req, reason)
			ev.ConversationID, ev.ActivityID = in.ConversationID, in.ActivityID
			if err := tx.Append(ev); err != nil {
				return err
			}
			s.log.Warn("approval withdrawn: the approver left the approver groups", "request", req.ID, "approver", who.ObjectID)
		}
		return nil
	})
	if errors.Is(err, ErrNotPending) {
		return nil // decided meanwhile; counting the approval says so
	}
	if err != nil {
		return fmt.Errorf("withdraw the approvals of departed approvers on %s: %w", req.ID, err)
	}
	return nil
}
