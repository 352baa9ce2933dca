package storage

import (
	"context"
	"fmt"
	"time"

	"gorm.io/gorm"

	"github.com/jitbot/jitbot/access"
)

// DueEscalations returns up to limit pending requests whose escalate_at is
// at or before now, oldest first, with their decisions.
func (db *DB) DueEscalations(ctx context.Context, now time.Time, limit int) ([]access.Request, error) {
	conn, cancel := db.conn(ctx)
	defer cancel()
	reqs, err := requestsWhere(conn, limit, "state = ? AND escalate_at IS NOT NULL AND escalate_at <= ?", string(access.RequestPending), dbTime(now))
	if err != nil {
		return nil, fmt.Errorf("find due escalations: %w", err)
	}
	return reqs, nil
}

// NextEscalation returns the earliest escalate_at of a pending request; ok
// is false when there is none.
func (db *DB) NextEscalation(ctx context.Context) (time.Time, bool, error) {
	conn, cancel := db.conn(ctx)
	defer cancel()
	t, ok, err := earliest(conn, "escalate_at", func(r *requestRow) *time.Time { return r.EscalateAt },
		"state = ?", string(access.RequestPending))
	if err != nil {
		return time.Time{}, false, fmt.Errorf("find next escalation: %w", err)
	}
	return t, ok, nil
}

// RecordEscalation records the escalation of pending request id at at and
// appends ev (At defaults to at), in one transaction, if it is pending and
// still to be escalated; otherwise an error wrapping access.ErrNotPending
// (access.ErrNotFound) and no change.
func (db *DB) RecordEscalation(ctx context.Context, id string, at time.Time, ev access.AuditEvent) error {
	if at.IsZero() {
		return fmt.Errorf("record escalation of %s: no time", id)
	}
	ev = eventWithDefaults(ev, id, at)
	err := db.tx(ctx, func(tx *gorm.DB) error {
		res := tx.Model(&requestRow{}).
			Where("id = ? AND state = ? AND escalate_at IS NOT NULL", id, string(access.RequestPending)).
			Updates(map[string]any{"escalate_at": nil, "escalated_at": dbTime(at)})
		if res.Error != nil {
			return res.Error
		}
		if res.RowsAffected == 0 {
			return missingOr(tx, &requestRow{}, id, access.ErrNotPending)
		}
		return appendAudit(tx, ev)
	})
	if err != nil {
		return fmt.Errorf("record escalation of %s: %w", id, err)
	}
	return nil
}

// SetEscalationCard records where the escalation card of request id was
// posted.
func (db *DB) SetEscalationCard(ctx context.Context, id string, chat access.ConversationRef, activityID string) error {
	ref, err := marshalRef(chat)
	if err != nil {
		return fmt.Errorf("set escalation card of %s: %w", id, err)
	}
	conn, cancel := db.conn(ctx)
	defer cancel()
	res := conn.Model(&requestRow{}).Where("id = ?", id).Updates(map[string]any{
		"escalation_chat": ref, "escalation_activity_id": activityID,
	})
	if res.Error != nil {
		return fmt.Errorf("set escalation card of %s: %w", id, res.Error)
	}
	if res.RowsAffected == 0 {
		return fmt.Errorf("set escalation card of %s: %w", id, access.ErrNotFound)
	}
	return nil
}
