package storage

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"time"

	"gorm.io/gorm"
	"gorm.io/gorm/clause"

	"github.com/jitbot/jitbot/access"
)

// Grant states as stored, grouped by what the queries ask of them.
var (
	// liveStates still account for a membership.
	liveStates = states(access.GrantGranting, access.GrantActive, access.GrantRevoking, access.GrantIrrevocable)
	// holdingStates hold a membership that is meant to stay: a new grant
	// shares it, and ending another grant leaves it in place. A revoking
	// grant's membership is on its way out.
	holdingStates = states(access.GrantGranting, access.GrantActive, access.GrantIrrevocable)
	// endingStates are the live states whose revocation is scheduled by DueAt.
	endingStates = states(access.GrantActive, access.GrantRevoking, access.GrantIrrevocable)
	// readdStates are the states of the other grants of a membership that
	// FinishRevoke puts back to granting: their membership may have been
	// added before the removal, or while it was under way.
	readdStates = states(access.GrantActive, access.GrantGranting)
)

// Reasons recorded when PlanRevoke leaves a membership in place.
const (
	reasonKept        = "membership kept: another active grant holds it"
	reasonPreExisting = "membership pre-existed the grant; left in place"
	reasonOrphaned    = "the grant whose membership it shared could not add it: adding it for this grant"
)

// readdLease is how long FinishRevoke's caller holds the grants it must add
// again.
const readdLease = 2 * time.Minute

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

// lockMembership locks the ledger row of (group, user), inserting it when
// missing, and returns it. Every transaction that decides whether the
// membership is added, kept or removed calls it before it reads the
// membership's grants, so that such transactions run one after the other.
func (db *DB) lockMembership(tx *gorm.DB, groupID, userID string) (ledgerRow, error) {
	err := tx.Clauses(clause.OnConflict{DoNothing: true}).
		Create(&ledgerRow{GroupID: groupID, UserID: userID, UpdatedAt: now()}).Error
	if err != nil {
		return ledgerRow{}, fmt.Errorf("insert ledger row of %s in %s: %w", userID, groupID, err)
	}
	var row ledgerRow
	err = db.forUpdate(tx.Where("group_id = ? AND user_id = ?", groupID, userID), "").Take(&row).Error
	if err != nil {
		return ledgerRow{}, fmt.Errorf("lock ledger row of %s in %s: %w", userID, groupID, err)
	}
	return row, nil
}

// setPreExisting records whether the membership pre-existed (its ledger row
// must be locked).
func setPreExisting(tx *gorm.DB, groupID, userID string, pre bool) error {
	err := tx.Model(&ledgerRow{}).Where("group_id = ? AND user_id = ?", groupID, userID).
		Updates(map[string]any{"pre_existing": pre, "updated_at": now()}).Error
	if err != nil {
		return fmt.Errorf("update ledger row of %s in %s: %w", userID, groupID, err)
	}
	return nil
}

// countHolders counts the grants other than exclude that hold the
// membership (granting, active or irrevocable).
func countHolders(tx *gorm.DB, groupID, userID, exclude string) (int64, error) {
	var n int64
	err := tx.Model(&grantRow{}).
		Where("group_id = ? AND user_id = ? AND state IN ? AND id <> ?", groupID, userID, holdingStates, exclude).
		Count(&n).Error
	if err != nil {
		return 0, fmt.Errorf("count grants of %s in %s: %w", userID, groupID, err)
	}
	return n, nil
}

// grantMembership returns the group and user of a grant (which never
// change), or access.ErrNotFound.
// lockGrantMembership finds the membership a grant is about and locks its
// ledger row, as every transaction that decides a membership must first.
func (db *DB) lockGrantMembership(tx *gorm.DB, grantID string) (groupID, userID string, ledger ledgerRow, err error) {
	if groupID, userID, err = grantMembership(tx, grantID); err != nil {
		return "", "", ledgerRow{}, err
	}
	ledger, err = db.lockMembership(tx, groupID, userID)
	return groupID, userID, ledger, err
}

func grantMembership(tx *gorm.DB, id string) (groupID, userID string, err error) {
	var rows []grantRow
	if err := tx.Select("group_id", "user_id").Where("id = ?", id).Limit(1).Find(&rows).Error; err != nil {
		return "", "", fmt.Errorf("find grant: %w", err)
	}
	if len(rows) == 0 {
		return "", "", access.ErrNotFound
	}
	return rows[0].GroupID, rows[0].UserID, nil
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

// moveRequest moves request id to state to if it is in one of the states from.
func moveRequest(tx *gorm.DB, id string, from []string, to access.RequestState, at time.Time) error {
	err := tx.Model(&requestRow{}).Where("id = ? AND state IN ?", id, from).
		Updates(map[string]any{"state": string(to), "updated_at": dbTime(at)}).Error
	if err != nil {
		return fmt.Errorf("update request %s: %w", id, err)
	}
	return nil
}

// appendGrantAudit appends ev for grant row: At defaults to at, RequestID
// to the grant's request.
func appendGrantAudit(tx *gorm.DB, row *grantRow, at time.Time, ev access.AuditEvent) error {
	if ev.At.IsZero() {
		ev.At = at
	}
	if ev.RequestID == "" {
		ev.RequestID = row.RequestID
	}
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

// CompleteGrant records that the membership is in place: the grant, if
// granting and claimed by owner, becomes active with GrantedAt (zero: now),
// its claim released, its request active (from approved), and ev is
// appended (At defaults to grantedAt). The ledger row records what the
// check found: pre-existing for a PreExisting grant (so that the
// membership outlives every grant), not pre-existing for a grant that
// checked and found no membership. A grant not granting or not claimed by
// owner gives access.ErrStaleGrant and no change.
func (db *DB) CompleteGrant(ctx context.Context, grantID, owner string, grantedAt time.Time, ev access.AuditEvent) error {
	if err := checkOwner(owner); err != nil {
		return fmt.Errorf("complete grant %s: %w", grantID, err)
	}
	at := orNow(grantedAt)
	err := db.tx(ctx, func(tx *gorm.DB) error {
		group, user, _, err := db.lockGrantMembership(tx, grantID)
		if err != nil {
			return err
		}
		row, err := updateGrant(tx, grantID, owner, states(access.GrantGranting), released(map[string]any{
			"state":      string(access.GrantActive),
			"granted_at": at,
		}))
		if err != nil {
			return err
		}
		switch {
		case row.PreExisting:
			err = setPreExisting(tx, group, user, true)
		case row.Checked:
			// Not a member when checked: whatever pre-existed is gone.
			err = setPreExisting(tx, group, user, false)
		}
		if err != nil {
			return err
		}
		if err := moveRequest(tx, row.RequestID, requestStates(access.RequestApproved), access.RequestActive, at); err != nil {
			return err
		}
		return appendGrantAudit(tx, &row, at, ev)
	})
	if err != nil {
		return fmt.Errorf("complete grant %s: %w", grantID, err)
	}
	return nil
}

// FailGrant records that the membership could not be added: the grant, if
// granting and claimed by owner, becomes failed with reason as its last
// error, its claim released, its request failed, and ev is appended (At
// defaults to now). A grant not granting or not claimed by owner gives
// access.ErrStaleGrant and no change.
//
// Shared grants that relied on this one for their membership would hold
// nothing: when no other grant of the membership is granting, or active or
// irrevocable without being shared, the active shared grants go back to
// granting, unclaimed, so that the next ClaimWork adds the membership for
// them (each with a grant.readded audit event).
func (db *DB) FailGrant(ctx context.Context, grantID, owner string, reason string, ev access.AuditEvent) error {
	if err := checkOwner(owner); err != nil {
		return fmt.Errorf("fail grant %s: %w", grantID, err)
	}
	at := orNow(ev.At)
	err := db.tx(ctx, func(tx *gorm.DB) error {
		if _, _, _, err := db.lockGrantMembership(tx, grantID); err != nil {
			return err
		}
		row, err := updateGrant(tx, grantID, owner, states(access.GrantGranting), released(map[string]any{
			"state":      string(access.GrantFailed),
			"last_error": reason,
		}))
		if err != nil {
			return err
		}
		from := requestStates(access.RequestApproved, access.RequestActive)
		if err := moveRequest(tx, row.RequestID, from, access.RequestFailed, at); err != nil {
			return err
		}
		if err := appendGrantAudit(tx, &row, at, ev); err != nil {
			return err
		}
		return rescueShared(tx, &row, at, ev.Actor)
	})
	if err != nil {
		return fmt.Errorf("fail grant %s: %w", grantID, err)
	}
	return nil
}

// rescueShared moves the active shared grants of failed's membership back
// to granting when nothing else holds it (see FailGrant).
func rescueShared(tx *gorm.DB, failed *grantRow, at time.Time, actor access.Person) error {
	var backers int64
	err := tx.Model(&grantRow{}).
		Where("group_id = ? AND user_id = ? AND id <> ?", failed.GroupID, failed.UserID, failed.ID).
		Where("state = ? OR (state IN ? AND NOT shared)", string(access.GrantGranting),
			states(access.GrantActive, access.GrantIrrevocable)).
		Count(&backers).Error
	if err != nil {
		return fmt.Errorf("count grants holding the membership: %w", err)
	}
	if backers > 0 {
		return nil
	}
	var orphans []grantRow
	// A shared grant another replica has claimed is being ended: left to it.
	err = tx.Where("group_id = ? AND user_id = ? AND state = ? AND shared", failed.GroupID, failed.UserID, string(access.GrantActive)).
		Where("claim_until IS NULL OR claim_until <= ?", dbTime(at)).
		Order("approved_at, id").Find(&orphans).Error
	if err != nil {
		return fmt.Errorf("find shared grants: %w", err)
	}
	for i := range orphans {
		o := &orphans[i]
		_, err := updateGrant(tx, o.ID, "", states(access.GrantActive), released(map[string]any{
			"state":  string(access.GrantGranting),
			"shared": false,
		}))
		if err != nil {
			return fmt.Errorf("move shared grant %s back to granting: %w", o.ID, err)
		}
		err = appendAudit(tx, access.AuditEvent{
			At: at, Actor: actor, Action: access.ActionRegranted, RequestID: o.RequestID,
			Profile: o.Profile, GroupID: o.GroupID, TargetUserID: o.UserID, Reason: reasonOrphaned,
		})
		if err != nil {
			return err
		}
	}
	return nil
}

// ClaimWork claims for owner until claimUntil up to limit grants (no limit
// when limit <= 0) that need work at now: granting grants with no claim or
// an ended one, and active, revoking or irrevocable grants with DueAt <= now
// and no claim or an ended one. They are taken earliest first (a granting
// grant counts from its approval, any other from its DueAt) and returned as
// claimed. On
// PostgreSQL the rows are selected FOR UPDATE SKIP LOCKED, so that
// concurrent replicas claim disjoint sets without waiting on each other.
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
			q = q.Limit(limit)
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

// PlanRevoke decides, with the ledger row of the grant's membership locked,
// what ending grant grantID (active, revoking or irrevocable, claimed by
// owner) takes:
//
//   - another grant holds the membership (granting, active or irrevocable):
//     the grant is closed (revoked at at, claim released, request expired)
//     and ev is appended with action grant.revoked and a reason; remove is
//     false.
//   - the membership pre-existed (the ledger row or the grant says so):
//     closed the same way, with action grant.revoke_skipped; remove is false.
//   - otherwise an active grant becomes revoking (the intent), ev is
//     appended as given, and remove is true: the caller removes the member
//     and calls FinishRevoke (or RetryRevoke). The claim is kept.
//
// A grant already revoking (an earlier attempt was interrupted) stays
// revoking and remove is true; an irrevocable grant stays irrevocable (it
// remains so until revoked) and remove is true; ev is appended for both.
// Anything else gives access.ErrStaleGrant (or access.ErrNotFound) and no
// change. ev.At defaults to at, at to now.
func (db *DB) PlanRevoke(ctx context.Context, grantID, owner string, at time.Time, ev access.AuditEvent) (bool, error) {
	if err := checkOwner(owner); err != nil {
		return false, fmt.Errorf("plan revocation of grant %s: %w", grantID, err)
	}
	at = orNow(at)
	var remove bool
	err := db.tx(ctx, func(tx *gorm.DB) error {
		remove = false
		group, user, ledger, err := db.lockGrantMembership(tx, grantID)
		if err != nil {
			return err
		}
		var cur grantRow
		if err := tx.Where("id = ?", grantID).Take(&cur).Error; err != nil {
			return fmt.Errorf("read grant: %w", err)
		}
		state := access.GrantState(cur.State)
		if cur.ClaimedBy != owner || (state != access.GrantActive && state != access.GrantRevoking && state != access.GrantIrrevocable) {
			return access.ErrStaleGrant
		}
		if state != access.GrantRevoking {
			holders, err := countHolders(tx, group, user, grantID)
			if err != nil {
				return err
			}
			switch {
			case holders > 0:
				ev.Action, ev.Reason = access.ActionRevoked, reasonKept
				return closeGrant(tx, grantID, owner, states(state), at, ev)
			case ledger.PreExisting || cur.PreExisting:
				ev.Action, ev.Reason = access.ActionRevokeSkipped, reasonPreExisting
				return closeGrant(tx, grantID, owner, states(state), at, ev)
			}
		}
		next := state
		if state == access.GrantActive {
			next = access.GrantRevoking
		}
		row, err := updateGrant(tx, grantID, owner, states(state), map[string]any{"state": string(next)})
		if err != nil {
			return err
		}
		remove = true
		return appendGrantAudit(tx, &row, at, ev)
	})
	if err != nil {
		return false, fmt.Errorf("plan revocation of grant %s: %w", grantID, err)
	}
	return remove, nil
}

// closeGrant ends grant id, in one of the states from and claimed by owner
// (any claim when owner is empty): revoked at at, claim released, request
// expired, ev appended.
func closeGrant(tx *gorm.DB, id, owner string, from []string, at time.Time, ev access.AuditEvent) error {
	row, err := updateGrant(tx, id, owner, from, released(map[string]any{
		"state":      string(access.GrantRevoked),
		"revoked_at": at,
	}))
	if err != nil {
		return err
	}
	from2 := requestStates(access.RequestApproved, access.RequestActive)
	if err := moveRequest(tx, row.RequestID, from2, access.RequestExpired, at); err != nil {
		return err
	}
	return appendGrantAudit(tx, &row, at, ev)
}

// FinishRevoke records that the member was removed: the grant, if revoking
// or irrevocable and claimed by owner, becomes revoked at at (zero: now),
// its claim released, its request expired, and ev is appended (At defaults
// to at). The membership no longer exists, so its ledger row stops being
// pre-existing. With the ledger row locked, every other active or granting
// grant of the membership may have had its membership added before the
// removal or while it was under way: each is moved back to granting
// (Checked, not PreExisting, not Shared), claimed by owner for two minutes
// from at, and returned, so that the caller adds the member again.
// Otherwise access.ErrStaleGrant (or access.ErrNotFound) and no change.
func (db *DB) FinishRevoke(ctx context.Context, grantID, owner string, at time.Time, ev access.AuditEvent) ([]access.Grant, error) {
	if err := checkOwner(owner); err != nil {
		return nil, fmt.Errorf("finish revocation of grant %s: %w", grantID, err)
	}
	at = orNow(at)
	var readd []access.Grant
	err := db.tx(ctx, func(tx *gorm.DB) error {
		readd = nil
		group, user, _, err := db.lockGrantMembership(tx, grantID)
		if err != nil {
			return err
		}
		from := states(access.GrantRevoking, access.GrantIrrevocable)
		if err := closeGrant(tx, grantID, owner, from, at, ev); err != nil {
			return err
		}
		if err := setPreExisting(tx, group, user, false); err != nil {
			return err
		}
		var others []grantRow
		err = tx.Where("group_id = ? AND user_id = ? AND state IN ? AND id <> ?", group, user, readdStates, grantID).
			Order("approved_at, id").Find(&others).Error
		if err != nil {
			return fmt.Errorf("find grants to add again: %w", err)
		}
		until := at.Add(readdLease)
		for i := range others {
			row, err := updateGrant(tx, others[i].ID, "", readdStates, map[string]any{
				"state":        string(access.GrantGranting),
				"checked":      true,
				"pre_existing": false,
				"shared":       false,
				"claimed_by":   owner,
				"claim_until":  until,
			})
			if err != nil {
				return fmt.Errorf("move grant %s back to granting: %w", others[i].ID, err)
			}
			g, err := fromGrantRow(&row)
			if err != nil {
				return err
			}
			readd = append(readd, g)
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("finish revocation of grant %s: %w", grantID, err)
	}
	return readd, nil
}

// RetryRevoke records a failed removal of grant grantID (active, revoking
// or irrevocable, claimed by owner): f's attempts, error (and whether it is
// permanent) and next due time, and the claim released. With
// f.Irrevocable the grant becomes irrevocable; without, its state is kept
// (an irrevocable grant stays irrevocable, a revoking one revoking: the
// removal may have happened). ev is appended. Otherwise
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
		return appendGrantAudit(tx, &row, now(), ev)
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

// CloseGone closes an active grant whose member is no longer in the group
// (removed outside jitbot): revoked at at (zero: now), claim released,
// request expired, ev appended (At defaults to at). The membership is gone,
// so its ledger row stops being pre-existing. A grant no longer active
// gives access.ErrStaleGrant (or access.ErrNotFound) and no change.
func (db *DB) CloseGone(ctx context.Context, grantID string, at time.Time, ev access.AuditEvent) error {
	at = orNow(at)
	err := db.tx(ctx, func(tx *gorm.DB) error {
		group, user, _, err := db.lockGrantMembership(tx, grantID)
		if err != nil {
			return err
		}
		if err := closeGrant(tx, grantID, "", states(access.GrantActive), at, ev); err != nil {
			return err
		}
		return setPreExisting(tx, group, user, false)
	})
	if err != nil {
		return fmt.Errorf("close grant %s of a departed member: %w", grantID, err)
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
