package storage

import (
	"context"
	"fmt"
	"time"

	"gorm.io/gorm"

	"github.com/jitbot/jitbot/access"
)

// CloseRequest moves request id, if it is still pending, to the final
// state to (cancelled or timed out) at at and appends ev (At defaults to
// at, RequestID to id), in one transaction; its next reminder is dropped.
// It returns the request as stored. Otherwise it changes nothing and
// returns an error wrapping access.ErrNotPending (access.ErrNotFound): the
// conditional update lets one of concurrent closes and decisions win.
func (db *DB) CloseRequest(ctx context.Context, id string, to access.RequestState, at time.Time, ev access.AuditEvent) (*access.Request, error) {
	if to != access.RequestCancelled && to != access.RequestTimedOut {
		return nil, fmt.Errorf("close request %s: %s is not a closing state", id, to)
	}
	if at.IsZero() {
		return nil, fmt.Errorf("close request %s: no time", id)
	}
	at = dbTime(at)
	ev = eventWithDefaults(ev, id, at)
	var out *access.Request
	err := db.tx(ctx, func(tx *gorm.DB) error {
		if err := closePending(tx, id, map[string]any{"state": string(to), "updated_at": at, "next_reminder_at": nil}); err != nil {
			return err
		}
		var err error
		out, err = readAudited(tx, id, ev)
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("close request %s as %s: %w", id, to, err)
	}
	return out, nil
}

// DuePending returns up to limit pending requests whose deadline or next
// reminder is at or before now, oldest first, with their decisions.
func (db *DB) DuePending(ctx context.Context, now time.Time, limit int) ([]access.Request, error) {
	conn, cancel := db.conn(ctx)
	defer cancel()
	now = dbTime(now)
	reqs, err := requestsWhere(conn, limit, pendingOnly+" AND (decide_by <= ? OR next_reminder_at <= ?)", now, now)
	if err != nil {
		return nil, fmt.Errorf("find due pending requests: %w", err)
	}
	return reqs, nil
}

// pendingOnly selects the pending requests, written out rather than bound
// so that the planner may use the indexes kept for them alone
// (idx_requests_pending_decide_by, idx_requests_pending_next_reminder_at;
// a partial index serves a query whose condition names its own).
const pendingOnly = "state = '" + string(access.RequestPending) + "'"

// NextPending returns the earliest deadline or next reminder of a pending
// request; ok is false when there is none.
func (db *DB) NextPending(ctx context.Context) (time.Time, bool, error) {
	conn, cancel := db.conn(ctx)
	defer cancel()
	var next time.Time
	for col, value := range map[string]func(*requestRow) *time.Time{
		"decide_by":        func(r *requestRow) *time.Time { return r.DecideBy },
		"next_reminder_at": func(r *requestRow) *time.Time { return r.NextReminderAt },
	} {
		t, ok, err := earliest(conn, col, value, pendingOnly)
		if err != nil {
			return time.Time{}, false, fmt.Errorf("find next pending deadline: %w", err)
		}
		if ok && (next.IsZero() || t.Before(next)) {
			next = t
		}
	}
	return next, !next.IsZero(), nil
}

// RecordReminder records reminder n of request id as sent, if the request
// is pending with n-1 reminders sent: the count becomes n and the next
// reminder next (zero: none), and ev is appended (its At is required), in
// one transaction. Otherwise an error wrapping access.ErrNotPending
// (access.ErrNotFound) and no change: of replicas racing for one reminder,
// one wins.
func (db *DB) RecordReminder(ctx context.Context, id string, n int, next time.Time, ev access.AuditEvent) error {
	if ev.At.IsZero() {
		return fmt.Errorf("record reminder of %s: event has no time", id)
	}
	if ev.RequestID == "" {
		ev.RequestID = id
	}
	err := db.tx(ctx, func(tx *gorm.DB) error {
		res := tx.Model(&requestRow{}).
			Where("id = ? AND state = ? AND reminders = ?", id, string(access.RequestPending), n-1).
			Updates(map[string]any{"reminders": n, "next_reminder_at": optionalTime(next)})
		if res.Error != nil {
			return res.Error
		}
		if res.RowsAffected == 0 {
			return missingOr(tx, &requestRow{}, id, access.ErrNotPending)
		}
		return appendAudit(tx, ev)
	})
	if err != nil {
		return fmt.Errorf("record reminder %d of %s: %w", n, id, err)
	}
	return nil
}

// UndatedPending returns up to limit pending requests without a deadline
// (stored before deadlines existed), oldest first, with their decisions.
func (db *DB) UndatedPending(ctx context.Context, limit int) ([]access.Request, error) {
	conn, cancel := db.conn(ctx)
	defer cancel()
	reqs, err := requestsWhere(conn, limit, "state = ? AND decide_by IS NULL", string(access.RequestPending))
	if err != nil {
		return nil, fmt.Errorf("find pending requests without a deadline: %w", err)
	}
	return reqs, nil
}

// SetDeadline gives pending request id, if it has no deadline yet, the
// deadline decideBy and the first reminder next (zero: none), and appends
// ev in the same transaction. Otherwise an error wrapping
// access.ErrNotPending (access.ErrNotFound) and no change.
func (db *DB) SetDeadline(ctx context.Context, id string, decideBy, next time.Time, ev access.AuditEvent) error {
	if decideBy.IsZero() {
		return fmt.Errorf("set deadline of %s: no deadline", id)
	}
	if ev.At.IsZero() {
		return fmt.Errorf("set deadline of %s: event has no time", id)
	}
	if ev.RequestID == "" {
		ev.RequestID = id
	}
	err := db.tx(ctx, func(tx *gorm.DB) error {
		res := tx.Model(&requestRow{}).
			Where("id = ? AND state = ? AND decide_by IS NULL", id, string(access.RequestPending)).
			Updates(map[string]any{"decide_by": dbTime(decideBy), "next_reminder_at": optionalTime(next)})
		if res.Error != nil {
			return res.Error
		}
		if res.RowsAffected == 0 {
			return missingOr(tx, &requestRow{}, id, access.ErrNotPending)
		}
		return appendAudit(tx, ev)
	})
	if err != nil {
		return fmt.Errorf("set deadline of %s: %w", id, err)
	}
	return nil
}
