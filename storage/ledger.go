package storage

import (
	"context"
	"fmt"
	"time"

	"gorm.io/gorm"
	"gorm.io/gorm/clause"

	"github.com/jitbot/jitbot/access"
)

// PreExisting returns, sorted, the users whose membership of the group is
// known to have pre-existed a grant (and has not been removed since).
func (db *DB) PreExisting(ctx context.Context, groupID string) ([]string, error) {
	conn, cancel := db.conn(ctx)
	defer cancel()
	var users []string
	err := conn.Model(&ledgerRow{}).Where("group_id = ? AND pre_existing", groupID).
		Order("user_id").Pluck("user_id", &users).Error
	if err != nil {
		return nil, fmt.Errorf("list pre-existing members of group %s: %w", groupID, err)
	}
	return users, nil
}

// MarkDrift records an unexplained member of a group once: the first call
// for (group, user) stores it, first seen at (required), appends ev (At
// defaults to at) and reports first; later calls change nothing until
// ClearDrift forgets the member.
func (db *DB) MarkDrift(ctx context.Context, groupID, userID string, at time.Time, ev access.AuditEvent) (bool, error) {
	if at.IsZero() {
		return false, fmt.Errorf("record drift of %s in group %s: time is zero", userID, groupID)
	}
	at = dbTime(at)
	if ev.At.IsZero() {
		ev.At = at
	}
	var first bool
	err := db.tx(ctx, func(tx *gorm.DB) error {
		res := tx.Clauses(clause.OnConflict{DoNothing: true}).
			Create(&driftRow{GroupID: groupID, UserID: userID, FirstSeen: at})
		if res.Error != nil {
			return res.Error
		}
		first = res.RowsAffected > 0
		if !first {
			return nil
		}
		return appendAudit(tx, ev)
	})
	if err != nil {
		return false, fmt.Errorf("record drift of %s in group %s: %w", userID, groupID, err)
	}
	return first, nil
}

// ClearDrift forgets the recorded unexplained members of a group that are
// not in present, so that they are reported again should they come back.
func (db *DB) ClearDrift(ctx context.Context, groupID string, present []string) error {
	keep := make(map[string]bool, len(present))
	for _, u := range present {
		keep[u] = true
	}
	err := db.tx(ctx, func(tx *gorm.DB) error {
		var recorded []string
		if err := tx.Model(&driftRow{}).Where("group_id = ?", groupID).Pluck("user_id", &recorded).Error; err != nil {
			return err
		}
		var gone []string
		for _, u := range recorded {
			if !keep[u] {
				gone = append(gone, u)
			}
		}
		for start := 0; start < len(gone); start += updateChunk {
			chunk := gone[start:min(start+updateChunk, len(gone))]
			if err := tx.Where("group_id = ? AND user_id IN ?", groupID, chunk).Delete(&driftRow{}).Error; err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("clear drift of group %s: %w", groupID, err)
	}
	return nil
}
