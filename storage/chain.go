package storage

import (
	"context"
	"errors"
	"fmt"
	"math"
	"strings"
	"time"

	"gorm.io/gorm"
	"gorm.io/gorm/clause"

	"github.com/jitbot/jitbot/access"
	"github.com/jitbot/jitbot/audit"
)

// chainHeadID is the id of the chain head's one row.
const chainHeadID = 1

// auditPage is how many events EachAudit reads at a time.
const auditPage = 1000

// lockHead reads the chain head row, locked FOR UPDATE on PostgreSQL until
// the transaction ends (SQLite's write transactions serialise already).
func lockHead(tx *gorm.DB) (chainHeadRow, error) {
	q := tx.Where("id = ?", chainHeadID)
	if tx.Dialector.Name() == DriverPostgres {
		q = q.Clauses(clause.Locking{Strength: clause.LockingStrengthUpdate})
	}
	var head chainHeadRow
	if err := q.Take(&head).Error; err != nil {
		return head, fmt.Errorf("lock audit chain head: %w", err)
	}
	return head, nil
}

// eventWithDefaults returns ev with the request and the time of the change
// it records where ev leaves them out.
func eventWithDefaults(ev access.AuditEvent, requestID string, at time.Time) access.AuditEvent {
	if ev.At.IsZero() {
		ev.At = at
	}
	if ev.RequestID == "" {
		ev.RequestID = requestID
	}
	return ev
}

// auditInsertChunk bounds the events one INSERT stores, well within the
// bound parameters SQLite and PostgreSQL take in one statement.
const auditInsertChunk = 100

// appendAudit links ev to the chain and inserts it, which must have an
// action and a time (appendEvents of one event).
func appendAudit(tx *gorm.DB, ev access.AuditEvent) error {
	return appendEvents(tx, []access.AuditEvent{ev})
}

// appendEvents links evs to the chain, in order, and inserts them, each
// of which must have an action and a time: the head is advanced once, to
// the last of them, and they are inserted together, each linked exactly as
// if appended one after the other. It locks the chain head row until tx
// ends, so it must be the transaction's last write (it then never waits
// for a lock while holding the head, and appends from every replica form
// one chain); when the transaction rolls back the head does too, leaving
// no gap. In a transaction of db.tx it starts from the head it knows
// (headCache, txHead) and reads the head row only when that is not the
// head stored.
func appendEvents(tx *gorm.DB, evs []access.AuditEvent) error {
	if len(evs) == 0 {
		return nil
	}
	for _, ev := range evs {
		if ev.Action == "" {
			return errors.New("audit event has no action")
		}
		if ev.At.IsZero() {
			return fmt.Errorf("audit event %s has no time", ev.Action)
		}
	}
	th := headOf(tx)
	linked, moved, err := advanceFromKnown(tx, th, evs)
	if err != nil {
		return err
	}
	if !moved {
		head, err := lockHead(tx)
		if err != nil {
			return err
		}
		linked = linkAll(access.ChainHead{Seq: head.Seq, Hash: head.Hash}, evs)
		if err := advanceHead(tx, head, linked[len(linked)-1]); err != nil {
			return err
		}
	}
	rows := make([]auditRow, len(linked))
	for i := range linked {
		rows[i] = toAuditRow(&linked[i])
	}
	for start := 0; start < len(rows); start += auditInsertChunk {
		chunk := rows[start:min(start+auditInsertChunk, len(rows))]
		if err := tx.Create(&chunk).Error; err != nil {
			return fmt.Errorf("store audit event %s: %w", linked[start].Action, err)
		}
	}
	last := linked[len(linked)-1]
	if th != nil {
		th.head = chainHeadRow{ID: chainHeadID, Seq: last.Seq, Hash: last.Hash}
		th.taken, th.known, th.appended = true, true, true
	}
	for _, ev := range linked {
		collect(tx, ev)
	}
	return nil
}

// linkAll links evs to the chain from head, one after the other.
func linkAll(head access.ChainHead, evs []access.AuditEvent) []access.AuditEvent {
	out := make([]access.AuditEvent, len(evs))
	for i, ev := range evs {
		out[i] = audit.Link(head, ev)
		head = audit.Head(out[i])
	}
	return out
}

// advanceFromKnown links evs to the head th holds (the head this
// transaction left, or the one this process last committed) and advances
// the head row to the last of them, if the row still is that head: moved
// is false, and nothing changed, when th knows no head or the row has
// moved on (another process or replica appended). The conditional update
// locks the row on PostgreSQL, as lockHead does.
func advanceFromKnown(tx *gorm.DB, th *txHead, evs []access.AuditEvent) ([]access.AuditEvent, bool, error) {
	if th == nil {
		return nil, false, nil
	}
	head, ok := th.start()
	if !ok {
		return nil, false, nil
	}
	linked := linkAll(access.ChainHead{Seq: head.Seq, Hash: head.Hash}, evs)
	last := linked[len(linked)-1]
	res := tx.Model(&chainHeadRow{}).Where("id = ? AND seq = ? AND hash = ?", chainHeadID, head.Seq, head.Hash).
		Updates(map[string]any{"seq": last.Seq, "hash": last.Hash})
	if res.Error != nil {
		return nil, false, fmt.Errorf("advance audit chain head: %w", res.Error)
	}
	if res.RowsAffected != 1 {
		th.known = false
		return nil, false, nil
	}
	return linked, true, nil
}

// advanceHead moves the head row, read and locked as head, to ev.
func advanceHead(tx *gorm.DB, head chainHeadRow, ev access.AuditEvent) error {
	res := tx.Model(&chainHeadRow{}).Where("id = ? AND seq = ?", chainHeadID, head.Seq).
		Updates(map[string]any{"seq": ev.Seq, "hash": ev.Hash})
	if res.Error != nil {
		return fmt.Errorf("advance audit chain head: %w", res.Error)
	}
	if res.RowsAffected != 1 {
		return errors.New("advance audit chain head: the head moved during the append")
	}
	return nil
}

// migrateChain creates the chain head row and, when the database holds
// events from before the chain, seals them with a genesis event. It runs
// inside migrate's transaction; the head row lock makes sealing happen
// once, however many replicas open the database at the same time.
func migrateChain(gdb *gorm.DB) error {
	if err := gdb.Clauses(clause.OnConflict{DoNothing: true}).Create(&chainHeadRow{ID: chainHeadID}).Error; err != nil {
		return fmt.Errorf("create audit chain head: %w", err)
	}
	return gdb.Transaction(func(tx *gorm.DB) error {
		head, err := lockHead(tx)
		if err != nil {
			return err
		}
		if head.Seq != 0 {
			return nil
		}
		var d audit.LegacyDigest
		var last int64
		for {
			var rows []auditRow
			if err := tx.Where("seq = 0 AND id > ?", last).Order("id").Limit(auditPage).Find(&rows).Error; err != nil {
				return fmt.Errorf("read events from before the audit chain: %w", err)
			}
			for i := range rows {
				d.Add(fromAuditRow(&rows[i]))
			}
			if len(rows) < auditPage {
				break
			}
			last = rows[len(rows)-1].ID
		}
		if d.Count() == 0 {
			return nil
		}
		if err := appendAudit(tx, d.Genesis()); err != nil {
			return fmt.Errorf("seal %d events from before the audit chain: %w", d.Count(), err)
		}
		return nil
	})
}

// EachAudit calls fn with every event matching q in chain order: the events
// from before the chain (Seq 0) in id order, then ascending Seq. It reads
// auditPage events at a time and stops at fn's first error, returning it.
func (db *DB) EachAudit(ctx context.Context, q access.AuditQuery, fn func(access.AuditEvent) error) error {
	// The page after (lastSeq, lastID): by id among the events of Seq 0,
	// then by Seq (and id, should a database administrator have added a
	// second event of one Seq, which verification reports).
	var lastID int64
	lastSeq := max(q.AfterSeq, 0)
	if lastSeq > 0 {
		lastID = math.MaxInt64
	}
	sent := 0
	for {
		page := auditPage
		if q.Limit > 0 {
			page = min(page, q.Limit-sent)
			if page <= 0 {
				return nil
			}
		}
		// Each page is bounded like any other statement; the stream as a
		// whole runs as long as its reader takes.
		conn, cancel := db.conn(ctx)
		s := conn.Model(&auditRow{}).
			Where("(seq, id) > (?, ?)", lastSeq, lastID).Order("seq, id")
		if !q.Since.IsZero() {
			s = s.Where("at >= ?", dbTime(q.Since))
		}
		if !q.Until.IsZero() {
			s = s.Where("at < ?", dbTime(q.Until))
		}
		if q.Profile != "" {
			s = s.Where("profile = ?", q.Profile)
		}
		if q.UserID != "" {
			// Object ids compare without regard to case (access.MatchAudit).
			u := strings.ToLower(q.UserID)
			s = s.Where("(LOWER(actor_id) = ? OR LOWER(target_user_id) = ?)", u, u)
		}
		var rows []auditRow
		err := s.Limit(page).Find(&rows).Error
		cancel()
		if err != nil {
			return fmt.Errorf("read audit log: %w", err)
		}
		for i := range rows {
			if err := fn(fromAuditRow(&rows[i])); err != nil {
				return err
			}
		}
		sent += len(rows)
		if len(rows) < page {
			return nil
		}
		lastSeq, lastID = rows[len(rows)-1].Seq, rows[len(rows)-1].ID
	}
}

// ChainHead returns the chain's head as stored.
func (db *DB) ChainHead(ctx context.Context) (access.ChainHead, error) {
	conn, cancel := db.conn(ctx)
	defer cancel()
	var head chainHeadRow
	if err := conn.Where("id = ?", chainHeadID).Take(&head).Error; err != nil {
		return access.ChainHead{}, fmt.Errorf("read audit chain head: %w", err)
	}
	return access.ChainHead{Seq: head.Seq, Hash: head.Hash}, nil
}

// AppendCheckpoint stores c; a second checkpoint of the same Seq is
// refused with an error wrapping access.ErrDuplicate.
func (db *DB) AppendCheckpoint(ctx context.Context, c access.Checkpoint) error {
	if c.Seq <= 0 || c.Hash == "" || c.At.IsZero() || c.Signature == "" {
		return fmt.Errorf("store audit checkpoint at seq %d: seq, hash, time and signature are required", c.Seq)
	}
	conn, cancel := db.conn(ctx)
	defer cancel()
	err := conn.Create(&checkpointRow{Seq: c.Seq, Hash: c.Hash, At: dbTime(c.At), KeyID: c.KeyID, Signature: c.Signature}).Error
	if errors.Is(err, gorm.ErrDuplicatedKey) {
		return fmt.Errorf("store audit checkpoint at seq %d: %w", c.Seq, access.ErrDuplicate)
	}
	if err != nil {
		return fmt.Errorf("store audit checkpoint at seq %d: %w", c.Seq, err)
	}
	return nil
}

// EachCheckpoint calls fn with every checkpoint, ascending Seq, a page at a
// time.
func (db *DB) EachCheckpoint(ctx context.Context, fn func(access.Checkpoint) error) error {
	var last int64 = -1
	for {
		var rows []checkpointRow
		conn, cancel := db.conn(ctx)
		err := conn.Where("seq > ?", last).Order("seq").Limit(auditPage).Find(&rows).Error
		cancel()
		if err != nil {
			return fmt.Errorf("read audit checkpoints: %w", err)
		}
		for _, r := range rows {
			if err := fn(access.Checkpoint{Seq: r.Seq, Hash: r.Hash, At: r.At.UTC(), KeyID: r.KeyID, Signature: r.Signature}); err != nil {
				return err
			}
		}
		if len(rows) < auditPage {
			return nil
		}
		last = rows[len(rows)-1].Seq
	}
}

// PruneAudit removes the events up to c.Seq and the checkpoints before it,
// in one transaction; c must be stored exactly as given.
func (db *DB) PruneAudit(ctx context.Context, c access.Checkpoint) (int64, error) {
	var removed int64
	err := db.tx(ctx, func(tx *gorm.DB) error {
		var row checkpointRow
		if err := tx.Where("seq = ?", c.Seq).Take(&row).Error; err != nil {
			return fmt.Errorf("find checkpoint: %w", err)
		}
		if row.Hash != c.Hash || row.Signature != c.Signature {
			return errors.New("the stored checkpoint differs from the one given")
		}
		res := tx.Where("seq <= ?", c.Seq).Delete(&auditRow{})
		if res.Error != nil {
			return fmt.Errorf("delete events: %w", res.Error)
		}
		removed = res.RowsAffected
		if err := tx.Where("seq < ?", c.Seq).Delete(&checkpointRow{}).Error; err != nil {
			return fmt.Errorf("delete older checkpoints: %w", err)
		}
		return nil
	})
	if err != nil {
		return 0, fmt.Errorf("prune audit log to checkpoint %d: %w", c.Seq, err)
	}
	return removed, nil
}
