package storage

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/google/uuid"
	"gorm.io/gorm"
	"gorm.io/gorm/clause"

	"github.com/jitbot/jitbot/access"
)

var _ access.Store = (*DB)(nil)

// openStates are the states OpenRequests lists.
var openStates = []string{string(access.RequestPending), string(access.RequestApproved), string(access.RequestActive)}

// createAttempts bounds how often CreateRequest retries after losing a race
// to a concurrent request that was decided before it could be returned.
const createAttempts = 3

// tx runs fn in one transaction, bounded by opTimeout unless ctx has a
// deadline.
func (db *DB) tx(ctx context.Context, fn func(tx *gorm.DB) error) error {
	ctx, cancel := db.ctx(ctx)
	defer cancel()
	return db.gorm.WithContext(ctx).Transaction(fn)
}

// conn returns the database for statements outside a transaction, bounded
// like tx; call cancel when done.
func (db *DB) conn(ctx context.Context) (*gorm.DB, context.CancelFunc) {
	ctx, cancel := db.ctx(ctx)
	return db.gorm.WithContext(ctx), cancel
}

// CreateRequest stores req as a new pending request and appends ev. It fills
// in what req leaves empty: ID (a new UUID), CreatedAt and UpdatedAt (the
// event time, else now); State is always pending. When the requester already
// has a pending request for the profile it stores nothing and returns that
// request with an error wrapping access.ErrDuplicate. ev.RequestID defaults
// to the request's ID.
func (db *DB) CreateRequest(ctx context.Context, req *access.Request, ev access.AuditEvent) (*access.Request, error) {
	if req == nil {
		return nil, errors.New("create request: request is nil")
	}
	if req.Requester.ObjectID == "" || req.Profile == "" {
		return nil, errors.New("create request: requester object id and profile are required")
	}
	r := *req
	r.Decisions, r.Grant = nil, nil
	r.State = access.RequestPending
	if r.ID == "" {
		r.ID = uuid.NewString()
	}
	if r.CreatedAt.IsZero() {
		r.CreatedAt = ev.At
	}
	r.CreatedAt = orNow(r.CreatedAt)
	if r.UpdatedAt.IsZero() {
		r.UpdatedAt = r.CreatedAt
	}
	r.UpdatedAt = dbTime(r.UpdatedAt)
	row, err := toRequestRow(&r)
	if err != nil {
		return nil, fmt.Errorf("create request %s: %w", r.ID, err)
	}
	if ev.RequestID == "" {
		ev.RequestID = r.ID
	}
	if ev.At.IsZero() {
		ev.At = r.CreatedAt
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
	if len(rows) == 0 {
		return nil, nil
	}
	ids := make([]string, len(rows))
	for i := range rows {
		ids[i] = rows[i].ID
	}
	var decisions []decisionRow
	if err := tx.Where("request_id IN ?", ids).Order("decided_at, id").Find(&decisions).Error; err != nil {
		return nil, fmt.Errorf("load decisions: %w", err)
	}
	var grants []grantRow
	if err := tx.Where("request_id IN ?", ids).Find(&grants).Error; err != nil {
		return nil, fmt.Errorf("load grants: %w", err)
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
	return out, nil
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

// Decide records d on request id if it is still pending; otherwise it
// changes nothing and returns an error wrapping access.ErrNotPending (or
// access.ErrNotFound). Deny takes no grant. Approve needs grant (with
// ExpiresAt) and owner and claimUntil: with the ledger row of the
// membership locked, the grant is stored claimed by owner until
// claimUntil, in state granting (request approved), or, when another
// granting, active or irrevocable grant already holds the same user's
// membership of the same group, Shared and active at once with GrantedAt
// the decision time (request active). The grant's empty fields are filled
// in: ID (a new UUID), Profile, GroupID and User from the request,
// ApprovedAt from the decision time, DueAt from ExpiresAt; the fields of its
// lifecycle (state, check, claim, revocation, attempts, alert) are the
// store's and start afresh. d.DecidedAt and ev.At default to now,
// ev.RequestID to id. It returns the request as stored after the change.
func (db *DB) Decide(ctx context.Context, id string, d access.Decision, grant *access.Grant, owner string, claimUntil time.Time, ev access.AuditEvent) (*access.Request, error) {
	switch d.Verdict {
	case access.Approve:
		if grant == nil {
			return nil, fmt.Errorf("decide request %s: approval without a grant", id)
		}
		if grant.ExpiresAt.IsZero() {
			return nil, fmt.Errorf("decide request %s: grant has no expiry time", id)
		}
		if err := checkClaim(owner, claimUntil); err != nil {
			return nil, fmt.Errorf("decide request %s: %w", id, err)
		}
	case access.Deny:
		if grant != nil {
			return nil, fmt.Errorf("decide request %s: denial with a grant", id)
		}
	default:
		return nil, fmt.Errorf("decide request %s: unknown verdict %q", id, d.Verdict)
	}
	decidedAt := orNow(d.DecidedAt)
	if ev.At.IsZero() {
		ev.At = decidedAt
	}
	if ev.RequestID == "" {
		ev.RequestID = id
	}

	var out *access.Request
	err := db.tx(ctx, func(tx *gorm.DB) error {
		state := access.RequestDenied
		var row *grantRow
		if grant != nil {
			var req requestRow
			if err := tx.Where("id = ?", id).Take(&req).Error; err != nil {
				if errors.Is(err, gorm.ErrRecordNotFound) {
					return access.ErrNotFound
				}
				return err
			}
			if req.State != string(access.RequestPending) {
				return access.ErrNotPending
			}
			g := newGrant(grant, &req, decidedAt, owner, claimUntil)
			if _, err := db.lockMembership(tx, g.GroupID, g.User.ObjectID); err != nil {
				return err
			}
			holders, err := countHolders(tx, g.GroupID, g.User.ObjectID, "")
			if err != nil {
				return err
			}
			state = access.RequestApproved
			if holders > 0 {
				// Nothing to add: the membership is held already.
				g.Shared = true
				g.State = access.GrantActive
				g.GrantedAt = decidedAt
				state = access.RequestActive
			}
			r, err := toGrantRow(&g)
			if err != nil {
				return err
			}
			row = &r
		}
		res := tx.Model(&requestRow{}).
			Where("id = ? AND state = ?", id, string(access.RequestPending)).
			Updates(map[string]any{"state": string(state), "updated_at": decidedAt})
		if res.Error != nil {
			return res.Error
		}
		if res.RowsAffected == 0 {
			return missingOr(tx, &requestRow{}, id, access.ErrNotPending)
		}
		if err := tx.Create(&decisionRow{
			RequestID:    id,
			ApproverID:   d.Approver.ObjectID,
			ApproverName: d.Approver.Name,
			Verdict:      string(d.Verdict),
			Reason:       d.Reason,
			DecidedAt:    decidedAt,
		}).Error; err != nil {
			return fmt.Errorf("store decision: %w", err)
		}
		if row != nil {
			if err := tx.Create(row).Error; err != nil {
				return fmt.Errorf("store grant: %w", err)
			}
		}
		if err := appendAudit(tx, ev); err != nil {
			return err
		}
		r, err := getRequest(tx, id)
		out = r
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("decide request %s: %w", id, err)
	}
	return out, nil
}

// newGrant is the grant an approval of req stores, before the membership
// is looked at: granting, claimed by owner until claimUntil.
func newGrant(in *access.Grant, req *requestRow, decidedAt time.Time, owner string, claimUntil time.Time) access.Grant {
	g := access.Grant{
		ID:         in.ID,
		RequestID:  req.ID,
		Profile:    in.Profile,
		GroupID:    in.GroupID,
		User:       in.User,
		State:      access.GrantGranting,
		ApprovedAt: in.ApprovedAt,
		ExpiresAt:  in.ExpiresAt,
		DueAt:      in.DueAt,
		ClaimedBy:  owner,
		ClaimUntil: claimUntil,
	}
	if g.ID == "" {
		g.ID = uuid.NewString()
	}
	if g.Profile == "" {
		g.Profile = req.Profile
	}
	if g.GroupID == "" {
		g.GroupID = req.GroupID
	}
	if g.User.ObjectID == "" {
		g.User = access.Person{ObjectID: req.RequesterID, Name: req.RequesterName}
	}
	if g.ApprovedAt.IsZero() {
		g.ApprovedAt = decidedAt
	}
	if g.DueAt.IsZero() {
		g.DueAt = g.ExpiresAt
	}
	return g
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

// AppendAudit appends an event that goes with no state change. A zero At
// means now.
func (db *DB) AppendAudit(ctx context.Context, ev access.AuditEvent) error {
	conn, cancel := db.conn(ctx)
	defer cancel()
	if err := appendAudit(conn, ev); err != nil {
		return fmt.Errorf("append audit event: %w", err)
	}
	return nil
}

// appendAudit inserts ev; a zero At means now.
func appendAudit(tx *gorm.DB, ev access.AuditEvent) error {
	if ev.Action == "" {
		return errors.New("audit event has no action")
	}
	ev.At = orNow(ev.At)
	row := toAuditRow(&ev)
	if err := tx.Create(&row).Error; err != nil {
		return fmt.Errorf("store audit event %s: %w", ev.Action, err)
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
