package access

import (
	"context"
	"errors"
	"time"
)

// RequestState is where a request stands in its lifecycle.
type RequestState string

// The states of a request. Pending is the only state in which a decision is
// accepted; Denied, Failed and Expired are final.
const (
	RequestPending  RequestState = "pending"  // waiting for an approver
	RequestApproved RequestState = "approved" // approved, membership being added
	RequestActive   RequestState = "active"   // the requester is in the group
	RequestDenied   RequestState = "denied"   // an approver said no
	RequestFailed   RequestState = "failed"   // approved, but the membership could not be added
	RequestExpired  RequestState = "expired"  // the grant ended and the membership was removed

	// RequestCancelled: the requester withdrew the request while it was
	// pending. RequestTimedOut: no approver decided before its deadline.
	RequestCancelled RequestState = "cancelled"
	RequestTimedOut  RequestState = "timed_out"

	// RequestExtended: an extension request (see Request.ExtendsRequestID)
	// was approved and its time added to the grant it extends.
	RequestExtended RequestState = "extended"

	// RequestScheduled: approved ahead of its StartsAt; nothing is in
	// the group yet. The scheduler grants it at the start (it becomes
	// approved, then active); until then the requester may cancel it and
	// an approver may revoke it, and nothing is added.
	RequestScheduled RequestState = "scheduled"
)

// Final reports whether no further transition can happen.
func (s RequestState) Final() bool {
	switch s {
	case RequestDenied, RequestFailed, RequestExpired, RequestCancelled, RequestTimedOut, RequestExtended:
		return true
	}
	return false
}

// GrantState is where a grant of group membership stands.
type GrantState string

// The states of a grant. Granting and Revoking are intents: they are stored
// before the directory is changed, so that a crash at any point leaves a
// record of what was about to happen, and whoever next claims the grant
// finishes it.
const (
	GrantGranting    GrantState = "granting"    // approved; the membership is being added
	GrantActive      GrantState = "active"      // the member is in the group until ExpiresAt
	GrantRevoking    GrantState = "revoking"    // due; the membership is being removed
	GrantIrrevocable GrantState = "irrevocable" // removal kept failing; security was alerted; still retried
	GrantRevoked     GrantState = "revoked"     // ended: removed, left in place (pre-existing or shared), or found gone
	GrantFailed      GrantState = "failed"      // the membership could not be added
)

// Live reports whether the grant still accounts for a membership.
func (s GrantState) Live() bool {
	switch s {
	case GrantGranting, GrantActive, GrantRevoking, GrantIrrevocable:
		return true
	}
	return false
}

// ConversationRef addresses a Teams conversation so that the bot can write to
// it later (proactively).
type ConversationRef struct {
	ServiceURL     string `json:"serviceUrl"`
	ChannelID      string `json:"channelId"` // "msteams"
	ConversationID string `json:"conversationId"`
	TenantID       string `json:"tenantId"`
	BotID          string `json:"botId"`
	BotName        string `json:"botName,omitempty"`
	UserID         string `json:"userId,omitempty"` // the channel account id of the user ("29:...")
	UserName       string `json:"userName,omitempty"`
}

// IsObjectID reports whether s has the form of an Entra ID object or tenant
// id: a GUID in the 8-4-4-4-12 hex form, without braces.
func IsObjectID(s string) bool {
	if len(s) != 36 {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch i {
		case 8, 13, 18, 23:
			if c != '-' {
				return false
			}
		default:
			if !('0' <= c && c <= '9' || 'a' <= c && c <= 'f' || 'A' <= c && c <= 'F') {
				return false
			}
		}
	}
	return true
}

// Person is a Teams user identified by their Entra object id.
type Person struct {
	ObjectID string // Entra ID object id (from.aadObjectId)
	Name     string // display name
}

// Request is one ask for temporary access to one profile.
type Request struct {
	ID            string
	Profile       string
	GroupID       string
	Requester     Person
	Duration      time.Duration
	Ticket        string
	Justification string
	// Severity is the severity the requester named, one of its profile's
	// severities ("" for none).
	Severity  string
	State     RequestState
	CreatedAt time.Time
	UpdatedAt time.Time
	// SelfApproval is set when the profile allowed the requester to decide
	// their own request (demo mode only); the card says so.
	SelfApproval bool
	// Client is the API client that made the request on the requester's
	// behalf (POST /api/requests); zero for a request made in Teams.
	Client APIClient

	// RequesterChat is where the requester is told about progress: their
	// personal chat with the bot.
	RequesterChat ConversationRef
	// ApprovalChat is the approvers' thread that holds the approval card, and
	// ApprovalActivityID the card's activity id in it.
	ApprovalChat       ConversationRef
	ApprovalActivityID string

	// Decisions are the approvers' answers, oldest first: the approvals
	// counted towards the profile's quorum while the request is pending
	// (see Approvals), then the decision that settled it.
	Decisions []Decision
	// Grant is the membership granted for this request, once approved.
	Grant *Grant
	// Feedback is what the requester answered once the grant ended, if
	// anything.
	Feedback *Feedback

	// DecideBy is the request's deadline: still pending then, it times out
	// (zero: none). Reminders counts the reminders sent to the approvers'
	// thread, and NextReminderAt is when the next one is due (zero: none
	// is left).
	DecideBy       time.Time
	Reminders      int
	NextReminderAt time.Time

	// ExtendsRequestID is set on an extension request: the request whose
	// grant it asks to extend by Duration; ExtendsFrom is that grant's end
	// when the extension was asked.
	ExtendsRequestID string
	ExtendsFrom      time.Time

	// EscalateAt is when a pending request is escalated (zero: never, or
	// done); EscalatedAt is when it was (zero: not escalated), and
	// EscalationChat and EscalationActivityID locate the second approval
	// card, in the profile's escalation channel. From then on the members
	// of the profile's escalation groups may decide too.
	EscalateAt           time.Time
	EscalatedAt          time.Time
	EscalationChat       ConversationRef
	EscalationActivityID string

	// StartsAt is when a scheduled request's access begins (zero: at
	// once, on approval); it then ends at StartsAt + Duration, however
	// late it was granted. StartZone is the requester's IANA time zone
	// the start was given in ("UTC" when their client sent none), to say
	// the time back to them in their own terms.
	StartsAt  time.Time
	StartZone string
	// ApprovedAhead is set when the request was approved before its start
	// (it moved to RequestScheduled), and stays set whatever came next:
	// what tells a revocation before the start, or a missed start, from a
	// denial or a time-out of a request still waiting for its quorum.
	ApprovedAhead bool
}

// Scheduled reports whether the request asks for access from a later
// start rather than at once.
func (r *Request) Scheduled() bool { return !r.StartsAt.IsZero() }

// Feedback is a requester's answer, once their access ended, to whether it
// served them and whether the approval was fast enough.
type Feedback struct {
	Useful     FeedbackUseful
	FastEnough bool
	Comment    string
	At         time.Time
}

// FeedbackUseful is the answer to "Did this access let you do what you
// needed?".
type FeedbackUseful string

// The answers.
const (
	UsefulYes    FeedbackUseful = "yes"
	UsefulPartly FeedbackUseful = "partly"
	UsefulNo     FeedbackUseful = "no"
)

// The answers to "Was approval fast enough?" as the card offers them.
const (
	AnswerYes = "yes"
	AnswerNo  = "no"
)

// LastDecision returns the latest approval or denial, or nil (a
// withdrawn approval is no decision).
func (r *Request) LastDecision() *Decision {
	for i := len(r.Decisions) - 1; i >= 0; i-- {
		if r.Decisions[i].Verdict != Withdrawn {
			return &r.Decisions[i]
		}
	}
	return nil
}

// Verdict is an approver's answer.
type Verdict string

// The verdicts.
const (
	Approve Verdict = "approve"
	Deny    Verdict = "deny"
	// Withdrawn is recorded by jitbot, not given by a person: the
	// earlier approval of Approver stopped counting towards the quorum,
	// since they had left the approver groups when it was about to
	// complete. It settles nothing.
	Withdrawn Verdict = "withdrawn"
)

// Decision is one approver's answer to a request.
type Decision struct {
	Approver  Person
	Verdict   Verdict
	Reason    string
	DecidedAt time.Time
	// Forced marks an admin's force-approval (see ForceApprove): it
	// settles the request whatever the approvers' rules ask.
	Forced bool
}

// LiveMember is a live grant as drift detection reads a whole group's:
// whose membership it explains and whether it may have to be closed, a few
// columns instead of the whole grant, so that the grants of a large group
// are not held in memory at once.
type LiveMember struct {
	GrantID     string
	UserID      string
	State       GrantState
	PreExisting bool
	GrantedAt   time.Time // zero while granting
	ExpiresAt   time.Time
}

// Grant is a temporary membership of a user in a group.
type Grant struct {
	ID        string
	RequestID string
	Profile   string
	GroupID   string
	User      Person
	State     GrantState
	// ApprovedAt is when the clock started; ExpiresAt = ApprovedAt + duration.
	ApprovedAt time.Time
	ExpiresAt  time.Time
	// GrantedAt is when the membership was confirmed in the directory.
	GrantedAt time.Time
	// Checked is set once the directory was asked whether the user already
	// was a member, before anything was added; PreExisting holds the answer.
	// A pre-existing membership is never removed.
	Checked     bool
	PreExisting bool
	// Shared is set when another live grant already held the membership
	// when this one was approved: nothing was added for it.
	Shared    bool
	RevokedAt time.Time
	// DueAt is when the revocation is next due: ExpiresAt at first, later
	// after each failed attempt. Attempts counts the failed attempts and
	// LastError holds the latest failure; LastErrorPermanent tells that
	// the directory called it permanent (retrying is not expected to help).
	DueAt              time.Time
	Attempts           int
	LastError          string
	LastErrorPermanent bool
	// ClaimedBy is the replica working on the grant until ClaimUntil; a
	// claim that ran out (its holder died) may be taken by any replica.
	ClaimedBy  string
	ClaimUntil time.Time
	// AlertChat and AlertActivityID locate the security alert card of an
	// irrevocable grant.
	AlertChat       ConversationRef
	AlertActivityID string
	// Early is set when a person ended the grant before its expiry: its
	// requester released it, or an approver or the security team revoked
	// it. From then on the grant is due (the same durable path as expiry).
	Early EarlyEnd
	// RemindAt is when the requester is reminded that the grant ends
	// (zero: no reminder is due, or it was sent); Extended is the grant's
	// latest extension, if any.
	RemindAt time.Time
	Extended Extension
	// BreakGlass marks a grant made at once, without an approver, under
	// a break-glass profile; it awaits a review by the security team (see
	// breakglass.go): ReviewBy is the review's deadline, ReviewDueAt when
	// its next step (a reminder, or the revocation) is due (zero: none),
	// ReviewReminders counts the reminders sent, Review is the review once
	// given, and ReviewChat and ReviewActivityID locate the review alert
	// card in the security channel.
	BreakGlass       bool
	ReviewBy         time.Time
	ReviewDueAt      time.Time
	ReviewReminders  int
	Review           Review
	ReviewChat       ConversationRef
	ReviewActivityID string
}

// Review is the after-the-fact review of a break-glass grant: who
// acknowledged it, when, and their note (optional). A zero At means it was
// not reviewed.
type Review struct {
	By   Person
	Note string
	At   time.Time
}

// Extension is the latest extension of a grant: who extended it (the
// approver, or the requester within the profile's self_extend_max), by how
// much, why (the requester's reason) and when; Count counts the grant's
// extensions. A zero Count means it was never extended.
type Extension struct {
	By     Person
	Added  time.Duration
	Reason string
	At     time.Time
	Count  int
}

// EndKind says how a person ended a grant before its expiry.
type EndKind string

// The early endings of a grant.
const (
	// EndReleased: the requester said they were done.
	EndReleased EndKind = "released"
	// EndRevoked: an approver or the security team revoked it.
	EndRevoked EndKind = "revoked_early"
	// EndUnreviewed: jitbot revoked a break-glass grant nobody reviewed
	// within its profile's review_within (revoke_if_unreviewed).
	EndUnreviewed EndKind = "revoked_unreviewed"
)

// Revoked reports whether k is a revocation (by a person, or by jitbot for
// want of a review) rather than a release.
func (k EndKind) Revoked() bool { return k == EndRevoked || k == EndUnreviewed }

// EarlyEnd is who ended a grant before its expiry, how, why and when they
// asked. A zero Kind means the grant was not ended early.
type EarlyEnd struct {
	Kind   EndKind
	By     Person
	Reason string
	At     time.Time
}

// request is the grant's request as far as the grant knows it: enough to
// name it in an audit event.
func (g *Grant) request() *Request {
	return &Request{ID: g.RequestID, Profile: g.Profile, GroupID: g.GroupID, Requester: g.User}
}

// Action names an audited transition.
type Action string

// The audited actions.
const (
	ActionRequested     Action = "request.created"
	ActionApproved      Action = "request.approved"
	ActionDenied        Action = "request.denied"
	ActionGranted       Action = "grant.added"
	ActionPreExisting   Action = "grant.pre_existing"
	ActionGrantFailed   Action = "grant.failed"
	ActionRevoking      Action = "grant.revoking"
	ActionRevoked       Action = "grant.revoked"
	ActionRevokeSkipped Action = "grant.revoke_skipped"
	ActionRevokeFailed  Action = "grant.revoke_failed"
	ActionIrrevocable   Action = "grant.irrevocable"
	ActionRetryNow      Action = "grant.retry_requested"
	ActionRetryRefused  Action = "grant.retry_refused"
	ActionRegranted     Action = "grant.readded"
	ActionClosedGone    Action = "grant.closed_member_gone"
	ActionDriftFound    Action = "drift.unexplained_member"
	ActionDriftRemoved  Action = "drift.removed"
	// ActionReconcileRemoved: `jitbot reconcile --remove` removed a member
	// or PIM assignment that no grant in the database explains.
	ActionReconcileRemoved Action = "reconcile.removed"

	// ActionInvalidated: a pending request no longer fit its profile when
	// an approver clicked, and was closed.
	ActionInvalidated Action = "request.invalidated"
	// ActionRequestRefused and ActionDecisionRefused record attempts that
	// were refused for who made them: a request by someone not in a
	// requester group, a decision by someone who may not decide.
	ActionRequestRefused  Action = "request.refused"
	ActionDecisionRefused Action = "request.decision_refused"

	// ActionReportViewed: an audit reader was shown a report in Teams.
	ActionReportViewed Action = "audit.report_viewed"
	// ActionReportRefused: someone who is not an audit reader asked for
	// a report.
	ActionReportRefused Action = "audit.report_refused"
	// ActionDownloaded: a report's CSV was downloaded through its link.
	ActionDownloaded Action = "audit.downloaded"
	// ActionDownloadRefused: a validly signed download link was refused
	// (expired, used before, or its reader no longer is one).
	ActionDownloadRefused Action = "audit.download_refused"

	// ActionFeedback records the requester's feedback once their access
	// ended; ActionFeedbackRefused an answer refused for who gave it
	// (someone other than the requester).
	ActionFeedback        Action = "request.feedback"
	ActionFeedbackRefused Action = "request.feedback_refused"

	// ActionAuditGenesis seals the events written before the audit log
	// was hash-chained (see package audit).
	ActionAuditGenesis Action = "audit.genesis"

	// ActionReleased: the requester ended their grant early ("I'm done");
	// ActionReleaseRefused: someone else tried to.
	ActionReleased       Action = "grant.released"
	ActionReleaseRefused Action = "grant.release_refused"
	// ActionRevokedEarly: an approver or the security team revoked an
	// active grant ("Revoke now", with a reason); ActionRevokeRefused:
	// someone who may not tried to.
	ActionRevokedEarly  Action = "grant.revoked_early"
	ActionRevokeRefused Action = "grant.revoke_now_refused"
	// ActionTimedOut: a pending request reached its deadline without a
	// decision. ActionReminded: the approvers were reminded of a pending
	// request. ActionDeadlineSet: a pending request stored before
	// deadlines existed was given one.
	ActionTimedOut    Action = "request.timed_out"
	ActionReminded    Action = "request.reminded"
	ActionDeadlineSet Action = "request.deadline_set"
	// ActionCancelled: the requester cancelled their pending request;
	// ActionCancelRefused: someone else tried to.
	ActionCancelled     Action = "request.cancelled"
	ActionCancelRefused Action = "request.cancel_refused"
	// ActionAuditTamperFound: the checkpoint job refused to sign the
	// chain head because the log or its checkpoints were tampered with;
	// the reason says where.
	ActionAuditTamperFound Action = "audit.tamper_found"

	// ActionExtended: a grant's end was moved later (by its requester
	// within self_extend_max, or by the approver of an extension
	// request); ActionExtendRequested: the requester asked approvers for
	// an extension; ActionExtendRefused: someone other than the requester
	// tried to extend. ActionExpiryReminded: the requester was reminded
	// that their grant ends soon.
	ActionExtended        Action = "grant.extended"
	ActionExtendRequested Action = "grant.extend_requested"
	ActionExtendRefused   Action = "grant.extend_refused"
	ActionExpiryReminded  Action = "grant.expiry_reminded"

	// ActionBreakGlass: a request under a break-glass profile was granted
	// at once, without an approver. ActionReviewed: a member of the
	// security team acknowledged a break-glass grant; ActionReviewRefused:
	// someone who may not tried to. ActionReviewReminded: the security
	// channel was reminded of an unreviewed break-glass grant;
	// ActionRevokedUnreviewed: jitbot revoked one nobody reviewed in time.
	ActionBreakGlass        Action = "request.break_glass"
	ActionReviewed          Action = "grant.reviewed"
	ActionReviewRefused     Action = "grant.review_refused"
	ActionReviewReminded    Action = "grant.review_reminded"
	ActionRevokedUnreviewed Action = "grant.revoked_unreviewed"

	// ActionEscalated: a pending request got no decision within its
	// profile's escalate_after; its card was posted to the escalation
	// channel too.
	ActionEscalated Action = "request.escalated"
	// ActionForceApproved: an admin approved a pending request past the
	// approvers' rules ("Force approve", with a reason);
	// ActionForceRefused: someone who is not an admin tried to.
	ActionForceApproved Action = "request.force_approved"
	ActionForceRefused  Action = "request.force_approve_refused"
	// ActionApprovalCounted: an approval that counted towards a quorum
	// without completing it (the reason says "1 of 2"); the approval that
	// completes it is ActionApproved. ActionAutoApproved: jitbot approved
	// a request at once under its profile's auto_approve (the reason
	// names the rule and the group).
	ActionApprovalCounted Action = "request.approval_counted"
	ActionAutoApproved    Action = "request.auto_approved"
	// ActionApprovalWithdrawn: an earlier approval stopped counting
	// towards the quorum because its approver was no longer in the
	// approver groups when another approval was about to complete it.
	ActionApprovalWithdrawn Action = "request.approval_withdrawn"

	// ActionStarted: the start of a request approved ahead came, and its
	// grant was stored (the membership is added next, the durable way).
	// ActionStartMissed: the whole window of a scheduled request passed
	// before it could be granted (jitbot was not running); nothing was
	// added. ActionRevokedBeforeStart: an approver or the security team
	// revoked a scheduled request before its start; nothing was added.
	ActionStarted            Action = "request.started"
	ActionStartMissed        Action = "request.start_missed"
	ActionRevokedBeforeStart Action = "request.revoked_before_start"
)

// AuditEvent is one append-only record of a transition.
type AuditEvent struct {
	ID int64
	// Seq is the event's place in the deployment's one hash chain (1, 2,
	// ...; 0 for an event not yet appended, and for the events written
	// before the chain existed, which the chain's genesis event seals).
	Seq int64
	// PrevHash is the previous event's Hash ("" for the first); Hash is the
	// hex SHA-256 of the event's canonical encoding and PrevHash (see
	// package audit).
	PrevHash       string
	Hash           string
	At             time.Time
	Actor          Person // who caused it; the bot itself for expiries
	Action         Action
	RequestID      string
	Profile        string
	GroupID        string
	TargetUserID   string
	Reason         string
	ConversationID string
	ActivityID     string
}

// Errors a Store returns.
var (
	ErrNotFound   = errors.New("not found")
	ErrNotPending = errors.New("request is no longer pending")
	ErrDuplicate  = errors.New("a pending request for this profile already exists")
	ErrStaleGrant = errors.New("grant changed concurrently or claimed by another replica")
	// ErrFeedbackRecorded: the request's feedback was given already; the
	// first answer is kept.
	ErrFeedbackRecorded = errors.New("feedback already recorded")
	// ErrReviewed: the break-glass grant was reviewed already; the first
	// review is kept.
	ErrReviewed = errors.New("already reviewed")
)

// ErrPermanent marks a Directory error that retrying will not mend (a
// missing permission, a group that does not exist).
var ErrPermanent = errors.New("permanent directory error")

// Classes of refusal: the Err of a *Refusal, to be tested with errors.Is.
var (
	// ErrWrongTenant: the activity comes from another Entra tenant.
	ErrWrongTenant = errors.New("activity from another tenant")
	// ErrNoIdentity: the caller has no valid Entra object id.
	ErrNoIdentity = errors.New("caller has no Entra object id")
	// ErrInvalidInput: what was typed or filled in is not acceptable (a
	// duration out of bounds, a missing justification, a bad ticket, text
	// over its length limit).
	ErrInvalidInput = errors.New("invalid input")
	// ErrNotEligible: the requester is not in a requester group.
	ErrNotEligible = errors.New("not eligible")
	// ErrNotApprover: the clicker may not decide (or retry).
	ErrNotApprover = errors.New("not an approver")
	// ErrAlreadyApproved: an approver approved a request they had
	// approved already; the same person never counts twice.
	ErrAlreadyApproved = errors.New("already approved by this approver")
	// ErrSelfApproval: the requester tried to decide their own request.
	ErrSelfApproval = errors.New("requester cannot decide their own request")
	// ErrUnknownProfile: no profile has the name.
	ErrUnknownProfile = errors.New("unknown profile")
	// ErrNoLongerValid: a pending request no longer fits its profile as
	// configured now (the profile is gone, the requester is no longer
	// eligible, the duration is out of the profile's bounds); it was closed.
	ErrNoLongerValid = errors.New("request no longer valid")
	// ErrApproversUnreachable: the approval card could not be posted.
	ErrApproversUnreachable = errors.New("approvers' channel unreachable")
	// ErrNothingToRetry: "Retry now" on a grant that has no failed
	// removal to retry.
	ErrNothingToRetry = errors.New("no failed removal to retry")
	// ErrNotPrivate: something for one person alone was asked for where
	// others read along (a channel or a group chat).
	ErrNotPrivate = errors.New("asked where others read along")
	// ErrNotAuditReader: the caller is not in an audit reader group.
	ErrNotAuditReader = errors.New("not an audit reader")
	// ErrLinkExpired and ErrLinkUsed: a download link past its lifetime,
	// or used before (links are single-use).
	ErrLinkExpired = errors.New("download link expired")
	ErrLinkUsed    = errors.New("download link already used")
	// ErrNotRequester: someone other than the requester answered the
	// feedback card of a request.
	ErrNotRequester = errors.New("not the requester")
	// ErrNoFeedbackAsked: feedback was sent for a request that does not
	// ask for any (its access has not ended by expiry, or its profile
	// asks none).
	ErrNoFeedbackAsked = errors.New("no feedback asked")
	// ErrNotActive: a release or revoke of a grant that is not active
	// (not yet granted, already ending, or ended).
	ErrNotActive = errors.New("grant not active")
)

// Directory is the identity directory that holds group memberships (Entra ID
// through Microsoft Graph).
type Directory interface {
	// AddMember adds the user to the group. When the user already is a
	// direct member it returns alreadyMember=true and a nil error.
	AddMember(ctx context.Context, groupID, userID string) (alreadyMember bool, err error)
	// RemoveMember removes the user from the group. A user who is not a
	// member counts as removed: nil error.
	RemoveMember(ctx context.Context, groupID, userID string) error
	// IsMember reports whether the user is a direct member of the group.
	IsMember(ctx context.Context, groupID, userID string) (bool, error)
	// GroupMembers returns the object ids of the group's direct members.
	GroupMembers(ctx context.Context, groupID string) ([]string, error)
	// MemberGroups returns those of groupIDs the user is a transitive member of.
	MemberGroups(ctx context.Context, userID string, groupIDs []string) ([]string, error)
}

// Notifier tells people in Teams what happened.
type Notifier interface {
	// PostApprovalCard starts a new thread with the approval card in the
	// profile's approvers channel and returns where it landed.
	PostApprovalCard(ctx context.Context, req *Request, channelID string) (chat ConversationRef, activityID string, err error)
	// UpdateApprovalCard replaces the approval card with the request's current state.
	UpdateApprovalCard(ctx context.Context, req *Request) error
	// NotifyRequester writes to the requester's personal chat.
	NotifyRequester(ctx context.Context, req *Request, n Notice) error
	// PostAlert starts a thread with an alert card in the security channel.
	PostAlert(ctx context.Context, a Alert, channelID string) (chat ConversationRef, activityID string, err error)
	// UpdateAlert replaces an alert card (for example once a retry worked).
	UpdateAlert(ctx context.Context, a Alert, chat ConversationRef, activityID string) error
	// RemindApprovers replies in the approval card's thread that request
	// req still waits for a decision; n is the reminder's number (1, 2,
	// ...).
	RemindApprovers(ctx context.Context, req *Request, n int) error
	// PostReviewAlert starts a thread in the security channel with the
	// review card of req's break-glass grant (Acknowledge, Revoke now).
	PostReviewAlert(ctx context.Context, req *Request, channelID string) (chat ConversationRef, activityID string, err error)
	// UpdateReviewAlert replaces the review card with the grant's current
	// state.
	UpdateReviewAlert(ctx context.Context, req *Request) error
	// RemindReview replies in the review card's thread that req's
	// break-glass grant is still unreviewed; n is the reminder's number.
	RemindReview(ctx context.Context, req *Request, n int) error
}

// AlertKind says what a security alert is about.
type AlertKind string

// The alerts the security channel receives.
const (
	// AlertIrrevocable: a membership could not be removed at expiry.
	AlertIrrevocable AlertKind = "irrevocable"
	// AlertDrift: a managed group has a member the ledger cannot explain.
	AlertDrift AlertKind = "drift"
	// AlertPIMOutlives: a member's PIM assignment ends after their grant,
	// or never (Entra may keep time-bound assignments when the licence
	// lapses): Entra's end is no longer a backstop, jitbot's removal is
	// the only one. AssignmentEnd is the assignment's end (zero: none),
	// GrantEnd the grant's.
	AlertPIMOutlives AlertKind = "pim_outlives"
)

// Alert is what the security channel is told.
type Alert struct {
	Kind    AlertKind
	GrantID string // irrevocable only
	Profile string
	GroupID string
	User    Person
	// Error is the latest directory error; Permanent tells whether retrying
	// is expected to help.
	Error     string
	Permanent bool
	Attempts  int
	// RetryEvery is how often the removal is retried while irrevocable.
	RetryEvery time.Duration
	// Resolved is set when the alert no longer applies (the retry worked,
	// the member was removed).
	Resolved     bool
	ResolvedNote string
	At           time.Time
	// AssignmentEnd and GrantEnd: AlertPIMOutlives only.
	AssignmentEnd, GrantEnd time.Time
}

// NoticeKind says what a Notice to the requester is about.
type NoticeKind string

// The notices a requester receives.
const (
	NoticeReceived NoticeKind = "received"
	NoticeApproved NoticeKind = "approved"
	NoticeDenied   NoticeKind = "denied"
	NoticeClosed   NoticeKind = "closed" // no longer valid when decided
	NoticeGranted  NoticeKind = "granted"
	NoticeFailed   NoticeKind = "failed"
	NoticeRevoked  NoticeKind = "revoked"
	// NoticeFeedback asks the requester, once their access ended, for
	// feedback: the bot sends the feedback card (Text is its fallback).
	NoticeFeedback NoticeKind = "feedback"
	// NoticeTimedOut: the request got no decision before its deadline.
	NoticeTimedOut NoticeKind = "timed_out"
	// NoticeExpiring reminds the requester that their grant ends soon
	// (the bot sends the reminder card with Extend and I'm done);
	// NoticeExtended tells them it was extended (the extended card).
	NoticeExpiring NoticeKind = "expiring"
	NoticeExtended NoticeKind = "extended"
)

// Notice is one message to a requester.
type Notice struct {
	Kind NoticeKind
	// Text is the plain-text notice, complete: what a notification or a
	// client without cards shows. Times in it are written with FormatTime,
	// never as RFC 3339 stamps.
	Text string
	// Membership says, for NoticeRevoked, what became of the group
	// membership when the grant ended (the request alone cannot tell:
	// another grant may hold it by then).
	Membership MembershipOutcome
}

// MembershipOutcome is what became of a group membership when its grant
// ended.
type MembershipOutcome string

// The outcomes of a grant's end for its membership.
const (
	// MembershipRemoved: jitbot removed the member from the group.
	MembershipRemoved MembershipOutcome = "removed"
	// MembershipLeft: the membership was left in place: it pre-existed
	// the grant, or another active grant still holds it.
	MembershipLeft MembershipOutcome = "left"
	// MembershipGone: the member had already left the group outside
	// jitbot.
	MembershipGone MembershipOutcome = "gone"
)

// Clock tells the time; tests inject a fake.
type Clock interface {
	Now() time.Time
	// TimerAt returns a timer that fires once when the clock reaches at
	// (at once when at is not in the future). An absolute time, not a
	// duration, so that no time passes unaccounted between reading the
	// clock and arming the timer.
	TimerAt(at time.Time) Timer
}

// Timer is a one-shot timer.
type Timer interface {
	C() <-chan time.Time
	Stop() bool
}
