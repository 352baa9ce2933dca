package storage

import (
	"time"

	"gorm.io/gorm"

	"github.com/jitbot/jitbot/access"
)

// The queries behind the scheduler's look at what is due: the pending
// requests or grants whose time has come, and the earliest time anything
// will be. Each caller names its rows; these read them.

// requestsWhere returns up to limit requests matching where (all when
// limit is not positive), oldest first, with their decisions, grants and
// feedback.
func requestsWhere(conn *gorm.DB, limit int, where string, args ...any) ([]access.Request, error) {
	var rows []requestRow
	q := conn.Where(where, args...).Order("created_at, id")
	if limit > 0 {
		q = q.Limit(limit)
	}
	if err := q.Find(&rows).Error; err != nil {
		return nil, err
	}
	return loadRequests(conn, rows)
}

// grantsWhere returns up to limit grants matching where (all when limit is
// not positive), ordered by order.
func grantsWhere(conn *gorm.DB, order string, limit int, where string, args ...any) ([]access.Grant, error) {
	var rows []grantRow
	q := conn.Where(where, args...).Order(order)
	if limit > 0 {
		q = q.Limit(limit)
	}
	if err := q.Find(&rows).Error; err != nil {
		return nil, err
	}
	return fromGrantRows(rows)
}

// earliest returns the earliest value of the time column col over the rows
// of R matching where, read through value; ok is false when no row has one.
func earliest[R any](conn *gorm.DB, col string, value func(*R) *time.Time, where string, args ...any) (time.Time, bool, error) {
	var rows []R
	err := conn.Select(col).Where(where+" AND "+col+" IS NOT NULL", args...).Order(col).Limit(1).Find(&rows).Error
	if err != nil {
		return time.Time{}, false, err
	}
	if len(rows) == 0 {
		return time.Time{}, false, nil
	}
	t := value(&rows[0])
	if t == nil {
		return time.Time{}, false, nil
	}
	return t.UTC(), true, nil
}
