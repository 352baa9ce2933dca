package storage

import (
	"context"
	"errors"
	"fmt"

	"github.com/google/uuid"
	"gorm.io/gorm"
	"gorm.io/gorm/clause"

	"github.com/jitbot/jitbot/access"
)

var _ access.Store = (*DB)(nil)

// openStates are the states OpenRequests lists.
var openStates = []string{string(access.RequestPending), string(access.RequestScheduled), string(access.RequestApproved), string(access.RequestActive)}

// createAttempts bounds how often CreateRequest retries after losing a race
// to a concurrent request that was decided before it could be returned.
const createAttempts = 3

// tx runs fn in one transaction, bounded by opTimeout unless ctx has a
// deadline. On SQLite, which lets one writer in at a time, the
// transactions of this process take turns on a lock of their own first:
// waiting in SQLite's busy handler instead (it polls, sleeping up to
// 100 ms between looks) lets few through when many write at once, and
// fails them after the busy timeout.
func (db *DB) tx(ctx context.Context, fn func(tx *gorm.DB) error) error {
	ctx, cancel := db.ctx(ctx)
	defer cancel()
	var stored []access.AuditEvent
	ctx = context.WithValue(ctx, storedKey{}, &stored)
	head := &txHead{}
	if db.rememberHead() {
		head.cache = &db.heads
	}
	ctx = context.WithValue(ctx, txHeadKey{}, head)
	committed := func() {
		if head.appended && head.cache != nil {
			db.heads.committed(head.head)
		}
	}
	if err := db.transaction(ctx, fn, committed); err != nil {
		return err
	}
	db.notify(stored)
	return nil
}

// transaction runs fn in one transaction, after this process's earlier
// writers on SQLite (db.writer), so that they queue here rather than in
// SQLite's busy handler. committed runs once the transaction has
// committed, before the next writer of this process starts (so that the
// chain head it remembers is the one that writer finds).
func (db *DB) transaction(ctx context.Context, fn func(tx *gorm.DB) error, committed func()) error {
	if db.writer != nil {
		select {
		case db.writer <- struct{}{}:
			defer func() { <-db.writer }()
		case <-ctx.Done():
			return fmt.Errorf("wait for the database's write lock: %w", ctx.Err())
		}
	}
	if err := db.gorm.WithContext(ctx).Transaction(fn); err != nil {
		return err
	}
	committed()
	return nil
}

// conn returns the database for statements outside a transaction, bounded
// like tx; call cancel when done.
func (db *DB) conn(ctx context.Context) (*gorm.DB, context.CancelFunc) {
	ctx, cancel := db.ctx(ctx)
	return db.gorm.WithContext(ctx), cancel
}

// CreateRequest stores req as a new pending request and appends ev. It fills
// in what req leaves empty: ID (a new UUID), CreatedAt (the event time; one
// of them is required) and UpdatedAt (CreatedAt); State is always pending. When the requester already
// has a pending request for the profile it stores nothing and returns that
// request with an error wrapping access.ErrDuplicate. ev.RequestID defaults
// to the request's ID.
func (db *DB) CreateRequest(ctx context.Context, req *access.Request, ev access.AuditEvent) (*access.Request, error) {
	r, ev, err := access.NewPendingRequest(req, ev, uuid.NewString)
	if err != nil {
		return nil, err
	}
	r.CreatedAt, r.UpdatedAt, ev.At = dbTime(r.CreatedAt), dbTime(r.UpdatedAt), dbTime(ev.At)
	row, err := toRequestRow(&r)
	if err != nil {
		return nil, fmt.Errorf("create request %s: %w", r.ID, err)
	}

	for attempt := 1; ; attempt++ {
		var existing *access.Request
		err = db.tx(ctx, func(tx *gorm.DB) error {
			ex, err := findPending(tx, r.Requester.ObjectID, r.Profile)
			if err != nil {
				return err
			}
			if ex != nil {
				existing = ex
				return access.ErrDuplicate
			}
			if err := tx.Omit(clause.Associations).Create(&row).Error; err != nil {
				return err
			}
			return appendAudit(tx, ev)
		})
		switch {
		case err == nil:
			*req = r
			return nil, nil
		case errors.Is(err, access.ErrDuplicate):
			return existing, fmt.Errorf("create request for %s on profile %s: %w", r.Requester.ObjectID, r.Profile, err)
		case errors.Is(err, gorm.ErrDuplicatedKey) && attempt < createAttempts:
			// A concurrent transaction stored a pending request after this
			// one looked: return it once committed.
			conn, cancel := db.conn(ctx)
			ex, ferr := findPending(conn, r.Requester.ObjectID, r.Profile)
			cancel()
			if ferr != nil {
				return nil, fmt.Errorf("create request for %s on profile %s: %w", r.Requester.ObjectID, r.Profile, ferr)
			}
			if ex != nil {
				return ex, fmt.Errorf("create request for %s on profile %s: %w", r.Requester.ObjectID, r.Profile, access.ErrDuplicate)
			}
			// It was decided in the meantime: try again.
		default:
			return nil, fmt.Errorf("create request %s: %w", r.ID, err)
		}
	}
}

// findPending returns the requester's pending request for the profile, with
// its decisions and grant, or nil.
func findPending(tx *gorm.DB, requesterID, profile string) (*access.Request, error) {
	var rows []requestRow
	err := tx.Where("requester_id = ? AND profile = ? AND state = ?", requesterID, profile, string(access.RequestPending)).
		Limit(1).Find(&rows).Error
	if err != nil {
		return nil, fmt.Errorf("find pending request: %w", err)
	}
	if len(rows) == 0 {
		return nil, nil
	}
	reqs, err := loadRequests(tx, rows)
	if err != nil {
		return nil, err
	}
	return &reqs[0], nil
}

// GetRequest returns a request with its decisions (oldest first) and grant,
// or an error wrapping access.ErrNotFound.
func (db *DB) GetRequest(ctx context.Context, id string) (*access.Request, error) {
	conn, cancel := db.conn(ctx)
	defer cancel()
	req, err := getRequest(conn, id)
	if err != nil {
		return nil, fmt.Errorf("get request %s: %w", id, err)
	}
	return req, nil
}

// readAudited reads request id back and appends ev: the last steps of a
// transaction that changed the request.
func readAudited(tx *gorm.DB, id string, ev access.AuditEvent) (*access.Request, error) {
	r, err := getRequest(tx, id)
	if err != nil {
		return nil, err
	}
	return r, appendAudit(tx, ev)
}

func getRequest(tx *gorm.DB, id string) (*access.Request, error) {
	var rows []requestRow
	if err := tx.Where("id = ?", id).Limit(1).Find(&rows).Error; err != nil {
		return nil, err
	}
	if len(rows) == 0 {
		return nil, access.ErrNotFound
	}
	reqs, err := loadRequests(tx, rows)
	if err != nil {
		return nil, err
	}
	return &reqs[0], nil
}

// loadRequests converts rows to requests and attaches their decisions and
// grants, keeping the order of rows.
func loadRequests(tx *gorm.DB, rows []requestRow) ([]access.Request, error) {
	return loadRequestsKnowing(tx, rows, nil)
}

// loadRequestsKnowing is loadRequests where known holds the grants of some
// of rows as stored, by request: when it holds every row's, the grants are
// not read.
func loadRequestsKnowing(tx *gorm.DB, rows []requestRow, known map[string]grantRow) ([]access.Request, error) {
	if len(rows) == 0 {
		return nil, nil
	}
	ids := make([]string, len(rows))
	allKnown := true
	for i := range rows {
		ids[i] = rows[i].ID
		if _, ok := known[rows[i].ID]; !ok {
			allKnown = false
		}
	}
	var decisions []decisionRow
	if err := tx.Where("request_id IN ?", ids).Order("decided_at, id").Find(&decisions).Error; err != nil {
		return nil, fmt.Errorf("load decisions: %w", err)
	}
	var grants []grantRow
	if allKnown {
		for _, id := range ids {
			grants = append(grants, known[id])
		}
	} else if err := tx.Where("request_id IN ?", ids).Find(&grants).Error; err != nil {
		return nil, fmt.Errorf("load grants: %w", err)
	}
	var feedback []feedbackRow
	if err := tx.Where("request_id IN ?", ids).Find(&feedback).Error; err != nil {
		return nil, fmt.Errorf("load feedback: %w", err)
	}
	byID := make(map[string]*access.Request, len(rows))
	out := make([]access.Request, len(rows))
	for i := range rows {
		r, err := fromRequestRow(&rows[i])
		if err != nil {
			return nil, err
		}
		out[i] = r
		byID[r.ID] = &out[i]
	}
	for i := range decisions {
		if r := byID[decisions[i].RequestID]; r != nil {
			r.Decisions = append(r.Decisions, fromDecisionRow(&decisions[i]))
		}
	}
	for i := range grants {
		if r := byID[grants[i].RequestID]; r != nil {
			g, err := fromGrantRow(&grants[i])
			if err != nil {
				return nil, err
			}
			r.Grant = &g
		}
	}
	for i := range feedback {
		if r := byID[feedback[i].RequestID]; r != nil {
			f := fromFeedbackRow(&feedback[i])
			r.Feedback = &f
		}
	}
	return out, nil
}

// RecordFeedback stores the requester's feedback f on request requestID
// (f.At is required) and appends ev (At defaults to f.At, RequestID to
// requestID) in one transaction, once: when the request already has
// feedback it changes nothing and returns an error wrapping
// access.ErrFeedbackRecorded (access.ErrNotFound without the request).
func (db *DB) RecordFeedback(ctx context.Context, requestID string, f access.Feedback, ev access.AuditEvent) error {
	if f.At.IsZero() {
		return fmt.Errorf("record feedback on %s: feedback has no time", requestID)
	}
	row := feedbackRow{RequestID: requestID, Useful: string(f.Useful), FastEnough: f.FastEnough, Comment: f.Comment, At: dbTime(f.At)}
	ev = eventWithDefaults(ev, requestID, row.At)
	err := db.tx(ctx, func(tx *gorm.DB) error {
		var n int64
		if err := tx.Model(&requestRow{}).Where("id = ?", requestID).Count(&n).Error; err != nil {
			return err
		}
		if n == 0 {
			return access.ErrNotFound
		}
		if err := tx.Model(&feedbackRow{}).Where("request_id = ?", requestID).Count(&n).Error; err != nil {
			return err
		}
		if n > 0 {
			return access.ErrFeedbackRecorded
		}
		if err := tx.Omit(clause.Associations).Create(&row).Error; err != nil {
			if errors.Is(err, gorm.ErrDuplicatedKey) {
				// A concurrent answer was stored after this one looked.
				return access.ErrFeedbackRecorded
			}
			return err
		}
		return appendAudit(tx, ev)
	})
	if err != nil {
		return fmt.Errorf("record feedback on %s: %w", requestID, err)
	}
	return nil
}

// SetApprovalCard records where the approval card was posted.
func (db *DB) SetApprovalCard(ctx context.Context, id string, chat access.ConversationRef, activityID string) error {
	ref, err := marshalRef(chat)
	if err != nil {
		return fmt.Errorf("set approval card of request %s: %w", id, err)
	}
	conn, cancel := db.conn(ctx)
	defer cancel()
	res := conn.Model(&requestRow{}).Where("id = ?", id).Updates(map[string]any{
		"approval_chat":        ref,
		"approval_activity_id": activityID,
	})
	if res.Error != nil {
		return fmt.Errorf("set approval card of request %s: %w", id, res.Error)
	}
	if res.RowsAffected == 0 {
		return fmt.Errorf("set approval card of request %s: %w", id, access.ErrNotFound)
	}
	return nil
}

// Deny records denial d on request id if it is still pending: the request
// becomes denied at d.DecidedAt (required) and ev is appended (At defaults
// to the decision time, RequestID to id). Otherwise it changes nothing and
// returns an error wrapping access.ErrNotPending (or access.ErrNotFound).
// It returns the request as stored after the change.
func (db *DB) Deny(ctx context.Context, id string, d access.Decision, ev access.AuditEvent) (*access.Request, error) {
	if d.Verdict != access.Deny {
		return nil, fmt.Errorf("deny request %s: verdict is %q", id, d.Verdict)
	}
	if d.DecidedAt.IsZero() {
		return nil, fmt.Errorf("deny request %s: decision has no time", id)
	}
	decidedAt := dbTime(d.DecidedAt)
	ev = eventWithDefaults(ev, id, decidedAt)
	var out *access.Request
	err := db.tx(ctx, func(tx *gorm.DB) error {
		if err := closePending(tx, id, map[string]any{"state": string(access.RequestDenied), "updated_at": decidedAt}); err != nil {
			return err
		}
		if err := storeDecision(tx, id, d); err != nil {
			return err
		}
		var err error
		out, err = readAudited(tx, id, ev)
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("deny request %s: %w", id, err)
	}
	return out, nil
}

// closePending applies set to request id if it is still pending, else
// gives access.ErrNotPending (access.ErrNotFound) and changes nothing: the
// conditional update by which one of concurrent decisions and closes wins.
func closePending(tx *gorm.DB, id string, set map[string]any) error {
	res := tx.Model(&requestRow{}).Where("id = ? AND state = ?", id, string(access.RequestPending)).Updates(set)
	if res.Error != nil {
		return res.Error
	}
	if res.RowsAffected == 0 {
		return missingOr(tx, &requestRow{}, id, access.ErrNotPending)
	}
	return nil
}

// storeDecision inserts decision d on request id.
func storeDecision(tx *gorm.DB, id string, d access.Decision) error {
	err := tx.Create(&decisionRow{
		RequestID:    id,
		ApproverID:   d.Approver.ObjectID,
		ApproverName: d.Approver.Name,
		Verdict:      string(d.Verdict),
		Reason:       d.Reason,
		DecidedAt:    dbTime(d.DecidedAt),
		Forced:       d.Forced,
	}).Error
	if err != nil {
		return fmt.Errorf("store decision: %w", err)
	}
	return nil
}

// missingOr returns access.ErrNotFound when no row of model has the id, and
// otherwise errIfPresent: a conditional update that changed nothing tells
// apart a missing row from one in the wrong state.
func missingOr(tx *gorm.DB, model any, id string, errIfPresent error) error {
	var n int64
	if err := tx.Model(model).Where("id = ?", id).Count(&n).Error; err != nil {
		return err
	}
	if n == 0 {
		return access.ErrNotFound
	}
	return errIfPresent
}

// OpenRequests returns the user's pending, approved and active requests,
// newest first, with their decisions and grants.
func (db *DB) OpenRequests(ctx context.Context, userID string) ([]access.Request, error) {
	tx, cancel := db.conn(ctx)
	defer cancel()
	var rows []requestRow
	err := tx.Where("requester_id = ? AND state IN ?", userID, openStates).
		Order("created_at DESC, id DESC").Find(&rows).Error
	if err != nil {
		return nil, fmt.Errorf("list open requests of %s: %w", userID, err)
	}
	reqs, err := loadRequests(tx, rows)
	if err != nil {
		return nil, fmt.Errorf("list open requests of %s: %w", userID, err)
	}
	return reqs, nil
}

// AppendAudit appends an event that goes with no state change; its At is
// required.
func (db *DB) AppendAudit(ctx context.Context, ev access.AuditEvent) error {
	if err := db.tx(ctx, func(tx *gorm.DB) error { return appendAudit(tx, ev) }); err != nil {
		return fmt.Errorf("append audit event: %w", err)
	}
	return nil
}

// Audit returns the events matching f, oldest first (by time, then by order
// of appending). Since is inclusive, Until exclusive; a Limit of zero or
// less means no limit.
func (db *DB) Audit(ctx context.Context, f access.AuditFilter) ([]access.AuditEvent, error) {
	conn, cancel := db.conn(ctx)
	defer cancel()
	q := conn.Model(&auditRow{})
	if f.RequestID != "" {
		q = q.Where("request_id = ?", f.RequestID)
	}
	if !f.Since.IsZero() {
		q = q.Where("at >= ?", dbTime(f.Since))
	}
	if !f.Until.IsZero() {
		q = q.Where("at < ?", dbTime(f.Until))
	}
	if f.Limit > 0 {
		q = q.Limit(f.Limit)
	}
	var rows []auditRow
	if err := q.Order("at, id").Find(&rows).Error; err != nil {
		return nil, fmt.Errorf("read audit log: %w", err)
	}
	out := make([]access.AuditEvent, len(rows))
	for i := range rows {
		out[i] = fromAuditRow(&rows[i])
	}
	return out, nil
}
