package storage

import (
	"context"
	"fmt"
	"time"

	"gorm.io/gorm"

	"github.com/jitbot/jitbot/access"
)

// remindableWhere selects the active grants not ended early, not ended nor
// due at a time (the argument, twice), whose expiry reminder is still to
// be sent. They are found through idx_grants_state_remind, in remind_at
// order: due_at (never NULL) is compared as COALESCE(due_at, due_at), which
// is the same value, so that SQLite's planner does not take
// idx_grants_state_due for it instead and read every active grant to sort
// them by remind_at.
const remindableWhere = "state = ? AND early_kind = '' AND remind_at IS NOT NULL AND expires_at > ? AND COALESCE(due_at, due_at) > ?"

// DueExpiryReminders returns up to limit grants whose expiry reminder is
// due at now (see remindableWhere, and remind_at <= now), earliest
// reminder first.
func (db *DB) DueExpiryReminders(ctx context.Context, now time.Time, limit int) ([]access.Grant, error) {
	conn, cancel := db.conn(ctx)
	defer cancel()
	now = dbTime(now)
	gs, err := grantsWhere(conn, "remind_at, id", limit, remindableWhere+" AND remind_at <= ?", string(access.GrantActive), now, now, now)
	if err != nil {
		return nil, fmt.Errorf("find due expiry reminders: %w", err)
	}
	return gs, nil
}

// NextExpiryReminder returns the earliest remind_at of a grant whose
// reminder is still to be sent at now; ok is false when there is none.
func (db *DB) NextExpiryReminder(ctx context.Context, now time.Time) (time.Time, bool, error) {
	conn, cancel := db.conn(ctx)
	defer cancel()
	now = dbTime(now)
	t, ok, err := earliest(conn, "remind_at", func(r *grantRow) *time.Time { return r.RemindAt },
		remindableWhere, string(access.GrantActive), now, now)
	if err != nil {
		return time.Time{}, false, fmt.Errorf("find next expiry reminder: %w", err)
	}
	return t, ok, nil
}

// RecordExpiryReminder clears the due expiry reminder of grant grantID and
// appends ev (its At is required), in one transaction, if the reminder is
// still due at now; otherwise an error wrapping access.ErrStaleGrant
// (access.ErrNotFound) and no change: of replicas racing for one
// reminder, the one whose update clears it wins.
func (db *DB) RecordExpiryReminder(ctx context.Context, grantID string, now time.Time, ev access.AuditEvent) error {
	if ev.At.IsZero() {
		return fmt.Errorf("record expiry reminder of grant %s: event has no time", grantID)
	}
	now = dbTime(now)
	err := db.tx(ctx, func(tx *gorm.DB) error {
		res := tx.Model(&grantRow{}).
			Where("id = ? AND "+remindableWhere+" AND remind_at <= ?", grantID, string(access.GrantActive), now, now, now).
			Updates(map[string]any{"remind_at": nil})
		if res.Error != nil {
			return res.Error
		}
		if res.RowsAffected == 0 {
			return missingOr(tx, &grantRow{}, grantID, access.ErrStaleGrant)
		}
		var row grantRow
		if err := tx.Where("id = ?", grantID).Take(&row).Error; err != nil {
			return fmt.Errorf("read grant %s back: %w", grantID, err)
		}
		if ev.RequestID == "" {
			ev.RequestID = row.RequestID
		}
		return appendAudit(tx, ev)
	})
	if err != nil {
		return fmt.Errorf("record expiry reminder of grant %s: %w", grantID, err)
	}
	return nil
}
