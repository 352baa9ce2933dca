package access

import (
	"context"
	"time"
)

// Store keeps requests, grants and the audit log. Every method that changes
// state appends its audit event in the same transaction, so the log never
// misses a transition that happened.
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
	// Approve moves the request to approved and stores grant (state
	// granting, ExpiresAt and DueAt set); deny moves it to denied (grant is nil).
	// It returns the request as stored after the change.
	Decide(ctx context.Context, id string, d Decision, grant *Grant, ev AuditEvent) (*Request, error)
	// CompleteGrant records that the membership was added (or pre-existed):
	// the grant becomes active with GrantedAt and PreExisting, its request
	// active. ErrStaleGrant when the grant is no longer granting.
	CompleteGrant(ctx context.Context, grantID string, grantedAt time.Time, preExisting bool, ev AuditEvent) error
	// FailGrant records that the membership could not be added: the grant and
	// its request become failed. ErrStaleGrant when the grant is no longer
	// granting.
	FailGrant(ctx context.Context, grantID string, reason string, ev AuditEvent) error
	// GrantsInState returns every grant in the given state (for example the
	// ones left granting by a crash), oldest first.
	GrantsInState(ctx context.Context, state GrantState) ([]Grant, error)
	// OpenRequests returns the user's pending, approved and active requests,
	// newest first, with their grants.
	OpenRequests(ctx context.Context, userID string) ([]Request, error)
	// DueGrants returns up to limit (0: no limit) active grants with DueAt <=
	// now, earliest first.
	DueGrants(ctx context.Context, now time.Time, limit int) ([]Grant, error)
	// NextDue returns the earliest DueAt among active grants; ok is false when
	// there is none.
	NextDue(ctx context.Context) (due time.Time, ok bool, err error)
	// FinishRevoke marks an active grant revoked at the given time and its
	// request expired. ErrStaleGrant when the grant is no longer active.
	FinishRevoke(ctx context.Context, grantID string, at time.Time, ev AuditEvent) error
	// RetryRevoke records a failed revocation attempt: attempts, the next due
	// time and the error. ErrStaleGrant when the grant is no longer active.
	RetryRevoke(ctx context.Context, grantID string, attempts int, nextDue time.Time, lastErr string, ev AuditEvent) error
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
