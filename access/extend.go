package access

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"
)

// Extending a grant. Before a grant ends its requester is reminded (once,
// recorded before it is sent) with Extend and I'm done. An extension asks
// for more time with a reason: within the profile's self_extend_max it is
// applied at once; beyond it, it becomes a pending extension request that
// approvers decide like any request. Either way the grant's end is moved by
// one conditional update of the same grant, with its audit event, and only
// while the grant is active and not due: the membership is never removed
// and re-added, and an extension racing the expiry either extends a grant
// that is still active or is refused.

// DefaultRemindBefore is how long before a grant's end its requester is
// reminded when the profile sets no remind_before.
const DefaultRemindBefore = 10 * time.Minute

// reminderBatch is how many due expiry reminders one look at the store
// takes; reminderRounds bounds the looks of one WorkExpiryReminders.
const (
	reminderBatch  = 20
	reminderRounds = 50
)

// RemindAt is when the requester of a grant of profile p that ends at
// expires is reminded: RemindBefore earlier, or the zero time when
// reminders are off or that is not after from (the approval, or the
// extension).
func RemindAt(p Profile, from, expires time.Time) time.Time {
	if p.RemindBefore <= 0 {
		return time.Time{}
	}
	at := expires.Add(-p.RemindBefore)
	if !at.After(from) {
		return time.Time{}
	}
	return at
}

// WorkExpiryReminders sends the expiry reminders that are due. Several
// replicas may run it at once: each reminder is recorded (its RemindAt
// cleared by a conditional update) before it is sent, and only the
// replica whose update won sends it, so it is never repeated. It returns
// how many reminders it sent.
func (s *Service) WorkExpiryReminders(ctx context.Context) (int, error) {
	done := 0
	for range reminderRounds {
		if ctx.Err() != nil {
			return done, nil
		}
		now := s.cfg.Clock.Now().UTC()
		due, err := s.cfg.Store.DueExpiryReminders(ctx, now, reminderBatch)
		if err != nil {
			return done, fmt.Errorf("find due expiry reminders: %w", err)
		}
		if len(due) == 0 {
			return done, nil
		}
		for i := range due {
			g := &due[i]
			ev := s.event(now, System, ActionExpiryReminded, g.request(), "ends at "+g.ExpiresAt.UTC().Format(time.RFC3339))
			err := s.cfg.Store.RecordExpiryReminder(ctx, g.ID, now, ev)
			if errors.Is(err, ErrStaleGrant) || errors.Is(err, ErrNotFound) {
				continue // another replica sent it, or the grant changed
			}
			if err != nil {
				return done, fmt.Errorf("record expiry reminder of grant %s: %w", g.ID, err)
			}
			done++
			req, err := s.cfg.Store.GetRequest(ctx, g.RequestID)
			if err != nil {
				s.log.Warn("reload request for its expiry reminder", "request", g.RequestID, "err", err)
				continue
			}
			// Recorded as sent: a failed send is logged, never repeated.
			s.notify(ctx, req, NoticeExpiring, ExpiringText(req))
		}
	}
	return done, nil
}

// ExpiringText is the plain text of the expiry reminder.
func ExpiringText(req *Request) string {
	end := ""
	if req.Grant != nil {
		end = " at " + FormatTime(req.Grant.ExpiresAt)
	}
	return fmt.Sprintf("Your access to %s ends%s. Extend it with `extend <duration> <reason>`, or press I'm done if you no longer need it.", req.Profile, end)
}

// ExtendInput is a requester's ask for more time on their grant: the
// Extend button of the expiry reminder, or the `extend` command.
type ExtendInput struct {
	TenantID string
	// RequestID is the grant's request; empty means the caller's single
	// active grant.
	RequestID string
	Who       Person
	Duration  time.Duration
	Reason    string
	// From is the grant's end the asking card showed (zero for the
	// `extend` command): when set, the extension applies only while the
	// grant still ends then, so that a second click on the same card (a
	// double-click) is refused rather than extending the grant twice.
	From time.Time
	// ConversationID and ActivityID locate the click or message, for the
	// audit.
	ConversationID string
	ActivityID     string
}

// ExtendResult is what an accepted extension did: Extended is the grant's
// request with its new end when the extension was applied at once (within
// the profile's self_extend_max); otherwise Pending is the new extension
// request waiting for approvers.
type ExtendResult struct {
	Extended *Request
	Pending  *Request
}

// Extend asks for more time on the caller's active grant. Only its
// requester may (anyone else is refused, audited as grant.extend_refused,
// and nothing changes); the grant must be active and not due; the duration
// positive, the reason given (at most MaxReason characters), and the new
// total (new end - approval) within the profile's MaxTotal, else the
// refusal names the limit and what is left. Within SelfExtendMax the
// extension is applied at once (audited grant.extended by the requester);
// otherwise a pending extension request is stored and its approval card
// posted. One pending extension per grant: a second is refused, naming the
// first.
func (s *Service) Extend(ctx context.Context, in ExtendInput) (*ExtendResult, error) {
	if err := s.checkCaller(in.TenantID, in.Who); err != nil {
		return nil, err
	}
	req, err := s.namedOr(ctx, in.RequestID, func() (*Request, error) {
		return s.onlyOpen(ctx, in.Who, func(r *Request) bool { return Endable(r) == nil },
			ErrNotActive, "You have no active access to extend. Send `status` to see your requests.",
			"You have %d active grants; say which one to extend:",
			func(r *Request) string {
				return fmt.Sprintf("%s until %s: `extend %s <duration> <reason>`", r.Profile, FormatTime(r.Grant.ExpiresAt), r.ID)
			})
	})
	if err != nil {
		return nil, err
	}
	if !strings.EqualFold(req.Requester.ObjectID, in.Who.ObjectID) {
		s.auditRefusal(ctx, in.Who, ActionExtendRefused, req, "not the requester", in.ConversationID, in.ActivityID)
		return nil, noSuchRequest(req.ID, hintAccess)
	}
	if req.ExtendsRequestID != "" {
		return nil, refuse(ErrInvalidInput, "%s is an extension request; extend the access itself: `extend %s <duration> <reason>`.", Quote(req.ID), req.ExtendsRequestID)
	}
	now := s.cfg.Clock.Now().UTC()
	if r := extendable(req, now); r != nil {
		return nil, r
	}
	in.Reason = strings.TrimSpace(in.Reason)
	switch n := Length(in.Reason); {
	case in.Duration <= 0:
		return nil, refuse(ErrInvalidInput, "Say how much longer you need the access, e.g. `30m` or `1h`.")
	case n == 0:
		return nil, refuse(ErrInvalidInput, "Say why you need the access longer: the reason is shown to the approvers.")
	case n > MaxReason:
		return nil, refuse(ErrInvalidInput, "The reason is too long (%d characters); keep it to %d.", n, MaxReason)
	}
	p, ok := s.profiles[req.Profile]
	if !ok {
		return nil, refuse(ErrUnknownProfile, "Profile %s is no longer configured, so this access cannot be extended.", req.Profile)
	}
	if r := withinTotal(p, req.Grant, in.Duration); r != nil {
		return nil, r
	}
	if err := s.checkPIMExtension(ctx, p, req.Grant, in.Duration); err != nil {
		return nil, err
	}
	if r := extendedSince(req, in.From); r != nil {
		return nil, r
	}
	if pending, err := s.pendingExtension(ctx, req); err != nil {
		return nil, err
	} else if pending != nil {
		return nil, extensionPending(pending)
	}
	eligible, err := s.inGroups(ctx, req.Requester.ObjectID, p.RequesterGroups, true)
	if err != nil {
		return nil, fmt.Errorf("check whether %s may still request %s: %w", req.Requester.ObjectID, p.Name, err)
	}
	if !eligible {
		return nil, refuse(ErrNotEligible, "You are no longer in a group allowed to request %s, so this access cannot be extended.", p.Name)
	}
	if in.Duration <= p.SelfExtendMax {
		ext := Extension{By: in.Who, Added: in.Duration, Reason: in.Reason}
		reason := fmt.Sprintf("+%s within self_extend_max %s: %s", FormatDuration(in.Duration), FormatDuration(p.SelfExtendMax), in.Reason)
		out, err := s.applyExtension(ctx, p, req, ext, in.From, nil, reason, in.ConversationID, in.ActivityID)
		if err != nil {
			return nil, err
		}
		s.log.Info("grant extended by its requester", "request", req.ID, "added", in.Duration)
		s.updateCard(ctx, out)
		return &ExtendResult{Extended: out}, nil
	}
	return s.askExtension(ctx, p, req, in, now)
}

// extendable says whether req's grant may be extended at now: active, not
// ending and not due. When it may not, the refusal says why, with the
// request.
func extendable(req *Request, now time.Time) *Refusal {
	var r *Refusal
	g := req.Grant
	switch {
	case req.State == RequestPending:
		r = refuse(ErrNotActive, "This request has not been approved yet: there is no access to extend.")
	case req.State == RequestScheduled:
		r = refuse(ErrNotActive, "This access starts at %s and has not begun: there is nothing to extend yet.", FormatStart(req))
	case g == nil || g.State == GrantGranting || req.State == RequestApproved:
		r = refuse(ErrNotActive, "This access is still being granted; try again in a minute.")
	case g.Early.Kind != "" && g.State.Live():
		r = refuse(ErrNotActive, "This access is being ended (%s); it cannot be extended.", earlyText(g.Early))
	case g.State == GrantActive && req.State == RequestActive && g.Attempts == 0 && g.DueAt.After(now) && g.ExpiresAt.After(now):
		return nil
	case g.State.Live():
		r = refuse(ErrNotActive, "This access has reached its end and is being removed; it cannot be extended. Ask for new access if you still need it.")
	default:
		r = refuse(ErrNotActive, "This access has ended (the request is %s); it cannot be extended. Ask for new access if you still need it.", req.State)
	}
	r.Request = req
	return r
}

// MayExtend reports whether req's grant may be extended now, by its
// requester: it is active, neither ending nor due, its profile is still
// configured, and max_total_duration leaves at least a minute. Who asks is
// checked by Extend; this is what the cards offer an Extend button for.
func (s *Service) MayExtend(req *Request) bool {
	p, ok := s.profiles[req.Profile]
	if !ok || extendable(req, s.cfg.Clock.Now().UTC()) != nil {
		return false
	}
	return withinTotal(p, req.Grant, time.Minute) == nil
}

// extendedSince refuses an extension asked from a card that showed the
// grant ending at from when the grant no longer ends then: it was extended
// since (by the first of two clicks on that card, or by another one). A
// zero from (the `extend` command) is never refused.
func extendedSince(req *Request, from time.Time) *Refusal {
	if from.IsZero() || req.Grant == nil || req.Grant.ExpiresAt.Equal(from) {
		return nil
	}
	r := refuse(ErrDuplicate, "This access was extended already: it now ends at %s. Nothing more was added; ask again with `extend <duration> <reason>` if you need still more time.",
		FormatTime(req.Grant.ExpiresAt))
	r.Request = req
	return r
}

// withinTotal refuses an extension of g by d that would make the grant
// last longer than the profile's MaxTotal, naming the limit and what is
// left.
func withinTotal(p Profile, g *Grant, d time.Duration) *Refusal {
	limit := p.MaxTotal()
	total := g.ExpiresAt.Add(d).Sub(g.ApprovedAt)
	if total <= limit {
		return nil
	}
	left := limit - g.ExpiresAt.Sub(g.ApprovedAt)
	if left <= 0 {
		return refuse(ErrInvalidInput, "Access to %s can last at most %s in all (max_total_duration), and this grant already does: it cannot be extended. Ask for new access if you still need it.",
			p.Name, FormatDuration(limit))
	}
	return refuse(ErrInvalidInput, "Access to %s can last at most %s in all (max_total_duration); this grant can be extended by at most %s more, not %s.",
		p.Name, FormatDuration(limit), FormatDuration(left), FormatDuration(d))
}

// pendingExtension returns the pending extension request of req's grant,
// or nil.
func (s *Service) pendingExtension(ctx context.Context, req *Request) (*Request, error) {
	open, err := s.cfg.Store.OpenRequests(ctx, req.Requester.ObjectID)
	if err != nil {
		return nil, fmt.Errorf("list requests of %s: %w", req.Requester.ObjectID, err)
	}
	for i := range open {
		if open[i].State == RequestPending && open[i].ExtendsRequestID == req.ID {
			return &open[i], nil
		}
	}
	return nil, nil
}

// extensionPending is the refusal of a second extension while one waits.
func extensionPending(p *Request) *Refusal {
	r := refuse(ErrDuplicate, "An extension of this access (+%s, request %s, asked %s) is already waiting for the approvers. Wait for their decision, or `cancel %s` it first.",
		FormatDuration(p.Duration), p.ID, FormatTime(p.CreatedAt), p.ID)
	r.Request = p
	return r
}

// askExtension stores a pending extension request of req's grant and posts
// its approval card. Its deadline is the profile's approval timeout, but
// never after the grant's end: an extension nobody approved before the
// access ended has nothing left to extend.
func (s *Service) askExtension(ctx context.Context, p Profile, req *Request, in ExtendInput, now time.Time) (*ExtendResult, error) {
	ext := &Request{
		ID: s.cfg.NewID(), Profile: req.Profile, GroupID: req.GroupID, Requester: req.Requester,
		Duration: in.Duration, Ticket: req.Ticket, Justification: in.Reason, State: RequestPending,
		CreatedAt: now, UpdatedAt: now, SelfApproval: p.AllowSelfApproval, RequesterChat: req.RequesterChat,
		ExtendsRequestID: req.ID, ExtendsFrom: req.Grant.ExpiresAt,
	}
	setDeadline(p, ext)
	if end := req.Grant.ExpiresAt; end.Before(ext.DecideBy) {
		ext.DecideBy = end
		ext.NextReminderAt = ReminderAt(p, ext.CreatedAt, ext.DecideBy, 1)
	}
	ev := s.event(now, in.Who, ActionExtendRequested, ext, fmt.Sprintf("extension of %s by +%s: %s", req.ID, FormatDuration(in.Duration), in.Reason))
	ev.ConversationID, ev.ActivityID = in.ConversationID, in.ActivityID
	existing, err := s.cfg.Store.CreateRequest(ctx, ext, ev)
	if errors.Is(err, ErrDuplicate) {
		if existing.ExtendsRequestID == req.ID {
			return nil, extensionPending(existing)
		}
		r := refuse(ErrDuplicate, "You have a pending request for %s (%s, asked %s); ask for an extension once it is decided, or `cancel %s` it first.",
			p.Name, existing.ID, FormatTime(existing.CreatedAt), existing.ID)
		r.Request = existing
		return nil, r
	}
	if err != nil {
		return nil, fmt.Errorf("store extension request: %w", err)
	}
	chat, activityID, err := s.cfg.Notifier.PostApprovalCard(ctx, ext, p.ApproverChannelID)
	if err != nil {
		s.log.Error("post extension approval card", "request", ext.ID, "err", err)
		d := Decision{Approver: System, Verdict: Deny, Reason: "the approval card could not be posted to the approvers' channel", DecidedAt: now}
		if _, derr := s.cfg.Store.Deny(ctx, ext.ID, d, s.event(now, System, ActionDenied, ext, d.Reason)); derr != nil {
			return nil, fmt.Errorf("post extension approval card: %w (and closing the request failed: %v)", err, derr)
		}
		return nil, refuse(ErrApproversUnreachable, "Your extension could not be shown to the approvers (their channel could not be reached), so it was closed; your access still ends at %s. Try again in a few minutes.",
			FormatTime(req.Grant.ExpiresAt))
	}
	if err := s.cfg.Store.SetApprovalCard(ctx, ext.ID, chat, activityID); err != nil {
		return nil, fmt.Errorf("record extension approval card: %w", err)
	}
	ext.ApprovalChat, ext.ApprovalActivityID = chat, activityID
	s.log.Info("extension requested", "request", req.ID, "extension", ext.ID, "added", in.Duration)
	return &ExtendResult{Pending: ext}, nil
}

// errBeyondTotal: the grant changed between the check and the update so
// that the extension no longer fits max_total_duration.
var errBeyondTotal = errors.New("extension beyond max_total_duration")

// errExtendedSince: the grant no longer ends when the asking card showed.
var errExtendedSince = errors.New("grant extended since the card was shown")

// applyExtension moves the end of req's grant by ext.Added, in one
// transaction with its audit event and, for an approved extension request,
// the decision (decided: the extension request, d). The update is
// conditional: the grant must still be active, not ended early, not due
// and unclaimed at now, still end at from when from is set (see
// ExtendInput.From), and the new total within MaxTotal; otherwise
// nothing changes and the refusal says why, with the grant's request as it
// stands. The membership is not touched. It returns the grant's request as
// extended.
func (s *Service) applyExtension(ctx context.Context, p Profile, req *Request, ext Extension, from time.Time, decided *decidedExtension, reason, conversationID, activityID string) (*Request, error) {
	now := s.cfg.Clock.Now().UTC()
	ext.At = now
	ev := s.event(now, ext.By, ActionExtended, req, reason)
	ev.ConversationID, ev.ActivityID = conversationID, activityID
	g := req.Grant
	err := withGrant(ctx, s.cfg.Store, g.ID, now, func(_ *Membership, cur *Grant, tx MembershipTx) error {
		if extendable(&Request{State: RequestActive, Grant: cur}, now) != nil {
			return ErrStaleGrant
		}
		if withinTotal(p, cur, ext.Added) != nil {
			return errBeyondTotal
		}
		if !from.IsZero() && !cur.ExpiresAt.Equal(from) {
			return errExtendedSince
		}
		end := cur.ExpiresAt.Add(ext.Added)
		ext.Count = cur.Extended.Count + 1
		u := GrantUpdate{
			ID: g.ID, From: []GrantState{GrantActive}, At: now, NotDueAt: now,
			ExpiresAt: end, DueAt: end, Extended: &ext,
		}
		if u.RemindAt = RemindAt(p, now, end); u.RemindAt.IsZero() {
			u.ClearRemind = true
		}
		if decided != nil {
			if err := tx.Decide(decided.req.ID, decided.d, RequestExtended); err != nil {
				return err
			}
			if err := tx.Append(decided.ev); err != nil {
				return err
			}
		}
		if _, err := tx.UpdateGrant(u); err != nil {
			return err
		}
		return tx.Append(grantEvent(ev, cur, now))
	})
	if errors.Is(err, ErrStaleGrant) || errors.Is(err, errBeyondTotal) || errors.Is(err, errExtendedSince) {
		cur, gerr := s.cfg.Store.GetRequest(ctx, req.ID)
		if gerr != nil {
			return nil, fmt.Errorf("reload request %s: %w", req.ID, gerr)
		}
		if r := extendable(cur, now); r != nil {
			return nil, r
		}
		if r := extendedSince(cur, from); r != nil {
			return nil, r
		}
		if r := withinTotal(p, cur.Grant, ext.Added); r != nil {
			return nil, r
		}
		r := refuse(ErrStaleGrant, "This access is being worked on right now (it may be expiring); try again in a minute if it is still active.")
		r.Request = cur
		return nil, r
	}
	if err != nil {
		return nil, fmt.Errorf("extend grant %s: %w", g.ID, err)
	}
	s.Wake()
	out, err := s.cfg.Store.GetRequest(ctx, req.ID)
	if err != nil {
		return nil, fmt.Errorf("reload request %s: %w", req.ID, err)
	}
	s.extendPIM(ctx, out.Grant)
	return out, nil
}

// decidedExtension is the approval of an extension request that goes in
// the transaction of the extension: the request, the decision and its
// audit event.
type decidedExtension struct {
	req *Request
	d   Decision
	ev  AuditEvent
}

// decideExtension applies an approver's decision on a pending extension
// request ext, once the approver rules were checked (see Decide). A denial
// is recorded as for any request and the requester told. An approval
// re-checks the grant it extends (still active, not due, the total still
// within max_total_duration, the requester still eligible): when it no
// longer fits, ext is closed as no longer valid and nothing changes;
// otherwise the SAME grant's end is moved by ext.Duration from its current
// end, in one transaction with the decision (ext becomes extended).
func (s *Service) decideExtension(ctx context.Context, ext *Request, p Profile, in DecisionInput) (*Request, error) {
	orig, err := s.cfg.Store.GetRequest(ctx, ext.ExtendsRequestID)
	if err != nil && !errors.Is(err, ErrNotFound) {
		return nil, fmt.Errorf("load request %s extended by %s: %w", ext.ExtendsRequestID, ext.ID, err)
	}
	if in.Verdict == Deny {
		now := s.cfg.Clock.Now().UTC()
		d := Decision{Approver: in.Approver, Verdict: Deny, Reason: in.Reason, DecidedAt: now}
		ev := s.event(now, in.Approver, ActionDenied, ext, d.Reason)
		ev.ConversationID, ev.ActivityID = in.ConversationID, in.ActivityID
		updated, err := s.cfg.Store.Deny(ctx, ext.ID, d, ev)
		if errors.Is(err, ErrNotPending) {
			return nil, s.reloadDecidedFirst(ctx, ext.ID)
		}
		if err != nil {
			return nil, fmt.Errorf("deny extension %s: %w", ext.ID, err)
		}
		text := fmt.Sprintf("Your extension of %s (+%s) was denied by %s.", ext.Profile, FormatDuration(ext.Duration), Escape(in.Approver.Name))
		if orig != nil && orig.Grant != nil {
			text += " Your access still ends at " + FormatTime(orig.Grant.ExpiresAt) + "."
		}
		if d.Reason != "" {
			text += " Reason: " + Quote(d.Reason)
		}
		s.notify(ctx, updated, NoticeDenied, text)
		s.updateCard(ctx, updated)
		return updated, nil
	}
	now := s.cfg.Clock.Now().UTC()
	var why string
	switch {
	case orig == nil:
		why = "the request it extends no longer exists"
	case extendable(orig, now) != nil:
		why = "the access it extends has ended or is being ended"
	case withinTotal(p, orig.Grant, ext.Duration) != nil:
		why = fmt.Sprintf("it would make the access last longer than the %s that profile %s now allows in all", FormatDuration(p.MaxTotal()), p.Name)
	}
	if why == "" {
		eligible, err := s.inGroups(ctx, ext.Requester.ObjectID, p.RequesterGroups, true)
		if err != nil {
			return nil, fmt.Errorf("check whether %s may still request %s: %w", ext.Requester.ObjectID, p.Name, err)
		}
		if !eligible {
			why = fmt.Sprintf("the requester is no longer in a requester group of %s", p.Name)
		}
	}
	if why != "" {
		return nil, s.invalidate(ctx, ext, in, why)
	}
	if late := s.lateDecision(ctx, ext); late != nil {
		return nil, late
	}
	now = s.cfg.Clock.Now().UTC()
	d := Decision{Approver: in.Approver, Verdict: Approve, Reason: in.Reason, DecidedAt: now}
	dev := s.event(now, in.Approver, ActionApproved, ext, fmt.Sprintf("extension of %s by +%s", orig.ID, FormatDuration(ext.Duration)))
	dev.ConversationID, dev.ActivityID = in.ConversationID, in.ActivityID
	x := Extension{By: in.Approver, Added: ext.Duration, Reason: ext.Justification}
	reason := fmt.Sprintf("+%s approved (extension request %s): %s", FormatDuration(ext.Duration), ext.ID, ext.Justification)
	extended, err := s.applyExtension(ctx, p, orig, x, time.Time{}, &decidedExtension{req: ext, d: d, ev: dev}, reason, in.ConversationID, in.ActivityID)
	var r *Refusal
	switch {
	case errors.Is(err, ErrNotPending):
		return nil, s.reloadDecidedFirst(ctx, ext.ID)
	case errors.As(err, &r) && r.Err != ErrStaleGrant:
		// The grant ended, began ending or outgrew the bound meanwhile.
		return nil, s.invalidate(ctx, ext, in, "the access it extends has ended, is being ended, or can no longer be extended that far")
	case err != nil:
		return nil, err
	}
	s.log.Info("extension approved", "request", orig.ID, "extension", ext.ID, "by", in.Approver.ObjectID, "added", ext.Duration)
	s.notify(ctx, extended, NoticeExtended, ExtendedText(extended))
	s.updateCard(ctx, extended)
	updated, err := s.cfg.Store.GetRequest(ctx, ext.ID)
	if err != nil {
		return nil, fmt.Errorf("reload extension %s: %w", ext.ID, err)
	}
	s.updateCard(ctx, updated)
	return updated, nil
}

// reloadDecidedFirst is the refusal of a decision on request id that lost
// the race, with the request as it stands.
func (s *Service) reloadDecidedFirst(ctx context.Context, id string) error {
	cur, err := s.cfg.Store.GetRequest(ctx, id)
	if err != nil {
		return fmt.Errorf("reload request %s: %w", id, err)
	}
	return decidedFirst(cur)
}

// ExtendedText tells the requester their grant was extended: the new end,
// who extended it and why.
func ExtendedText(req *Request) string {
	g := req.Grant
	if g == nil {
		return fmt.Sprintf("Your access to %s was extended.", req.Profile)
	}
	x := g.Extended
	who := "you"
	if !strings.EqualFold(x.By.ObjectID, req.Requester.ObjectID) {
		who = Escape(x.By.Name)
	}
	return fmt.Sprintf("Your access to %s was extended by %s (+%s): it now ends at %s. Reason: %s",
		req.Profile, who, FormatDuration(x.Added), FormatTime(g.ExpiresAt), Quote(x.Reason))
}

// closeExtensions closes the pending extension request of req's grant, once
// the grant has ended: it is denied by jitbot as no longer valid, its card
// says so and the requester is told. A failure is logged: the extension
// is closed anyway when it is decided or reaches its deadline.
func (s *Service) closeExtensions(ctx context.Context, req *Request) {
	ext, err := s.pendingExtension(ctx, req)
	if err != nil || ext == nil {
		if err != nil {
			s.log.Warn("find pending extension of an ended grant", "request", req.ID, "err", err)
		}
		return
	}
	now := s.cfg.Clock.Now().UTC()
	why := "the access it extends has ended"
	d := Decision{Approver: System, Verdict: Deny, Reason: "No longer valid: " + why + ".", DecidedAt: now}
	updated, err := s.cfg.Store.Deny(ctx, ext.ID, d, s.event(now, System, ActionInvalidated, ext, why))
	if err != nil {
		if !errors.Is(err, ErrNotPending) {
			s.log.Warn("close pending extension of an ended grant", "extension", ext.ID, "err", err)
		}
		return
	}
	s.log.Info("pending extension closed: its grant ended", "request", req.ID, "extension", ext.ID)
	s.updateCard(ctx, updated)
	s.notify(ctx, updated, NoticeClosed, fmt.Sprintf("Your extension of %s (+%s) was closed: %s.", ext.Profile, FormatDuration(ext.Duration), why))
}
