package access

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"time"
)

// The scheduler claims grants only as it can start work on them: each
// claimed grant goes to a worker at once, so that every grant is worked on
// under a lease that started just before, and no directory call outlives it
// (see callTimeout). How many workers run at once adapts (see limiter).

// idleWait is how long the scheduler sleeps when nothing is due; a new grant
// wakes it earlier.
const idleWait = time.Hour

// retryNowBudget bounds the work done while a "Retry now" click waits.
const retryNowBudget = 8 * time.Second

// workTimeout bounds the work on one grant after shutdown began, so that a
// claimed grant is finished rather than abandoned half-way.
const workTimeout = 30 * time.Second

// Wake tells the scheduler that grants changed, so that it re-arms its timer
// for the earliest due grant.
func (s *Service) Wake() {
	select {
	case s.wake <- struct{}{}:
	default:
	}
}

// Run finishes the work a previous process left, then revokes grants as they
// fall due until ctx is cancelled. It sleeps until the earliest due grant
// (re-armed by Wake), so grants that fell due while no replica ran are
// revoked at once. On return every claim it held is released, and what is
// left of its lease of the write budget given back.
func (s *Service) Run(ctx context.Context) error {
	defer func() {
		rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
		defer cancel()
		if err := s.cfg.Store.ReleaseClaims(rctx, s.cfg.Owner); err != nil {
			s.log.Warn("release claims", "err", err)
		}
	}()
	if s.pacer != nil {
		// Leases of the write budget end while this runs; what is left
		// of the last goes back when it returns.
		pctx, stop := context.WithCancel(ctx)
		done := make(chan struct{})
		go func() {
			defer close(done)
			s.pacer.Run(pctx)
		}()
		defer func() {
			stop()
			<-done
		}()
	}
	// Claims this owner held before a restart are void.
	if err := s.cfg.Store.ReleaseClaims(ctx, s.cfg.Owner); err != nil {
		s.log.Warn("release claims of a previous run", "err", err)
	}
	if _, err := s.DatePending(ctx); err != nil && ctx.Err() == nil {
		s.log.Error("give pending requests a deadline", "err", err)
	}
	for {
		if _, err := s.Work(ctx); err != nil && ctx.Err() == nil {
			s.log.Error("work on due grants", "err", err)
		}
		_, pendingErr := s.WorkPending(ctx)
		if pendingErr != nil && ctx.Err() == nil {
			s.log.Error("work on pending requests", "err", pendingErr)
		}
		_, remindErr := s.WorkExpiryReminders(ctx)
		if remindErr != nil && ctx.Err() == nil {
			s.log.Error("send expiry reminders", "err", remindErr)
		}
		_, reviewErr := s.WorkReviews(ctx)
		if reviewErr != nil && ctx.Err() == nil {
			s.log.Error("work on break-glass reviews", "err", reviewErr)
		}
		_, startErr := s.WorkStarts(ctx)
		if startErr != nil && ctx.Err() == nil {
			s.log.Error("grant scheduled requests at their start", "err", startErr)
		}
		_, escalateErr := s.WorkEscalations(ctx)
		if escalateErr != nil && ctx.Err() == nil {
			s.log.Error("escalate pending requests", "err", escalateErr)
		}
		now := s.cfg.Clock.Now()
		// Other replicas change grants without waking this one: look again
		// at least once a lease, so that a grant whose replica died is not
		// left until the idle wait ends.
		wake := now.Add(min(idleWait, max(s.cfg.Lease, time.Second)))
		due, ok, err := s.cfg.Store.NextDue(ctx)
		switch {
		case ctx.Err() != nil:
			return nil
		case err != nil:
			s.log.Error("find next due grant", "err", err)
			wake = now.Add(s.cfg.RevokeBackoff)
		case ok && due.Before(wake):
			wake = due
		}
		// After a failure the pending work waits for the next look (at
		// most a lease) rather than being retried at once.
		if pdue, pok, perr := s.cfg.Store.NextPending(ctx); perr != nil {
			s.log.Error("find next pending deadline", "err", perr)
		} else if pok && pdue.Before(wake) && pendingErr == nil {
			wake = pdue
		}
		if rdue, rok, rerr := s.cfg.Store.NextExpiryReminder(ctx, now.UTC()); rerr != nil {
			s.log.Error("find next expiry reminder", "err", rerr)
		} else if rok && rdue.Before(wake) && remindErr == nil {
			wake = rdue
		}
		if vdue, vok, verr := s.cfg.Store.NextReview(ctx); verr != nil {
			s.log.Error("find next break-glass review step", "err", verr)
		} else if vok && vdue.Before(wake) && reviewErr == nil {
			wake = vdue
		}
		if sdue, sok, serr := s.cfg.Store.NextStart(ctx); serr != nil {
			s.log.Error("find next scheduled start", "err", serr)
		} else if sok && sdue.Before(wake) && startErr == nil {
			wake = sdue
		}
		if edue, eok, eerr := s.cfg.Store.NextEscalation(ctx); eerr != nil {
			s.log.Error("find next escalation", "err", eerr)
		} else if eok && edue.Before(wake) && escalateErr == nil {
			wake = edue
		}
		t := s.cfg.Clock.TimerAt(wake)
		passEnd := time.Now()
		select {
		case <-ctx.Done():
			t.Stop()
			return nil
		case <-s.wake:
			t.Stop()
			s.settleWake(ctx, passEnd)
		case <-t.C():
		}
	}
}

// Work claims and handles every grant that needs work now: unfinished
// grants left by a crash or another replica, and due revocations. Up to
// the limiter's current limit of grants are worked on at once, each on its
// own, intent first (the intents of each claimed chunk recorded together,
// PlanRevokes; the removal; FinishRevoke in a group commit with the others
// finished at the same time, see finisher); with a write
// budget, a token is taken for each before it is claimed. It returns how
// many grants it finished (revoked or granted). It stops claiming when ctx
// is cancelled; the grants in hand are finished first.
func (s *Service) Work(ctx context.Context) (int, error) {
	var done atomic.Int64
	var wg sync.WaitGroup
	// A panic of a worker stops the claiming and is raised again here,
	// once the other workers are done, as if the work were sequential.
	var panicked atomic.Pointer[any]
	defer func() {
		wg.Wait()
		if p := panicked.Load(); p != nil {
			panic(*p)
		}
	}()
	for ctx.Err() == nil && panicked.Load() == nil {
		if s.pacer != nil {
			// Take no budget for nothing: writes may be waiting for it.
			now := s.cfg.Clock.Now()
			due, ok, err := s.cfg.Store.NextDue(ctx)
			if err != nil {
				return int(done.Load()), fmt.Errorf("find next due grant: %w", err)
			}
			if !ok || due.After(now) {
				if s.limiter.idle() {
					break
				}
				wg.Wait()
				continue
			}
		}
		// Claim in chunks of a quarter of the limit or more: one claim
		// looks at every due grant, so claiming one at a time as slots
		// free up costs more than the work when thousands are due.
		slots := s.limiter.acquire(ctx, s.cfg.RevokeConcurrency, max(1, s.limiter.current()/4))
		if slots == 0 {
			break
		}
		tokens := slots
		if s.pacer != nil {
			s.limiter.budgetWait(slots)
			n, err := s.pacer.Take(ctx, PriorityRemove, slots)
			s.limiter.budgetWait(-slots)
			if err != nil {
				s.limiter.release(slots)
				if ctx.Err() != nil {
					break
				}
				return int(done.Load()), err
			}
			tokens = n
			s.limiter.release(slots - n)
		}
		now := s.cfg.Clock.Now().UTC()
		claimed, err := s.cfg.Store.ClaimWork(ctx, s.cfg.Owner, now, now.Add(s.cfg.Lease), tokens)
		if unused := tokens - len(claimed); unused > 0 {
			s.limiter.release(unused)
			if s.pacer != nil {
				s.pacer.Give(unused)
			}
		}
		if err != nil {
			return int(done.Load()), fmt.Errorf("claim work: %w", err)
		}
		if len(claimed) == 0 {
			if s.limiter.idle() {
				break
			}
			// Work in hand may make more (a retry due at once): look
			// again once it is finished.
			wg.Wait()
			continue
		}
		plans := s.planRevokes(ctx, claimed)
		for i := range claimed {
			g, plan := claimed[i], plans[i]
			wg.Add(1)
			go func() {
				defer wg.Done()
				slot := true
				defer func() {
					if slot {
						s.limiter.release(1)
					}
				}()
				defer func() {
					if p := recover(); p != nil {
						panicked.CompareAndSwap(nil, &p)
					}
				}()
				t := &ticket{token: s.pacer != nil}
				wctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), workTimeout)
				defer cancel()
				ok, err := s.handle(wctx, &g, t, plan)
				if t.token {
					s.pacer.Give(1)
				}
				switch {
				case t.congested:
					s.limiter.congested()
				case t.called:
					s.limiter.succeeded()
				}
				if err != nil {
					s.log.Error("work on grant", "grant", g.ID, "state", g.State, "err", err)
					return
				}
				if ok {
					done.Add(1)
				}
				if t.tell != nil {
					// The grant is finished: its slot goes to the next
					// one while the people concerned are told, after
					// the removals (see limiter), within workTimeout
					// of now however long the removal took.
					slot = false
					s.limiter.release(1)
					nctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), workTimeout)
					defer cancel()
					if !s.limiter.acquireNotice(nctx) {
						s.log.Warn("the end of a grant was not told: no notice could be sent in time", "grant", g.ID, "request", g.RequestID)
						return
					}
					t.tell(nctx)
					s.limiter.releaseNotice()
				}
			}()
		}
	}
	return int(done.Load()), nil
}

// plannedRevoke is the recorded plan of a claimed grant's revocation.
type plannedRevoke struct {
	at time.Time
	RevokeOutcome
}

// planRevokes records, in one transaction, the revocation plans of the
// claimed grants that are to be revoked (see PlanRevokes): each grant's
// intent and audit event are committed before its worker starts. The plan
// of a grant that is not to be revoked is nil.
func (s *Service) planRevokes(ctx context.Context, claimed []Grant) []*plannedRevoke {
	plans := make([]*plannedRevoke, len(claimed))
	var steps []RevokeStep
	var idx []int
	now := s.cfg.Clock.Now().UTC()
	for i := range claimed {
		g := &claimed[i]
		switch g.State {
		case GrantActive, GrantRevoking, GrantIrrevocable:
			steps = append(steps, RevokeStep{Grant: g, At: now, Event: s.event(now, System, ActionRevoking, g.request(), endReason(g))})
			idx = append(idx, i)
		}
	}
	if len(steps) == 0 {
		return plans
	}
	pctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), workTimeout)
	defer cancel()
	for j, o := range PlanRevokes(pctx, s.cfg.Store, s.cfg.Owner, steps) {
		plans[idx[j]] = &plannedRevoke{at: now, RevokeOutcome: o}
	}
	return plans
}

func (s *Service) handle(ctx context.Context, g *Grant, t *ticket, plan *plannedRevoke) (bool, error) {
	switch g.State {
	case GrantGranting:
		// An add waits for the budget at its own priority.
		if t.token {
			s.pacer.Give(1)
			t.token = false
		}
		s.log.Info("resuming unfinished grant", "grant", g.ID, "request", g.RequestID, "checked", g.Checked)
		_, err := s.grant(ctx, g)
		return true, err
	case GrantActive, GrantRevoking, GrantIrrevocable:
		return s.revoke(ctx, g, t, plan)
	}
	return false, fmt.Errorf("claimed grant %s in state %s", g.ID, g.State)
}

// callTimeout bounds one directory call made under a claim: at most half
// the lease, so that the call has ended (or was abandoned) before the claim
// can pass to another replica.
func (s *Service) callTimeout() time.Duration {
	return min(s.cfg.GrantTimeout, s.cfg.Lease/2)
}

// retryAfter is implemented by directory errors that carry the service's
// Retry-After.
type retryAfter interface{ RetryAfterHint() time.Duration }

// revoke ends one claimed, due grant. It reports whether the grant is
// finished; a failed removal is scheduled again with backoff, and after
// MaxAttempts (or a permanent error) the grant becomes irrevocable and the
// security channel is alerted.
func (s *Service) revoke(ctx context.Context, g *Grant, t *ticket, plan *plannedRevoke) (bool, error) {
	base := g.request()
	expired := g.Early.Kind == ""
	var now time.Time
	var remove bool
	var req *Request
	var err error
	if plan != nil {
		now, remove, req, err = plan.at, plan.Remove, plan.Request, plan.Err
	} else {
		now = s.cfg.Clock.Now().UTC()
		remove, err = PlanRevoke(ctx, s.cfg.Store, g.ID, s.cfg.Owner, now, s.event(now, System, ActionRevoking, base, endReason(g)))
	}
	if err != nil {
		return false, s.ignoreStale(g, err)
	}
	if !remove {
		s.ended(g, expired, now)
		t.tell = func(ctx context.Context) { s.afterRevoke(ctx, g, req, expired, endedNotice(g, false), MembershipLeft) }
		return true, nil
	}
	s.cfg.Failpoint("revoke.after-intent")
	rctx, cancel := context.WithTimeout(ctx, s.callTimeout())
	// A revoking grant's earlier attempt stopped after recording its
	// intent, perhaps after the removal itself: ask before removing again.
	// The removal's write is paced: with the token taken before the claim,
	// or one taken now (spent, whatever the answer).
	err = s.removeMembership(rctx, g, g.State == GrantRevoking, func() error {
		if t.token {
			t.token = false
			return nil
		}
		return s.paceWrite(rctx, PriorityRemove)
	})
	cancel()
	now = s.cfg.Clock.Now().UTC()
	if err != nil {
		t.congested = !errors.Is(err, ErrPermanent)
		return false, s.revokeFailed(ctx, g, base, now, err)
	}
	t.called = true
	s.cfg.Failpoint("revoke.after-remove")
	done, err := s.finish(ctx, RevokeStep{Grant: g, At: now, Event: s.event(now, System, ActionRevoked, base, endReason(g))})
	if err != nil {
		return false, s.ignoreStale(g, err)
	}
	readd := done.Readd
	s.ended(g, expired, now)
	t.tell = func(ctx context.Context) {
		s.afterRevoke(ctx, g, done.Request, expired, endedNotice(g, true), MembershipRemoved)
		if g.AlertActivityID != "" {
			s.resolveAlert(ctx, g, "removed after "+fmt.Sprint(g.Attempts+1)+" attempts")
		}
	}
	for i := range readd {
		// Another grant of this membership went live while it was being
		// removed: put the member back for it.
		r := readd[i]
		s.log.Warn("re-adding a membership removed while another grant held it", "grant", r.ID, "group", r.GroupID, "user", r.User.ObjectID)
		if _, err := s.grant(ctx, &r); err != nil {
			s.log.Error("re-add membership", "grant", r.ID, "err", err)
		}
	}
	return true, nil
}

// Monitor is told how the scheduler keeps time, for monitoring.
type Monitor interface {
	// GrantEnded is called once an expired grant of profile has ended
	// (its membership removed, or left in place), late after its
	// ExpiresAt. Grants ended early are not reported.
	GrantEnded(profile string, late time.Duration)
}

// ended tells the monitor, if any, how late an expired grant ended at now.
func (s *Service) ended(g *Grant, expired bool, now time.Time) {
	if s.cfg.Monitor != nil && expired {
		s.cfg.Monitor.GrantEnded(g.Profile, now.Sub(g.ExpiresAt))
	}
}

func (s *Service) revokeFailed(ctx context.Context, g *Grant, base *Request, now time.Time, cause error) error {
	attempts := g.Attempts + 1
	permanent := errors.Is(cause, ErrPermanent)
	irrevocable := g.State == GrantIrrevocable || permanent || attempts >= s.cfg.MaxAttempts
	wait := s.backoff(attempts)
	var ra retryAfter
	if errors.As(cause, &ra) && ra.RetryAfterHint() > 0 {
		if s.pacer != nil {
			// The directory asked every writer to wait, not this grant.
			if err := s.pacer.Pause(ctx, now.Add(ra.RetryAfterHint())); err != nil {
				s.log.Warn("pause directory writes", "err", err)
			}
		}
		wait = max(wait, ra.RetryAfterHint())
	}
	if irrevocable {
		wait = max(s.cfg.SweepInterval, wait)
	}
	msg := cause.Error()
	reason := msg
	if permanent {
		reason = "permanent: " + msg
	}
	action := ActionRevokeFailed
	if irrevocable && g.State != GrantIrrevocable {
		action = ActionIrrevocable
	}
	s.log.Warn("remove member failed", "grant", g.ID, "group", g.GroupID, "user", g.User.ObjectID,
		"attempt", attempts, "irrevocable", irrevocable, "next", now.Add(wait), "err", cause)
	f := RevokeFailure{Attempts: attempts, NextDue: now.Add(wait), Error: msg, Permanent: permanent, Irrevocable: irrevocable}
	if err := s.cfg.Store.RetryRevoke(ctx, g.ID, s.cfg.Owner, f, s.event(now, System, action, base, reason)); err != nil {
		return s.ignoreStale(g, err)
	}
	if action == ActionIrrevocable {
		g.Attempts, g.LastError, g.LastErrorPermanent = attempts, msg, permanent
		s.raiseAlert(ctx, g, now)
	}
	return nil
}

// raiseAlert posts the irrevocable grant's card to the security channel.
func (s *Service) raiseAlert(ctx context.Context, g *Grant, now time.Time) {
	a := s.alertFor(g)
	a.At = now
	if s.cfg.SecurityChannelID == "" {
		s.log.Error("IRREVOCABLE GRANT: membership could not be removed and no security channel is configured",
			"grant", g.ID, "group", g.GroupID, "user", g.User.ObjectID, "err", g.LastError)
		return
	}
	chat, id, err := s.cfg.Notifier.PostAlert(ctx, a, s.cfg.SecurityChannelID)
	if err != nil {
		s.log.Error("post irrevocable alert", "grant", g.ID, "err", err)
		return
	}
	if err := s.cfg.Store.SetAlert(ctx, g.ID, chat, id); err != nil {
		s.log.Error("record irrevocable alert", "grant", g.ID, "err", err)
	}
}

func (s *Service) resolveAlert(ctx context.Context, g *Grant, note string) {
	a := s.alertFor(g)
	a.Resolved, a.ResolvedNote = true, note
	if err := s.cfg.Notifier.UpdateAlert(ctx, a, g.AlertChat, g.AlertActivityID); err != nil {
		s.log.Warn("update alert", "grant", g.ID, "err", err)
	}
}

// alertFor describes a grant's irrevocable alert as it stands.
func (s *Service) alertFor(g *Grant) Alert {
	return Alert{
		Kind: AlertIrrevocable, GrantID: g.ID, Profile: g.Profile, GroupID: g.GroupID, User: g.User,
		Error: g.LastError, Permanent: g.LastErrorPermanent, Attempts: g.Attempts,
		At: g.DueAt, Resolved: g.State == GrantRevoked, RetryEvery: s.cfg.SweepInterval,
	}
}

func (s *Service) ignoreStale(g *Grant, err error) error {
	if errors.Is(err, ErrStaleGrant) {
		return nil // another replica took the grant, or it changed
	}
	return fmt.Errorf("record revocation of grant %s: %w", g.ID, err)
}

// afterRevoke tells the requester and the approval card that grant g
// ended; expired says it ended by expiry, which asks for feedback (see
// FeedbackAsked); membership says what became of the group membership.
// req is g's request as the transaction that ended g committed it, or nil:
// it is then read.
func (s *Service) afterRevoke(ctx context.Context, g *Grant, req *Request, expired bool, text string, membership MembershipOutcome) {
	if req == nil {
		var err error
		if req, err = s.cfg.Store.GetRequest(ctx, g.RequestID); err != nil {
			s.log.Warn("reload request after revoke", "request", g.RequestID, "err", err)
			return
		}
	}
	if err := s.cfg.Notifier.NotifyRequester(ctx, req, Notice{Kind: NoticeRevoked, Text: text, Membership: membership}); err != nil {
		s.log.Warn("notify requester", "request", req.ID, "notice", NoticeRevoked, "err", err)
	}
	s.updateCard(ctx, req)
	s.closeExtensions(ctx, req)
	if expired {
		s.askFeedback(ctx, req)
	}
}

// backoff is the delay before revocation attempt n+1: exponential from
// RevokeBackoff, capped at RevokeBackoffMax, spread over its upper half.
func (s *Service) backoff(attempts int) time.Duration {
	d := s.cfg.RevokeBackoff
	for i := 1; i < attempts && d < s.cfg.RevokeBackoffMax; i++ {
		d *= 2
	}
	d = min(d, s.cfg.RevokeBackoffMax)
	half := d / 2
	return half + time.Duration(s.cfg.Jitter()*float64(d-half))
}

// Retryable says whether "Retry now" may act on g at now: only on a grant
// whose removal failed, that is an irrevocable one, or a revoking or due
// active one with failed attempts, and only while no replica holds a live
// claim on it. When it may not, the refusal says why, for the person who
// clicked.
func Retryable(g *Grant, now time.Time) *Refusal {
	failed := g.State == GrantIrrevocable ||
		g.Attempts > 0 && (g.State == GrantRevoking || g.State == GrantActive && !g.DueAt.After(now))
	switch {
	case failed && !g.ClaimUntil.IsZero() && g.ClaimUntil.After(now):
		return refuse(ErrStaleGrant, "This grant is being worked on right now; the card will show the outcome. Refresh it in a minute.")
	case failed:
		return nil
	case g.State == GrantGranting:
		return refuse(ErrNothingToRetry, "This grant's membership is still being added; there is no failed removal to retry.")
	case g.State == GrantActive && g.DueAt.After(now):
		return refuse(ErrNothingToRetry, "This grant's access is active until %s; there is no failed removal to retry.", FormatTime(g.ExpiresAt))
	case g.State == GrantActive || g.State == GrantRevoking:
		return refuse(ErrNothingToRetry, "This grant's removal is under way and has not failed; there is no failed removal to retry.")
	case g.State == GrantFailed:
		return refuse(ErrNothingToRetry, "This grant has already ended: its membership could never be added. There is nothing to retry.")
	}
	return refuse(ErrNothingToRetry, "This grant has already ended (%s); there is no failed removal to retry.", endedText(g))
}

// endedText says how a revoked grant ended.
func endedText(g *Grant) string {
	if g.RevokedAt.IsZero() {
		return "revoked"
	}
	return "revoked at " + FormatTime(g.RevokedAt)
}

// RetryNow is the security channel's "Retry now" on an irrevocable grant:
// the clicker must be in a security group (or, with none configured, an
// approver of the grant's profile). It acts only on a grant whose removal
// failed and that no replica is working on (see Retryable): the removal is
// then attempted at once and the returned alert shows the outcome. On any
// other grant it changes nothing but the audit log (grant.retry_refused, by
// the clicker) and returns a *Refusal saying why.
func (s *Service) RetryNow(ctx context.Context, tenantID, grantID string, who Person) (Alert, error) {
	if err := s.checkCaller(tenantID, who); err != nil {
		return Alert{}, err
	}
	g, err := s.cfg.Store.GetGrant(ctx, grantID)
	if errors.Is(err, ErrNotFound) {
		return Alert{}, refuse(ErrNotFound, "This grant does not exist (any more).")
	}
	if err != nil {
		return Alert{}, fmt.Errorf("load grant %s: %w", grantID, err)
	}
	ok, err := s.securityTeam(ctx, who, g)
	if err != nil {
		return Alert{}, err
	}
	if !ok {
		return Alert{}, s.refuseRetry(ctx, g, who, s.cfg.Clock.Now().UTC(), refuse(ErrNotApprover, "Only the security team can retry a removal."))
	}
	now := s.cfg.Clock.Now().UTC()
	if r := Retryable(g, now); r != nil {
		return Alert{}, s.refuseRetry(ctx, g, who, now, r)
	}
	ev := s.event(now, who, ActionRetryNow, g.request(), "")
	err = s.cfg.Store.RetryNow(ctx, g.ID, g.State, now, ev)
	if errors.Is(err, ErrStaleGrant) {
		// It changed since it was read: say why as it now stands.
		cur, gerr := s.cfg.Store.GetGrant(ctx, grantID)
		if gerr != nil {
			return Alert{}, fmt.Errorf("reload grant %s: %w", grantID, gerr)
		}
		r := Retryable(cur, now)
		if r == nil {
			r = refuse(ErrStaleGrant, "This grant changed while you clicked; refresh the card and try again.")
		}
		return Alert{}, s.refuseRetry(ctx, cur, who, now, r)
	}
	if err != nil {
		return Alert{}, fmt.Errorf("retry grant %s: %w", g.ID, err)
	}
	// Work through what is due (this grant now among it) for a bounded
	// time, so the card can answer with the outcome; the scheduler finishes
	// the rest.
	wctx, cancel := context.WithTimeout(ctx, retryNowBudget)
	if _, err := s.Work(wctx); err != nil {
		s.log.Warn("retry now", "grant", g.ID, "err", err)
	}
	cancel()
	s.Wake()
	if g, err = s.cfg.Store.GetGrant(ctx, grantID); err != nil {
		return Alert{}, fmt.Errorf("reload grant %s: %w", grantID, err)
	}
	a := s.alertFor(g)
	if a.Resolved {
		a.ResolvedNote = "removed after a retry requested by " + who.Name
	}
	return a, nil
}

// refuseRetry audits a refused "Retry now" and returns the refusal.
func (s *Service) refuseRetry(ctx context.Context, g *Grant, who Person, now time.Time, r *Refusal) error {
	if err := s.cfg.Store.AppendAudit(ctx, s.event(now, who, ActionRetryRefused, g.request(), r.Reason)); err != nil {
		return fmt.Errorf("audit refused retry of grant %s: %w", g.ID, err)
	}
	return r
}

// AlertView is an irrevocable-removal alert as one person may see it.
type AlertView struct {
	Alert Alert
	// Security tells that the person is on the security team of the grant
	// (see Service.securityTeam): they may see the alert anywhere and
	// retry the removal.
	Security bool
	// Chats are the conversations where the alert card is posted (the
	// security channel and the alert's stored thread): anyone else is
	// shown the card only when they refresh or press it there, where they
	// read it anyway.
	Chats []string
}

// AlertView returns the current alert of a grant (for card refreshes) and
// what who may see of it. An unknown grant is a *Refusal (ErrNotFound);
// the caller answers someone who is neither on the security team nor in
// one of Chats exactly so, for every grant.
func (s *Service) AlertView(ctx context.Context, tenantID, grantID string, who Person) (AlertView, error) {
	if err := s.checkTenant(tenantID); err != nil {
		return AlertView{}, err
	}
	g, err := s.cfg.Store.GetGrant(ctx, grantID)
	if errors.Is(err, ErrNotFound) {
		return AlertView{}, refuse(ErrNotFound, "This grant does not exist (any more).")
	}
	if err != nil {
		return AlertView{}, fmt.Errorf("load grant %s: %w", grantID, err)
	}
	v := AlertView{Alert: s.alertFor(g)}
	if v.Alert.Resolved {
		v.Alert.ResolvedNote = "removed"
	}
	for _, c := range []string{s.cfg.SecurityChannelID, g.AlertChat.ConversationID} {
		if c != "" {
			v.Chats = append(v.Chats, c)
		}
	}
	if IsObjectID(who.ObjectID) {
		if v.Security, err = s.securityTeam(ctx, who, g); err != nil {
			return AlertView{}, err
		}
	}
	return v, nil
}

// securityTeam reports whether who is on the security team of grant g: a
// member of the security groups or, with none configured, an approver of
// g's profile.
func (s *Service) securityTeam(ctx context.Context, who Person, g *Grant) (bool, error) {
	groups := s.cfg.SecurityGroups
	if len(groups) == 0 {
		groups = s.profiles[g.Profile].ApproverGroups
	}
	ok, err := s.inGroups(ctx, who.ObjectID, groups, false)
	if err != nil {
		return false, fmt.Errorf("check whether %s is on the security team of grant %s: %w", who.ObjectID, g.ID, err)
	}
	return ok, nil
}

// SystemClock is the real clock.
type SystemClock struct{}

// Now returns the current time.
func (SystemClock) Now() time.Time { return time.Now() }

// TimerAt returns a real timer that fires at the given time.
func (SystemClock) TimerAt(at time.Time) Timer { return realTimer{time.NewTimer(time.Until(at))} }

type realTimer struct{ t *time.Timer }

func (r realTimer) C() <-chan time.Time { return r.t.C }
func (r realTimer) Stop() bool          { return r.t.Stop() }
