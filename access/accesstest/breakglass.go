package accesstest

import (
	"context"
	"fmt"
	"time"

	"github.com/jitbot/jitbot/access"
)

// reviewable reports whether g is an active, unreviewed break-glass grant
// not ended early and not due at now whose next review step is set.
func reviewable(g *access.Grant, now time.Time) bool {
	return g.BreakGlass && g.State == access.GrantActive && g.Early.Kind == "" && g.Review.At.IsZero() &&
		!g.ReviewDueAt.IsZero() && g.DueAt.After(now)
}

// DueReviews returns the break-glass grants whose next review step is due
// at now, earliest first.
func (s *Store) DueReviews(_ context.Context, now time.Time, limit int) ([]access.Grant, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	now = stored(now)
	var out []access.Grant
	for _, g := range s.grants {
		if reviewable(g, now) && !g.ReviewDueAt.After(now) {
			out = append(out, *g)
		}
	}
	return earliestFirst(out, func(g *access.Grant) time.Time { return g.ReviewDueAt }, limit), nil
}

// NextReview returns the earliest next review step of a break-glass grant.
func (s *Store) NextReview(context.Context) (time.Time, bool, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	var due time.Time
	for _, g := range s.grants {
		if reviewable(g, time.Time{}) && (due.IsZero() || g.ReviewDueAt.Before(due)) {
			due = g.ReviewDueAt
		}
	}
	return due, !due.IsZero(), nil
}

// RecordReviewReminder records review reminder n of a break-glass grant,
// once.
func (s *Store) RecordReviewReminder(_ context.Context, grantID string, n int, next time.Time, ev access.AuditEvent) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if ev.At.IsZero() {
		return fmt.Errorf("record review reminder of grant %s: event has no time", grantID)
	}
	g, ok := s.grants[grantID]
	switch {
	case !ok:
		return fmt.Errorf("record review reminder of grant %s: %w", grantID, access.ErrNotFound)
	case !g.BreakGlass || g.State != access.GrantActive || g.Early.Kind != "" || !g.Review.At.IsZero() || g.ReviewReminders != n-1:
		return fmt.Errorf("record review reminder of grant %s: %w", grantID, access.ErrStaleGrant)
	}
	if err := s.appendAudit(grantEvent(ev, g, time.Time{})); err != nil {
		return fmt.Errorf("record review reminder of grant %s: %w", grantID, err)
	}
	g.ReviewReminders, g.ReviewDueAt = n, stored(next)
	return nil
}

// RecordReview stores the review of a break-glass grant, once.
func (s *Store) RecordReview(_ context.Context, grantID string, r access.Review, ev access.AuditEvent) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if r.At.IsZero() || ev.At.IsZero() {
		return fmt.Errorf("record review of grant %s: review or event has no time", grantID)
	}
	g, ok := s.grants[grantID]
	switch {
	case !ok || !g.BreakGlass:
		return fmt.Errorf("record review of grant %s: %w", grantID, access.ErrNotFound)
	case !g.Review.At.IsZero():
		return fmt.Errorf("record review of grant %s: %w", grantID, access.ErrReviewed)
	}
	if err := s.appendAudit(grantEvent(ev, g, time.Time{})); err != nil {
		return fmt.Errorf("record review of grant %s: %w", grantID, err)
	}
	r.At = stored(r.At)
	g.Review, g.ReviewDueAt = r, time.Time{}
	return nil
}

// SetReviewCard records where a break-glass grant's review card was posted.
func (s *Store) SetReviewCard(_ context.Context, grantID string, chat access.ConversationRef, activityID string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	g, ok := s.grants[grantID]
	if !ok {
		return fmt.Errorf("set review card of grant %s: %w", grantID, access.ErrNotFound)
	}
	g.ReviewChat, g.ReviewActivityID = chat, activityID
	return nil
}

// PostReviewAlert records the review card of a break-glass grant.
func (n *Notifier) PostReviewAlert(_ context.Context, req *access.Request, channelID string) (access.ConversationRef, string, error) {
	n.mu.Lock()
	defer n.mu.Unlock()
	n.n++
	n.reviews = append(n.reviews, ReviewCard{RequestID: req.ID, Reviewed: req.Grant != nil && !req.Grant.Review.At.IsZero(), Channel: channelID})
	return access.ConversationRef{ConversationID: channelID + ";messageid=" + fmt.Sprint(n.n)}, fmt.Sprint(n.n), nil
}

// UpdateReviewAlert records the review card's new state.
func (n *Notifier) UpdateReviewAlert(_ context.Context, req *access.Request) error {
	n.mu.Lock()
	defer n.mu.Unlock()
	n.reviews = append(n.reviews, ReviewCard{RequestID: req.ID, Reviewed: req.Grant != nil && !req.Grant.Review.At.IsZero(), Update: true})
	return nil
}

// RemindReview records a review reminder.
func (n *Notifier) RemindReview(_ context.Context, req *access.Request, num int) error {
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.reviewReminders == nil {
		n.reviewReminders = map[string][]int{}
	}
	n.reviewReminders[req.ID] = append(n.reviewReminders[req.ID], num)
	return nil
}

// ReviewCard is a review card posted (or updated) for a break-glass grant.
type ReviewCard struct {
	RequestID string
	Channel   string // where it was posted ("" for an update)
	Reviewed  bool
	Update    bool
}

// ReviewCards returns the review cards posted and updated, in order.
func (n *Notifier) ReviewCards() []ReviewCard {
	n.mu.Lock()
	defer n.mu.Unlock()
	return append([]ReviewCard(nil), n.reviews...)
}

// ReviewReminders returns the numbers of the review reminders sent for a
// request, in order.
func (n *Notifier) ReviewReminders(requestID string) []int {
	n.mu.Lock()
	defer n.mu.Unlock()
	return append([]int(nil), n.reviewReminders[requestID]...)
}
