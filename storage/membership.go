package storage

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"slices"
	"time"

	"gorm.io/gorm"
	"gorm.io/gorm/clause"

	"github.com/jitbot/jitbot/access"
)

// WithMembership runs fn in one transaction with the ledger row of (group,
// user) locked: it is inserted when missing (UpdatedAt at), then selected
// FOR UPDATE on PostgreSQL; on SQLite the transaction (BEGIN IMMEDIATE)
// holds the database's write lock, which serialises every writer. fn gets
// the membership as stored, its live grants oldest approval first, and the
// writes of membershipTx. An error from fn rolls everything back and is
// returned as is. The choices are fn's: this only locks and persists.
func (db *DB) WithMembership(ctx context.Context, groupID, userID string, at time.Time, fn func(m *access.Membership, tx access.MembershipTx) error) error {
	if at.IsZero() {
		return fmt.Errorf("lock membership of %s in %s: time is zero", userID, groupID)
	}
	return db.tx(ctx, func(tx *gorm.DB) error {
		m, err := db.lockMembership(tx, groupID, userID, at)
		if err != nil {
			return err
		}
		mtx := &membershipTx{tx: tx, groupID: groupID, userID: userID}
		if err := fn(m, mtx); err != nil {
			return err
		}
		// The events go last: appending locks the chain head.
		return appendEvents(tx, mtx.events)
	})
}

// WithMemberships runs fn for each of keys in one transaction, each as
// WithMembership runs it (its ledger row locked, the membership as stored
// with what the earlier ones wrote), the ledger rows locked in the order of
// their keys so that two such transactions cannot deadlock. An error from
// fn(i) undoes only what fn(i) wrote and is results[i].Err (see
// decisionRunner). Once every fn has run, the events of the kept ones are
// appended together and everything is committed at once. Then the
// requests the kept ones moved are read back together
// (results[i].Requests), outside the transaction, so that the next writer
// need not wait for it; a failed read leaves them out (and is logged), as
// the decisions are committed. err is the failure of the transaction as a
// whole, when nothing was kept.
func (db *DB) WithMemberships(ctx context.Context, keys []access.MembershipKey, at time.Time, fn func(i int, m *access.Membership, tx access.MembershipTx) error) ([]access.MembershipResult, error) {
	if at.IsZero() {
		return nil, errors.New("lock memberships: time is zero")
	}
	order := make([]int, len(keys))
	for i := range order {
		order[i] = i
	}
	slices.SortStableFunc(order, func(a, b int) int {
		return cmp.Or(cmp.Compare(keys[a].GroupID, keys[b].GroupID), cmp.Compare(keys[a].UserID, keys[b].UserID))
	})
	var results []access.MembershipResult
	var moved [][]string
	// undone are the decisions that failed after writing, on SQLite: the
	// transaction is run again without them (at most once per key).
	undone := map[int]error{}
	for {
		err := db.tx(ctx, func(tx *gorm.DB) error {
			results = make([]access.MembershipResult, len(keys))
			var events []access.AuditEvent
			moved = make([][]string, len(keys))
			snapshots, err := db.lockMemberships(tx, keys, order, at)
			if err != nil {
				return err
			}
			run := db.decisionRunner(tx)
			for n, i := range order {
				if e, ok := undone[i]; ok {
					results[i].Err = e
					continue
				}
				k := keys[i]
				m := snapshots[n]
				if m == nil {
					// The key came before in this transaction: read it as
					// the earlier decision left it.
					if m, err = db.lockMembership(tx, k.GroupID, k.UserID, at); err != nil {
						return err
					}
				}
				mtx := &membershipTx{tx: tx, groupID: k.GroupID, userID: k.UserID}
				wrote, err := run(func(sp *gorm.DB) error {
					mtx.tx = sp
					return fn(i, m, mtx)
				})
				switch {
				case err != nil && wrote:
					undone[i] = err
					return errRunAgain
				case err != nil:
					results[i].Err = err
					continue
				}
				events = append(events, mtx.events...)
				moved[i] = mtx.moved
			}
			// The events go last: appending locks the chain head.
			return appendEvents(tx, events)
		})
		if errors.Is(err, errRunAgain) {
			continue
		}
		if err != nil {
			return nil, err
		}
		break
	}
	conn, cancel := db.conn(ctx)
	defer cancel()
	if err := readMoved(conn, moved, results); err != nil {
		db.logger.Warn("read back the requests of committed decisions", "err", err)
		for i := range results {
			results[i].Requests = nil
		}
	}
	return results, nil
}

// errRunAgain rolls back a transaction of WithMemberships that is to run
// again without a decision that failed after writing.
var errRunAgain = errors.New("run the decisions again without the one that failed")

// decisionRunner returns how WithMemberships runs one decision in tx: the
// decision's error, and whether it failed after writing, so that what it
// wrote must be undone by running the transaction again without it. On
// PostgreSQL each runs under a savepoint, which undoes its writes (and
// keeps the transaction usable after a failed statement): wrote is always
// false. On SQLite a savepoint costs a copy of every page the decision
// changes; there a decision runs as it is, its statements counted (see
// changeCount): one that fails after changing a row, or after a write
// statement failed, is to be undone. Decisions that fail do so before they
// write (a stale grant, found by its conditional update changing no row),
// so running again is rare.
func (db *DB) decisionRunner(tx *gorm.DB) func(fn func(tx *gorm.DB) error) (wrote bool, err error) {
	if db.driver != DriverSQLite {
		return func(fn func(tx *gorm.DB) error) (bool, error) {
			return false, tx.Transaction(fn)
		}
	}
	return func(fn func(tx *gorm.DB) error) (bool, error) {
		c := &changeCount{}
		ferr := fn(tx.WithContext(context.WithValue(tx.Statement.Context, changeCountKey{}, c)))
		return ferr != nil && (c.rows > 0 || c.failed), ferr
	}
}

// changeCount counts the writes of the statements run through a gorm
// handle whose context holds it (see registerChangeCount): the rows they
// inserted, updated or deleted, and whether one failed. One decision's
// statements run one after another: it needs no lock.
type changeCount struct {
	rows   int64
	failed bool
}

type changeCountKey struct{}

// registerChangeCount makes gdb count, into the changeCount of a
// statement's context if it has one, what each insert, update, delete and
// raw statement changed. A statement that failed counts as failed whatever
// it reports: on SQLite a statement that fails undoes its own changes, but
// one whose rows were returned (RETURNING) may fail while they are read.
func registerChangeCount(gdb *gorm.DB) error {
	count := func(d *gorm.DB) {
		c, ok := d.Statement.Context.Value(changeCountKey{}).(*changeCount)
		if !ok {
			return
		}
		if d.Error != nil {
			c.failed = true
		}
		c.rows += max(d.RowsAffected, 0)
	}
	cb := gdb.Callback()
	return errors.Join(
		cb.Create().After("gorm:create").Register("jitbot:count_changes", count),
		cb.Update().After("gorm:update").Register("jitbot:count_changes", count),
		cb.Delete().After("gorm:delete").Register("jitbot:count_changes", count),
		cb.Raw().After("gorm:raw").Register("jitbot:count_changes", count),
	)
}

// readMoved reads the requests of moved (those each kept decision moved)
// in one go and puts each decision's in its result.
func readMoved(tx *gorm.DB, moved [][]string, results []access.MembershipResult) error {
	var ids []string
	for _, m := range moved {
		ids = append(ids, m...)
	}
	if len(ids) == 0 {
		return nil
	}
	slices.Sort(ids)
	ids = slices.Compact(ids)
	byID := make(map[string]*access.Request, len(ids))
	for start := 0; start < len(ids); start += updateChunk {
		var rows []requestRow
		if err := tx.Where("id IN ?", ids[start:min(start+updateChunk, len(ids))]).Find(&rows).Error; err != nil {
			return fmt.Errorf("read back moved requests: %w", err)
		}
		reqs, err := loadRequests(tx, rows)
		if err != nil {
			return fmt.Errorf("read back moved requests: %w", err)
		}
		for j := range reqs {
			byID[reqs[j].ID] = &reqs[j]
		}
	}
	for i, m := range moved {
		for _, id := range m {
			if r := byID[id]; r != nil {
				results[i].Requests = append(results[i].Requests, *r)
			}
		}
	}
	return nil
}

// lockMemberships locks the ledger rows of keys in the given order (each
// key once, as lockLedger does) and then reads the live grants of all of
// them in one statement. It returns the membership of keys[order[n]] as
// snapshots[n], or nil where that key came earlier in order (it is to be
// read again once the earlier decision has written).
func (db *DB) lockMemberships(tx *gorm.DB, keys []access.MembershipKey, order []int, at time.Time) ([]*access.Membership, error) {
	snapshots := make([]*access.Membership, len(order))
	byKey := map[access.MembershipKey]*access.Membership{}
	var pairs [][]any
	for n, i := range order {
		k := keys[i]
		if byKey[k] != nil {
			continue
		}
		ledger, err := db.lockLedger(tx, k.GroupID, k.UserID, at)
		if err != nil {
			return nil, err
		}
		m := &access.Membership{GroupID: k.GroupID, UserID: k.UserID, PreExisting: ledger.PreExisting, Grants: []access.Grant{}}
		byKey[k], snapshots[n] = m, m
		pairs = append(pairs, []any{k.GroupID, k.UserID})
	}
	for start := 0; start < len(pairs); start += updateChunk {
		var rows []grantRow
		err := tx.Where("(group_id, user_id) IN ? AND state IN ?", pairs[start:min(start+updateChunk, len(pairs))], liveStates).
			Order("approved_at, id").Find(&rows).Error
		if err != nil {
			return nil, fmt.Errorf("read grants of %d memberships: %w", len(pairs), err)
		}
		grants, err := fromGrantRows(rows)
		if err != nil {
			return nil, err
		}
		for _, g := range grants {
			if m := byKey[access.MembershipKey{GroupID: g.GroupID, UserID: g.User.ObjectID}]; m != nil {
				m.Grants = append(m.Grants, g)
			}
		}
	}
	return snapshots, nil
}

// lockMembership inserts the ledger row of (group, user) when missing,
// locks it and reads the membership's live grants, oldest approval first.
func (db *DB) lockMembership(tx *gorm.DB, groupID, userID string, at time.Time) (*access.Membership, error) {
	ledger, err := db.lockLedger(tx, groupID, userID, at)
	if err != nil {
		return nil, err
	}
	var rows []grantRow
	err = tx.Where("group_id = ? AND user_id = ? AND state IN ?", groupID, userID, liveStates).
		Order("approved_at, id").Find(&rows).Error
	if err != nil {
		return nil, fmt.Errorf("read grants of %s in %s: %w", userID, groupID, err)
	}
	grants, err := fromGrantRows(rows)
	if err != nil {
		return nil, err
	}
	return &access.Membership{GroupID: groupID, UserID: userID, PreExisting: ledger.PreExisting, Grants: grants}, nil
}

// lockLedger returns the ledger row of (group, user), locked FOR UPDATE on
// PostgreSQL until tx ends, inserting it (UpdatedAt at) when missing. A row
// that exists is locked by the one read; a missing one is inserted, and is
// then this transaction's until it ends, or is found inserted by a
// concurrent transaction (the insert waits for it to end) and is then read
// and locked.
func (db *DB) lockLedger(tx *gorm.DB, groupID, userID string, at time.Time) (ledgerRow, error) {
	var rows []ledgerRow
	err := db.forUpdate(tx.Where("group_id = ? AND user_id = ?", groupID, userID), "").Limit(1).Find(&rows).Error
	if err != nil {
		return ledgerRow{}, fmt.Errorf("lock ledger row of %s in %s: %w", userID, groupID, err)
	}
	if len(rows) == 1 {
		return rows[0], nil
	}
	fresh := ledgerRow{GroupID: groupID, UserID: userID, UpdatedAt: dbTime(at)}
	res := tx.Clauses(clause.OnConflict{DoNothing: true}).Create(&fresh)
	if res.Error != nil {
		return ledgerRow{}, fmt.Errorf("insert ledger row of %s in %s: %w", userID, groupID, res.Error)
	}
	if res.RowsAffected == 1 {
		// Inserted by this transaction: no other sees it, or inserts it,
		// until it ends.
		return fresh, nil
	}
	var ledger ledgerRow
	err = db.forUpdate(tx.Where("group_id = ? AND user_id = ?", groupID, userID), "").Take(&ledger).Error
	if err != nil {
		return ledgerRow{}, fmt.Errorf("lock ledger row of %s in %s: %w", userID, groupID, err)
	}
	return ledger, nil
}

// membershipTx is the access.MembershipTx of one locked membership.
type membershipTx struct {
	tx              *gorm.DB
	groupID, userID string
	// events are appended, in order, once the decision returns.
	events []access.AuditEvent
	// requests are the request rows this transaction updated, as the
	// update returned them, and grants the grant rows it inserted or
	// updated, as stored, by request (a request has at most one grant):
	// Request builds a request from them instead of reading them again.
	requests map[string]requestRow
	grants   map[string]grantRow
	// moved are the requests MoveRequest was asked to move, once each.
	moved []string
}

// keepRequest remembers row as this transaction stored it.
func (m *membershipTx) keepRequest(row requestRow) {
	if m.requests == nil {
		m.requests = map[string]requestRow{}
	}
	m.requests[row.ID] = row
}

// keepGrant remembers row as this transaction stored it.
func (m *membershipTx) keepGrant(row grantRow) {
	if m.grants == nil {
		m.grants = map[string]grantRow{}
	}
	m.grants[row.RequestID] = row
}

// Request returns request id with its decisions, grant and feedback as
// this transaction stores them: once it commits, what it returns is what
// is committed. The request row and the grant this transaction wrote come
// from its own writes (the rows the updates returned, the grant as
// inserted); the rest is read in the transaction.
func (m *membershipTx) Request(id string) (*access.Request, error) {
	row, ok := m.requests[id]
	if !ok {
		var rows []requestRow
		if err := m.tx.Where("id = ?", id).Limit(1).Find(&rows).Error; err != nil {
			return nil, fmt.Errorf("read request %s: %w", id, err)
		}
		if len(rows) == 0 {
			return nil, fmt.Errorf("read request %s: %w", id, access.ErrNotFound)
		}
		row = rows[0]
	}
	var known map[string]grantRow
	if g, ok := m.grants[id]; ok {
		known = map[string]grantRow{id: g}
	}
	reqs, err := loadRequestsKnowing(m.tx, []requestRow{row}, known)
	if err != nil {
		return nil, fmt.Errorf("read request %s: %w", id, err)
	}
	return &reqs[0], nil
}

// Decide records d on request requestID and moves it to state to, if the
// request is pending and of this membership; otherwise
// access.ErrNotPending (or access.ErrNotFound). Moving it to scheduled
// records that it was approved ahead (approved_ahead).
func (m *membershipTx) Decide(requestID string, d access.Decision, to access.RequestState) error {
	if d.DecidedAt.IsZero() {
		return errors.New("decision has no time")
	}
	at := dbTime(d.DecidedAt)
	set := map[string]any{"state": string(to), "updated_at": at}
	if to == access.RequestScheduled {
		set["approved_ahead"] = true
	}
	// The request as updated comes back with the update, for Request.
	var row requestRow
	res := m.tx.Model(&row).Clauses(clause.Returning{}).
		Where("id = ? AND state = ? AND group_id = ? AND requester_id = ?", requestID, string(access.RequestPending), m.groupID, m.userID).
		Updates(set)
	if res.Error != nil {
		return fmt.Errorf("update request %s: %w", requestID, res.Error)
	}
	if res.RowsAffected == 0 {
		return missingOr(m.tx, &requestRow{}, requestID, access.ErrNotPending)
	}
	if row.ID != requestID {
		return fmt.Errorf("update request %s: the update returned request %q", requestID, row.ID)
	}
	m.keepRequest(row)
	return storeDecision(m.tx, requestID, d)
}

// Decisions returns the decisions on request requestID, oldest first, as
// this transaction reads them with the membership locked (on PostgreSQL
// each statement reads what was committed before it, so an approval
// committed by the lock's previous holder is seen).
func (m *membershipTx) Decisions(requestID string) ([]access.Decision, error) {
	if err := missingOr(m.tx, &requestRow{}, requestID, nil); err != nil {
		return nil, err
	}
	var rows []decisionRow
	if err := m.tx.Where("request_id = ?", requestID).Order("id").Find(&rows).Error; err != nil {
		return nil, fmt.Errorf("read decisions of %s: %w", requestID, err)
	}
	out := make([]access.Decision, len(rows))
	for i := range rows {
		out[i] = fromDecisionRow(&rows[i])
	}
	return out, nil
}

// InsertGrant stores g, which must be of this membership.
func (m *membershipTx) InsertGrant(g access.Grant) error {
	if g.GroupID != m.groupID || g.User.ObjectID != m.userID {
		return fmt.Errorf("store grant %s: not of the locked membership", g.ID)
	}
	row, err := toGrantRow(&g)
	if err != nil {
		return err
	}
	if err := m.tx.Create(&row).Error; err != nil {
		return fmt.Errorf("store grant %s: %w", g.ID, err)
	}
	m.keepGrant(row)
	return nil
}

// UpdateGrant applies u to a grant of this membership if it is in one of
// u.From and its claim is as u requires; otherwise access.ErrStaleGrant
// (or access.ErrNotFound) and no change.
func (m *membershipTx) UpdateGrant(u access.GrantUpdate) (access.Grant, error) {
	set := map[string]any{}
	if u.State != "" {
		set["state"] = string(u.State)
	}
	if !u.GrantedAt.IsZero() {
		set["granted_at"] = dbTime(u.GrantedAt)
	}
	if !u.RevokedAt.IsZero() {
		set["revoked_at"] = dbTime(u.RevokedAt)
	}
	if u.LastError != "" {
		set["last_error"] = u.LastError
	}
	if u.MarkChecked {
		set["checked"] = true
	}
	if u.ClearPreExisting {
		set["pre_existing"] = false
	}
	if u.ClearShared {
		set["shared"] = false
	}
	if !u.DueAt.IsZero() {
		set["due_at"] = dbTime(u.DueAt)
	}
	if e := u.Early; e != nil {
		set["early_kind"], set["early_by_id"], set["early_by_name"] = string(e.Kind), e.By.ObjectID, e.By.Name
		set["early_reason"], set["early_at"] = e.Reason, optionalTime(e.At)
	}
	switch {
	case !u.RemindAt.IsZero() && u.ClearRemind:
		return access.Grant{}, fmt.Errorf("update grant %s: set and clear the reminder at once", u.ID)
	case !u.RemindAt.IsZero():
		set["remind_at"] = dbTime(u.RemindAt)
	case u.ClearRemind:
		set["remind_at"] = nil
	}
	if !u.ExpiresAt.IsZero() {
		set["expires_at"] = dbTime(u.ExpiresAt)
	}
	if x := u.Extended; x != nil {
		set["extended_by_id"], set["extended_by_name"], set["extended_ns"] = x.By.ObjectID, x.By.Name, int64(x.Added)
		set["extended_reason"], set["extended_at"], set["extended_count"] = x.Reason, optionalTime(x.At), int64(x.Count)
	}
	switch {
	case u.Release && u.ClaimBy != "":
		return access.Grant{}, fmt.Errorf("update grant %s: release and claim at once", u.ID)
	case u.Release:
		released(set)
	case u.ClaimBy != "":
		if u.ClaimUntil.IsZero() {
			return access.Grant{}, fmt.Errorf("update grant %s: claim has no end", u.ID)
		}
		set["claimed_by"], set["claim_until"] = u.ClaimBy, dbTime(u.ClaimUntil)
	}
	if len(set) == 0 {
		return access.Grant{}, fmt.Errorf("update grant %s: nothing to change", u.ID)
	}
	// The grant as updated comes back with the update (RETURNING, on
	// SQLite and PostgreSQL alike) rather than being read again under the
	// lock.
	var row grantRow
	q := m.tx.Model(&row).Clauses(clause.Returning{}).
		Where("id = ? AND group_id = ? AND user_id = ? AND state IN ?", u.ID, m.groupID, m.userID, states(u.From...))
	switch {
	case u.Owner != "":
		q = q.Where("claimed_by = ?", u.Owner)
	case u.AnyClaim:
	case u.At.IsZero():
		return access.Grant{}, fmt.Errorf("update grant %s: no owner and no time to check the claim at", u.ID)
	default:
		q = q.Where("claim_until IS NULL OR claim_until <= ?", dbTime(u.At))
	}
	if !u.NotDueAt.IsZero() {
		q = q.Where("due_at > ?", dbTime(u.NotDueAt))
	}
	if u.Unreviewed {
		q = q.Where("reviewed_at IS NULL")
	}
	res := q.Updates(set)
	if res.Error != nil {
		return access.Grant{}, fmt.Errorf("update grant %s: %w", u.ID, res.Error)
	}
	if res.RowsAffected == 0 {
		return access.Grant{}, missingOr(m.tx, &grantRow{}, u.ID, access.ErrStaleGrant)
	}
	if row.ID != u.ID {
		return access.Grant{}, fmt.Errorf("update grant %s: the update returned grant %q", u.ID, row.ID)
	}
	m.keepGrant(row)
	return fromGrantRow(&row)
}

// MoveRequest moves request id to state to if it is in one of the states
// from.
func (m *membershipTx) MoveRequest(id string, from []access.RequestState, to access.RequestState, at time.Time) error {
	if at.IsZero() {
		return fmt.Errorf("update request %s: time is zero", id)
	}
	err := m.tx.Model(&requestRow{}).Where("id = ? AND state IN ?", id, requestStates(from...)).
		Updates(map[string]any{"state": string(to), "updated_at": dbTime(at)}).Error
	if err != nil {
		return fmt.Errorf("update request %s: %w", id, err)
	}
	// The row may have changed: Request reads it again.
	delete(m.requests, id)
	if !slices.Contains(m.moved, id) {
		m.moved = append(m.moved, id)
	}
	return nil
}

// SetPreExisting records whether the membership pre-existed.
func (m *membershipTx) SetPreExisting(pre bool, at time.Time) error {
	if at.IsZero() {
		return errors.New("update ledger row: time is zero")
	}
	err := m.tx.Model(&ledgerRow{}).Where("group_id = ? AND user_id = ?", m.groupID, m.userID).
		Updates(map[string]any{"pre_existing": pre, "updated_at": dbTime(at)}).Error
	if err != nil {
		return fmt.Errorf("update ledger row of %s in %s: %w", m.userID, m.groupID, err)
	}
	return nil
}

// Append appends ev to the audit log when the decision returns (after its
// other writes, see appendAudit).
func (m *membershipTx) Append(ev access.AuditEvent) error {
	if ev.Action == "" {
		return errors.New("audit event has no action")
	}
	if ev.At.IsZero() {
		return fmt.Errorf("audit event %s has no time", ev.Action)
	}
	m.events = append(m.events, ev)
	return nil
}
