package access

import (
	"context"
	"errors"
	"fmt"
	"strings"
)

// Force-approval. A member of the admin groups (security.admin_groups) may
// approve a pending request at any time before its deadline, past the
// approvers' rules (who they are, how many must agree), with a reason. The
// decision is marked as forced: the card says "Force-approved by <admin>"
// with the reason, the requester is told, and it is audited as
// request.force_approved. A profile with a step-up rule asks the admin for
// the same fresh sign-in as its approvers. Nobody force-approves their own
// request, and
// anyone who is not an admin is refused; every refusal of an identified
// caller (not an admin, their own request, no reason, not pending, an
// extension, their approval counting already) is audited as
// request.force_approve_refused and nothing else changes. The grant takes the
// usual durable path.

// forceApprovable reports whether req may be force-approved now as far as
// its state goes: a pending request for access (not an extension).
func forceApprovable(req *Request) bool {
	return req.State == RequestPending && req.ExtendsRequestID == ""
}

// ForceApprove approves a pending request on an admin's click, with a
// reason (required, at most MaxReason). It returns the request as it now
// stands. A *Refusal (with Request set when the request exists) says why
// nothing changed.
func (s *Service) ForceApprove(ctx context.Context, in DecisionInput) (*Request, error) {
	if err := s.checkCaller(in.TenantID, in.Approver); err != nil {
		return nil, err
	}
	req, err := s.cfg.Store.GetRequest(ctx, in.RequestID)
	if errors.Is(err, ErrNotFound) {
		return nil, refuse(ErrNotFound, "This request does not exist (any more).")
	}
	if err != nil {
		return nil, fmt.Errorf("load request %s: %w", in.RequestID, err)
	}
	// Who may is checked first, so that every refused attempt is on
	// record whatever the request's state.
	if strings.EqualFold(in.Approver.ObjectID, req.Requester.ObjectID) {
		s.auditRefusal(ctx, in.Approver, ActionForceRefused, req, "the requester tried to force-approve their own request", in.ConversationID, in.ActivityID)
		r := refuse(ErrSelfApproval, "You cannot force-approve your own request.")
		r.Request = req
		return nil, r
	}
	admin, err := s.inGroups(ctx, in.Approver.ObjectID, s.cfg.AdminGroups, false)
	if err != nil {
		return nil, fmt.Errorf("check whether %s may force-approve %s: %w", in.Approver.ObjectID, req.ID, err)
	}
	if !admin {
		s.auditRefusal(ctx, in.Approver, ActionForceRefused, req, "not in an admin group", in.ConversationID, in.ActivityID)
		r := refuse(ErrNotApprover, "Only a jitbot admin can force-approve a request.")
		r.Request = req
		return nil, r
	}
	in.Reason = strings.TrimSpace(in.Reason)
	switch n := Length(in.Reason); {
	case n == 0:
		s.auditRefusal(ctx, in.Approver, ActionForceRefused, req, "no reason given", in.ConversationID, in.ActivityID)
		r := refuse(ErrInvalidInput, "Say why you force-approve this request: the reason is shown on the card and to the requester, and audited.")
		r.Request = req
		return nil, r
	case n > MaxReason:
		s.auditRefusal(ctx, in.Approver, ActionForceRefused, req, fmt.Sprintf("reason too long (%d characters)", n), in.ConversationID, in.ActivityID)
		return nil, refuse(ErrInvalidInput, "The reason is too long (%d characters); keep it to %d.", n, MaxReason)
	}
	if req.State != RequestPending {
		s.auditRefusal(ctx, in.Approver, ActionForceRefused, req, fmt.Sprintf("the request is %s, not pending", req.State), in.ConversationID, in.ActivityID)
		r := refuse(ErrNotPending, "This request was already decided; the card shows its current state.")
		r.Request = req
		return nil, r
	}
	if !forceApprovable(req) {
		s.auditRefusal(ctx, in.Approver, ActionForceRefused, req, "the request is an extension", in.ConversationID, in.ActivityID)
		r := refuse(ErrInvalidInput, "An extension is decided with Approve or Deny by the approvers; it cannot be force-approved.")
		r.Request = req
		return nil, r
	}
	if late := s.lateDecision(ctx, req); late != nil {
		return nil, late
	}
	p, ok := s.profiles[req.Profile]
	if !ok {
		return nil, s.invalidate(ctx, req, in, fmt.Sprintf("profile %s is no longer configured", req.Profile))
	}
	// A profile that asks approvers for a fresh sign-in asks it of an
	// admin too: force-approval passes over who approves, not how
	// strongly they signed in.
	if p.StepUp.On() {
		if short := stepUpShortfall(p.StepUp, in, s.cfg.Clock.Now().UTC()); short != "" {
			s.auditRefusal(ctx, in.Approver, ActionForceRefused, req, "step-up: "+short, in.ConversationID, in.ActivityID)
			r := refuse(ErrStepUpRequired, "Force-approving %s needs a fresh sign-in (with multi-factor authentication or a compliant device). Sign in when Teams asks, then press Force approve again; nothing was changed.", p.Name)
			r.Request = req
			return nil, r
		}
	}
	why, err := s.stillValid(ctx, p, req)
	if err != nil {
		return nil, err
	}
	if why != "" {
		return nil, s.invalidate(ctx, req, in, why)
	}
	if late := s.lateDecision(ctx, req); late != nil {
		return nil, late
	}
	now := s.cfg.Clock.Now().UTC()
	d := Decision{Approver: in.Approver, Verdict: Approve, Reason: in.Reason, DecidedAt: now, Forced: true}
	grant := s.newApprovalGrant(p, req, now)
	ev := s.event(now, in.Approver, ActionForceApproved, req, in.Reason)
	ev.ConversationID, ev.ActivityID = in.ConversationID, in.ActivityID
	// One approval settles it, whatever the quorum of the profile.
	updated, err := RecordDecision(ctx, s.cfg.Store, req.ID, d, grant, s.cfg.Owner, now.Add(s.cfg.Lease), ev)
	if errors.Is(err, ErrNotPending) {
		return nil, s.reloadDecidedFirst(ctx, req.ID)
	}
	if errors.Is(err, ErrAlreadyApproved) {
		// Their approval counts already: one person is one voice, even an
		// admin's.
		s.auditRefusal(ctx, in.Approver, ActionForceRefused, req, "their approval counts already", in.ConversationID, in.ActivityID)
		r := refuse(ErrAlreadyApproved, "You approved this request already as an approver; another admin can force-approve it.")
		r.Request = req
		return nil, r
	}
	if err != nil {
		return nil, fmt.Errorf("record force-approval of %s: %w", req.ID, err)
	}
	s.log.Warn("request force-approved", "request", req.ID, "profile", req.Profile, "by", in.Approver.ObjectID)
	s.notify(ctx, updated, NoticeApproved, fmt.Sprintf("Your request for %s was force-approved by %s, a jitbot admin. %s Reason: %s",
		req.Profile, Escape(in.Approver.Name), accessText(req, grant.ExpiresAt, now), Quote(in.Reason)))
	return s.startGrant(ctx, updated)
}
