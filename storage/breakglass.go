package storage

import (
	"context"
	"fmt"
	"time"

	"gorm.io/gorm"

	"github.com/jitbot/jitbot/access"
)

// reviewableWhere selects the active break-glass grants not ended early and
// not reviewed, not due at a time (the argument), whose next review step is
// set. They are found through idx_grants_review; due_at is compared as
// COALESCE(due_at, due_at) (never NULL: the same value) so that SQLite's
// planner does not take idx_grants_state_due for it instead and read every
// active grant.
const reviewableWhere = "break_glass = ? AND state = ? AND early_kind = '' AND reviewed_at IS NULL AND review_due_at IS NOT NULL AND COALESCE(due_at, due_at) > ?"

// DueReviews returns up to limit break-glass grants whose next review step
// is due at now (see reviewableWhere, and review_due_at <= now), earliest
// first.
func (db *DB) DueReviews(ctx context.Context, now time.Time, limit int) ([]access.Grant, error) {
	conn, cancel := db.conn(ctx)
	defer cancel()
	now = dbTime(now)
	gs, err := grantsWhere(conn, "review_due_at, id", limit, reviewableWhere+" AND review_due_at <= ?", true, string(access.GrantActive), now, now)
	if err != nil {
		return nil, fmt.Errorf("find due break-glass reviews: %w", err)
	}
	return gs, nil
}

// NextReview returns the earliest review_due_at of an active, unreviewed
// break-glass grant; ok is false when there is none.
func (db *DB) NextReview(ctx context.Context) (time.Time, bool, error) {
	conn, cancel := db.conn(ctx)
	defer cancel()
	// Not due at the zero time: every active grant's due_at is after it.
	t, ok, err := earliest(conn, "review_due_at", func(r *grantRow) *time.Time { return r.ReviewDueAt },
		reviewableWhere, true, string(access.GrantActive), dbTime(time.Time{}))
	if err != nil {
		return time.Time{}, false, fmt.Errorf("find next break-glass review step: %w", err)
	}
	return t, ok, nil
}

// RecordReviewReminder records review reminder n of grant grantID as sent
// and appends ev (its At is required), in one transaction, if the grant is
// an active, unreviewed break-glass grant not ended early that has sent
// n-1 reminders; otherwise an error wrapping access.ErrStaleGrant
// (access.ErrNotFound) and no change.
func (db *DB) RecordReviewReminder(ctx context.Context, grantID string, n int, next time.Time, ev access.AuditEvent) error {
	if ev.At.IsZero() {
		return fmt.Errorf("record review reminder of grant %s: event has no time", grantID)
	}
	err := db.tx(ctx, func(tx *gorm.DB) error {
		res := tx.Model(&grantRow{}).
			Where("id = ? AND break_glass = ? AND state = ? AND early_kind = '' AND reviewed_at IS NULL AND review_reminders = ?",
				grantID, true, string(access.GrantActive), n-1).
			Updates(map[string]any{"review_reminders": int64(n), "review_due_at": optionalTime(next)})
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
		return fmt.Errorf("record review reminder %d of grant %s: %w", n, grantID, err)
	}
	return nil
}

// RecordReview stores the review of break-glass grant grantID, once, and
// appends ev, in one transaction: a grant reviewed already gives an error
// wrapping access.ErrReviewed; one that is no break-glass grant
// access.ErrNotFound.
func (db *DB) RecordReview(ctx context.Context, grantID string, r access.Review, ev access.AuditEvent) error {
	if r.At.IsZero() || ev.At.IsZero() {
		return fmt.Errorf("record review of grant %s: review or event has no time", grantID)
	}
	err := db.tx(ctx, func(tx *gorm.DB) error {
		res := tx.Model(&grantRow{}).
			Where("id = ? AND break_glass = ? AND reviewed_at IS NULL", grantID, true).
			Updates(map[string]any{
				"reviewed_by_id": r.By.ObjectID, "reviewed_by_name": r.By.Name, "review_note": r.Note,
				"reviewed_at": dbTime(r.At), "review_due_at": nil,
			})
		if res.Error != nil {
			return res.Error
		}
		if res.RowsAffected == 0 {
			var n int64
			if err := tx.Model(&grantRow{}).Where("id = ? AND break_glass = ?", grantID, true).Count(&n).Error; err != nil {
				return err
			}
			if n == 0 {
				return access.ErrNotFound
			}
			return access.ErrReviewed
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
		return fmt.Errorf("record review of grant %s: %w", grantID, err)
	}
	return nil
}

// SetReviewCard records where the review card of grant grantID was posted.
func (db *DB) SetReviewCard(ctx context.Context, grantID string, chat access.ConversationRef, activityID string) error {
	ref, err := marshalRef(chat)
	if err != nil {
		return fmt.Errorf("set review card of grant %s: %w", grantID, err)
	}
	conn, cancel := db.conn(ctx)
	defer cancel()
	res := conn.Model(&grantRow{}).Where("id = ?", grantID).Updates(map[string]any{
		"review_chat": ref, "review_activity_id": activityID,
	})
	if res.Error != nil {
		return fmt.Errorf("set review card of grant %s: %w", grantID, res.Error)
	}
	if res.RowsAffected == 0 {
		return fmt.Errorf("set review card of grant %s: %w", grantID, access.ErrNotFound)
	}
	return nil
}
