package storage

import (
	"context"
	"errors"
	"fmt"
	"time"

	"gorm.io/gorm"
	"gorm.io/gorm/clause"

	"github.com/jitbot/jitbot/access"
)

var _ access.BudgetStore = (*DB)(nil)

// WithBucket runs fn on token bucket name, its row locked (created as the
// zero bucket when missing), and stores what fn leaves in it, in one
// transaction; see access.BudgetStore. The arithmetic is fn's.
func (db *DB) WithBucket(ctx context.Context, name string, fn func(b *access.Bucket) error) error {
	if name == "" {
		return errors.New("bucket has no name")
	}
	err := db.tx(ctx, func(tx *gorm.DB) error {
		err := tx.Clauses(clause.OnConflict{DoNothing: true}).Create(&budgetRow{Name: name}).Error
		if err != nil {
			return fmt.Errorf("create bucket: %w", err)
		}
		var row budgetRow
		if err := db.forUpdate(tx.Where("name = ?", name), "").Take(&row).Error; err != nil {
			return fmt.Errorf("read bucket: %w", err)
		}
		b := access.Bucket{
			Tokens: row.Tokens, RefilledAt: fromNanos(row.RefilledAt), PausedUntil: fromNanos(row.PausedUntil),
			Leased: row.Leased, LeasedUntil: fromNanos(row.LeasedUntil), RemovalsUntil: fromNanos(row.RemovalsUntil),
		}
		if err := fn(&b); err != nil {
			return err
		}
		err = tx.Model(&budgetRow{}).Where("name = ?", name).Updates(map[string]any{
			"tokens": b.Tokens, "refilled_at": toNanos(b.RefilledAt), "paused_until": toNanos(b.PausedUntil),
			"leased": b.Leased, "leased_until": toNanos(b.LeasedUntil), "removals_until": toNanos(b.RemovalsUntil),
		}).Error
		if err != nil {
			return fmt.Errorf("update bucket: %w", err)
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("bucket %s: %w", name, err)
	}
	return nil
}

// toNanos stores t as Unix nanoseconds, the zero time as 0.
func toNanos(t time.Time) int64 {
	if t.IsZero() {
		return 0
	}
	return t.UnixNano()
}

// fromNanos reads what toNanos stored.
func fromNanos(n int64) time.Time {
	if n == 0 {
		return time.Time{}
	}
	return time.Unix(0, n).UTC()
}
