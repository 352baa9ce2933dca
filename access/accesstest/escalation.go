package accesstest

import (
	"context"
	"fmt"
	"time"

	"github.com/jitbot/jitbot/access"
)

// DueEscalations returns the pending requests whose escalation is due at
// now, oldest first.
func (s *Store) DueEscalations(_ context.Context, now time.Time, limit int) ([]access.Request, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	now = stored(now)
	var out []access.Request
	for id, r := range s.requests {
		if r.State == access.RequestPending && !r.EscalateAt.IsZero() && !r.EscalateAt.After(now) {
			out = append(out, *s.request(id))
		}
	}
	return oldestFirst(out, limit), nil
}

// NextEscalation returns the earliest escalation of a pending request.
func (s *Store) NextEscalation(context.Context) (time.Time, bool, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	var next time.Time
	for _, r := range s.requests {
		if r.State == access.RequestPending && !r.EscalateAt.IsZero() && (next.IsZero() || r.EscalateAt.Before(next)) {
			next = r.EscalateAt
		}
	}
	return next, !next.IsZero(), nil
}

// RecordEscalation records the escalation of a pending request, once.
func (s *Store) RecordEscalation(_ context.Context, id string, at time.Time, ev access.AuditEvent) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	r, ok := s.requests[id]
	switch {
	case at.IsZero():
		return fmt.Errorf("record escalation of %s: no time", id)
	case !ok:
		return fmt.Errorf("record escalation of %s: %w", id, access.ErrNotFound)
	case r.State != access.RequestPending || r.EscalateAt.IsZero():
		return fmt.Errorf("record escalation of %s: %w", id, access.ErrNotPending)
	}
	if ev.At.IsZero() {
		ev.At = at
	}
	if ev.RequestID == "" {
		ev.RequestID = id
	}
	if err := s.appendAudit(ev); err != nil {
		return fmt.Errorf("record escalation of %s: %w", id, err)
	}
	r.EscalateAt, r.EscalatedAt = time.Time{}, stored(at)
	return nil
}

// SetEscalationCard records where the escalation card was posted.
func (s *Store) SetEscalationCard(_ context.Context, id string, chat access.ConversationRef, activityID string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	r, ok := s.requests[id]
	if !ok {
		return fmt.Errorf("set escalation card of %s: %w", id, access.ErrNotFound)
	}
	r.EscalationChat, r.EscalationActivityID = chat, activityID
	return nil
}
