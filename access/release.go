package access

import (
	"context"
	"errors"
	"fmt"
	"strings"
)

// Ending a grant early: its requester releases it ("I'm done"), or an
// approver of its profile or a member of the security groups revokes it
// ("Revoke now", with a reason). Both take the durable path of expiry: the
// intent is stored first (the grant records who ended it and becomes due
// now), then Work removes the member exactly as at expiry (shared and
// pre-existing memberships are left in place, failures are retried and
// end irrevocable), so a crash in between is finished on restart.

// endBudget bounds the removal done while an "I'm done" or "Revoke now"
// click waits; the scheduler finishes whatever is left.
const endBudget = retryNowBudget

// EndInput is a person's ask to end a grant early.
type EndInput struct {
	TenantID string
	// RequestID is the grant's request. A release may leave it empty: the
	// requester's single active grant is meant.
	RequestID string
	Who       Person
	// Reason is why (required to revoke; not asked for a release).
	Reason         string
	ConversationID string
	ActivityID     string
}

// Release ends the caller's active grant before its expiry. Only the
// requester may; anyone else is refused (audited as grant.release_refused)
// and nothing changes. Without a request id the requester's single active
// grant is released; with several, the refusal lists them. It returns the
// request as it stands after the removal was attempted.
func (s *Service) Release(ctx context.Context, in EndInput) (*Request, error) {
	if err := s.checkCaller(in.TenantID, in.Who); err != nil {
		return nil, err
	}
	req, err := s.namedOr(ctx, in.RequestID, func() (*Request, error) { return s.singleActive(ctx, in.Who) })
	if err != nil {
		return nil, err
	}
	if !strings.EqualFold(req.Requester.ObjectID, in.Who.ObjectID) {
		s.auditRefusal(ctx, in.Who, ActionReleaseRefused, req, "not the requester", in.ConversationID, in.ActivityID)
		return nil, noSuchRequest(req.ID, hintAccess)
	}
	if r := Endable(req); r != nil {
		return nil, r
	}
	end := EarlyEnd{Kind: EndReleased, By: in.Who}
	return s.endEarly(ctx, req, end, ActionReleased, "released by the requester", in)
}

// RevokeNow ends an active grant before its expiry, on the click of an
// approver of its profile or a member of the security groups, with a
// reason (required, at most MaxReason characters). The requester may
// revoke their own grant only where the profile lets them approve their own
// requests. Anyone else is refused (audited as grant.revoke_now_refused) and
// nothing changes. The requester is told who revoked it and why.
func (s *Service) RevokeNow(ctx context.Context, in EndInput) (*Request, error) {
	if err := s.checkCaller(in.TenantID, in.Who); err != nil {
		return nil, err
	}
	req, err := s.loadForEnd(ctx, in.RequestID)
	if err != nil {
		return nil, err
	}
	// Who may revoke is checked first, so that every refused outsider is
	// on record, whatever the reason they typed.
	if why, err := s.mayRevoke(ctx, req, in.Who); err != nil {
		return nil, err
	} else if why != nil {
		s.auditRefusal(ctx, in.Who, ActionRevokeRefused, req, why.audit, in.ConversationID, in.ActivityID)
		why.refusal.Request = req
		return nil, why.refusal
	}
	in.Reason = strings.TrimSpace(in.Reason)
	switch n := Length(in.Reason); {
	case n == 0:
		return nil, refuse(ErrInvalidInput, "Say why you revoke this access: the reason is shown to the requester.")
	case n > MaxReason:
		return nil, refuse(ErrInvalidInput, "The reason is too long (%d characters); keep it to %d.", n, MaxReason)
	}
	if req.State == RequestScheduled {
		return s.revokeScheduled(ctx, req, in)
	}
	if r := Endable(req); r != nil {
		return nil, r
	}
	end := EarlyEnd{Kind: EndRevoked, By: in.Who, Reason: in.Reason}
	return s.endEarly(ctx, req, end, ActionRevokedEarly, in.Reason, in)
}

// revokeScheduled revokes a request approved ahead, before its start, on
// the click of someone mayRevoke admits: it is closed as denied with their
// decision and reason (audited request.revoked_before_start), and nothing
// is ever added to the group. A start that came first leaves the grant to
// be revoked as any active one (the click is then answered with its
// state).
func (s *Service) revokeScheduled(ctx context.Context, req *Request, in EndInput) (*Request, error) {
	now := s.cfg.Clock.Now().UTC()
	d := Decision{Approver: in.Who, Verdict: Deny, Reason: in.Reason, DecidedAt: now}
	ev := s.event(now, in.Who, ActionRevokedBeforeStart, req, in.Reason)
	ev.ConversationID, ev.ActivityID = in.ConversationID, in.ActivityID
	updated, err := s.cfg.Store.CloseScheduled(ctx, req.ID, RequestDenied, &d, now, ev)
	if errors.Is(err, ErrNotPending) {
		cur, gerr := s.cfg.Store.GetRequest(ctx, req.ID)
		if gerr != nil {
			return nil, fmt.Errorf("reload request %s: %w", req.ID, gerr)
		}
		if r := Endable(cur); r != nil {
			return nil, r
		}
		r := refuse(ErrNotActive, "This access started meanwhile; press Revoke now again to end it.")
		r.Request = cur
		return nil, r
	}
	if err != nil {
		return nil, fmt.Errorf("revoke scheduled request %s: %w", req.ID, err)
	}
	s.log.Info("scheduled request revoked before its start", "request", req.ID, "profile", req.Profile, "by", in.Who.ObjectID)
	s.updateCard(ctx, updated)
	s.notify(ctx, updated, NoticeDenied, fmt.Sprintf("Your scheduled access to %s (from %s) was revoked before its start by %s; nothing was granted. Reason: %s",
		req.Profile, FormatStart(req), Escape(in.Who.Name), Quote(in.Reason)))
	return updated, nil
}

// revokeRefusal is why a person may not revoke: what they are told and what
// the audit log records.
type revokeRefusal struct {
	refusal *Refusal
	audit   string
}

// mayRevoke decides whether who may revoke req's grant: a member of the
// profile's approver groups or of the security groups; the requester only
// when the profile allows self-approval. It returns nil when they may.
func (s *Service) mayRevoke(ctx context.Context, req *Request, who Person) (*revokeRefusal, error) {
	p, known := s.profiles[req.Profile]
	if strings.EqualFold(who.ObjectID, req.Requester.ObjectID) {
		if known && p.AllowSelfApproval {
			return nil, nil
		}
		return &revokeRefusal{
			refusal: refuse(ErrSelfApproval, "You cannot revoke your own access with Revoke now; send `release` (or press I'm done) to end it."),
			audit:   "the requester tried to revoke their own grant",
		}, nil
	}
	var groups []string
	if known {
		groups = append(groups, p.ApproverGroups...)
	}
	groups = append(groups, s.cfg.SecurityGroups...)
	ok, err := s.inGroups(ctx, who.ObjectID, groups, false)
	if err != nil {
		return nil, fmt.Errorf("check whether %s may revoke %s: %w", who.ObjectID, req.ID, err)
	}
	if ok {
		return nil, nil
	}
	return &revokeRefusal{
		refusal: refuse(ErrNotApprover, "Only an approver of %s or the security team can revoke this access.", req.Profile),
		audit:   "not an approver of the profile nor in a security group",
	}, nil
}

// Endable says whether req's grant may be ended early now: it must be
// active (its membership in place) and not already ending. When it may
// not, the refusal says why, with the request.
func Endable(req *Request) *Refusal {
	g := req.Grant
	var r *Refusal
	switch {
	case req.State == RequestPending:
		r = refuse(ErrNotActive, "This request has not been approved yet: there is no access to end.")
	case req.State == RequestScheduled:
		r = refuse(ErrNotActive, "This access starts at %s; nothing is granted yet. Cancel it (`cancel %s`) if you no longer need it.", FormatStart(req), req.ID)
	case g == nil || g.State == GrantGranting || req.State == RequestApproved:
		r = refuse(ErrNotActive, "This access is still being granted; try again in a minute.")
	case g.Early.Kind != "" && g.State.Live():
		r = refuse(ErrNotActive, "This access is already being ended (%s); the card shows the outcome.", earlyText(g.Early))
	case g.State == GrantRevoking || g.State == GrantIrrevocable:
		r = refuse(ErrNotActive, "This access has expired and is being removed already.")
	case g.State == GrantActive && req.State == RequestActive:
		return nil
	default:
		r = refuse(ErrNotActive, "This access is not active any more (the request is %s); there is nothing to end.", req.State)
	}
	r.Request = req
	return r
}

// earlyText says who ended a grant early.
func earlyText(e EarlyEnd) string {
	switch e.Kind {
	case EndReleased:
		return "released by " + Escape(e.By.Name)
	case EndUnreviewed:
		return "revoked by jitbot: " + e.Reason
	}
	return "revoked by " + Escape(e.By.Name)
}

// namedOr loads the request id names or, when id is empty, the one only
// finds (the caller's single request of a kind).
func (s *Service) namedOr(ctx context.Context, id string, only func() (*Request, error)) (*Request, error) {
	if strings.TrimSpace(id) == "" {
		return only()
	}
	return s.loadForEnd(ctx, id)
}

// loadForEnd loads the request a release or revoke names.
func (s *Service) loadForEnd(ctx context.Context, id string) (*Request, error) {
	req, err := s.cfg.Store.GetRequest(ctx, strings.TrimSpace(id))
	if errors.Is(err, ErrNotFound) {
		return nil, noSuchRequest(id, hintAccess)
	}
	if err != nil {
		return nil, fmt.Errorf("load request %s: %w", id, err)
	}
	return req, nil
}

// singleActive returns the user's one active grant's request; with none or
// several it refuses, naming them.
func (s *Service) singleActive(ctx context.Context, who Person) (*Request, error) {
	return s.onlyOpen(ctx, who, func(r *Request) bool { return Endable(r) == nil },
		ErrNotActive, "You have no active access to release. Send `status` to see your requests.",
		"You have %d active grants; say which one you are done with:",
		func(r *Request) string {
			return fmt.Sprintf("%s until %s: `release %s`", r.Profile, FormatTime(r.Grant.ExpiresAt), r.ID)
		})
}

// endEarly stores the intent to end req's grant early (who, how, why; due
// now) with its audit event, then removes the member through Work within a
// bounded time and returns the request as it then stands. A grant that
// changed meanwhile (it fell due and a replica is removing it, or someone
// else ended it first) is refused and left as it is.
func (s *Service) endEarly(ctx context.Context, req *Request, end EarlyEnd, action Action, reason string, in EndInput) (*Request, error) {
	now := s.cfg.Clock.Now().UTC()
	end.At = now
	ev := s.event(now, in.Who, action, req, reason)
	ev.ConversationID, ev.ActivityID = in.ConversationID, in.ActivityID
	g := req.Grant
	err := withGrant(ctx, s.cfg.Store, g.ID, now, func(_ *Membership, cur *Grant, tx MembershipTx) error {
		// A grant already due is the scheduler's to end (as expired).
		if cur.State != GrantActive || cur.Early.Kind != "" || !cur.DueAt.After(now) {
			return ErrStaleGrant
		}
		if _, err := tx.UpdateGrant(GrantUpdate{
			ID: g.ID, From: []GrantState{GrantActive}, At: now, DueAt: now, Early: &end,
		}); err != nil {
			return err
		}
		return tx.Append(grantEvent(ev, cur, now))
	})
	if errors.Is(err, ErrStaleGrant) {
		cur, gerr := s.cfg.Store.GetRequest(ctx, req.ID)
		if gerr != nil {
			return nil, fmt.Errorf("reload request %s: %w", req.ID, gerr)
		}
		if r := Endable(cur); r != nil {
			return nil, r
		}
		r := refuse(ErrStaleGrant, "This access is being worked on right now (it may be expiring); the card will show the outcome. Try again in a minute if it is still active.")
		r.Request = cur
		return nil, r
	}
	if err != nil {
		return nil, fmt.Errorf("end grant %s early: %w", g.ID, err)
	}
	s.log.Info("grant ended early", "request", req.ID, "grant", g.ID, "how", end.Kind, "by", in.Who.ObjectID)
	// The intent is stored: the removal is the scheduler's, done here for
	// a bounded time so that the click can show the outcome.
	wctx, cancel := context.WithTimeout(ctx, endBudget)
	if _, err := s.Work(wctx); err != nil {
		s.log.Warn("remove member after early end; the scheduler will finish it", "grant", g.ID, "err", err)
	}
	cancel()
	s.Wake()
	out, err := s.cfg.Store.GetRequest(ctx, req.ID)
	if err != nil {
		return nil, fmt.Errorf("reload request %s: %w", req.ID, err)
	}
	return out, nil
}

// endReason is the reason recorded with a grant's removal: "expired", or
// who ended it early.
func endReason(g *Grant) string {
	switch g.Early.Kind {
	case EndReleased:
		return "released early by the requester"
	case EndRevoked:
		return "revoked early by " + g.Early.By.Name + ": " + g.Early.Reason
	case EndUnreviewed:
		return "revoked by jitbot: break-glass access " + g.Early.Reason
	}
	return "expired"
}

// endedNotice tells the requester how their grant ended; removed says
// whether the member was removed (else it was left in place: pre-existing
// or held by another grant).
func endedNotice(g *Grant, removed bool) string {
	var head string
	switch g.Early.Kind {
	case EndReleased:
		head = fmt.Sprintf("Your access to %s has ended, as you asked", g.Profile)
	case EndRevoked:
		head = fmt.Sprintf("Your access to %s was revoked by %s. Reason: %s", g.Profile, Escape(g.Early.By.Name), Quote(g.Early.Reason))
	case EndUnreviewed:
		head = fmt.Sprintf("Your break-glass access to %s was revoked by jitbot: it was %s by the security team", g.Profile, g.Early.Reason)
	default:
		if removed {
			return fmt.Sprintf("Your temporary access to %s has ended: you were removed from its group.", g.Profile)
		}
		return fmt.Sprintf("Your temporary access to %s has ended. Your membership of its group was left in place: it pre-existed this grant, or another active grant still holds it.", g.Profile)
	}
	if removed {
		return head + ". You were removed from its group."
	}
	return head + ". Your membership of its group was left in place: it pre-existed this grant, or another active grant still holds it."
}
