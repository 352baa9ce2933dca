package access

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"
)

// Break-glass. A request under a profile with BreakGlass is granted at once,
// without an approver: jitbot records the approval as its own (audited
// request.break_glass) and grants through the normal durable path. The
// approval card in the approvers' channel says so, and a review card goes to
// the security channel with Acknowledge and Revoke now. The review is owed
// within the profile's ReviewWithin: the security channel is reminded halfway
// (recorded before sent, one replica sends it), and at the deadline the grant
// is revoked through the durable early end (RevokeIfUnreviewed, audited
// grant.revoked_unreviewed) or, without it, reminded again, at most
// MaxReviewReminders times. Only a member of the security groups (with none:
// an approver of the profile), never the requester, may acknowledge.

// The defaults and limits of break-glass reviews.
const (
	// DefaultReviewWithin is how long the security team has to review a
	// break-glass grant when its profile sets no review_within.
	DefaultReviewWithin = time.Hour
	// MaxReviewReminders bounds the reminders of one unreviewed grant.
	MaxReviewReminders = 3
)

// BreakGlassReason is the reason of jitbot's approval of a break-glass
// request, on the card and in the audit log.
const BreakGlassReason = "Break-glass: granted without approval"

// reviewBatch is how many due reviews one look at the store takes;
// reviewRounds bounds the looks of one WorkReviews.
const (
	reviewBatch  = 20
	reviewRounds = 50
)

// ReviewWithinOf is how long the security team has to review a break-glass
// grant of p.
func ReviewWithinOf(p Profile) time.Duration {
	if p.ReviewWithin > 0 {
		return p.ReviewWithin
	}
	return DefaultReviewWithin
}

// ReviewReminderAt is when review reminder n (1, 2, ...) of a break-glass
// grant of p approved at approved is due: the first halfway to the review's
// deadline; without RevokeIfUnreviewed the second at the deadline and each
// next one ReviewWithin later. It returns the zero time when there is no
// such reminder (n past MaxReviewReminders, or past the first when the grant
// is revoked at the deadline).
func ReviewReminderAt(p Profile, approved time.Time, n int) time.Time {
	within := ReviewWithinOf(p)
	switch {
	case n < 1 || n > MaxReviewReminders:
		return time.Time{}
	case n == 1:
		return approved.Add(within / 2)
	case p.RevokeIfUnreviewed:
		return time.Time{}
	}
	return approved.Add(within * time.Duration(n-1))
}

// nextReviewStep is when the step after reminder n of g is due: the next
// reminder, or the revocation at the deadline when the profile revokes
// unreviewed grants; zero when nothing follows.
func nextReviewStep(p Profile, g *Grant, n int) time.Time {
	if at := ReviewReminderAt(p, g.ApprovedAt, n+1); !at.IsZero() {
		return at
	}
	if p.RevokeIfUnreviewed {
		return g.ReviewBy
	}
	return time.Time{}
}

// grantBreakGlass approves a new break-glass request as jitbot, tells the
// approvers' and the security channels and grants the membership. The
// request is stored (pending) already.
func (s *Service) grantBreakGlass(ctx context.Context, p Profile, req *Request, sub Submission) (*Request, error) {
	now := s.cfg.Clock.Now().UTC()
	within := ReviewWithinOf(p)
	d := Decision{Approver: System, Verdict: Approve, Reason: BreakGlassReason, DecidedAt: now}
	grant := &Grant{
		ID: s.cfg.NewID(), RequestID: req.ID, Profile: req.Profile, GroupID: req.GroupID,
		User: req.Requester, State: GrantGranting, ApprovedAt: now,
		ExpiresAt: now.Add(req.Duration), DueAt: now.Add(req.Duration),
		RemindAt:   RemindAt(p, now, now.Add(req.Duration)),
		BreakGlass: true, ReviewBy: now.Add(within), ReviewDueAt: ReviewReminderAt(p, now, 1),
	}
	ev := s.event(now, System, ActionBreakGlass, req, fmt.Sprintf("granted at once without approval; review within %s", FormatDuration(within)))
	ev.ConversationID, ev.ActivityID = sub.ConversationID, sub.ActivityID
	updated, err := RecordDecision(ctx, s.cfg.Store, req.ID, d, grant, s.cfg.Owner, now.Add(s.cfg.Lease), ev)
	if err != nil {
		// ErrNotPending: another replica's scheduler approved it (see
		// resumeBreakGlass), or it was closed.
		return nil, fmt.Errorf("record break-glass approval of %s: %w", req.ID, err)
	}
	s.log.Warn("break-glass grant", "request", req.ID, "profile", p.Name, "user", req.Requester.ObjectID, "review_by", grant.ReviewBy)
	// The grant stands whatever fails to be posted: the security channel
	// is asked again at the first reminder (see remindReview).
	if chat, id, err := s.cfg.Notifier.PostApprovalCard(ctx, updated, p.ApproverChannelID); err != nil {
		s.log.Error("post break-glass approval card", "request", req.ID, "err", err)
	} else if err := s.cfg.Store.SetApprovalCard(ctx, req.ID, chat, id); err != nil {
		s.log.Error("record break-glass approval card", "request", req.ID, "err", err)
	} else {
		updated.ApprovalChat, updated.ApprovalActivityID = chat, id
	}
	s.postReview(ctx, updated)
	s.notify(ctx, updated, NoticeApproved, fmt.Sprintf("Your request for %s was granted at once under break-glass, without approval. Access until %s. The security team was alerted and reviews it by %s.",
		p.Name, FormatTime(grant.ExpiresAt), FormatTime(grant.ReviewBy)))
	return s.startGrant(ctx, updated)
}

// resumesBreakGlass reports whether req is a break-glass request whose
// Submit stopped before jitbot's approval was stored: pending under a
// break-glass profile, no extension, with no decision and no approval card
// (those are posted after the approval).
func resumesBreakGlass(p Profile, req *Request) bool {
	return p.BreakGlass && req.State == RequestPending && req.ExtendsRequestID == "" &&
		len(req.Decisions) == 0 && req.ApprovalActivityID == ""
}

// resumeBreakGlass finishes a break-glass request left pending by a process
// that stopped between storing it and approving it (see resumesBreakGlass):
// it is checked against its profile as configured now, then granted as
// Submit would have, its clock and its review starting now; one that no
// longer fits is closed as no longer valid and the requester told. It
// reports false when another replica did either first.
func (s *Service) resumeBreakGlass(ctx context.Context, p Profile, req *Request) (bool, error) {
	why, err := s.stillValid(ctx, p, req)
	if err != nil {
		return false, err
	}
	if why != "" {
		now := s.cfg.Clock.Now().UTC()
		d := Decision{Approver: System, Verdict: Deny, Reason: "No longer valid: " + why + ".", DecidedAt: now}
		updated, err := s.cfg.Store.Deny(ctx, req.ID, d, s.event(now, System, ActionInvalidated, req, why))
		if errors.Is(err, ErrNotPending) || errors.Is(err, ErrNotFound) {
			return false, nil
		}
		if err != nil {
			return false, fmt.Errorf("close break-glass request %s as no longer valid: %w", req.ID, err)
		}
		s.notify(ctx, updated, NoticeClosed, fmt.Sprintf("Your request for %s was closed without a decision: %s. Nothing was granted; ask again if you still need access.",
			req.Profile, why))
		return true, nil
	}
	s.log.Warn("granting a break-glass request left pending by a stopped process", "request", req.ID, "profile", p.Name)
	_, err = s.grantBreakGlass(ctx, p, req, Submission{})
	if lostBreakGlassRace(err) {
		return false, nil
	}
	if err != nil {
		return false, err
	}
	return true, nil
}

// lostBreakGlassRace reports whether err says that jitbot's approval of a
// break-glass request was stored by another replica first (or the request
// was closed): jitbot is its only approver, so its approval found already
// counted is that replica's.
func lostBreakGlassRace(err error) bool {
	return errors.Is(err, ErrNotPending) || errors.Is(err, ErrAlreadyApproved)
}

// postReview posts the review card of req's break-glass grant to the
// security channel and records where it landed.
func (s *Service) postReview(ctx context.Context, req *Request) {
	chat, id, err := s.cfg.Notifier.PostReviewAlert(ctx, req, s.cfg.SecurityChannelID)
	if err != nil {
		s.log.Error("post break-glass review card", "request", req.ID, "err", err)
		return
	}
	if err := s.cfg.Store.SetReviewCard(ctx, req.Grant.ID, chat, id); err != nil {
		s.log.Error("record break-glass review card", "request", req.ID, "err", err)
		return
	}
	req.Grant.ReviewChat, req.Grant.ReviewActivityID = chat, id
}

// ReviewInput is a click on Acknowledge on a break-glass review card.
type ReviewInput struct {
	TenantID  string
	RequestID string
	Who       Person
	// Note is what the reviewer adds (optional, at most MaxReason).
	Note           string
	ConversationID string
	ActivityID     string
}

// Acknowledge records the review of a break-glass grant by a member of the
// security groups (with none configured: an approver of the profile); the
// requester never reviews their own. Anyone else is refused (audited as
// grant.review_refused) and nothing changes. A grant reviewed already keeps
// its first review. It returns the request as it now stands.
func (s *Service) Acknowledge(ctx context.Context, in ReviewInput) (*Request, error) {
	if err := s.checkCaller(in.TenantID, in.Who); err != nil {
		return nil, err
	}
	req, err := s.loadForEnd(ctx, in.RequestID)
	if err != nil {
		return nil, err
	}
	g := req.Grant
	if g == nil || !g.BreakGlass {
		r := refuse(ErrNotFound, "This request was not granted under break-glass; there is nothing to review.")
		r.Request = req
		return nil, r
	}
	if why, err := s.mayReview(ctx, req, in.Who); err != nil {
		return nil, err
	} else if why != nil {
		s.auditRefusal(ctx, in.Who, ActionReviewRefused, req, why.audit, in.ConversationID, in.ActivityID)
		why.refusal.Request = req
		return nil, why.refusal
	}
	in.Note = strings.TrimSpace(in.Note)
	if n := Length(in.Note); n > MaxReason {
		return nil, refuse(ErrInvalidInput, "The note is too long (%d characters); keep it to %d.", n, MaxReason)
	}
	if !g.Review.At.IsZero() {
		return nil, reviewedFirst(req)
	}
	now := s.cfg.Clock.Now().UTC()
	reason := "reviewed"
	if in.Note != "" {
		reason = in.Note
	}
	ev := s.event(now, in.Who, ActionReviewed, req, reason)
	ev.ConversationID, ev.ActivityID = in.ConversationID, in.ActivityID
	err = s.cfg.Store.RecordReview(ctx, g.ID, Review{By: in.Who, Note: in.Note, At: now}, ev)
	if errors.Is(err, ErrReviewed) {
		cur, gerr := s.cfg.Store.GetRequest(ctx, req.ID)
		if gerr != nil {
			return nil, fmt.Errorf("reload request %s: %w", req.ID, gerr)
		}
		return nil, reviewedFirst(cur)
	}
	if err != nil {
		return nil, fmt.Errorf("record review of grant %s: %w", g.ID, err)
	}
	s.log.Info("break-glass grant reviewed", "request", req.ID, "grant", g.ID, "by", in.Who.ObjectID)
	out, err := s.cfg.Store.GetRequest(ctx, req.ID)
	if err != nil {
		return nil, fmt.Errorf("reload request %s: %w", req.ID, err)
	}
	s.updateCard(ctx, out)
	return out, nil
}

// reviewedFirst refuses a review of a grant reviewed already.
func reviewedFirst(req *Request) *Refusal {
	rv := req.Grant.Review
	r := refuse(ErrReviewed, "This break-glass grant was reviewed already by %s at %s; the card shows it.", Escape(rv.By.Name), FormatTime(rv.At))
	r.Request = req
	return r
}

// mayReview decides whether who may review req's break-glass grant: a
// member of the security groups, or, with none configured, of the
// profile's approver groups; never the requester. It returns nil when they
// may.
func (s *Service) mayReview(ctx context.Context, req *Request, who Person) (*revokeRefusal, error) {
	if strings.EqualFold(who.ObjectID, req.Requester.ObjectID) {
		return &revokeRefusal{
			refusal: refuse(ErrSelfApproval, "You cannot review your own break-glass access; the security team does."),
			audit:   "the requester tried to review their own break-glass grant",
		}, nil
	}
	groups, whose := s.reviewerGroups(req)
	ok, err := s.inGroups(ctx, who.ObjectID, groups, false)
	if err != nil {
		return nil, fmt.Errorf("check whether %s may review %s: %w", who.ObjectID, req.ID, err)
	}
	if ok {
		return nil, nil
	}
	return &revokeRefusal{
		refusal: refuse(ErrNotApprover, "Only %s can review break-glass access.", whose),
		audit:   "not in a reviewer group",
	}, nil
}

// reviewerGroups are the groups whose members review break-glass grants of
// req's profile, and how a refusal names them.
func (s *Service) reviewerGroups(req *Request) ([]string, string) {
	if len(s.cfg.SecurityGroups) > 0 {
		return s.cfg.SecurityGroups, "the security team"
	}
	p := s.profiles[req.Profile]
	return p.ApproverGroups, "an approver of " + req.Profile
}

// WorkReviews sends the review reminders that are due and revokes the
// break-glass grants of profiles with RevokeIfUnreviewed that nobody
// reviewed by their deadline. Several replicas may run it at once: each
// reminder is recorded before it is sent and each revocation is a
// conditional update (the grant still active, unreviewed and not ended),
// and only the winner tells anyone. It returns how many grants it reminded
// of or revoked.
func (s *Service) WorkReviews(ctx context.Context) (int, error) {
	done := 0
	for range reviewRounds {
		if ctx.Err() != nil {
			return done, nil
		}
		now := s.cfg.Clock.Now().UTC()
		due, err := s.cfg.Store.DueReviews(ctx, now, reviewBatch)
		if err != nil {
			return done, fmt.Errorf("find due break-glass reviews: %w", err)
		}
		if len(due) == 0 {
			return done, nil
		}
		acted := 0
		for i := range due {
			g := &due[i]
			p, known := s.profiles[g.Profile]
			if !known {
				// Its profile is gone: remind with the defaults, never
				// revoke on a rule no longer configured.
				p = Profile{Name: g.Profile, BreakGlass: true}
			}
			var ok bool
			if p.RevokeIfUnreviewed && !now.Before(g.ReviewBy) {
				ok, err = s.revokeUnreviewed(ctx, g, p, now)
			} else {
				ok, err = s.remindReview(ctx, g, p, now)
			}
			if err != nil {
				return done, err
			}
			if ok {
				done++
				acted++
			}
		}
		if acted == 0 {
			return done, nil
		}
	}
	return done, nil
}

// remindReview records and sends the next review reminder of g. It reports
// false when another replica sent it or the grant changed.
func (s *Service) remindReview(ctx context.Context, g *Grant, p Profile, now time.Time) (bool, error) {
	n := g.ReviewReminders + 1
	next := nextReviewStep(p, g, n)
	revocation := p.RevokeIfUnreviewed && next.Equal(g.ReviewBy)
	if !next.IsZero() && !next.After(now) && !revocation {
		// A reminder overdue after downtime: the next one waits half the
		// review time (the first interval), so the channel is not sent
		// several at once. The revocation at the deadline never waits.
		next = now.Add(ReviewWithinOf(p) / 2)
	}
	ev := s.event(now, System, ActionReviewReminded, g.request(), fmt.Sprintf("review reminder %d; review due by %s", n, FormatTime(g.ReviewBy)))
	err := s.cfg.Store.RecordReviewReminder(ctx, g.ID, n, next, ev)
	if errors.Is(err, ErrStaleGrant) || errors.Is(err, ErrNotFound) {
		return false, nil
	}
	if err != nil {
		return false, fmt.Errorf("record review reminder %d of grant %s: %w", n, g.ID, err)
	}
	req, err := s.cfg.Store.GetRequest(ctx, g.RequestID)
	if err != nil {
		s.log.Warn("reload request for its review reminder", "request", g.RequestID, "err", err)
		return true, nil
	}
	if req.Grant == nil || req.Grant.ReviewActivityID == "" {
		// The review card was never posted: post it now.
		if req.Grant != nil {
			s.postReview(ctx, req)
		}
		return true, nil
	}
	if err := s.cfg.Notifier.RemindReview(ctx, req, n); err != nil {
		// Recorded as sent: never repeated; the next comes at its time.
		s.log.Warn("remind security of an unreviewed break-glass grant", "request", req.ID, "reminder", n, "err", err)
	}
	return true, nil
}

// revokeUnreviewed ends g early as jitbot because nobody reviewed it by its
// deadline: the intent is stored (the grant due now, audited
// grant.revoked_unreviewed) if the grant is still active, unreviewed and
// not ended, then the scheduler removes the member as at expiry. It
// reports false when the grant changed meanwhile.
func (s *Service) revokeUnreviewed(ctx context.Context, g *Grant, p Profile, now time.Time) (bool, error) {
	why := "not reviewed within " + FormatDuration(ReviewWithinOf(p))
	end := EarlyEnd{Kind: EndUnreviewed, By: System, Reason: why, At: now}
	ev := s.event(now, System, ActionRevokedUnreviewed, g.request(), why)
	err := withGrant(ctx, s.cfg.Store, g.ID, now, func(_ *Membership, cur *Grant, tx MembershipTx) error {
		if cur.State != GrantActive || cur.Early.Kind != "" || !cur.DueAt.After(now) || !cur.Review.At.IsZero() {
			return ErrStaleGrant
		}
		if _, err := tx.UpdateGrant(GrantUpdate{
			ID: g.ID, From: []GrantState{GrantActive}, At: now, DueAt: now, Early: &end, Unreviewed: true,
		}); err != nil {
			return err
		}
		return tx.Append(grantEvent(ev, cur, now))
	})
	if errors.Is(err, ErrStaleGrant) || errors.Is(err, ErrNotFound) {
		return false, nil
	}
	if err != nil {
		return false, fmt.Errorf("revoke unreviewed grant %s: %w", g.ID, err)
	}
	s.log.Warn("break-glass grant revoked: not reviewed in time", "request", g.RequestID, "grant", g.ID, "review_by", g.ReviewBy)
	// The removal is the scheduler's, as at expiry; it tells the
	// requester and updates both cards.
	s.Wake()
	return true, nil
}

// updateReviewCard replaces the review card of req's break-glass grant, if
// it has one, with its current state.
func (s *Service) updateReviewCard(ctx context.Context, req *Request) {
	if req.Grant == nil || !req.Grant.BreakGlass || req.Grant.ReviewActivityID == "" {
		return
	}
	if err := s.cfg.Notifier.UpdateReviewAlert(ctx, req); err != nil {
		s.log.Warn("update break-glass review card", "request", req.ID, "err", err)
	}
}

// hasQuorumOrAuto reports whether a severity rule sets a quorum above one or
// an auto-approval.
func hasQuorumOrAuto(rules map[string]SeverityRule) bool {
	for _, r := range rules {
		if r.RequiredApprovals > 1 || r.AutoApprove != nil {
			return true
		}
	}
	return false
}
