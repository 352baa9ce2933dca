package accesstest

import (
	"context"
	"fmt"
	"time"

	"github.com/jitbot/jitbot/access"
)

// remindable reports whether g's expiry reminder may still be sent at now
// (its RemindAt aside): active, not ended early, not ended nor due.
func remindable(g *access.Grant, now time.Time) bool {
	return g.State == access.GrantActive && g.Early.Kind == "" && !g.RemindAt.IsZero() &&
		g.ExpiresAt.After(now) && g.DueAt.After(now)
}

// DueExpiryReminders returns the grants whose expiry reminder is due at
// now, as the database store does.
func (s *Store) DueExpiryReminders(_ context.Context, now time.Time, limit int) ([]access.Grant, error) {
	now = stored(now)
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []access.Grant
	for _, g := range s.grants {
		if remindable(g, now) && !g.RemindAt.After(now) {
			out = append(out, *g)
		}
	}
	return earliestFirst(out, func(g *access.Grant) time.Time { return g.RemindAt }, limit), nil
}

// NextExpiryReminder returns the earliest expiry reminder still to send.
func (s *Store) NextExpiryReminder(_ context.Context, now time.Time) (time.Time, bool, error) {
	now = stored(now)
	s.mu.Lock()
	defer s.mu.Unlock()
	var next time.Time
	for _, g := range s.grants {
		if remindable(g, now) && (next.IsZero() || g.RemindAt.Before(next)) {
			next = g.RemindAt
		}
	}
	return next, !next.IsZero(), nil
}

// RecordExpiryReminder clears a due expiry reminder and appends ev, once.
func (s *Store) RecordExpiryReminder(_ context.Context, grantID string, now time.Time, ev access.AuditEvent) error {
	if ev.At.IsZero() {
		return fmt.Errorf("record expiry reminder of grant %s: event has no time", grantID)
	}
	now = stored(now)
	s.mu.Lock()
	defer s.mu.Unlock()
	g, ok := s.grants[grantID]
	switch {
	case !ok:
		return fmt.Errorf("record expiry reminder of grant %s: %w", grantID, access.ErrNotFound)
	case !remindable(g, now) || g.RemindAt.After(now):
		return fmt.Errorf("record expiry reminder of grant %s: %w", grantID, access.ErrStaleGrant)
	}
	if err := s.appendAudit(grantEvent(ev, g, now)); err != nil {
		return fmt.Errorf("record expiry reminder of grant %s: %w", grantID, err)
	}
	g.RemindAt = time.Time{}
	return nil
}
