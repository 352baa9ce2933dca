package storage

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"gorm.io/gorm"
	"gorm.io/gorm/clause"

	"github.com/jitbot/jitbot/access"
)

// Grant states as stored, grouped by what the queries ask of them.
var (
	// liveStates still account for a membership.
	liveStates = states(access.GrantGranting, access.GrantActive, access.GrantRevoking, access.GrantIrrevocable)
	// endingStates are the live states whose revocation is scheduled by DueAt.
	endingStates = states(access.GrantActive, access.GrantRevoking, access.GrantIrrevocable)
)

// updateChunk bounds the ids of one UPDATE ... WHERE id IN (...).
const updateChunk = 500

// dueOrder orders claimable grants by how long their work has been due: a
// granting grant since its approval, any other since its DueAt.
const dueOrder = `CASE WHEN state = 'granting' THEN approved_at ELSE due_at END, id`

// workAt is, for a live grant, the earliest time ClaimWork may take it: a
// granting grant once its claim ends (at once without one); any other
// once it is due and its claim has ended.
const workAt = `CASE WHEN state = 'granting' THEN COALESCE(claim_until, approved_at)
	WHEN claim_until > due_at THEN claim_until
	ELSE due_at END`

func states(ss ...access.GrantState) []string {
	out := make([]string, len(ss))
	for i, s := range ss {
		out[i] = string(s)
	}
	return out
}

func requestStates(ss ...access.RequestState) []string {
	out := make([]string, len(ss))
	for i, s := range ss {
		out[i] = string(s)
	}
	return out
}

// released are the columns of a grant without a claim.
func released(set map[string]any) map[string]any {
	set["claimed_by"] = ""
	set["claim_until"] = nil
	return set
}

func checkOwner(owner string) error {
	if owner == "" {
		return errors.New("owner is empty")
	}
	return nil
}

func checkClaim(owner string, until time.Time) error {
	if err := checkOwner(owner); err != nil {
		return err
	}
	if until.IsZero() {
		return errors.New("claim has no end")
	}
	return nil
}

// forUpdate locks the rows q selects until the transaction ends. SQLite has
// no row locks; its transactions (BEGIN IMMEDIATE) serialise every writer.
func (db *DB) forUpdate(q *gorm.DB, options string) *gorm.DB {
	if db.driver != DriverPostgres {
		return q
	}
	return q.Clauses(clause.Locking{Strength: clause.LockingStrengthUpdate, Options: options})
}

// updateGrant applies set to grant id if it is in one of the states from
// and, when owner is not empty, claimed by owner; otherwise it changes
// nothing and returns access.ErrStaleGrant (access.ErrNotFound when there is
// no such grant). It returns the grant as updated.
func updateGrant(tx *gorm.DB, id, owner string, from []string, set map[string]any) (grantRow, error) {
	q := tx.Model(&grantRow{}).Where("id = ? AND state IN ?", id, from)
	if owner != "" {
		q = q.Where("claimed_by = ?", owner)
	}
	res := q.Updates(set)
	if res.Error != nil {
		return grantRow{}, fmt.Errorf("update grant: %w", res.Error)
	}
	if res.RowsAffected == 0 {
		return grantRow{}, missingOr(tx, &grantRow{}, id, access.ErrStaleGrant)
	}
	var row grantRow
	if err := tx.Where("id = ?", id).Take(&row).Error; err != nil {
		return grantRow{}, fmt.Errorf("read grant back: %w", err)
	}
	return row, nil
}

// appendGrantAudit appends ev for grant row: RequestID defaults to the
// grant's request, At to at.
func appendGrantAudit(tx *gorm.DB, row *grantRow, at time.Time, ev access.AuditEvent) error {
	ev = eventWithDefaults(ev, row.RequestID, at)
	return appendAudit(tx, ev)
}

// RecordCheck stores whether the user already was a member before anything
// was added, once per grant: the grant, if granting, claimed by owner and
// not checked yet, becomes Checked with PreExisting the answer. Otherwise
// access.ErrStaleGrant (or access.ErrNotFound) and no change.
func (db *DB) RecordCheck(ctx context.Context, grantID, owner string, preExisting bool) error {
	if err := checkOwner(owner); err != nil {
		return fmt.Errorf("record membership check of grant %s: %w", grantID, err)
	}
	err := db.tx(ctx, func(tx *gorm.DB) error {
		res := tx.Model(&grantRow{}).
			Where("id = ? AND state = ? AND claimed_by = ? AND NOT checked", grantID, string(access.GrantGranting), owner).
			Updates(map[string]any{"checked": true, "pre_existing": preExisting})
		if res.Error != nil {
			return fmt.Errorf("update grant: %w", res.Error)
		}
		if res.RowsAffected == 0 {
			return missingOr(tx, &grantRow{}, grantID, access.ErrStaleGrant)
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("record membership check of grant %s: %w", grantID, err)
	}
	return nil
}

// ClaimWork claims for owner until claimUntil up to limit grants (no limit
// when limit <= 0) that need work at now: granting grants with no claim or
// an ended one, and active, revoking or irrevocable grants with DueAt <= now
// and no claim or an ended one. They are taken earliest first (a granting
// grant counts from its approval, any other from its DueAt) and returned as
// claimed. On PostgreSQL the rows are selected FOR UPDATE SKIP LOCKED, so
// that concurrent replicas claim disjoint sets without waiting on each
// other.
func (db *DB) ClaimWork(ctx context.Context, owner string, now, claimUntil time.Time, limit int) ([]access.Grant, error) {
	if err := checkClaim(owner, claimUntil); err != nil {
		return nil, fmt.Errorf("claim work: %w", err)
	}
	nowDB, until := dbTime(now), dbTime(claimUntil)
	var out []access.Grant
	err := db.tx(ctx, func(tx *gorm.DB) error {
		q := tx.Where("state IN ? AND (claim_until IS NULL OR claim_until <= ?) AND (state = ? OR due_at <= ?)",
			liveStates, nowDB, string(access.GrantGranting), nowDB).
			Order(dueOrder)
		if limit > 0 {
			ids, err := claimCandidates(tx, nowDB, limit)
			if err != nil {
				return err
			}
			q = q.Where("id IN ?", ids).Limit(limit)
		}
		var rows []grantRow
		if err := db.forUpdate(q, clause.LockingOptionsSkipLocked).Find(&rows).Error; err != nil {
			return fmt.Errorf("select claimable grants: %w", err)
		}
		for start := 0; start < len(rows); start += updateChunk {
			chunk := rows[start:min(start+updateChunk, len(rows))]
			ids := make([]string, len(chunk))
			for i := range chunk {
				ids[i] = chunk[i].ID
			}
			err := tx.Model(&grantRow{}).Where("id IN ?", ids).
				Updates(map[string]any{"claimed_by": owner, "claim_until": until}).Error
			if err != nil {
				return fmt.Errorf("claim grants: %w", err)
			}
		}
		for i := range rows {
			rows[i].ClaimedBy, rows[i].ClaimUntil = owner, &until
		}
		gs, err := fromGrantRows(rows)
		out = gs
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("claim work for %s: %w", owner, err)
	}
	return out, nil
}

// claimCandidates returns the ids of at most limit claimable grants, the
// longest due first, as of now: the first limit of each live state, each
// read in order through idx_grants_due_order (state, due_at, id), and the
// first limit of them all. A single query over every live state would read
// and sort every due grant for each claim; 10,000 grants due together made
// each claim of a few of them cost milliseconds. The candidates are not
// locked: ClaimWork selects them again with its conditions, and locks them.
func claimCandidates(tx *gorm.DB, now time.Time, limit int) ([]string, error) {
	var all []grantRow
	for _, state := range liveStates {
		q := tx.Where("state = ? AND (claim_until IS NULL OR claim_until <= ?)", state, now)
		order := "due_at, id"
		if state == string(access.GrantGranting) {
			order = "approved_at, id"
		} else {
			q = q.Where("due_at <= ?", now)
		}
		var found []grantRow
		err := q.Select("id", "state", "approved_at", "due_at").Order(order).Limit(limit).Find(&found).Error
		if err != nil {
			return nil, fmt.Errorf("find claimable %s grants: %w", state, err)
		}
		all = append(all, found...)
	}
	// dueOrder, in Go.
	at := func(r grantRow) time.Time {
		if r.State == string(access.GrantGranting) {
			return r.ApprovedAt
		}
		return r.DueAt
	}
	slices.SortFunc(all, func(a, b grantRow) int {
		if c := at(a).Compare(at(b)); c != 0 {
			return c
		}
		return strings.Compare(a.ID, b.ID)
	})
	ids := make([]string, 0, min(limit, len(all)))
	for _, r := range all[:min(limit, len(all))] {
		ids = append(ids, r.ID)
	}
	return ids, nil
}

// NextDue returns the earliest time at which ClaimWork may find work: for
// each live grant, the end of its claim if it is granting (a granting grant
// without a claim is claimable already: its approval time is returned),
// otherwise its DueAt or, when later, the end of its claim. ok is false when
// no grant is live.
func (db *DB) NextDue(ctx context.Context) (time.Time, bool, error) {
	conn, cancel := db.conn(ctx)
	defer cancel()
	var rows []grantRow
	err := conn.Select("state", "approved_at", "due_at", "claim_until").
		Where("state IN ?", liveStates).Order(workAt).Limit(1).Find(&rows).Error
	if err != nil {
		return time.Time{}, false, fmt.Errorf("find next due grant: %w", err)
	}
	if len(rows) == 0 {
		return time.Time{}, false, nil
	}
	r := rows[0]
	switch {
	case r.State == string(access.GrantGranting) && r.ClaimUntil != nil:
		return r.ClaimUntil.UTC(), true, nil
	case r.State == string(access.GrantGranting):
		return r.ApprovedAt.UTC(), true, nil
	case r.ClaimUntil != nil && r.ClaimUntil.After(r.DueAt):
		return r.ClaimUntil.UTC(), true, nil
	}
	return r.DueAt.UTC(), true, nil
}

// RetryRevoke records a failed removal of grant grantID (active, revoking
// or irrevocable, claimed by owner): f's attempts, error (and whether it is
// permanent) and next due time, and the claim released. With
// f.Irrevocable the grant becomes irrevocable; without, its state is kept
// (an irrevocable grant stays irrevocable, a revoking one revoking: the
// removal may have happened). ev is appended (its At is required).
// Otherwise
// access.ErrStaleGrant (or access.ErrNotFound) and no change.
func (db *DB) RetryRevoke(ctx context.Context, grantID, owner string, f access.RevokeFailure, ev access.AuditEvent) error {
	if err := checkOwner(owner); err != nil {
		return fmt.Errorf("retry revocation of grant %s: %w", grantID, err)
	}
	if f.NextDue.IsZero() {
		return fmt.Errorf("retry revocation of grant %s: next due time is zero", grantID)
	}
	set := released(map[string]any{
		"attempts":             int64(f.Attempts),
		"due_at":               dbTime(f.NextDue),
		"last_error":           f.Error,
		"last_error_permanent": f.Permanent,
	})
	if f.Irrevocable {
		set["state"] = string(access.GrantIrrevocable)
	}
	err := db.tx(ctx, func(tx *gorm.DB) error {
		row, err := updateGrant(tx, grantID, owner, endingStates, set)
		if err != nil {
			return err
		}
		return appendGrantAudit(tx, &row, time.Time{}, ev) // ev.At is required
	})
	if err != nil {
		return fmt.Errorf("retry revocation of grant %s: %w", grantID, err)
	}
	return nil
}

// SetAlert records where a grant's security alert card was posted.
func (db *DB) SetAlert(ctx context.Context, grantID string, chat access.ConversationRef, activityID string) error {
	ref, err := marshalRef(chat)
	if err != nil {
		return fmt.Errorf("set alert of grant %s: %w", grantID, err)
	}
	conn, cancel := db.conn(ctx)
	defer cancel()
	res := conn.Model(&grantRow{}).Where("id = ?", grantID).Updates(map[string]any{
		"alert_chat":        ref,
		"alert_activity_id": activityID,
	})
	if res.Error != nil {
		return fmt.Errorf("set alert of grant %s: %w", grantID, res.Error)
	}
	if res.RowsAffected == 0 {
		return fmt.Errorf("set alert of grant %s: %w", grantID, access.ErrNotFound)
	}
	return nil
}

// RetryNow makes grant grantID due at now, because a person asked, if it
// is in state from (active, revoking or irrevocable) and no replica holds a
// live claim on it (claim_until NULL or <= now); ev is appended (At
// defaults to now). Otherwise it changes nothing and returns
// access.ErrStaleGrant (or access.ErrNotFound). Whether a grant may be
// retried is decided by the caller.
func (db *DB) RetryNow(ctx context.Context, grantID string, from access.GrantState, now time.Time, ev access.AuditEvent) error {
	if now.IsZero() {
		return fmt.Errorf("retry grant %s now: time is zero", grantID)
	}
	if !slices.Contains(endingStates, string(from)) {
		return fmt.Errorf("retry grant %s now: %w", grantID, access.ErrStaleGrant)
	}
	at := dbTime(now)
	err := db.tx(ctx, func(tx *gorm.DB) error {
		res := tx.Model(&grantRow{}).
			Where("id = ? AND state = ? AND (claim_until IS NULL OR claim_until <= ?)", grantID, string(from), at).
			Updates(released(map[string]any{"due_at": at}))
		if res.Error != nil {
			return fmt.Errorf("update grant: %w", res.Error)
		}
		if res.RowsAffected == 0 {
			return missingOr(tx, &grantRow{}, grantID, access.ErrStaleGrant)
		}
		var row grantRow
		if err := tx.Where("id = ?", grantID).Take(&row).Error; err != nil {
			return fmt.Errorf("read grant back: %w", err)
		}
		return appendGrantAudit(tx, &row, at, ev)
	})
	if err != nil {
		return fmt.Errorf("retry grant %s now: %w", grantID, err)
	}
	return nil
}

// ReleaseClaims drops every claim owner holds, so that another replica can
// take the work at once.
func (db *DB) ReleaseClaims(ctx context.Context, owner string) error {
	if err := checkOwner(owner); err != nil {
		return fmt.Errorf("release claims: %w", err)
	}
	conn, cancel := db.conn(ctx)
	defer cancel()
	err := conn.Model(&grantRow{}).Where("claimed_by = ?", owner).Updates(released(map[string]any{})).Error
	if err != nil {
		return fmt.Errorf("release claims of %s: %w", owner, err)
	}
	return nil
}

// GetGrant returns one grant, or an error wrapping access.ErrNotFound.
func (db *DB) GetGrant(ctx context.Context, id string) (*access.Grant, error) {
	conn, cancel := db.conn(ctx)
	defer cancel()
	var rows []grantRow
	if err := conn.Where("id = ?", id).Limit(1).Find(&rows).Error; err != nil {
		return nil, fmt.Errorf("get grant %s: %w", id, err)
	}
	if len(rows) == 0 {
		return nil, fmt.Errorf("get grant %s: %w", id, access.ErrNotFound)
	}
	g, err := fromGrantRow(&rows[0])
	if err != nil {
		return nil, fmt.Errorf("get grant %s: %w", id, err)
	}
	return &g, nil
}

// LiveGrants returns every live grant (granting, active, revoking,
// irrevocable) of a group, oldest approval first.
func (db *DB) LiveGrants(ctx context.Context, groupID string) ([]access.Grant, error) {
	conn, cancel := db.conn(ctx)
	defer cancel()
	var rows []grantRow
	err := conn.Where("group_id = ? AND state IN ?", groupID, liveStates).Order("approved_at, id").Find(&rows).Error
	if err != nil {
		return nil, fmt.Errorf("list live grants of group %s: %w", groupID, err)
	}
	gs, err := fromGrantRows(rows)
	if err != nil {
		return nil, fmt.Errorf("list live grants of group %s: %w", groupID, err)
	}
	return gs, nil
}

// liveMemberRow is the columns of a grant LiveMembers reads.
type liveMemberRow struct {
	ID          string
	UserID      string
	State       string
	PreExisting bool
	GrantedAt   *time.Time
	ExpiresAt   time.Time
}

// LiveMembers returns, for drift detection, a few columns of every live
// grant (granting, active, revoking, irrevocable) of a group, oldest
// approval first, in one query.
func (db *DB) LiveMembers(ctx context.Context, groupID string) ([]access.LiveMember, error) {
	conn, cancel := db.conn(ctx)
	defer cancel()
	var rows []liveMemberRow
	err := conn.Model(&grantRow{}).Select("id", "user_id", "state", "pre_existing", "granted_at", "expires_at").
		Where("group_id = ? AND state IN ?", groupID, liveStates).Order("approved_at, id").Find(&rows).Error
	if err != nil {
		return nil, fmt.Errorf("list live members of group %s: %w", groupID, err)
	}
	out := make([]access.LiveMember, len(rows))
	for i, r := range rows {
		out[i] = access.LiveMember{
			GrantID: r.ID, UserID: r.UserID, State: access.GrantState(r.State), PreExisting: r.PreExisting,
			GrantedAt: fromOptionalTime(r.GrantedAt), ExpiresAt: r.ExpiresAt.UTC(),
		}
	}
	return out, nil
}
