package accesstest

import (
	"context"
	"fmt"
	"time"

	"github.com/jitbot/jitbot/access"
)

// DueStarts returns the scheduled requests whose start has come, oldest
// first.
func (s *Store) DueStarts(_ context.Context, now time.Time, limit int) ([]access.Request, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	now = stored(now)
	var out []access.Request
	for id, r := range s.requests {
		if r.State == access.RequestScheduled && !r.StartsAt.IsZero() && !r.StartsAt.After(now) {
			out = append(out, *s.request(id))
		}
	}
	return oldestFirst(out, limit), nil
}

// NextStart returns the earliest start of a scheduled request.
func (s *Store) NextStart(context.Context) (time.Time, bool, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	var next time.Time
	for _, r := range s.requests {
		if r.State == access.RequestScheduled && !r.StartsAt.IsZero() && (next.IsZero() || r.StartsAt.Before(next)) {
			next = r.StartsAt
		}
	}
	return next, !next.IsZero(), nil
}

// CloseScheduled closes a scheduled request before its start, once.
func (s *Store) CloseScheduled(_ context.Context, id string, to access.RequestState, d *access.Decision, at time.Time, ev access.AuditEvent) (*access.Request, error) {
	switch {
	case to != access.RequestCancelled && to != access.RequestDenied && to != access.RequestTimedOut:
		return nil, fmt.Errorf("close scheduled request %s: %s is not a closing state", id, to)
	case at.IsZero():
		return nil, fmt.Errorf("close scheduled request %s: no time", id)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	r, ok := s.requests[id]
	switch {
	case !ok:
		return nil, fmt.Errorf("close scheduled request %s: %w", id, access.ErrNotFound)
	case r.State != access.RequestScheduled:
		return nil, fmt.Errorf("close scheduled request %s: %w", id, access.ErrNotPending)
	}
	if ev.At.IsZero() {
		ev.At = at
	}
	if ev.RequestID == "" {
		ev.RequestID = id
	}
	if err := s.appendAudit(ev); err != nil {
		return nil, fmt.Errorf("close scheduled request %s: %w", id, err)
	}
	if d != nil {
		c := *d
		c.DecidedAt = stored(c.DecidedAt)
		r.Decisions = append(r.Decisions, c)
	}
	r.State, r.UpdatedAt = to, stored(at)
	return s.request(id), nil
}

func (t *membershipTx) Start(requestID string, to access.RequestState, at time.Time) error {
	if at.IsZero() {
		return fmt.Errorf("start request %s: time is zero", requestID)
	}
	r, ok := t.s.requests[requestID]
	switch {
	case !ok:
		return access.ErrNotFound
	case r.State != access.RequestScheduled || r.GroupID != t.key[0] || r.Requester.ObjectID != t.key[1]:
		return access.ErrNotPending
	}
	r.State, r.UpdatedAt = to, stored(at)
	return nil
}
