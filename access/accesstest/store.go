package accesstest

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"
	"sync"
	"time"

	"github.com/google/uuid"

	"github.com/jitbot/jitbot/access"
	"github.com/jitbot/jitbot/audit"
)

var _ access.Store = (*Store)(nil)

// Store is an access.Store kept in memory, with the semantics of the
// database store: conditional writes, ErrDuplicate for a second pending
// request, ErrNotPending, ErrStaleGrant for a grant changed or claimed by
// another owner, a membership transaction that is rolled back when its
// function fails, and times stored in UTC at microsecond precision. One
// mutex serialises every call, which is what the ledger lock gives the
// database store. Its zero value is not usable; call NewStore.
type Store struct {
	mu       sync.Mutex
	requests map[string]*access.Request // without Grant; decisions included
	grants   map[string]*access.Grant
	ledger   map[[2]string]*ledgerEntry // by {group, user}
	drift    map[[2]string]time.Time
	feedback map[string]access.Feedback // by request id
	audit    []access.AuditEvent        // in chain order
	head     access.ChainHead
	// checkpoints are in ascending Seq.
	checkpoints []access.Checkpoint
	nextID      int64
	// downloads are the download links used, by id.
	downloads map[string]bool
}

type ledgerEntry struct {
	preExisting bool
	updatedAt   time.Time
}

// NewStore returns an empty store.
func NewStore() *Store {
	return &Store{
		requests:  map[string]*access.Request{},
		grants:    map[string]*access.Grant{},
		ledger:    map[[2]string]*ledgerEntry{},
		drift:     map[[2]string]time.Time{},
		downloads: map[string]bool{},
		feedback:  map[string]access.Feedback{},
	}
}

// stored is t as the database stores it: UTC, microsecond precision.
func stored(t time.Time) time.Time {
	if t.IsZero() {
		return time.Time{}
	}
	return t.UTC().Truncate(time.Microsecond)
}

func live(s access.GrantState) bool { return s.Live() }

func ending(s access.GrantState) bool {
	return s == access.GrantActive || s == access.GrantRevoking || s == access.GrantIrrevocable
}

// claimFree reports whether no live claim is held on g at t.
func claimFree(g *access.Grant, t time.Time) bool {
	return g.ClaimUntil.IsZero() || !g.ClaimUntil.After(t)
}

func release(g *access.Grant) { g.ClaimedBy, g.ClaimUntil = "", time.Time{} }

func checkOwner(owner string) error {
	if owner == "" {
		return errors.New("owner is empty")
	}
	return nil
}

// request returns a copy of request id with its grant, or nil.
func (s *Store) request(id string) *access.Request {
	r, ok := s.requests[id]
	if !ok {
		return nil
	}
	out := *r
	out.Decisions = slices.Clone(r.Decisions)
	out.Grant, out.Feedback = nil, nil
	if f, ok := s.feedback[id]; ok {
		out.Feedback = &f
	}
	for _, g := range s.grants {
		if g.RequestID == id {
			c := *g
			out.Grant = &c
		}
	}
	return &out
}

func (s *Store) appendAudit(ev access.AuditEvent) error {
	if ev.Action == "" {
		return errors.New("audit event has no action")
	}
	if ev.At.IsZero() {
		return fmt.Errorf("audit event %s has no time", ev.Action)
	}
	s.nextID++
	ev.ID = s.nextID
	ev = audit.Link(s.head, ev)
	s.head = audit.Head(ev)
	s.audit = append(s.audit, ev)
	return nil
}

func grantEvent(ev access.AuditEvent, g *access.Grant, at time.Time) access.AuditEvent {
	if ev.At.IsZero() {
		ev.At = at
	}
	if ev.RequestID == "" {
		ev.RequestID = g.RequestID
	}
	return ev
}

// CreateRequest stores req as a new pending request, as the database store
// does: ID defaults to a new UUID, CreatedAt to ev.At (one is required),
// UpdatedAt to CreatedAt; a second pending request of the requester for
// the profile gives the first with ErrDuplicate.
func (s *Store) CreateRequest(_ context.Context, req *access.Request, ev access.AuditEvent) (*access.Request, error) {
	r, ev, err := access.NewPendingRequest(req, ev, uuid.NewString)
	if err != nil {
		return nil, err
	}
	r.CreatedAt, r.UpdatedAt = stored(r.CreatedAt), stored(r.UpdatedAt)
	r.DecideBy, r.NextReminderAt, r.ExtendsFrom = stored(r.DecideBy), stored(r.NextReminderAt), stored(r.ExtendsFrom)
	r.EscalateAt, r.StartsAt = stored(r.EscalateAt), stored(r.StartsAt)
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, ex := range s.requests {
		if ex.State == access.RequestPending && ex.Requester.ObjectID == r.Requester.ObjectID && ex.Profile == r.Profile {
			return s.request(ex.ID), fmt.Errorf("create request for %s on profile %s: %w", r.Requester.ObjectID, r.Profile, access.ErrDuplicate)
		}
	}
	if _, dup := s.requests[r.ID]; dup {
		return nil, fmt.Errorf("create request %s: id already used", r.ID)
	}
	if err := s.appendAudit(ev); err != nil {
		return nil, fmt.Errorf("create request %s: %w", r.ID, err)
	}
	keep := r
	s.requests[r.ID] = &keep
	*req = r
	return nil, nil
}

// GetRequest returns a request with its decisions and grant, or ErrNotFound.
func (s *Store) GetRequest(_ context.Context, id string) (*access.Request, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	r := s.request(id)
	if r == nil {
		return nil, fmt.Errorf("get request %s: %w", id, access.ErrNotFound)
	}
	return r, nil
}

// RecordFeedback stores the requester's feedback on a request once and
// appends ev; a second time it changes nothing and returns
// ErrFeedbackRecorded.
func (s *Store) RecordFeedback(_ context.Context, requestID string, f access.Feedback, ev access.AuditEvent) error {
	if f.At.IsZero() {
		return fmt.Errorf("record feedback on %s: feedback has no time", requestID)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, ok := s.requests[requestID]; !ok {
		return fmt.Errorf("record feedback on %s: %w", requestID, access.ErrNotFound)
	}
	if _, done := s.feedback[requestID]; done {
		return fmt.Errorf("record feedback on %s: %w", requestID, access.ErrFeedbackRecorded)
	}
	if ev.At.IsZero() {
		ev.At = f.At
	}
	if ev.RequestID == "" {
		ev.RequestID = requestID
	}
	if err := s.appendAudit(ev); err != nil {
		return fmt.Errorf("record feedback on %s: %w", requestID, err)
	}
	f.At = stored(f.At)
	s.feedback[requestID] = f
	return nil
}

// SetApprovalCard records where the approval card was posted.
func (s *Store) SetApprovalCard(_ context.Context, id string, chat access.ConversationRef, activityID string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	r, ok := s.requests[id]
	if !ok {
		return fmt.Errorf("set approval card of request %s: %w", id, access.ErrNotFound)
	}
	r.ApprovalChat, r.ApprovalActivityID = chat, activityID
	return nil
}

// Deny records a denial of a pending request.
func (s *Store) Deny(_ context.Context, id string, d access.Decision, ev access.AuditEvent) (*access.Request, error) {
	if d.Verdict != access.Deny {
		return nil, fmt.Errorf("deny request %s: verdict is %q", id, d.Verdict)
	}
	if d.DecidedAt.IsZero() {
		return nil, fmt.Errorf("deny request %s: decision has no time", id)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	r, ok := s.requests[id]
	switch {
	case !ok:
		return nil, fmt.Errorf("deny request %s: %w", id, access.ErrNotFound)
	case r.State != access.RequestPending:
		return nil, fmt.Errorf("deny request %s: %w", id, access.ErrNotPending)
	}
	if ev.At.IsZero() {
		ev.At = d.DecidedAt
	}
	if ev.RequestID == "" {
		ev.RequestID = id
	}
	if err := s.appendAudit(ev); err != nil {
		return nil, fmt.Errorf("deny request %s: %w", id, err)
	}
	d.DecidedAt = stored(d.DecidedAt)
	r.State, r.UpdatedAt = access.RequestDenied, d.DecidedAt
	r.Decisions = append(r.Decisions, d)
	return s.request(id), nil
}

// OpenRequests returns the user's pending, scheduled, approved and active requests,
// newest first.
func (s *Store) OpenRequests(_ context.Context, userID string) ([]access.Request, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []access.Request
	for _, r := range s.requests {
		switch r.State {
		case access.RequestPending, access.RequestScheduled, access.RequestApproved, access.RequestActive:
			if r.Requester.ObjectID == userID {
				out = append(out, *s.request(r.ID))
			}
		}
	}
	slices.SortFunc(out, func(a, b access.Request) int {
		if c := b.CreatedAt.Compare(a.CreatedAt); c != 0 {
			return c
		}
		return cmp.Compare(b.ID, a.ID)
	})
	return out, nil
}

// EachRequest calls fn for every request matching q, oldest first (by
// CreatedAt, then ID), as the database store does. The matching requests
// are copied under the lock and fn runs without it, so fn may call the
// store.
func (s *Store) EachRequest(ctx context.Context, q access.RequestQuery, fn func(access.Request) error) error {
	s.mu.Lock()
	var out []access.Request
	for _, r := range s.requests {
		if access.MatchRequest(q, r) {
			out = append(out, *s.request(r.ID))
		}
	}
	s.mu.Unlock()
	slices.SortFunc(out, func(a, b access.Request) int {
		if c := a.CreatedAt.Compare(b.CreatedAt); c != 0 {
			return c
		}
		return cmp.Compare(a.ID, b.ID)
	})
	for _, r := range out {
		if err := ctx.Err(); err != nil {
			return err
		}
		if err := fn(r); err != nil {
			return err
		}
	}
	return nil
}

// byApproval orders grants oldest approval first, then by id.
func byApproval(a, b access.Grant) int {
	if c := a.ApprovedAt.Compare(b.ApprovedAt); c != 0 {
		return c
	}
	return cmp.Compare(a.ID, b.ID)
}

// snapshot is the store's state, for rolling a membership transaction back.
type snapshot struct {
	requests map[string]access.Request
	grants   map[string]access.Grant
	ledger   map[[2]string]ledgerEntry
	audit    int
	head     access.ChainHead
	nextID   int64
}

func (s *Store) save() snapshot {
	sn := snapshot{
		requests: make(map[string]access.Request, len(s.requests)),
		grants:   make(map[string]access.Grant, len(s.grants)),
		ledger:   make(map[[2]string]ledgerEntry, len(s.ledger)),
		audit:    len(s.audit), head: s.head, nextID: s.nextID,
	}
	for k, r := range s.requests {
		c := *r
		c.Decisions = slices.Clone(r.Decisions)
		sn.requests[k] = c
	}
	for k, g := range s.grants {
		sn.grants[k] = *g
	}
	for k, l := range s.ledger {
		sn.ledger[k] = *l
	}
	return sn
}

func (s *Store) restore(sn snapshot) {
	s.requests = make(map[string]*access.Request, len(sn.requests))
	for k, r := range sn.requests {
		s.requests[k] = &r
	}
	s.grants = make(map[string]*access.Grant, len(sn.grants))
	for k, g := range sn.grants {
		s.grants[k] = &g
	}
	s.ledger = make(map[[2]string]*ledgerEntry, len(sn.ledger))
	for k, l := range sn.ledger {
		s.ledger[k] = &l
	}
	s.audit = s.audit[:sn.audit]
	s.head = sn.head
	s.nextID = sn.nextID
}

// WithMembership runs fn with the store locked: the ledger entry of (group,
// user) is created when missing, fn gets the membership's live grants
// oldest approval first, and everything fn wrote is undone when it fails
// or panics.
func (s *Store) WithMembership(_ context.Context, groupID, userID string, at time.Time, fn func(m *access.Membership, tx access.MembershipTx) error) error {
	return s.withMembership(groupID, userID, at, func(m *access.Membership, tx *membershipTx) error { return fn(m, tx) })
}

// withMembership is WithMembership with the transaction's own type.
func (s *Store) withMembership(groupID, userID string, at time.Time, fn func(m *access.Membership, tx *membershipTx) error) error {
	if at.IsZero() {
		return fmt.Errorf("lock membership of %s in %s: time is zero", userID, groupID)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	sn := s.save()
	key := [2]string{groupID, userID}
	if s.ledger[key] == nil {
		s.ledger[key] = &ledgerEntry{updatedAt: stored(at)}
	}
	m := &access.Membership{GroupID: groupID, UserID: userID, PreExisting: s.ledger[key].preExisting}
	for _, g := range s.grants {
		if g.GroupID == groupID && g.User.ObjectID == userID && live(g.State) {
			m.Grants = append(m.Grants, *g)
		}
	}
	slices.SortFunc(m.Grants, byApproval)
	committed := false
	defer func() {
		if !committed { // fn failed or panicked
			s.restore(sn)
		}
	}()
	if err := fn(m, &membershipTx{s: s, key: key}); err != nil {
		return err
	}
	committed = true
	return nil
}

// WithMemberships runs fn for each of keys, in order, each as
// WithMembership runs it: a failing fn(i) undoes only its own writes. The
// requests a kept fn(i) moved come back in results[i].Requests.
func (s *Store) WithMemberships(ctx context.Context, keys []access.MembershipKey, at time.Time, fn func(i int, m *access.Membership, tx access.MembershipTx) error) ([]access.MembershipResult, error) {
	if at.IsZero() {
		return nil, errors.New("lock memberships: time is zero")
	}
	results := make([]access.MembershipResult, len(keys))
	for i, k := range keys {
		var moved []string
		results[i].Err = s.withMembership(k.GroupID, k.UserID, at, func(m *access.Membership, tx *membershipTx) error {
			err := fn(i, m, tx)
			moved = tx.moved
			return err
		})
		if results[i].Err != nil {
			continue
		}
		s.mu.Lock()
		for _, id := range moved {
			if r := s.request(id); r != nil {
				results[i].Requests = append(results[i].Requests, *r)
			}
		}
		s.mu.Unlock()
	}
	return results, nil
}

// membershipTx writes to a Store whose lock WithMembership holds.
type membershipTx struct {
	s   *Store
	key [2]string
	// moved are the requests MoveRequest was asked to move, once each.
	moved []string
}

func (t *membershipTx) Decide(requestID string, d access.Decision, to access.RequestState) error {
	if d.DecidedAt.IsZero() {
		return errors.New("decision has no time")
	}
	r, ok := t.s.requests[requestID]
	switch {
	case !ok:
		return access.ErrNotFound
	case r.State != access.RequestPending || r.GroupID != t.key[0] || r.Requester.ObjectID != t.key[1]:
		return access.ErrNotPending
	}
	d.DecidedAt = stored(d.DecidedAt)
	r.State, r.UpdatedAt = to, d.DecidedAt
	if to == access.RequestScheduled {
		r.ApprovedAhead = true
	}
	r.Decisions = append(r.Decisions, d)
	return nil
}

func (t *membershipTx) Decisions(requestID string) ([]access.Decision, error) {
	r, ok := t.s.requests[requestID]
	if !ok {
		return nil, access.ErrNotFound
	}
	return slices.Clone(r.Decisions), nil
}

func (t *membershipTx) InsertGrant(g access.Grant) error {
	if g.GroupID != t.key[0] || g.User.ObjectID != t.key[1] {
		return fmt.Errorf("store grant %s: not of the locked membership", g.ID)
	}
	if _, ok := t.s.requests[g.RequestID]; !ok {
		return fmt.Errorf("store grant %s: request %s does not exist", g.ID, g.RequestID)
	}
	if _, dup := t.s.grants[g.ID]; dup {
		return fmt.Errorf("store grant %s: id already used", g.ID)
	}
	for _, o := range t.s.grants {
		if o.RequestID == g.RequestID {
			return fmt.Errorf("store grant %s: request %s has a grant already", g.ID, g.RequestID)
		}
	}
	for _, p := range []*time.Time{&g.ApprovedAt, &g.ExpiresAt, &g.GrantedAt, &g.RevokedAt, &g.DueAt, &g.ClaimUntil, &g.RemindAt, &g.ReviewBy, &g.ReviewDueAt} {
		*p = stored(*p)
	}
	t.s.grants[g.ID] = &g
	return nil
}

func (t *membershipTx) UpdateGrant(u access.GrantUpdate) (access.Grant, error) {
	switch {
	case u.Release && u.ClaimBy != "":
		return access.Grant{}, fmt.Errorf("update grant %s: release and claim at once", u.ID)
	case u.ClaimBy != "" && u.ClaimUntil.IsZero():
		return access.Grant{}, fmt.Errorf("update grant %s: claim has no end", u.ID)
	case u.Owner == "" && !u.AnyClaim && u.At.IsZero():
		return access.Grant{}, fmt.Errorf("update grant %s: no owner and no time to check the claim at", u.ID)
	case u.State == "" && u.GrantedAt.IsZero() && u.RevokedAt.IsZero() && u.LastError == "" && !u.MarkChecked &&
		!u.ClearPreExisting && !u.ClearShared && !u.Release && u.ClaimBy == "" && u.DueAt.IsZero() && u.Early == nil &&
		u.ExpiresAt.IsZero() && u.RemindAt.IsZero() && !u.ClearRemind && u.Extended == nil:
		return access.Grant{}, fmt.Errorf("update grant %s: nothing to change", u.ID)
	}
	g, ok := t.s.grants[u.ID]
	if !ok {
		return access.Grant{}, access.ErrNotFound
	}
	switch {
	case g.GroupID != t.key[0] || g.User.ObjectID != t.key[1] || !slices.Contains(u.From, g.State):
		return access.Grant{}, access.ErrStaleGrant
	case u.Owner != "" && g.ClaimedBy != u.Owner:
		return access.Grant{}, access.ErrStaleGrant
	case u.Owner == "" && !u.AnyClaim && !claimFree(g, stored(u.At)):
		return access.Grant{}, access.ErrStaleGrant
	case !u.NotDueAt.IsZero() && !g.DueAt.After(stored(u.NotDueAt)):
		return access.Grant{}, access.ErrStaleGrant
	case u.Unreviewed && !g.Review.At.IsZero():
		return access.Grant{}, access.ErrStaleGrant
	}
	switch {
	case !u.RemindAt.IsZero() && u.ClearRemind:
		return access.Grant{}, fmt.Errorf("update grant %s: set and clear the reminder at once", u.ID)
	case !u.RemindAt.IsZero():
		g.RemindAt = stored(u.RemindAt)
	case u.ClearRemind:
		g.RemindAt = time.Time{}
	}
	if !u.ExpiresAt.IsZero() {
		g.ExpiresAt = stored(u.ExpiresAt)
	}
	if u.Extended != nil {
		x := *u.Extended
		x.At = stored(x.At)
		g.Extended = x
	}
	if u.State != "" {
		g.State = u.State
	}
	if !u.GrantedAt.IsZero() {
		g.GrantedAt = stored(u.GrantedAt)
	}
	if !u.RevokedAt.IsZero() {
		g.RevokedAt = stored(u.RevokedAt)
	}
	if u.LastError != "" {
		g.LastError = u.LastError
	}
	if !u.DueAt.IsZero() {
		g.DueAt = stored(u.DueAt)
	}
	if u.Early != nil {
		e := *u.Early
		e.At = stored(e.At)
		g.Early = e
	}
	g.Checked = g.Checked || u.MarkChecked
	g.PreExisting = g.PreExisting && !u.ClearPreExisting
	g.Shared = g.Shared && !u.ClearShared
	switch {
	case u.Release:
		release(g)
	case u.ClaimBy != "":
		g.ClaimedBy, g.ClaimUntil = u.ClaimBy, stored(u.ClaimUntil)
	}
	return *g, nil
}

func (t *membershipTx) MoveRequest(id string, from []access.RequestState, to access.RequestState, at time.Time) error {
	if at.IsZero() {
		return fmt.Errorf("update request %s: time is zero", id)
	}
	if r, ok := t.s.requests[id]; ok && slices.Contains(from, r.State) {
		r.State, r.UpdatedAt = to, stored(at)
	}
	if !slices.Contains(t.moved, id) {
		t.moved = append(t.moved, id)
	}
	return nil
}

func (t *membershipTx) SetPreExisting(pre bool, at time.Time) error {
	if at.IsZero() {
		return errors.New("update ledger row: time is zero")
	}
	l := t.s.ledger[t.key]
	l.preExisting, l.updatedAt = pre, stored(at)
	return nil
}

func (t *membershipTx) Append(ev access.AuditEvent) error { return t.s.appendAudit(ev) }

func (t *membershipTx) Request(id string) (*access.Request, error) {
	r := t.s.request(id)
	if r == nil {
		return nil, fmt.Errorf("read request %s: %w", id, access.ErrNotFound)
	}
	return r, nil
}

// RecordCheck stores, once per grant, whether the user already was a member.
func (s *Store) RecordCheck(_ context.Context, grantID, owner string, preExisting bool) error {
	if err := checkOwner(owner); err != nil {
		return fmt.Errorf("record membership check of grant %s: %w", grantID, err)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	g, ok := s.grants[grantID]
	switch {
	case !ok:
		return fmt.Errorf("record membership check of grant %s: %w", grantID, access.ErrNotFound)
	case g.State != access.GrantGranting || g.ClaimedBy != owner || g.Checked:
		return fmt.Errorf("record membership check of grant %s: %w", grantID, access.ErrStaleGrant)
	}
	g.Checked, g.PreExisting = true, preExisting
	return nil
}

// workOrder is when a claimable grant's work became due.
func workOrder(g *access.Grant) time.Time {
	if g.State == access.GrantGranting {
		return g.ApprovedAt
	}
	return g.DueAt
}

// ClaimWork claims for owner until claimUntil up to limit grants (no limit
// when limit <= 0) that need work at now, earliest first.
func (s *Store) ClaimWork(_ context.Context, owner string, now, claimUntil time.Time, limit int) ([]access.Grant, error) {
	if err := checkOwner(owner); err != nil {
		return nil, fmt.Errorf("claim work: %w", err)
	}
	if claimUntil.IsZero() {
		return nil, errors.New("claim work: claim has no end")
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	now = stored(now)
	var due []*access.Grant
	for _, g := range s.grants {
		if live(g.State) && claimFree(g, now) && (g.State == access.GrantGranting || !g.DueAt.After(now)) {
			due = append(due, g)
		}
	}
	slices.SortFunc(due, func(a, b *access.Grant) int {
		if c := workOrder(a).Compare(workOrder(b)); c != 0 {
			return c
		}
		return cmp.Compare(a.ID, b.ID)
	})
	if limit > 0 && len(due) > limit {
		due = due[:limit]
	}
	out := make([]access.Grant, 0, len(due))
	for _, g := range due {
		g.ClaimedBy, g.ClaimUntil = owner, stored(claimUntil)
		out = append(out, *g)
	}
	return out, nil
}

// NextDue returns the earliest time at which ClaimWork may find work.
func (s *Store) NextDue(context.Context) (time.Time, bool, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	var next time.Time
	ok := false
	for _, g := range s.grants {
		if !live(g.State) {
			continue
		}
		var at time.Time
		switch {
		case g.State == access.GrantGranting && !g.ClaimUntil.IsZero():
			at = g.ClaimUntil
		case g.State == access.GrantGranting:
			at = g.ApprovedAt
		case g.ClaimUntil.After(g.DueAt):
			at = g.ClaimUntil
		default:
			at = g.DueAt
		}
		if !ok || at.Before(next) {
			next, ok = at, true
		}
	}
	return next, ok, nil
}

// RetryRevoke records a failed removal of a claimed grant.
func (s *Store) RetryRevoke(_ context.Context, grantID, owner string, f access.RevokeFailure, ev access.AuditEvent) error {
	if err := checkOwner(owner); err != nil {
		return fmt.Errorf("retry revocation of grant %s: %w", grantID, err)
	}
	if f.NextDue.IsZero() {
		return fmt.Errorf("retry revocation of grant %s: next due time is zero", grantID)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	g, ok := s.grants[grantID]
	switch {
	case !ok:
		return fmt.Errorf("retry revocation of grant %s: %w", grantID, access.ErrNotFound)
	case !ending(g.State) || g.ClaimedBy != owner:
		return fmt.Errorf("retry revocation of grant %s: %w", grantID, access.ErrStaleGrant)
	}
	if err := s.appendAudit(grantEvent(ev, g, time.Time{})); err != nil {
		return fmt.Errorf("retry revocation of grant %s: %w", grantID, err)
	}
	g.Attempts, g.DueAt, g.LastError, g.LastErrorPermanent = f.Attempts, stored(f.NextDue), f.Error, f.Permanent
	if f.Irrevocable {
		g.State = access.GrantIrrevocable
	}
	release(g)
	return nil
}

// SetAlert records where a grant's security alert card was posted.
func (s *Store) SetAlert(_ context.Context, grantID string, chat access.ConversationRef, activityID string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	g, ok := s.grants[grantID]
	if !ok {
		return fmt.Errorf("set alert of grant %s: %w", grantID, access.ErrNotFound)
	}
	g.AlertChat, g.AlertActivityID = chat, activityID
	return nil
}

// RetryNow makes a grant in state from, with no live claim at now, due at
// now.
func (s *Store) RetryNow(_ context.Context, grantID string, from access.GrantState, now time.Time, ev access.AuditEvent) error {
	if now.IsZero() {
		return fmt.Errorf("retry grant %s now: time is zero", grantID)
	}
	if !ending(from) {
		return fmt.Errorf("retry grant %s now: %w", grantID, access.ErrStaleGrant)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	now = stored(now)
	g, ok := s.grants[grantID]
	switch {
	case !ok:
		return fmt.Errorf("retry grant %s now: %w", grantID, access.ErrNotFound)
	case g.State != from || !claimFree(g, now):
		return fmt.Errorf("retry grant %s now: %w", grantID, access.ErrStaleGrant)
	}
	if err := s.appendAudit(grantEvent(ev, g, now)); err != nil {
		return fmt.Errorf("retry grant %s now: %w", grantID, err)
	}
	g.DueAt = now
	release(g)
	return nil
}

// ReleaseClaims drops every claim owner holds.
func (s *Store) ReleaseClaims(_ context.Context, owner string) error {
	if err := checkOwner(owner); err != nil {
		return fmt.Errorf("release claims: %w", err)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, g := range s.grants {
		if g.ClaimedBy == owner {
			release(g)
		}
	}
	return nil
}

// GetGrant returns one grant, or ErrNotFound.
func (s *Store) GetGrant(_ context.Context, id string) (*access.Grant, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	g, ok := s.grants[id]
	if !ok {
		return nil, fmt.Errorf("get grant %s: %w", id, access.ErrNotFound)
	}
	c := *g
	return &c, nil
}

// LiveGrants returns every live grant of a group, oldest approval first.
func (s *Store) LiveGrants(_ context.Context, groupID string) ([]access.Grant, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []access.Grant
	for _, g := range s.grants {
		if g.GroupID == groupID && live(g.State) {
			out = append(out, *g)
		}
	}
	slices.SortFunc(out, byApproval)
	return out, nil
}

// LiveMembers returns what drift detection reads of every live grant of a
// group, oldest approval first.
func (s *Store) LiveMembers(ctx context.Context, groupID string) ([]access.LiveMember, error) {
	gs, err := s.LiveGrants(ctx, groupID)
	if err != nil {
		return nil, err
	}
	out := make([]access.LiveMember, len(gs))
	for i, g := range gs {
		out[i] = access.LiveMember{GrantID: g.ID, UserID: g.User.ObjectID, State: g.State, PreExisting: g.PreExisting, GrantedAt: g.GrantedAt, ExpiresAt: g.ExpiresAt}
	}
	return out, nil
}

// PreExisting returns, sorted, the users whose membership of the group is
// recorded as pre-existing.
func (s *Store) PreExisting(_ context.Context, groupID string) ([]string, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []string
	for k, l := range s.ledger {
		if k[0] == groupID && l.preExisting {
			out = append(out, k[1])
		}
	}
	slices.Sort(out)
	return out, nil
}

// MarkDrift records an unexplained member of a group once.
func (s *Store) MarkDrift(_ context.Context, groupID, userID string, at time.Time, ev access.AuditEvent) (bool, error) {
	if at.IsZero() {
		return false, fmt.Errorf("record drift of %s in group %s: time is zero", userID, groupID)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	key := [2]string{groupID, userID}
	if _, seen := s.drift[key]; seen {
		return false, nil
	}
	if ev.At.IsZero() {
		ev.At = at
	}
	if err := s.appendAudit(ev); err != nil {
		return false, fmt.Errorf("record drift of %s in group %s: %w", userID, groupID, err)
	}
	s.drift[key] = stored(at)
	return true, nil
}

// ClearDrift forgets the recorded unexplained members of a group that are
// not in present.
func (s *Store) ClearDrift(_ context.Context, groupID string, present []string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, k := range slices.Collect(maps.Keys(s.drift)) {
		if k[0] == groupID && !slices.Contains(present, k[1]) {
			delete(s.drift, k)
		}
	}
	return nil
}

// AppendAudit appends an event; its action and time are required.
func (s *Store) AppendAudit(_ context.Context, ev access.AuditEvent) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if err := s.appendAudit(ev); err != nil {
		return fmt.Errorf("append audit event: %w", err)
	}
	return nil
}

// Audit returns the events matching f, oldest first (by time, then by
// order of appending).
func (s *Store) Audit(_ context.Context, f access.AuditFilter) ([]access.AuditEvent, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []access.AuditEvent
	for _, ev := range s.audit {
		switch {
		case f.RequestID != "" && ev.RequestID != f.RequestID:
		case !f.Since.IsZero() && ev.At.Before(stored(f.Since)):
		case !f.Until.IsZero() && !ev.At.Before(stored(f.Until)):
		default:
			out = append(out, ev)
		}
	}
	slices.SortStableFunc(out, func(a, b access.AuditEvent) int { return a.At.Compare(b.At) })
	if f.Limit > 0 && len(out) > f.Limit {
		out = out[:f.Limit]
	}
	return out, nil
}

// DownloadUsed reports whether the download link was recorded as used.
func (s *Store) DownloadUsed(_ context.Context, linkID string) (bool, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.downloads[linkID], nil
}

// RedeemDownload records the use of a download link and appends ev, once
// per link: a second use changes nothing and returns ErrLinkUsed.
func (s *Store) RedeemDownload(_ context.Context, linkID, userID string, ev access.AuditEvent) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if linkID == "" || userID == "" {
		return errors.New("redeem download: link id and user are required")
	}
	if s.downloads[linkID] {
		return fmt.Errorf("redeem download %s: %w", linkID, access.ErrLinkUsed)
	}
	if err := s.appendAudit(ev); err != nil {
		return fmt.Errorf("redeem download %s: %w", linkID, err)
	}
	s.downloads[linkID] = true
	return nil
}

// auditPage is how many events EachAudit copies at a time.
const auditPage = 1000

// EachAudit calls fn with every event matching q in chain order, copying a
// page at a time so that fn runs with the store unlocked.
func (s *Store) EachAudit(_ context.Context, q access.AuditQuery, fn func(access.AuditEvent) error) error {
	after := q.AfterSeq
	sent := 0
	for {
		s.mu.Lock()
		var page []access.AuditEvent
		done := true
		from, _ := slices.BinarySearchFunc(s.audit, after+1, func(e access.AuditEvent, seq int64) int { return cmp.Compare(e.Seq, seq) })
		for _, ev := range s.audit[from:] {
			if len(page) == auditPage || (q.Limit > 0 && sent+len(page) == q.Limit) {
				done = q.Limit > 0 && sent+len(page) == q.Limit
				break
			}
			after = ev.Seq
			sel := q
			sel.Since, sel.Until = stored(q.Since), stored(q.Until)
			if access.MatchAudit(sel, &ev) {
				page = append(page, ev)
			}
		}
		s.mu.Unlock()
		for _, ev := range page {
			if err := fn(ev); err != nil {
				return err
			}
		}
		sent += len(page)
		if done {
			return nil
		}
	}
}

// ChainHead returns the chain's head.
func (s *Store) ChainHead(context.Context) (access.ChainHead, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.head, nil
}

// AppendCheckpoint stores c; a second checkpoint of the same Seq is
// refused.
func (s *Store) AppendCheckpoint(_ context.Context, c access.Checkpoint) error {
	if c.Seq <= 0 || c.Hash == "" || c.At.IsZero() || c.Signature == "" {
		return fmt.Errorf("store audit checkpoint at seq %d: seq, hash, time and signature are required", c.Seq)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	c.At = stored(c.At)
	i, found := slices.BinarySearchFunc(s.checkpoints, c.Seq, func(e access.Checkpoint, seq int64) int { return cmp.Compare(e.Seq, seq) })
	if found {
		return fmt.Errorf("store audit checkpoint at seq %d: %w", c.Seq, access.ErrDuplicate)
	}
	s.checkpoints = slices.Insert(s.checkpoints, i, c)
	return nil
}

// EachCheckpoint calls fn with every checkpoint, ascending Seq.
func (s *Store) EachCheckpoint(_ context.Context, fn func(access.Checkpoint) error) error {
	s.mu.Lock()
	cs := slices.Clone(s.checkpoints)
	s.mu.Unlock()
	for _, c := range cs {
		if err := fn(c); err != nil {
			return err
		}
	}
	return nil
}

// PruneAudit removes the events up to c.Seq and the checkpoints before c,
// which must be stored as given.
func (s *Store) PruneAudit(_ context.Context, c access.Checkpoint) (int64, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	i, found := slices.BinarySearchFunc(s.checkpoints, c.Seq, func(e access.Checkpoint, seq int64) int { return cmp.Compare(e.Seq, seq) })
	if !found || s.checkpoints[i].Hash != c.Hash || s.checkpoints[i].Signature != c.Signature {
		return 0, fmt.Errorf("prune audit log to checkpoint %d: no such checkpoint stored", c.Seq)
	}
	n := 0
	for n < len(s.audit) && s.audit[n].Seq <= c.Seq {
		n++
	}
	s.audit = slices.Delete(s.audit, 0, n)
	s.checkpoints = slices.Delete(s.checkpoints, 0, i)
	return int64(n), nil
}
