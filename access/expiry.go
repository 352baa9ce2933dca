package access

import (
	"context"
	"errors"
	"fmt"
	"time"
)

// revokeBatch is how many due grants one pass handles before it looks again.
const revokeBatch = 100

// idleWait is how long the scheduler sleeps when no grant is active; a new
// grant wakes it earlier.
const idleWait = time.Hour

// Wake tells the expiry scheduler that grants changed, so that it re-arms its
// timer for the earliest due grant.
func (s *Service) Wake() {
	select {
	case s.wake <- struct{}{}:
	default:
	}
}

// Run recovers the work a previous process left unfinished, then revokes
// grants as they fall due until ctx is cancelled. It sleeps until the
// earliest due grant (re-armed by Wake), so grants that fell due while the
// bot was down are revoked at once.
func (s *Service) Run(ctx context.Context) error {
	if err := s.Recover(ctx); err != nil {
		s.log.Error("recover unfinished grants", "err", err)
	}
	for {
		if _, err := s.RevokeDue(ctx); err != nil && ctx.Err() == nil {
			s.log.Error("revoke due grants", "err", err)
		}
		now := s.cfg.Clock.Now()
		wake := now.Add(idleWait)
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
		t := s.cfg.Clock.TimerAt(wake)
		select {
		case <-ctx.Done():
			t.Stop()
			return nil
		case <-s.wake:
			t.Stop()
		case <-t.C():
		}
	}
}

// RevokeDue revokes every grant that is due now and returns how many it
// removed or closed.
func (s *Service) RevokeDue(ctx context.Context) (int, error) {
	done := 0
	for {
		now := s.cfg.Clock.Now().UTC()
		due, err := s.cfg.Store.DueGrants(ctx, now, revokeBatch)
		if err != nil {
			return done, fmt.Errorf("list due grants: %w", err)
		}
		progressed := false
		for i := range due {
			if ctx.Err() != nil {
				return done, ctx.Err()
			}
			ok, err := s.revoke(ctx, &due[i])
			if err != nil {
				s.log.Error("revoke grant", "grant", due[i].ID, "err", err)
				continue
			}
			if ok {
				done++
			}
			progressed = true
		}
		if len(due) < revokeBatch || !progressed {
			return done, nil
		}
	}
}

// revoke removes one due grant's membership. It reports whether the grant is
// finished; a failed removal is scheduled again with backoff.
func (s *Service) revoke(ctx context.Context, g *Grant) (bool, error) {
	base := &Request{ID: g.RequestID, Profile: g.Profile, GroupID: g.GroupID, Requester: g.User}
	if g.PreExisting {
		now := s.cfg.Clock.Now().UTC()
		ev := s.event(now, System, ActionRevokeSkipped, base, "membership pre-existed the grant; left in place")
		if err := s.cfg.Store.FinishRevoke(ctx, g.ID, now, ev); err != nil {
			return false, s.ignoreStale(g, err)
		}
		s.afterRevoke(ctx, g, fmt.Sprintf("Your temporary access to %s has ended. You were a member of its group before this grant, so that membership was left in place.", g.Profile))
		return true, nil
	}
	rctx, cancel := context.WithTimeout(ctx, s.cfg.GrantTimeout)
	err := s.cfg.Directory.RemoveMember(rctx, g.GroupID, g.User.ObjectID)
	cancel()
	now := s.cfg.Clock.Now().UTC()
	if err != nil {
		attempts := g.Attempts + 1
		next := now.Add(s.backoff(attempts))
		s.log.Warn("remove member failed; will retry", "grant", g.ID, "group", g.GroupID, "user", g.User.ObjectID,
			"attempt", attempts, "next", next, "err", err)
		ev := s.event(now, System, ActionRevokeFailed, base, err.Error())
		if rerr := s.cfg.Store.RetryRevoke(ctx, g.ID, attempts, next, err.Error(), ev); rerr != nil {
			return false, s.ignoreStale(g, rerr)
		}
		return false, nil
	}
	ev := s.event(now, System, ActionRevoked, base, "expired")
	if err := s.cfg.Store.FinishRevoke(ctx, g.ID, now, ev); err != nil {
		return false, s.ignoreStale(g, err)
	}
	s.afterRevoke(ctx, g, fmt.Sprintf("Your temporary access to %s has ended: you were removed from its group.", g.Profile))
	return true, nil
}

func (s *Service) ignoreStale(g *Grant, err error) error {
	if errors.Is(err, ErrStaleGrant) {
		return nil // another worker finished it first
	}
	return fmt.Errorf("record revocation of grant %s: %w", g.ID, err)
}

func (s *Service) afterRevoke(ctx context.Context, g *Grant, text string) {
	req, err := s.cfg.Store.GetRequest(ctx, g.RequestID)
	if err != nil {
		s.log.Warn("reload request after revoke", "request", g.RequestID, "err", err)
		return
	}
	s.notify(ctx, req, NoticeRevoked, text)
	s.updateCard(ctx, req)
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

// Recover completes grants a previous process left between the decision and
// its outcome: the approval is stored, the membership may or may not have
// been added. Adding again is safe; a membership found already present is
// treated as added by this grant (so it is removed at expiry), because a
// standing membership that nobody approved is worse than removing one that
// pre-existed.
func (s *Service) Recover(ctx context.Context) error {
	pending, err := s.cfg.Store.GrantsInState(ctx, GrantGranting)
	if err != nil {
		return fmt.Errorf("list unfinished grants: %w", err)
	}
	for i := range pending {
		g := pending[i]
		s.log.Info("resuming unfinished grant", "grant", g.ID, "request", g.RequestID)
		actx, cancel := context.WithTimeout(ctx, s.cfg.GrantTimeout)
		_, err := s.cfg.Directory.AddMember(actx, g.GroupID, g.User.ObjectID)
		cancel()
		now := s.cfg.Clock.Now().UTC()
		base := &Request{ID: g.RequestID, Profile: g.Profile, GroupID: g.GroupID, Requester: g.User}
		if err != nil {
			ev := s.event(now, System, ActionGrantFailed, base, err.Error())
			if ferr := s.cfg.Store.FailGrant(ctx, g.ID, err.Error(), ev); ferr != nil {
				return fmt.Errorf("record failed grant %s: %w", g.ID, ferr)
			}
			if req, lerr := s.cfg.Store.GetRequest(ctx, g.RequestID); lerr == nil {
				s.notify(ctx, req, NoticeFailed, fmt.Sprintf("Your approved access to %s could not be granted: %s. Ask again, or tell your administrator.", g.Profile, err))
				s.updateCard(ctx, req)
			}
			continue
		}
		ev := s.event(now, System, ActionGranted, base, "completed after restart")
		if err := s.cfg.Store.CompleteGrant(ctx, g.ID, now, false, ev); err != nil {
			return fmt.Errorf("record grant %s: %w", g.ID, err)
		}
		if req, lerr := s.cfg.Store.GetRequest(ctx, g.RequestID); lerr == nil {
			s.notify(ctx, req, NoticeGranted, fmt.Sprintf("Access granted: you are in the group for %s until %s.", g.Profile, g.ExpiresAt.UTC().Format(time.RFC3339)))
			s.updateCard(ctx, req)
		}
	}
	return nil
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
