package access

import (
	"context"
	"errors"
	"fmt"
	"time"
)

// The defaults and limits of a request's decision deadline and of the
// reminders to its approvers.
const (
	// DefaultApprovalTimeout is how long a request waits for a decision
	// when its profile sets no approval_timeout.
	DefaultApprovalTimeout = time.Hour
	// DefaultRemindApprovers is the delay of the first reminder when a
	// profile sets no remind_approvers.
	DefaultRemindApprovers = 15 * time.Minute
	// MaxReminders bounds the reminders sent for one request.
	MaxReminders = 3
)

// pendingBatch is how many due pending requests one look at the store
// takes; pendingRounds bounds the looks of one WorkPending.
const (
	pendingBatch  = 20
	pendingRounds = 50
)

// ReminderAt is when reminder n (1, 2, ...) of a request created at created
// is due under profile p: the first RemindApprovers after creation, each
// next one twice as long after creation as the one before (+15m, +30m,
// +60m, ...). It returns the zero time when there is no such reminder:
// reminders are off, n is past MaxReminders, or the reminder would not come
// before the deadline decideBy (when set).
func ReminderAt(p Profile, created, decideBy time.Time, n int) time.Time {
	if p.RemindApprovers <= 0 || n < 1 || n > MaxReminders {
		return time.Time{}
	}
	at := created.Add(p.RemindApprovers << (n - 1))
	if !decideBy.IsZero() && !at.Before(decideBy) {
		return time.Time{}
	}
	return at
}

// setDeadline sets a new request's deadline and first reminder from its
// profile. A scheduled request's deadline is at most the end of its
// window: undecided by then, it could never be granted.
func setDeadline(p Profile, req *Request) {
	timeout := p.ApprovalTimeout
	if timeout <= 0 {
		timeout = DefaultApprovalTimeout
	}
	req.DecideBy = req.CreatedAt.Add(timeout)
	if end := req.StartsAt.Add(req.Duration); req.Scheduled() && end.Before(req.DecideBy) {
		req.DecideBy = end
	}
	req.Reminders = 0
	req.NextReminderAt = ReminderAt(p, req.CreatedAt, req.DecideBy, 1)
}

// pastDeadline reports whether a request's deadline has come at now.
func pastDeadline(req *Request, now time.Time) bool {
	return !req.DecideBy.IsZero() && !now.Before(req.DecideBy)
}

// WorkPending times out the pending requests whose deadline has come and
// sends the reminders that are due. Several replicas may run it at once:
// each time-out and each reminder is a conditional update that one of them
// wins, and only the winner tells anyone. A reminder is recorded before it
// is sent, so that a restart never repeats one. It returns how many
// requests it timed out or reminded of.
func (s *Service) WorkPending(ctx context.Context) (int, error) {
	done := 0
	for range pendingRounds {
		if ctx.Err() != nil {
			return done, nil
		}
		now := s.cfg.Clock.Now().UTC()
		due, err := s.cfg.Store.DuePending(ctx, now, pendingBatch)
		if err != nil {
			return done, fmt.Errorf("find due pending requests: %w", err)
		}
		if len(due) == 0 {
			return done, nil
		}
		for i := range due {
			req := &due[i]
			var acted bool
			p, known := s.profiles[req.Profile]
			switch {
			case pastDeadline(req, now):
				acted, err = s.timeOut(ctx, req)
			case known && resumesBreakGlass(p, req):
				acted, err = s.resumeBreakGlass(ctx, p, req)
			default:
				acted, err = s.remind(ctx, req, now)
			}
			if err != nil {
				return done, err
			}
			if acted {
				done++
			}
		}
	}
	return done, nil
}

// timeOut closes a pending request whose deadline has come, as jitbot: the
// approval card says so and the requester is told. It reports false when
// the request was no longer pending (decided, cancelled or timed out by
// another replica): nothing changes then.
func (s *Service) timeOut(ctx context.Context, req *Request) (bool, error) {
	now := s.cfg.Clock.Now().UTC()
	waited := FormatDuration(req.DecideBy.Sub(req.CreatedAt))
	ev := s.event(now, System, ActionTimedOut, req, "no decision within "+waited)
	updated, err := s.cfg.Store.CloseRequest(ctx, req.ID, RequestTimedOut, now, ev)
	if errors.Is(err, ErrNotPending) || errors.Is(err, ErrNotFound) {
		return false, nil
	}
	if err != nil {
		return false, fmt.Errorf("time out request %s: %w", req.ID, err)
	}
	s.log.Info("request timed out", "request", req.ID, "profile", req.Profile, "waited", waited)
	s.updateCard(ctx, updated)
	text := fmt.Sprintf("Your request for %s got no decision within %s, so it has expired and nothing was granted. Ask again if you still need access.",
		req.Profile, waited)
	if req.ExtendsRequestID != "" {
		text = fmt.Sprintf("Your extension of %s (+%s) got no decision within %s, so it has expired; your access was not extended.",
			req.Profile, FormatDuration(req.Duration), waited)
	}
	s.notify(ctx, updated, NoticeTimedOut, text)
	return true, nil
}

// remind sends the next due reminder of a pending request to its approvers'
// thread, recording it first. It reports false when another replica sent it
// or the request is no longer pending.
func (s *Service) remind(ctx context.Context, req *Request, now time.Time) (bool, error) {
	if req.NextReminderAt.IsZero() || req.NextReminderAt.After(now) {
		return false, nil
	}
	n := req.Reminders + 1
	var next time.Time
	if p, ok := s.profiles[req.Profile]; ok {
		next = ReminderAt(p, req.CreatedAt, req.DecideBy, n+1)
		if !next.IsZero() && !next.After(now) {
			// Overdue after downtime: the next one waits the first
			// interval, so approvers are not sent several at once.
			next = now.Add(p.RemindApprovers)
			if !req.DecideBy.IsZero() && !next.Before(req.DecideBy) {
				next = time.Time{}
			}
		}
	}
	ev := s.event(now, System, ActionReminded, req, fmt.Sprintf("reminder %d of at most %d", n, MaxReminders))
	err := s.cfg.Store.RecordReminder(ctx, req.ID, n, next, ev)
	if errors.Is(err, ErrNotPending) || errors.Is(err, ErrNotFound) {
		return false, nil
	}
	if err != nil {
		return false, fmt.Errorf("record reminder %d of request %s: %w", n, req.ID, err)
	}
	req.Reminders, req.NextReminderAt = n, next
	if req.ApprovalActivityID == "" {
		return true, nil
	}
	if err := s.cfg.Notifier.RemindApprovers(ctx, req, n); err != nil {
		// Recorded as sent: a reminder is never repeated, so a failed one
		// is logged and the next comes at its time.
		s.log.Warn("remind approvers", "request", req.ID, "reminder", n, "err", err)
	}
	return true, nil
}

// lateDecision answers a decision on a pending request whose deadline has
// come: the request is timed out (unless that already happened
// concurrently) and the refusal carries it as it now stands, so the card
// shows it. It returns nil when the deadline has not come.
func (s *Service) lateDecision(ctx context.Context, req *Request) error {
	if !pastDeadline(req, s.cfg.Clock.Now().UTC()) {
		return nil
	}
	if _, err := s.timeOut(ctx, req); err != nil {
		return err
	}
	cur, err := s.cfg.Store.GetRequest(ctx, req.ID)
	if err != nil {
		return fmt.Errorf("reload request %s: %w", req.ID, err)
	}
	r := refuse(ErrNotPending, "This request got no decision before its deadline and has expired; nothing was granted. The card shows it.")
	r.Request = cur
	return r
}

// DatePending gives every pending request stored without a deadline (by a
// version of jitbot before deadlines existed) its profile's deadline, so
// that no request waits for ever. Nobody was told of a deadline when such a
// request was made, so it gets the later of its own deadline and a whole
// approval timeout from now; its approval card is updated to show it. Each
// dating is audited as request.deadline_set by jitbot, with the deadline.
// Several replicas may run it at once: each request is dated once. It
// returns how many requests it dated.
func (s *Service) DatePending(ctx context.Context) (int, error) {
	done := 0
	for range pendingRounds {
		reqs, err := s.cfg.Store.UndatedPending(ctx, pendingBatch)
		if err != nil {
			return done, fmt.Errorf("find pending requests without a deadline: %w", err)
		}
		if len(reqs) == 0 {
			return done, nil
		}
		for i := range reqs {
			req := &reqs[i]
			p, ok := s.profiles[req.Profile]
			if !ok {
				// Its profile is gone: the default timeout applies, and
				// the request is closed at the first click anyway.
				p = Profile{Name: req.Profile, ApprovalTimeout: DefaultApprovalTimeout}
			}
			now := s.cfg.Clock.Now().UTC()
			dated := *req
			setDeadline(p, &dated)
			if later := now.Add(p.ApprovalTimeout); dated.DecideBy.Before(later) {
				dated.DecideBy = later
			}
			ev := s.event(now, System, ActionDeadlineSet, req, "decide by "+FormatTime(dated.DecideBy))
			err := s.cfg.Store.SetDeadline(ctx, req.ID, dated.DecideBy, dated.NextReminderAt, ev)
			if errors.Is(err, ErrNotPending) || errors.Is(err, ErrNotFound) {
				continue
			}
			if err != nil {
				return done, fmt.Errorf("set deadline of request %s: %w", req.ID, err)
			}
			done++
			s.log.Info("pending request given a deadline", "request", req.ID, "decide_by", dated.DecideBy)
			s.updateCard(ctx, &dated)
		}
	}
	return done, nil
}
