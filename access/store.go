package access

import (
	"context"
	"time"
)

// Store keeps requests, grants, the membership ledger and the audit log.
// Every method that changes state appends its audit event in the same
// transaction, so the log never misses a transition that happened.
//
// Several replicas may share one Store: work on a grant is claimed by one
// owner (a replica's id) for a lease, and every method that changes a claimed
// grant takes the owner and fails with ErrStaleGrant when the claim is no
// longer that owner's.
type Store interface {
	// CreateRequest stores a new pending request. When the requester already
	// has a pending request for the same profile it stores nothing and
	// returns that request with ErrDuplicate.
	CreateRequest(ctx context.Context, req *Request, ev AuditEvent) (existing *Request, err error)
	// GetRequest returns a request with its decisions and grant, or ErrNotFound.
	GetRequest(ctx context.Context, id string) (*Request, error)
	// SetApprovalCard records where the approval card was posted.
	SetApprovalCard(ctx context.Context, id string, chat ConversationRef, activityID string) error
	// Decide records a decision on a pending request, conditionally: only if
	// the request is still pending (otherwise ErrNotPending and no change).
	// Deny moves it to denied (grant is nil). Approve moves the request to
	// approved and stores the grant, claimed by owner until claimUntil:
	// when another live grant (granting, active or irrevocable; not
	// revoking) already holds the same user's membership of the same group,
	// the new grant is Shared and stored active at once (request active);
	// otherwise it is stored granting. The ledger row of (group, user) is
	// locked for this, so that concurrent grants and revocations of one
	// membership are serialised. It returns the request as stored.
	Decide(ctx context.Context, id string, d Decision, grant *Grant, owner string, claimUntil time.Time, ev AuditEvent) (*Request, error)
	// RecordCheck stores, before anything is added, whether the user already
	// was a member: Checked becomes true and PreExisting the answer.
	RecordCheck(ctx context.Context, grantID, owner string, preExisting bool) error
	// CompleteGrant records that the membership is in place: the grant
	// becomes active with GrantedAt, its request active, the claim is
	// released. A pre-existing grant marks the ledger row pre-existing, so
	// the membership outlives every grant. ErrStaleGrant when the grant is
	// not granting or not claimed by owner.
	CompleteGrant(ctx context.Context, grantID, owner string, grantedAt time.Time, ev AuditEvent) error
	// FailGrant records that the membership could not be added: the grant and
	// its request become failed. ErrStaleGrant as for CompleteGrant.
	FailGrant(ctx context.Context, grantID, owner string, reason string, ev AuditEvent) error

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
	// PlanRevoke decides, with the ledger row of the grant's membership
	// locked, what ending a claimed grant takes. When another live grant
	// still holds the membership, or the membership pre-existed, the grant
	// is closed at once (revoked, request expired, with ev's action set to
	// grant.revoked or grant.revoke_skipped and a reason) and remove is
	// false. Otherwise the grant becomes revoking (the intent, audited with
	// ev) and remove is true: the caller must remove the member and then
	// call FinishRevoke.
	PlanRevoke(ctx context.Context, grantID, owner string, at time.Time, ev AuditEvent) (remove bool, err error)
	// FinishRevoke records that the member was removed: the grant becomes
	// revoked at the given time, its request expired, the claim released.
	// Grants of the same membership that became live while the removal was
	// under way are returned, moved back to granting (claimed by owner)
	// so that the caller adds the member again.
	FinishRevoke(ctx context.Context, grantID, owner string, at time.Time, ev AuditEvent) (readd []Grant, err error)
	// RetryRevoke records a failed removal of a claimed grant (active,
	// revoking or irrevocable): f's attempts, error and next due time, and
	// the grant becomes irrevocable when f says so (from then on it stays
	// irrevocable until it is revoked). The claim is released.
	// ErrStaleGrant when the grant is in another state or not claimed by
	// owner.
	RetryRevoke(ctx context.Context, grantID, owner string, f RevokeFailure, ev AuditEvent) error
	// SetAlert records where a grant's security alert card was posted.
	SetAlert(ctx context.Context, grantID string, chat ConversationRef, activityID string) error
	// RetryNow makes a grant whose removal failed due at now, with ev (a
	// person asked for it), if it is still in state from and no replica
	// holds a live claim on it (none, or one that ended by now). Otherwise
	// it changes nothing and returns ErrStaleGrant.
	RetryNow(ctx context.Context, grantID string, from GrantState, now time.Time, ev AuditEvent) error
	// CloseGone closes a live grant whose member is no longer in the group
	// (removed outside jitbot): revoked, request expired, claim released.
	// ErrStaleGrant when the grant is no longer active.
	CloseGone(ctx context.Context, grantID string, at time.Time, ev AuditEvent) error
	// ReleaseClaims drops every claim owner holds (at shutdown), so another
	// replica can take the work at once.
	ReleaseClaims(ctx context.Context, owner string) error

	// GetGrant returns one grant, or ErrNotFound.
	GetGrant(ctx context.Context, id string) (*Grant, error)
	// LiveGrants returns every live grant of a group, for drift detection.
	LiveGrants(ctx context.Context, groupID string) ([]Grant, error)
	// PreExisting returns the users whose membership of the group is known to
	// have pre-existed a grant.
	PreExisting(ctx context.Context, groupID string) ([]string, error)
	// MarkDrift records an unexplained member of a group once; it reports
	// whether this is the first time (so the alert is posted once). A member
	// no longer present is forgotten by ClearDrift.
	MarkDrift(ctx context.Context, groupID, userID string, at time.Time, ev AuditEvent) (first bool, err error)
	// ClearDrift forgets the recorded unexplained members of a group that
	// are not in present.
	ClearDrift(ctx context.Context, groupID string, present []string) error

	// OpenRequests returns the user's pending, approved and active requests,
	// newest first, with their grants.
	OpenRequests(ctx context.Context, userID string) ([]Request, error)
	// AppendAudit appends an event that goes with no state change.
	AppendAudit(ctx context.Context, ev AuditEvent) error
	// Audit returns events matching the filter, oldest first.
	Audit(ctx context.Context, f AuditFilter) ([]AuditEvent, error)
}

// AuditFilter selects audit events. Zero fields match everything; Since is
// inclusive, Until exclusive, and a Limit of 0 means no limit.
type AuditFilter struct {
	RequestID string
	Since     time.Time
	Until     time.Time
	Limit     int
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
