package access

import (
	"slices"
	"strings"
	"time"
)

// Outcome is how a request ended, or where it stands, as a security team
// reads it: the "outcome" of the grants view.
type Outcome string

// The outcomes of a request, as the data tells them apart.
const (
	// OutcomePending: waiting for an approver.
	OutcomePending Outcome = "pending"
	// OutcomeDenied: an approver said no.
	OutcomeDenied Outcome = "denied"
	// OutcomeClosed: closed without a decision because the request no
	// longer fitted its profile when an approver clicked.
	OutcomeClosed Outcome = "closed_no_longer_valid"
	// OutcomeScheduled: approved ahead; its access starts later and
	// nothing is in the group yet.
	OutcomeScheduled Outcome = "scheduled"
	// OutcomeRevokedBeforeStart: approved ahead, then revoked by an
	// approver or the security team before its start; nothing was
	// added. OutcomeStartMissed: approved ahead, but its whole window
	// passed while jitbot was not running; nothing was added.
	OutcomeRevokedBeforeStart Outcome = "revoked_before_start"
	OutcomeStartMissed        Outcome = "start_missed"
	// OutcomeGranting: approved; the membership is being added.
	OutcomeGranting Outcome = "granting"
	// OutcomeFailed: approved, but the membership could not be added.
	OutcomeFailed Outcome = "failed"
	// OutcomeActive: the requester holds the access now.
	OutcomeActive Outcome = "active"
	// OutcomeRevoking: due; the membership is being removed.
	OutcomeRevoking Outcome = "revoking"
	// OutcomeIrrevocable: the removal kept failing; the security channel
	// was alerted and the removal is still retried.
	OutcomeIrrevocable Outcome = "irrevocable"
	// OutcomeExpired: the grant ran its time and ended.
	OutcomeExpired Outcome = "expired"
	// OutcomeEndedEarly: the grant ended before its expiry because the
	// member had left the group outside jitbot.
	OutcomeEndedEarly Outcome = "ended_early"
	// OutcomeReleased: the requester ended the grant before its expiry
	// ("I'm done").
	OutcomeReleased Outcome = "released"
	// OutcomeRevokedEarly: an approver or the security team revoked the
	// grant before its expiry ("Revoke now").
	OutcomeRevokedEarly Outcome = "revoked_early"
	// OutcomeCancelled: the requester cancelled it while it was pending.
	OutcomeCancelled Outcome = "cancelled"
	// OutcomeTimedOut: no approver decided before its deadline.
	OutcomeTimedOut Outcome = "timed_out"
	// OutcomeExtended: an extension request that was approved; its time
	// was added to the grant of the request it extends.
	OutcomeExtended Outcome = "extended"
)

// Outcomes lists every outcome, in lifecycle order.
var Outcomes = []Outcome{
	OutcomePending, OutcomeDenied, OutcomeClosed, OutcomeGranting, OutcomeFailed, OutcomeActive,
	OutcomeRevoking, OutcomeIrrevocable, OutcomeExpired, OutcomeEndedEarly,
	OutcomeReleased, OutcomeRevokedEarly, OutcomeCancelled, OutcomeTimedOut, OutcomeExtended,
}

// GrantRecord is one request as the grants view of an audit export shows
// it: who had access to what, when, approved by whom, why and for how
// long. Times are UTC; a zero time or duration means "not (yet)".
type GrantRecord struct {
	RequestID     string
	Requester     Person
	Profile       string
	GroupID       string
	Ticket        string
	Justification string
	// Severity is the severity the request named ("" for none).
	Severity string
	// Approvals are the approving decisions, oldest first (approver and
	// reason).
	Approvals []Decision
	// DeniedBy and DenyReason are set for a denied or closed request
	// (DeniedBy is System for a closed one).
	DeniedBy   Person
	DenyReason string

	RequestedAt time.Time
	// DecidedAt is when the decision that settled the request was taken:
	// for one approved ahead of its start, its approval, even when it was
	// revoked or closed before the start.
	DecidedAt time.Time
	GrantedAt time.Time
	EndedAt   time.Time
	ExpiresAt time.Time
	// TimeToDecision is DecidedAt - RequestedAt.
	TimeToDecision time.Duration
	// RequestedDuration is what was asked for; ActualDuration is how long
	// the membership was held (EndedAt - GrantedAt), once it ended.
	RequestedDuration time.Duration
	ActualDuration    time.Duration

	Outcome Outcome
	// PreExisting and Shared tell that the membership was left in place
	// when the grant ended (it pre-existed, or another grant held it).
	PreExisting bool
	Shared      bool
	// RevokeAttempts counts failed removals; LastError is the latest.
	RevokeAttempts int
	LastError      string
	Feedback       *Feedback
}

// NewGrantRecord builds the grants-view row of a request loaded with its
// decisions, grant and feedback.
func NewGrantRecord(r Request) GrantRecord {
	rec := GrantRecord{
		RequestID: r.ID, Requester: r.Requester, Profile: r.Profile, GroupID: r.GroupID,
		Ticket: r.Ticket, Justification: r.Justification, Severity: r.Severity,
		RequestedAt: r.CreatedAt.UTC(), RequestedDuration: r.Duration, Feedback: r.Feedback,
	}
	for _, d := range r.Decisions {
		// Under a quorum the request is decided by the decision that
		// settles it, its last; a pending one is not decided yet.
		if r.State != RequestPending && d.DecidedAt.After(rec.DecidedAt) {
			rec.DecidedAt = d.DecidedAt.UTC()
		}
		switch d.Verdict {
		case Approve:
			rec.Approvals = append(rec.Approvals, d)
		case Withdrawn:
			rec.Approvals = slices.DeleteFunc(rec.Approvals, func(a Decision) bool { return strings.EqualFold(a.Approver.ObjectID, d.Approver.ObjectID) })
		case Deny:
			rec.DeniedBy, rec.DenyReason = d.Approver, d.Reason
		}
	}
	if r.State != RequestPending && approvedAhead(r) {
		// Decided by its (last) approval: a revocation before the start,
		// or a close at it, came after the decision.
		for _, d := range r.Decisions {
			if d.Verdict == Approve {
				rec.DecidedAt = d.DecidedAt.UTC()
			}
		}
	}
	if !rec.DecidedAt.IsZero() {
		rec.TimeToDecision = rec.DecidedAt.Sub(rec.RequestedAt)
	}
	g := r.Grant
	if g != nil {
		rec.GrantedAt, rec.EndedAt, rec.ExpiresAt = g.GrantedAt.UTC(), g.RevokedAt.UTC(), g.ExpiresAt.UTC()
		if g.GrantedAt.IsZero() {
			rec.GrantedAt = time.Time{}
		}
		if g.RevokedAt.IsZero() {
			rec.EndedAt = time.Time{}
		}
		if !rec.GrantedAt.IsZero() && !rec.EndedAt.IsZero() {
			rec.ActualDuration = rec.EndedAt.Sub(rec.GrantedAt)
		}
		rec.PreExisting, rec.Shared = g.PreExisting, g.Shared
		rec.RevokeAttempts, rec.LastError = g.Attempts, g.LastError
	}
	rec.Outcome = outcomeOf(r)
	return rec
}

// outcomeOf tells a request's outcome from its state and its grant's.
func outcomeOf(r Request) Outcome {
	switch r.State {
	case RequestPending:
		return OutcomePending
	case RequestDenied:
		if d := r.LastDecision(); d != nil && d.Approver.ObjectID == System.ObjectID {
			return OutcomeClosed
		}
		if approvedAhead(r) {
			return OutcomeRevokedBeforeStart
		}
		return OutcomeDenied
	case RequestFailed:
		return OutcomeFailed
	case RequestCancelled:
		return OutcomeCancelled
	case RequestTimedOut:
		if approvedAhead(r) {
			return OutcomeStartMissed
		}
		return OutcomeTimedOut
	case RequestExtended:
		return OutcomeExtended
	case RequestScheduled:
		return OutcomeScheduled
	}
	g := r.Grant
	if g == nil {
		return OutcomeGranting
	}
	switch g.State {
	case GrantGranting:
		return OutcomeGranting
	case GrantFailed:
		return OutcomeFailed
	case GrantActive:
		return OutcomeActive
	case GrantRevoking:
		return OutcomeRevoking
	case GrantIrrevocable:
		return OutcomeIrrevocable
	}
	// Revoked.
	switch g.Early.Kind {
	case EndReleased:
		return OutcomeReleased
	case EndRevoked, EndUnreviewed:
		return OutcomeRevokedEarly
	}
	if !g.RevokedAt.IsZero() && g.RevokedAt.Before(g.ExpiresAt) {
		return OutcomeEndedEarly
	}
	return OutcomeExpired
}

// MatchRequest reports whether r is selected by q: created in [Since,
// Until), of q's profile, and requested or decided by q's user (object ids
// compare without regard to case).
func MatchRequest(q RequestQuery, r *Request) bool {
	if !q.Since.IsZero() && r.CreatedAt.Before(q.Since) {
		return false
	}
	if !q.Until.IsZero() && !r.CreatedAt.Before(q.Until) {
		return false
	}
	if q.Profile != "" && r.Profile != q.Profile {
		return false
	}
	if q.UserID == "" || strings.EqualFold(r.Requester.ObjectID, q.UserID) {
		return true
	}
	for _, d := range r.Decisions {
		if strings.EqualFold(d.Approver.ObjectID, q.UserID) {
			return true
		}
	}
	return false
}

// approvedAhead reports whether r, a scheduled request, was approved
// ahead of its start (it reached the scheduled state; see
// Request.ApprovedAhead): an approval counted towards a quorum that was
// never complete does not make it so.
func approvedAhead(r Request) bool {
	return r.Scheduled() && r.ApprovedAhead
}
