package access

import (
	"context"
	"errors"
	"strings"
	"time"
)

// Store keeps requests, grants, the membership ledger and the audit log.
// Every method that changes state appends its audit event in the same
// transaction, so the log never misses a transition that happened. A store
// decides nothing about memberships: it locks, persists and answers
// queries; the decisions are this package's (see WithMembership).
//
// Several replicas may share one Store: work on a grant is claimed by one
// owner (a replica's id) for a lease, and every method that changes a claimed
// grant takes the owner and fails with ErrStaleGrant when the claim is no
// longer that owner's. A store never reads a clock: every time it stores
// comes from its caller.
type Store interface {
	RequestStore
	GrantStore
	AuditLog
	DownloadStore
}

// DownloadStore records the use of audit download links, so that a link is
// used once across every replica.
type DownloadStore interface {
	// RedeemDownload records the use of download link linkID by userID
	// and appends ev (its At is required, and is the time of use), in one
	// transaction. When the link was used before it changes nothing and
	// returns ErrLinkUsed.
	RedeemDownload(ctx context.Context, linkID, userID string, ev AuditEvent) error
	// DownloadUsed reports whether download link linkID was used (or
	// spent by a refusal) already.
	DownloadUsed(ctx context.Context, linkID string) (bool, error)
}

// RequestStore keeps requests and the decisions on them.
type RequestStore interface {
	// CreateRequest stores a new pending request (CreatedAt is required).
	// When the requester already has a pending request for the same
	// profile it stores nothing and returns that request with ErrDuplicate.
	CreateRequest(ctx context.Context, req *Request, ev AuditEvent) (existing *Request, err error)
	// GetRequest returns a request with its decisions and grant, or ErrNotFound.
	GetRequest(ctx context.Context, id string) (*Request, error)
	// SetApprovalCard records where the approval card was posted, or
	// ErrNotFound.
	SetApprovalCard(ctx context.Context, id string, chat ConversationRef, activityID string) error
	// Deny records a denial of a pending request: the request becomes
	// denied. When it is no longer pending it changes nothing and returns
	// ErrNotPending (ErrNotFound when there is no such request). It returns
	// the request as stored. Approvals go through RecordDecision.
	Deny(ctx context.Context, id string, d Decision, ev AuditEvent) (*Request, error)
	// OpenRequests returns the user's pending, approved and active requests,
	// newest first, with their grants.
	OpenRequests(ctx context.Context, userID string) ([]Request, error)
	// EachRequest calls fn for every request matching q, oldest first,
	// each with its decisions, grant and feedback, reading a page at a
	// time so that memory stays flat however many there are. It stops at
	// fn's first error and returns it.
	EachRequest(ctx context.Context, q RequestQuery, fn func(Request) error) error
	// RecordFeedback stores the requester's feedback f on request
	// requestID (f.At is required) and appends ev, in one transaction,
	// once: when the request already has feedback it changes nothing and
	// returns ErrFeedbackRecorded (ErrNotFound when there is no such
	// request). Whether feedback may be given is decided by the caller
	// (see FeedbackAsked); requests are loaded with their Feedback.
	RecordFeedback(ctx context.Context, requestID string, f Feedback, ev AuditEvent) error

	// CloseRequest moves request id, if it is still pending, to the final
	// state to (RequestCancelled or RequestTimedOut) at at and appends ev,
	// in one transaction, and returns the request as stored. When it is no
	// longer pending it changes nothing and returns ErrNotPending
	// (ErrNotFound when there is no such request): of concurrent closes and
	// decisions exactly one wins. Whether it may be closed is the caller's
	// decision (see Service.Cancel and the deadline).
	CloseRequest(ctx context.Context, id string, to RequestState, at time.Time, ev AuditEvent) (*Request, error)
	// DuePending returns up to limit pending requests whose DecideBy or
	// NextReminderAt is set and at or before now, oldest first.
	DuePending(ctx context.Context, now time.Time, limit int) ([]Request, error)
	// NextPending returns the earliest DecideBy or NextReminderAt of a
	// pending request; ok is false when there is none.
	NextPending(ctx context.Context) (due time.Time, ok bool, err error)
	// RecordReminder records reminder n of request id as sent, if the
	// request is pending and has sent n-1 reminders: Reminders becomes n,
	// NextReminderAt next (zero: no further reminder), and ev is appended,
	// in one transaction. Otherwise it changes nothing and returns
	// ErrNotPending (ErrNotFound): another replica sent it, or the request
	// was closed.
	RecordReminder(ctx context.Context, id string, n int, next time.Time, ev AuditEvent) error
	// UndatedPending returns up to limit pending requests that have no
	// deadline (stored before deadlines existed), oldest first.
	UndatedPending(ctx context.Context, limit int) ([]Request, error)
	// SetDeadline gives pending request id without a deadline its
	// deadline decideBy and first reminder next (zero: none). When the
	// request is no longer pending or has a deadline already it changes
	// nothing and returns ErrNotPending (ErrNotFound): another replica set
	// it, or the request was closed. ev is appended to the audit log in
	// the same transaction when the deadline is set.
	SetDeadline(ctx context.Context, id string, decideBy, next time.Time, ev AuditEvent) error

	// DueEscalations returns up to limit pending requests whose
	// EscalateAt is set and at or before now, oldest first.
	DueEscalations(ctx context.Context, now time.Time, limit int) ([]Request, error)
	// NextEscalation returns the earliest EscalateAt of a pending request;
	// ok is false when there is none.
	NextEscalation(ctx context.Context) (due time.Time, ok bool, err error)
	// RecordEscalation records the escalation of request id at at, if it
	// is pending and not escalated yet: EscalateAt is cleared, EscalatedAt
	// set, and ev appended, in one transaction. Otherwise ErrNotPending
	// (ErrNotFound) and no change: of replicas racing, one wins.
	RecordEscalation(ctx context.Context, id string, at time.Time, ev AuditEvent) error
	// SetEscalationCard records where the escalation card was posted, or
	// ErrNotFound.
	SetEscalationCard(ctx context.Context, id string, chat ConversationRef, activityID string) error

	// DueStarts returns up to limit scheduled requests whose StartsAt is
	// at or before now, oldest first.
	DueStarts(ctx context.Context, now time.Time, limit int) ([]Request, error)
	// NextStart returns the earliest StartsAt of a scheduled request; ok
	// is false when there is none.
	NextStart(ctx context.Context) (due time.Time, ok bool, err error)
	// CloseScheduled closes scheduled request id before its start: it
	// moves to to (cancelled, denied or timed_out), with decision d
	// stored when given (a revocation, or jitbot's closing reason), and
	// ev appended, in one transaction; otherwise (no longer scheduled)
	// ErrNotPending (ErrNotFound) and no change. Nothing was granted.
	CloseScheduled(ctx context.Context, id string, to RequestState, d *Decision, at time.Time, ev AuditEvent) (*Request, error)
}

// MembershipKey names one membership: a user in a group.
type MembershipKey struct{ GroupID, UserID string }

// GrantStore keeps grants, their claims, the membership ledger and the
// drift findings.
type GrantStore interface {
	// WithMembership runs fn in one transaction with the ledger row of
	// (groupID, userID) locked (inserted when missing, its UpdatedAt at),
	// so that every decision about one membership runs after the other.
	// fn gets the membership as stored and the writes a decision may make;
	// when fn returns an error nothing it wrote is kept and that error is
	// returned.
	WithMembership(ctx context.Context, groupID, userID string, at time.Time, fn func(m *Membership, tx MembershipTx) error) error
	// WithMemberships runs fn for each of keys as WithMembership does,
	// all in one transaction: fn(i) gets the membership of keys[i] as
	// stored with what the others wrote before it, and an error from fn(i)
	// undoes only what fn(i) wrote and is errs[i]; the rest is kept and
	// committed at once. err is the failure of the whole transaction, when
	// nothing was kept. The order in which the keys are taken is the
	// store's. The requests a kept fn(i) asked to move (MoveRequest) are
	// read back all at once after the commit and returned in
	// results[i].Requests, as they stood then; where they could not be
	// read, results[i].Requests is empty (the caller reads them itself).
	WithMemberships(ctx context.Context, keys []MembershipKey, at time.Time, fn func(i int, m *Membership, tx MembershipTx) error) (results []MembershipResult, err error)
	// RecordCheck stores, before anything is added, whether the user already
	// was a member, once per grant: a granting grant claimed by owner and
	// not yet checked becomes Checked with PreExisting the answer.
	// Otherwise ErrStaleGrant (ErrNotFound) and no change.
	RecordCheck(ctx context.Context, grantID, owner string, preExisting bool) error

	// ClaimWork claims up to limit grants for owner until claimUntil: grants
	// left granting whose claim ran out, and active, revoking or
	// irrevocable grants with DueAt <= now whose claim ran out (or that have
	// none), earliest first. With several replicas each grant is claimed by
	// exactly one (FOR UPDATE SKIP LOCKED on PostgreSQL).
	ClaimWork(ctx context.Context, owner string, now, claimUntil time.Time, limit int) ([]Grant, error)
	// NextDue returns the earliest time at which ClaimWork may find work:
	// the earliest DueAt of an active, revoking or irrevocable grant, or
	// the end of a claim on a granting or revoking grant. ok is false when
	// there is none.
	NextDue(ctx context.Context) (due time.Time, ok bool, err error)
	// RetryRevoke records a failed removal of a claimed grant (active,
	// revoking or irrevocable): f's attempts, error and next due time, and
	// the grant becomes irrevocable when f says so (from then on it stays
	// irrevocable until it is revoked). The claim is released.
	// ErrStaleGrant when the grant is in another state or not claimed by
	// owner.
	RetryRevoke(ctx context.Context, grantID, owner string, f RevokeFailure, ev AuditEvent) error
	// SetAlert records where a grant's security alert card was posted, or
	// ErrNotFound.
	SetAlert(ctx context.Context, grantID string, chat ConversationRef, activityID string) error
	// RetryNow makes a grant whose removal failed due at now, with ev (a
	// person asked for it), if it is still in state from (active, revoking
	// or irrevocable) and no replica holds a live claim on it (none, or
	// one that ended by now). Otherwise it changes nothing and returns
	// ErrStaleGrant (ErrNotFound). Whether a grant may be retried is
	// decided by the caller (see Retryable).
	RetryNow(ctx context.Context, grantID string, from GrantState, now time.Time, ev AuditEvent) error
	// ReleaseClaims drops every claim owner holds (at shutdown), so another
	// replica can take the work at once.
	ReleaseClaims(ctx context.Context, owner string) error

	// GetGrant returns one grant, or ErrNotFound.
	GetGrant(ctx context.Context, id string) (*Grant, error)
	// LiveGrants returns every live grant of a group, for drift detection.
	LiveGrants(ctx context.Context, groupID string) ([]Grant, error)
	// LiveMembers returns what drift detection needs of every live grant
	// of a group (see LiveMember), oldest approval first, read at once as
	// LiveGrants would.
	LiveMembers(ctx context.Context, groupID string) ([]LiveMember, error)
	// PreExisting returns the users whose membership of the group is known to
	// have pre-existed a grant.
	PreExisting(ctx context.Context, groupID string) ([]string, error)
	// MarkDrift records an unexplained member of a group once, first seen
	// at; it reports whether this is the first time (so the alert is
	// posted once). A member no longer present is forgotten by ClearDrift.
	MarkDrift(ctx context.Context, groupID, userID string, at time.Time, ev AuditEvent) (first bool, err error)
	// ClearDrift forgets the recorded unexplained members of a group that
	// are not in present.
	ClearDrift(ctx context.Context, groupID string, present []string) error

	// DueExpiryReminders returns up to limit active grants not ended
	// early whose RemindAt is set and at or before now while ExpiresAt
	// and DueAt are after now, earliest reminder first.
	DueExpiryReminders(ctx context.Context, now time.Time, limit int) ([]Grant, error)
	// NextExpiryReminder returns the earliest RemindAt of an active grant
	// not ended early whose ExpiresAt and DueAt are after now; ok is false
	// when there is none.
	NextExpiryReminder(ctx context.Context, now time.Time) (due time.Time, ok bool, err error)
	// RecordExpiryReminder records the expiry reminder of grant grantID as
	// sent, if it is still due at now (active, not ended early, RemindAt
	// set and at or before now): RemindAt is cleared and ev appended, in
	// one transaction. Otherwise ErrStaleGrant (ErrNotFound) and no
	// change: of replicas racing for one reminder, one wins.
	RecordExpiryReminder(ctx context.Context, grantID string, now time.Time, ev AuditEvent) error

	// DueReviews returns up to limit active break-glass grants not ended
	// early and not reviewed whose ReviewDueAt is set and at or before
	// now, earliest first.
	DueReviews(ctx context.Context, now time.Time, limit int) ([]Grant, error)
	// NextReview returns the earliest ReviewDueAt of such a grant; ok is
	// false when there is none.
	NextReview(ctx context.Context) (due time.Time, ok bool, err error)
	// RecordReviewReminder records review reminder n of break-glass grant
	// grantID as sent, if the grant is active, not ended early, not
	// reviewed and has sent n-1: ReviewReminders becomes n, ReviewDueAt
	// next (zero: none), and ev is appended, in one transaction.
	// Otherwise ErrStaleGrant (ErrNotFound) and no change: of replicas
	// racing for one reminder, one wins.
	RecordReviewReminder(ctx context.Context, grantID string, n int, next time.Time, ev AuditEvent) error
	// RecordReview stores the review r of break-glass grant grantID (r.At
	// is required) and clears its ReviewDueAt, and appends ev, in one
	// transaction, once: a grant reviewed already is left as it is with
	// ErrReviewed (ErrNotFound when there is no such break-glass grant).
	RecordReview(ctx context.Context, grantID string, r Review, ev AuditEvent) error
	// SetReviewCard records where the review card of a break-glass grant
	// was posted, or ErrNotFound.
	SetReviewCard(ctx context.Context, grantID string, chat ConversationRef, activityID string) error
}

// AuditLog is the append-only record of transitions.
type AuditLog interface {
	// AppendAudit appends an event that goes with no state change (its At
	// is required).
	AppendAudit(ctx context.Context, ev AuditEvent) error
	// Audit returns events matching the filter, oldest first.
	Audit(ctx context.Context, f AuditFilter) ([]AuditEvent, error)
	// EachAudit calls fn with every event matching q in chain order
	// (ascending Seq; the events from before the chain, Seq 0, first in
	// the order they were appended), reading a page at a time so that
	// memory stays flat. It stops at fn's first error and returns it.
	EachAudit(ctx context.Context, q AuditQuery, fn func(AuditEvent) error) error
	// ChainHead returns the last appended event's place in the chain
	// (zero before the first).
	ChainHead(ctx context.Context) (ChainHead, error)
	// AppendCheckpoint stores a signed checkpoint. A second checkpoint of
	// the same Seq is refused with ErrDuplicate.
	AppendCheckpoint(ctx context.Context, c Checkpoint) error
	// EachCheckpoint calls fn with every stored checkpoint, ascending Seq,
	// and stops at fn's first error, returning it.
	EachCheckpoint(ctx context.Context, fn func(Checkpoint) error) error
	// PruneAudit removes the events up to and including c.Seq and the
	// checkpoints before c, which must be stored as given; c stays, so
	// that the rest of the chain still verifies from it. It returns how
	// many events it removed. Which checkpoint may be pruned to is the
	// caller's decision (see audit.RetentionCut).
	PruneAudit(ctx context.Context, c Checkpoint) (removed int64, err error)
}

// ChainHead is a place in the audit hash chain: the sequence number and
// hash of the last event appended.
type ChainHead struct {
	Seq  int64
	Hash string
}

// Checkpoint is a signed statement of the audit chain's head at a time
// (see package audit for the signed message).
type Checkpoint struct {
	Seq  int64
	Hash string
	At   time.Time
	// KeyID names the public key that verifies Signature (see
	// audit.KeyID); Signature is its standard base64 encoding.
	KeyID     string
	Signature string
}

// AuditQuery selects audit events to stream in chain order (ascending
// Seq). Zero fields match everything: AfterSeq excludes events up to and
// including that sequence number, Since is inclusive and Until exclusive
// (on At), Profile matches the event's profile, UserID its actor or its
// target user, and a Limit of 0 means no limit.
type AuditQuery struct {
	AfterSeq int64
	Since    time.Time
	Until    time.Time
	Profile  string
	UserID   string
	Limit    int
}

// MatchAudit reports whether ev is among the events q selects (every field
// of q but AfterSeq and Limit, which are the stream's): object ids compare
// without regard to case, as Entra ID's do.
func MatchAudit(q AuditQuery, ev *AuditEvent) bool {
	switch {
	case !q.Since.IsZero() && ev.At.Before(q.Since):
		return false
	case !q.Until.IsZero() && !ev.At.Before(q.Until):
		return false
	case q.Profile != "" && ev.Profile != q.Profile:
		return false
	case q.UserID != "" && !strings.EqualFold(ev.Actor.ObjectID, q.UserID) && !strings.EqualFold(ev.TargetUserID, q.UserID):
		return false
	}
	return true
}

// RequestQuery selects requests to stream, oldest first (by CreatedAt, then
// ID). Zero fields match everything: Since is inclusive and Until exclusive
// (on CreatedAt), Profile matches the request's profile, UserID its
// requester or one of its approvers.
type RequestQuery struct {
	Since   time.Time
	Until   time.Time
	Profile string
	UserID  string
}

// AuditFilter selects audit events. Zero fields match everything; Since is
// inclusive, Until exclusive, and a Limit of 0 means no limit.
type AuditFilter struct {
	RequestID string
	Since     time.Time
	Until     time.Time
	Limit     int
}

// Membership is one user's membership of one group as stored, read with its
// ledger row locked (see GrantStore.WithMembership).
type Membership struct {
	GroupID string
	UserID  string
	// PreExisting is the ledger's record that the membership was found in
	// place before any grant added it, and has not been removed since.
	PreExisting bool
	// Grants are the membership's live grants (granting, active, revoking,
	// irrevocable) as stored, oldest approval first.
	Grants []Grant
}

// Grant returns the live grant id of the membership, or nil.
func (m *Membership) Grant(id string) *Grant {
	for i := range m.Grants {
		if m.Grants[i].ID == id {
			return &m.Grants[i]
		}
	}
	return nil
}

// MembershipTx is what a decision about a locked membership may write. An
// error from any of them should be returned by the decision, so that the
// transaction is rolled back.
type MembershipTx interface {
	// Decide records d on request requestID and moves the request to
	// state to, if it is pending; otherwise ErrNotPending (ErrNotFound).
	// Moving it to RequestScheduled sets its ApprovedAhead.
	Decide(requestID string, d Decision, to RequestState) error
	// Decisions returns the decisions stored on request requestID, oldest
	// first, as they stand under the lock (ErrNotFound when there is no
	// such request): every approval of a request locks its membership, so
	// a quorum is counted one approval after the other.
	Decisions(requestID string) ([]Decision, error)
	// Start moves scheduled request requestID of this membership to
	// state to at the given time; otherwise (not scheduled: started by
	// another replica, cancelled or revoked) ErrNotPending (ErrNotFound)
	// and no change.
	Start(requestID string, to RequestState, at time.Time) error
	// InsertGrant stores a new grant of the membership.
	InsertGrant(g Grant) error
	// UpdateGrant applies u to a grant of the membership if the grant
	// still meets u's conditions, and returns it as updated; otherwise
	// ErrStaleGrant (ErrNotFound) and no change.
	UpdateGrant(u GrantUpdate) (Grant, error)
	// MoveRequest moves request id to state to at the given time if it is
	// in one of the states from; otherwise it changes nothing.
	MoveRequest(id string, from []RequestState, to RequestState, at time.Time) error
	// SetPreExisting records in the ledger whether the membership
	// pre-existed.
	SetPreExisting(pre bool, at time.Time) error
	// Append appends an audit event.
	Append(ev AuditEvent) error
	// Request returns request id with its decisions, grant and feedback
	// as this transaction stores them, its own writes included
	// (ErrNotFound when there is no such request): once the transaction
	// commits, it is the request as committed.
	Request(id string) (*Request, error)
}

// MembershipResult is what GrantStore.WithMemberships did for one key:
// Err, the failure of its decision (nothing it wrote was kept), or, when
// nil, the requests the decision asked to move (MoveRequest), as the
// transaction committed them.
type MembershipResult struct {
	Err      error
	Requests []Request
}

// GrantUpdate is a conditional change of one grant.
type GrantUpdate struct {
	ID string
	// The grant must be in one of the states From and claimed by Owner;
	// with Owner empty it must have no live claim at At (none, or one that
	// ended by At), unless AnyClaim is set.
	From     []GrantState
	Owner    string
	AnyClaim bool
	At       time.Time

	// The changes; zero values leave a field as it is.
	State     GrantState
	GrantedAt time.Time
	RevokedAt time.Time
	LastError string
	// MarkChecked sets Checked; ClearPreExisting and ClearShared unset
	// PreExisting and Shared.
	MarkChecked      bool
	ClearPreExisting bool
	ClearShared      bool
	// Release drops the claim; ClaimBy (with ClaimUntil) sets a new one.
	Release    bool
	ClaimBy    string
	ClaimUntil time.Time
	// DueAt sets when the grant is next due; Early records who ended it
	// early (nil leaves it as it is).
	DueAt time.Time
	Early *EarlyEnd

	// NotDueAt, when set, is a further condition: the grant's DueAt must
	// be after it (the grant has not fallen due). ExpiresAt sets a new end;
	// RemindAt a new expiry reminder, ClearRemind drops it; Extended
	// records an extension (nil leaves it as it is).
	NotDueAt    time.Time
	ExpiresAt   time.Time
	RemindAt    time.Time
	ClearRemind bool
	Extended    *Extension

	// Unreviewed, when set, is a further condition: the grant has no
	// review (a break-glass grant is revoked as unreviewed only then).
	Unreviewed bool
}

// RevokeFailure is a failed removal as RetryRevoke records it.
type RevokeFailure struct {
	// Attempts counts the failed removals so far, this one included.
	Attempts int
	// NextDue is when the removal is tried again.
	NextDue time.Time
	// Error is the directory's error; Permanent tells that retrying the
	// same call is not expected to help.
	Error     string
	Permanent bool
	// Irrevocable makes the grant irrevocable.
	Irrevocable bool
}

// NewPendingRequest is req as every store keeps a new request: pending,
// without decisions or grant, with an ID (newID's when req has none) and
// its times (CreatedAt defaults to the event's time, UpdatedAt to
// CreatedAt), and ev with its request id and time filled in the same way.
// A request without requester, profile or any time is refused.
func NewPendingRequest(req *Request, ev AuditEvent, newID func() string) (Request, AuditEvent, error) {
	if req == nil {
		return Request{}, ev, errors.New("create request: request is nil")
	}
	if req.Requester.ObjectID == "" || req.Profile == "" {
		return Request{}, ev, errors.New("create request: requester object id and profile are required")
	}
	r := *req
	r.Decisions, r.Grant = nil, nil
	r.State = RequestPending
	if r.ID == "" {
		r.ID = newID()
	}
	if r.CreatedAt.IsZero() {
		r.CreatedAt = ev.At
	}
	if r.CreatedAt.IsZero() {
		return Request{}, ev, errors.New("create request: request has no creation time")
	}
	if r.UpdatedAt.IsZero() {
		r.UpdatedAt = r.CreatedAt
	}
	if ev.RequestID == "" {
		ev.RequestID = r.ID
	}
	if ev.At.IsZero() {
		ev.At = r.CreatedAt
	}
	return r, ev, nil
}
