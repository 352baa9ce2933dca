package accesstest

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/jitbot/jitbot/access"
)

// pendingDue is when a pending request next needs work: the earlier of its
// deadline and its next reminder (zero: never).
func pendingDue(r *access.Request) time.Time {
	due := r.DecideBy
	if !r.NextReminderAt.IsZero() && (due.IsZero() || r.NextReminderAt.Before(due)) {
		due = r.NextReminderAt
	}
	return due
}

// CloseRequest moves a pending request to the final state to, as the
// database store does.
func (s *Store) CloseRequest(_ context.Context, id string, to access.RequestState, at time.Time, ev access.AuditEvent) (*access.Request, error) {
	if to != access.RequestCancelled && to != access.RequestTimedOut {
		return nil, fmt.Errorf("close request %s: %s is not a closing state", id, to)
	}
	if at.IsZero() {
		return nil, fmt.Errorf("close request %s: no time", id)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	r, ok := s.requests[id]
	switch {
	case !ok:
		return nil, fmt.Errorf("close request %s: %w", id, access.ErrNotFound)
	case r.State != access.RequestPending:
		return nil, fmt.Errorf("close request %s: %w", id, access.ErrNotPending)
	}
	if ev.At.IsZero() {
		ev.At = at
	}
	if ev.RequestID == "" {
		ev.RequestID = id
	}
	if err := s.appendAudit(ev); err != nil {
		return nil, fmt.Errorf("close request %s: %w", id, err)
	}
	r.State, r.UpdatedAt, r.NextReminderAt = to, stored(at), time.Time{}
	return s.request(id), nil
}

// DuePending returns the pending requests whose deadline or next reminder
// has come, oldest first.
func (s *Store) DuePending(_ context.Context, now time.Time, limit int) ([]access.Request, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []access.Request
	for id, r := range s.requests {
		if due := pendingDue(r); r.State == access.RequestPending && !due.IsZero() && !due.After(now) {
			out = append(out, *s.request(id))
		}
	}
	return oldestFirst(out, limit), nil
}

// NextPending returns the earliest deadline or reminder of a pending
// request.
func (s *Store) NextPending(context.Context) (time.Time, bool, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	var next time.Time
	for _, r := range s.requests {
		if due := pendingDue(r); r.State == access.RequestPending && !due.IsZero() && (next.IsZero() || due.Before(next)) {
			next = due
		}
	}
	return next, !next.IsZero(), nil
}

// RecordReminder records reminder n of a pending request, once.
func (s *Store) RecordReminder(_ context.Context, id string, n int, next time.Time, ev access.AuditEvent) error {
	if ev.At.IsZero() {
		return fmt.Errorf("record reminder of %s: event has no time", id)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	r, ok := s.requests[id]
	switch {
	case !ok:
		return fmt.Errorf("record reminder of %s: %w", id, access.ErrNotFound)
	case r.State != access.RequestPending || r.Reminders != n-1:
		return fmt.Errorf("record reminder %d of %s: %w", n, id, access.ErrNotPending)
	}
	if ev.RequestID == "" {
		ev.RequestID = id
	}
	if err := s.appendAudit(ev); err != nil {
		return fmt.Errorf("record reminder of %s: %w", id, err)
	}
	r.Reminders, r.NextReminderAt = n, stored(next)
	return nil
}

// UndatedPending returns the pending requests without a deadline, oldest
// first.
func (s *Store) UndatedPending(_ context.Context, limit int) ([]access.Request, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []access.Request
	for id, r := range s.requests {
		if r.State == access.RequestPending && r.DecideBy.IsZero() {
			out = append(out, *s.request(id))
		}
	}
	return oldestFirst(out, limit), nil
}

// SetDeadline dates a pending request that has no deadline, once, and
// appends ev with it.
func (s *Store) SetDeadline(_ context.Context, id string, decideBy, next time.Time, ev access.AuditEvent) error {
	if decideBy.IsZero() {
		return fmt.Errorf("set deadline of %s: no deadline", id)
	}
	if ev.At.IsZero() {
		return fmt.Errorf("set deadline of %s: event has no time", id)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	r, ok := s.requests[id]
	switch {
	case !ok:
		return fmt.Errorf("set deadline of %s: %w", id, access.ErrNotFound)
	case r.State != access.RequestPending || !r.DecideBy.IsZero():
		return fmt.Errorf("set deadline of %s: %w", id, access.ErrNotPending)
	}
	if ev.RequestID == "" {
		ev.RequestID = id
	}
	if err := s.appendAudit(ev); err != nil {
		return fmt.Errorf("set deadline of %s: %w", id, err)
	}
	r.DecideBy, r.NextReminderAt = stored(decideBy), stored(next)
	return nil
}

// oldestFirst sorts requests by creation (then id) and keeps the first
// limit of them (all when limit is not positive).
func oldestFirst(out []access.Request, limit int) []access.Request {
	slices.SortFunc(out, func(a, b access.Request) int {
		if c := a.CreatedAt.Compare(b.CreatedAt); c != 0 {
			return c
		}
		return strings.Compare(a.ID, b.ID)
	})
	if limit > 0 && len(out) > limit {
		out = out[:limit]
	}
	return out
}

// earliestFirst sorts grants by the time at gives (then id) and keeps the
// first limit of them (all when limit is not positive).
func earliestFirst(out []access.Grant, at func(*access.Grant) time.Time, limit int) []access.Grant {
	slices.SortFunc(out, func(a, b access.Grant) int {
		if c := at(&a).Compare(at(&b)); c != 0 {
			return c
		}
		return strings.Compare(a.ID, b.ID)
	})
	if limit > 0 && len(out) > limit {
		out = out[:limit]
	}
	return out
}
