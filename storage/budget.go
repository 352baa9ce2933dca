package storage

import (
	"context"
	"errors"
	"fmt"
	"math"
	"time"

	"gorm.io/gorm"
	"gorm.io/gorm/clause"

	"github.com/jitbot/jitbot/access"
)

var _ access.BudgetStore = (*DB)(nil)

// bucket runs fn on token bucket name, locked (created as fresh when
// missing), and stores what fn leaves in it.
func (db *DB) bucket(ctx context.Context, name string, fresh budgetRow, fn func(b *budgetRow)) error {
	if name == "" {
		return errors.New("bucket has no name")
	}
	return db.tx(ctx, func(tx *gorm.DB) error {
		err := tx.Clauses(clause.OnConflict{DoNothing: true}).
			Create(&fresh).Error
		if err != nil {
			return fmt.Errorf("create bucket: %w", err)
		}
		var b budgetRow
		if err := db.forUpdate(tx.Where("name = ?", name), "").Take(&b).Error; err != nil {
			return fmt.Errorf("read bucket: %w", err)
		}
		fn(&b)
		err = tx.Model(&budgetRow{}).Where("name = ?", name).Updates(map[string]any{
			"tokens": b.Tokens, "refilled_at": b.RefilledAt, "paused_until": b.PausedUntil,
		}).Error
		if err != nil {
			return fmt.Errorf("update bucket: %w", err)
		}
		return nil
	})
}

// TakeTokens refills bucket name at perSecond up to capacity as of now,
// then takes up to n tokens, as many as leave at least floor, none while
// it is paused; see access.BudgetStore. A replica whose clock is behind the
// last refill refills nothing.
func (db *DB) TakeTokens(ctx context.Context, name string, now time.Time, capacity, perSecond float64, n int, floor float64) (int, time.Duration, error) {
	if capacity <= 0 || perSecond <= 0 || n < 1 {
		return 0, 0, fmt.Errorf("take tokens from %s: capacity, rate and count must be positive", name)
	}
	var taken int
	var wait time.Duration
	at := now.UnixNano()
	err := db.bucket(ctx, name, budgetRow{Name: name, Tokens: capacity, RefilledAt: at}, func(b *budgetRow) {
		if at > b.RefilledAt {
			b.Tokens = math.Min(capacity, b.Tokens+perSecond*float64(at-b.RefilledAt)/float64(time.Second))
			b.RefilledAt = at
		}
		if at < b.PausedUntil {
			wait = time.Duration(b.PausedUntil - at)
			return
		}
		taken = int(math.Max(0, math.Min(float64(n), math.Floor(b.Tokens-floor))))
		b.Tokens -= float64(taken)
		if taken == 0 {
			wait = time.Duration((floor + 1 - b.Tokens) / perSecond * float64(time.Second))
		}
	})
	if err != nil {
		return 0, 0, fmt.Errorf("take tokens from %s: %w", name, err)
	}
	return taken, wait, nil
}

// ReturnTokens gives n unused tokens back to bucket name, up to capacity.
func (db *DB) ReturnTokens(ctx context.Context, name string, n int, capacity float64) error {
	if n <= 0 {
		return nil
	}
	// A missing bucket is created empty and long unrefilled: it is full at
	// its next take.
	err := db.bucket(ctx, name, budgetRow{Name: name}, func(b *budgetRow) {
		b.Tokens = math.Min(capacity, b.Tokens+float64(n))
	})
	if err != nil {
		return fmt.Errorf("return tokens to %s: %w", name, err)
	}
	return nil
}

// PauseTokens lets no token of bucket name be taken before until.
func (db *DB) PauseTokens(ctx context.Context, name string, until time.Time) error {
	err := db.bucket(ctx, name, budgetRow{Name: name}, func(b *budgetRow) {
		b.PausedUntil = max(b.PausedUntil, until.UnixNano())
	})
	if err != nil {
		return fmt.Errorf("pause %s: %w", name, err)
	}
	return nil
}
