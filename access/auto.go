package access

import (
	"context"
	"errors"
	"fmt"
	"strings"
)

// AutoApproved reports whether req was approved by jitbot under its
// profile's auto_approve rather than by an approver.
func AutoApproved(req *Request) bool {
	if req.Grant != nil && req.Grant.BreakGlass {
		return false // jitbot's approval of a break-glass request
	}
	for _, d := range req.Decisions {
		if d.Verdict == Approve && d.Approver.ObjectID == System.ObjectID {
			return true
		}
	}
	return false
}

// AutoApproveReason is the reason of an auto-approval by the rule for a
// requester in group: what the card, the requester and the audit log say.
func AutoApproveReason(a *AutoApprove, group string) string {
	return fmt.Sprintf("Auto-approved (on-call): the requester is in group %s, which auto_approve approves for up to %s.", group, FormatDuration(a.MaxDuration))
}

// autoApprove approves a just-posted pending request at once when its
// rules' auto_approve applies: the duration within its max_duration, the
// severity one of its severities (when set), and the requester a
// transitive member of one of its groups. The approval is jitbot's
// (audited request.auto_approved, naming the group), and the grant takes
// the durable path of any approval. ok is false, and the request is left
// to the approvers, when the rule does not apply or the directory could
// not say (the approvers decide then: failing closed).
func (s *Service) autoApprove(ctx context.Context, p Profile, req *Request) (out *Request, ok bool, err error) {
	a := p.Rules(req.Severity).AutoApprove
	if !a.applies(req.Severity, req.Duration) {
		return nil, false, nil
	}
	found, err := s.cfg.Directory.MemberGroups(ctx, req.Requester.ObjectID, a.Groups)
	if err != nil {
		s.log.Warn("auto-approval: group check failed; the approvers decide", "request", req.ID, "err", err)
		return nil, false, nil
	}
	group := ""
	for _, f := range found {
		for _, g := range a.Groups {
			if strings.EqualFold(f, g) && group == "" {
				group = g
			}
		}
	}
	if group == "" {
		return nil, false, nil
	}
	now := s.cfg.Clock.Now().UTC()
	d := Decision{Approver: System, Verdict: Approve, Reason: AutoApproveReason(a, group), DecidedAt: now}
	ev := s.event(now, System, ActionAutoApproved, req, d.Reason)
	grant := s.newApprovalGrant(p, req, now)
	updated, _, err := RecordApproval(ctx, s.cfg.Store, req.ID, d, 1, grant, s.cfg.Owner, now.Add(s.cfg.Lease), ev)
	if errors.Is(err, ErrNotPending) {
		return nil, false, nil // cancelled in the meantime
	}
	if err != nil {
		return nil, false, fmt.Errorf("auto-approve request %s: %w", req.ID, err)
	}
	s.log.Info("request auto-approved", "request", req.ID, "profile", req.Profile, "group", group)
	s.notify(ctx, updated, NoticeApproved, fmt.Sprintf("Your request for %s was approved at once: you are in an on-call group its profile auto-approves for up to %s. %s The approvers were shown it and may revoke it.",
		req.Profile, FormatDuration(a.MaxDuration), accessText(req, grant.ExpiresAt, now)))
	final, err := s.startGrant(ctx, updated)
	if err != nil {
		return nil, true, err
	}
	return final, true, nil
}

// autoApprovalLapsed says why the auto-approval of a scheduled request no
// longer holds at its start, or "": the approval vouched for a requester on
// call when they asked, so at the start the profile's auto_approve must
// still cover the request and the requester must still be in one of its
// groups. A directory that cannot say is an error (the start is tried
// again later; nothing is added meanwhile).
func (s *Service) autoApprovalLapsed(ctx context.Context, p Profile, req *Request) (string, error) {
	a := p.Rules(req.Severity).AutoApprove
	if !a.applies(req.Severity, req.Duration) {
		return fmt.Sprintf("it was auto-approved (on-call), and profile %s no longer auto-approves it", p.Name), nil
	}
	onCall, err := s.inGroups(ctx, req.Requester.ObjectID, a.Groups, false)
	if err != nil {
		return "", fmt.Errorf("check whether %s is still on call for %s: %w", req.Requester.ObjectID, p.Name, err)
	}
	if !onCall {
		return "it was auto-approved (on-call), and the requester is no longer in an on-call group of " + p.Name, nil
	}
	return "", nil
}
