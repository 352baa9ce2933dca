package storage

import (
	"context"
	"fmt"
	"time"

	"gorm.io/gorm"

	"github.com/jitbot/jitbot/access"
)

// DueStarts returns up to limit scheduled requests whose start is at or
// before now, oldest first, with their decisions.
func (db *DB) DueStarts(ctx context.Context, now time.Time, limit int) ([]access.Request, error) {
	conn, cancel := db.conn(ctx)
	defer cancel()
	reqs, err := requestsWhere(conn, limit, "state = ? AND starts_at <= ?", string(access.RequestScheduled), dbTime(now))
	if err != nil {
		return nil, fmt.Errorf("find due starts: %w", err)
	}
	return reqs, nil
}

// NextStart returns the earliest start of a scheduled request; ok is false
// when there is none.
func (db *DB) NextStart(ctx context.Context) (time.Time, bool, error) {
	conn, cancel := db.conn(ctx)
	defer cancel()
	t, ok, err := earliest(conn, "starts_at", func(r *requestRow) *time.Time { return r.StartsAt }, "state = ?", string(access.RequestScheduled))
	if err != nil {
		return time.Time{}, false, fmt.Errorf("find next start: %w", err)
	}
	return t, ok, nil
}

// CloseScheduled moves scheduled request id to to (cancelled, denied or
// timed_out), stores d when given and appends ev, in one transaction, if
// the request is still scheduled; otherwise access.ErrNotPending
// (access.ErrNotFound) and no change.
func (db *DB) CloseScheduled(ctx context.Context, id string, to access.RequestState, d *access.Decision, at time.Time, ev access.AuditEvent) (*access.Request, error) {
	switch {
	case to != access.RequestCancelled && to != access.RequestDenied && to != access.RequestTimedOut:
		return nil, fmt.Errorf("close scheduled request %s: %s is not a closing state", id, to)
	case at.IsZero():
		return nil, fmt.Errorf("close scheduled request %s: no time", id)
	}
	at = dbTime(at)
	ev = eventWithDefaults(ev, id, at)
	var out *access.Request
	err := db.tx(ctx, func(tx *gorm.DB) error {
		res := tx.Model(&requestRow{}).Where("id = ? AND state = ?", id, string(access.RequestScheduled)).
			Updates(map[string]any{"state": string(to), "updated_at": at})
		if res.Error != nil {
			return res.Error
		}
		if res.RowsAffected == 0 {
			return missingOr(tx, &requestRow{}, id, access.ErrNotPending)
		}
		if d != nil {
			if err := storeDecision(tx, id, *d); err != nil {
				return err
			}
		}
		var err error
		out, err = readAudited(tx, id, ev)
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("close scheduled request %s as %s: %w", id, to, err)
	}
	return out, nil
}

// Start moves scheduled request requestID of this membership to state to,
// if it is still scheduled; otherwise access.ErrNotPending (or
// access.ErrNotFound).
func (m *membershipTx) Start(requestID string, to access.RequestState, at time.Time) error {
	if at.IsZero() {
		return fmt.Errorf("start request %s: time is zero", requestID)
	}
	res := m.tx.Model(&requestRow{}).
		Where("id = ? AND state = ? AND group_id = ? AND requester_id = ?", requestID, string(access.RequestScheduled), m.groupID, m.userID).
		Updates(map[string]any{"state": string(to), "updated_at": dbTime(at)})
	if res.Error != nil {
		return fmt.Errorf("start request %s: %w", requestID, res.Error)
	}
	if res.RowsAffected == 0 {
		return missingOr(m.tx, &requestRow{}, requestID, access.ErrNotPending)
	}
	// The row changed: Request reads it again.
	delete(m.requests, requestID)
	return nil
}
