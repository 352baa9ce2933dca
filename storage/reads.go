package storage

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"gorm.io/gorm"

	"github.com/jitbot/jitbot/access"
)

// readPage is how many rows a streaming read loads at once.
const readPage = 500

// EachRequest calls fn for every request matching q, oldest first (by
// created_at, then id), with its decisions and grant. It reads readPage
// requests at a time, each page in its own statement resumed after the
// last row seen, so memory stays flat and no transaction stays open while
// fn runs. It stops at fn's first error and returns it.
func (db *DB) EachRequest(ctx context.Context, q access.RequestQuery, fn func(access.Request) error) error {
	var afterAt time.Time
	afterID := ""
	for first := true; ; first = false {
		reqs, err := db.requestPage(ctx, q, first, afterAt, afterID)
		if err != nil {
			return fmt.Errorf("read requests: %w", err)
		}
		for i := range reqs {
			if err := fn(reqs[i]); err != nil {
				return err
			}
		}
		if len(reqs) < readPage {
			return nil
		}
		last := reqs[len(reqs)-1]
		afterAt, afterID = last.CreatedAt, last.ID
	}
}

// requestPage loads one page of EachRequest, after (afterAt, afterID)
// unless first.
func (db *DB) requestPage(ctx context.Context, q access.RequestQuery, first bool, afterAt time.Time, afterID string) ([]access.Request, error) {
	conn, cancel := db.conn(ctx)
	defer cancel()
	tx := conn.Model(&requestRow{})
	if !q.Since.IsZero() {
		tx = tx.Where("created_at >= ?", dbTime(q.Since))
	}
	if !q.Until.IsZero() {
		tx = tx.Where("created_at < ?", dbTime(q.Until))
	}
	if q.Profile != "" {
		tx = tx.Where("profile = ?", q.Profile)
	}
	if q.UserID != "" {
		u := strings.ToLower(q.UserID)
		tx = tx.Where("(LOWER(requester_id) = ? OR id IN (?))", u,
			conn.Model(&decisionRow{}).Select("request_id").Where("LOWER(approver_id) = ?", u))
	}
	if !first {
		tx = tx.Where("(created_at > ? OR (created_at = ? AND id > ?))", dbTime(afterAt), dbTime(afterAt), afterID)
	}
	var rows []requestRow
	if err := tx.Order("created_at, id").Limit(readPage).Find(&rows).Error; err != nil {
		return nil, err
	}
	return loadRequests(conn, rows)
}

// DownloadUsed reports whether download link linkID was recorded as used.
func (db *DB) DownloadUsed(ctx context.Context, linkID string) (bool, error) {
	conn, cancel := db.conn(ctx)
	defer cancel()
	var n int64
	if err := conn.Model(&downloadRow{}).Where("link_id = ?", linkID).Count(&n).Error; err != nil {
		return false, fmt.Errorf("look up download %s: %w", linkID, err)
	}
	return n > 0, nil
}

// RedeemDownload records the use of download link linkID by userID at
// ev.At and appends ev, in one transaction; a link used before (by any
// replica) changes nothing and gives an error wrapping access.ErrLinkUsed.
func (db *DB) RedeemDownload(ctx context.Context, linkID, userID string, ev access.AuditEvent) error {
	if linkID == "" || userID == "" {
		return errors.New("redeem download: link id and user are required")
	}
	if ev.At.IsZero() {
		return fmt.Errorf("redeem download %s: event has no time", linkID)
	}
	ev.At = dbTime(ev.At)
	err := db.tx(ctx, func(tx *gorm.DB) error {
		if err := tx.Create(&downloadRow{LinkID: linkID, UserID: userID, UsedAt: ev.At}).Error; err != nil {
			if errors.Is(err, gorm.ErrDuplicatedKey) {
				return access.ErrLinkUsed
			}
			return err
		}
		return appendAudit(tx, ev)
	})
	if err != nil {
		return fmt.Errorf("redeem download %s: %w", linkID, err)
	}
	return nil
}
