package storage

import "time"

// The tables. Times are stored in UTC with microsecond precision; durations
// as int64 nanoseconds; conversation references as JSON text. Every time is
// the caller's: gorm fills in none (autoCreateTime and autoUpdateTime off).

// requestRow is one request. The partial unique index allows at most one
// pending request per requester and profile.
type requestRow struct {
	ID                 string    `gorm:"primaryKey"`
	RequesterID        string    `gorm:"not null;index:idx_requests_requester_profile_state,priority:1;uniqueIndex:idx_requests_one_pending,priority:1,where:state = 'pending'"`
	Profile            string    `gorm:"not null;index:idx_requests_requester_profile_state,priority:2;uniqueIndex:idx_requests_one_pending,priority:2,where:state = 'pending'"`
	State              string    `gorm:"not null;index:idx_requests_requester_profile_state,priority:3"`
	GroupID            string    `gorm:"not null"`
	RequesterName      string    `gorm:"not null"`
	DurationNS         int64     `gorm:"column:duration_ns;not null"`
	Ticket             string    `gorm:"not null"`
	Justification      string    `gorm:"not null"`
	SelfApproval       bool      `gorm:"not null"`
	RequesterChat      string    `gorm:"type:text;not null"`
	ApprovalChat       string    `gorm:"type:text;not null"`
	ApprovalActivityID string    `gorm:"not null"`
	CreatedAt          time.Time `gorm:"not null;autoCreateTime:false"`
	UpdatedAt          time.Time `gorm:"not null;autoUpdateTime:false"`
	// DecideBy is the deadline of a pending request, NextReminderAt its
	// next reminder to the approvers (NULL: none) and Reminders how many
	// were sent. NULL and 0 for the requests stored before deadlines.
	// Both are indexed among the pending requests too (pendingOnly), so
	// that the scheduler finds the next one without walking past every
	// request decided since.
	DecideBy       *time.Time `gorm:"index;index:idx_requests_pending_decide_by,where:state = 'pending'"`
	Reminders      int64      `gorm:"not null;default:0"`
	NextReminderAt *time.Time `gorm:"index;index:idx_requests_pending_next_reminder_at,where:state = 'pending'"`
	// APIClientID and APIClientName name the API client that made the
	// request on the requester's behalf; '' for requests made in Teams
	// (and every request stored before the API existed).
	APIClientID   string `gorm:"column:api_client_id;not null;default:''"`
	APIClientName string `gorm:"column:api_client_name;not null;default:''"`
	// ExtendsRequestID is set on an extension request: the request whose
	// grant it extends ('' for any other request, and for the requests
	// stored before extensions); ExtendsFrom is that grant's end when it
	// was asked.
	ExtendsRequestID string     `gorm:"not null;default:'';index"`
	ExtendsFrom      *time.Time ``
	// EscalateAt is when a pending request is escalated (NULL: never, or
	// done), EscalatedAt when it was, and EscalationChat and
	// EscalationActivityID the second approval card. NULL and '' for the
	// requests stored before escalation existed.
	EscalateAt           *time.Time `gorm:"index"`
	EscalatedAt          *time.Time ``
	EscalationChat       string     `gorm:"type:text;not null;default:''"`
	EscalationActivityID string     `gorm:"not null;default:''"`
	// Severity is the severity the request named ('' for none, and for
	// every request stored before severities).
	Severity string `gorm:"not null;default:''"`
	// StartsAt is when a scheduled request's access starts (NULL: on
	// approval, and for every request stored before scheduled starts);
	// StartZone the requester's time zone it was given in.
	StartsAt  *time.Time `gorm:"index"`
	StartZone string     `gorm:"not null;default:''"`
	// ApprovedAhead is set when the request moved to scheduled (false for
	// every request stored before it existed).
	ApprovedAhead bool `gorm:"not null;default:false"`

	// Declared for the foreign keys only; loaded explicitly.
	Decisions []decisionRow `gorm:"foreignKey:RequestID;constraint:OnDelete:RESTRICT"`
	Grant     *grantRow     `gorm:"foreignKey:RequestID;constraint:OnDelete:RESTRICT"`
}

func (requestRow) TableName() string { return "requests" }

// decisionRow is one approver's answer; a request may collect several.
type decisionRow struct {
	ID           int64     `gorm:"primaryKey;autoIncrement"`
	RequestID    string    `gorm:"not null;index"`
	ApproverID   string    `gorm:"not null"`
	ApproverName string    `gorm:"not null"`
	Verdict      string    `gorm:"not null"`
	Reason       string    `gorm:"not null"`
	DecidedAt    time.Time `gorm:"not null"`
	// Forced marks an admin's force-approval (false for every decision
	// stored before force-approval existed).
	Forced bool `gorm:"not null;default:false"`
}

func (decisionRow) TableName() string { return "decisions" }

// grantRow is the membership granted for an approved request (one per
// request). A grant is unclaimed when ClaimedBy is empty and ClaimUntil NULL.
// The columns added after the first release carry defaults so that
// AutoMigrate can add them to a table that already holds grants.
type grantRow struct {
	ID          string     `gorm:"primaryKey;index:idx_grants_due_order,priority:3"`
	RequestID   string     `gorm:"not null;uniqueIndex"`
	Profile     string     `gorm:"not null"`
	GroupID     string     `gorm:"not null;index:idx_grants_membership,priority:1"`
	UserID      string     `gorm:"not null;index:idx_grants_membership,priority:2"`
	UserName    string     `gorm:"not null"`
	State       string     `gorm:"not null;index:idx_grants_due_order,priority:1;index:idx_grants_membership,priority:3;index:idx_grants_state_remind,priority:1;index:idx_grants_review,priority:2"`
	ApprovedAt  time.Time  `gorm:"not null"`
	ExpiresAt   time.Time  `gorm:"not null"`
	GrantedAt   *time.Time ``
	Checked     bool       `gorm:"not null;default:false"`
	PreExisting bool       `gorm:"not null"`
	Shared      bool       `gorm:"not null;default:false"`
	RevokedAt   *time.Time ``
	DueAt       time.Time  `gorm:"not null;index:idx_grants_due_order,priority:2"`
	Attempts    int64      `gorm:"not null"`
	LastError   string     `gorm:"not null"`
	// LastErrorPermanent is set when the directory called LastError
	// permanent.
	LastErrorPermanent bool       `gorm:"not null;default:false"`
	ClaimedBy          string     `gorm:"not null;default:'';index"`
	ClaimUntil         *time.Time ``
	AlertChat          string     `gorm:"type:text;not null;default:''"`
	AlertActivityID    string     `gorm:"not null;default:''"`
	// The Early columns record who ended the grant before its expiry, how
	// (EarlyKind "" when nobody did), why and when they asked.
	EarlyKind   string     `gorm:"not null;default:'';index:idx_grants_state_remind,priority:2;index:idx_grants_review,priority:3"`
	EarlyByID   string     `gorm:"not null;default:''"`
	EarlyByName string     `gorm:"not null;default:''"`
	EarlyReason string     `gorm:"not null;default:''"`
	EarlyAt     *time.Time ``
	// RemindAt is when the requester is reminded of the grant's end (NULL:
	// no reminder is due, it was sent, or the grant was stored before
	// reminders). The Extended columns are the grant's latest extension
	// (ExtendedCount 0: never extended). idx_grants_state_remind serves
	// the scheduler's look for the next reminder of the active grants
	// (NextExpiryReminder, DueExpiryReminders) in remind_at order, from
	// the first one on, instead of reading every active grant and sorting.
	RemindAt       *time.Time `gorm:"index;index:idx_grants_state_remind,priority:3"`
	ExtendedByID   string     `gorm:"not null;default:''"`
	ExtendedByName string     `gorm:"not null;default:''"`
	ExtendedNS     int64      `gorm:"column:extended_ns;not null;default:0"`
	ExtendedReason string     `gorm:"not null;default:''"`
	ExtendedAt     *time.Time ``
	ExtendedCount  int64      `gorm:"not null;default:0"`
	// BreakGlass marks a grant made without an approver under a
	// break-glass profile; ReviewBy is its review's deadline, ReviewDueAt
	// the next review step (NULL: none), ReviewReminders the reminders
	// sent, the Reviewed columns the review (ReviewedAt NULL: none) and
	// ReviewChat and ReviewActivityID the review card. false and NULL for
	// every grant stored before break-glass existed. idx_grants_review
	// serves the scheduler's look for the next review step (NextReview,
	// DueReviews) among the break-glass grants alone, in review_due_at
	// order.
	BreakGlass       bool       `gorm:"not null;default:false;index:idx_grants_review,priority:1"`
	ReviewBy         *time.Time ``
	ReviewDueAt      *time.Time `gorm:"index;index:idx_grants_review,priority:4"`
	ReviewReminders  int64      `gorm:"not null;default:0"`
	ReviewedByID     string     `gorm:"not null;default:''"`
	ReviewedByName   string     `gorm:"not null;default:''"`
	ReviewNote       string     `gorm:"not null;default:''"`
	ReviewedAt       *time.Time ``
	ReviewChat       string     `gorm:"type:text;not null;default:''"`
	ReviewActivityID string     `gorm:"not null;default:''"`
}

func (grantRow) TableName() string { return "grants" }

// feedbackRow is a requester's feedback once their access ended: at most one
// per request (the primary key), never updated.
type feedbackRow struct {
	RequestID  string    `gorm:"primaryKey"`
	Useful     string    `gorm:"not null"`
	FastEnough bool      `gorm:"not null"`
	Comment    string    `gorm:"not null"`
	At         time.Time `gorm:"not null"`

	Request *requestRow `gorm:"foreignKey:RequestID;constraint:OnDelete:RESTRICT"`
}

func (feedbackRow) TableName() string { return "feedback" }

// auditRow is one audit event. The table is append-only: nothing in this
// package updates its rows, and only PruneAudit deletes whole segments
// below a signed checkpoint. Seq is the event's place in the hash chain (0
// for the events from before the chain, which its genesis event seals):
// unique among chained events.
type auditRow struct {
	ID             int64     `gorm:"primaryKey;autoIncrement;index:idx_audit_seq,priority:2"`
	Seq            int64     `gorm:"not null;default:0;index:idx_audit_seq,priority:1;uniqueIndex:idx_audit_chain_seq,where:seq > 0"`
	PrevHash       string    `gorm:"not null;default:''"`
	Hash           string    `gorm:"not null;default:''"`
	At             time.Time `gorm:"not null;index"`
	ActorID        string    `gorm:"not null"`
	ActorName      string    `gorm:"not null"`
	Action         string    `gorm:"not null"`
	RequestID      string    `gorm:"not null;index"`
	Profile        string    `gorm:"not null"`
	GroupID        string    `gorm:"not null"`
	TargetUserID   string    `gorm:"not null"`
	Reason         string    `gorm:"not null"`
	ConversationID string    `gorm:"not null"`
	ActivityID     string    `gorm:"not null"`
}

func (auditRow) TableName() string { return "audit_events" }

// chainHeadRow is the head of the audit hash chain: one row (ID 1), locked
// by every append so that appends from every replica form one chain.
type chainHeadRow struct {
	ID   int64  `gorm:"primaryKey;autoIncrement:false"`
	Seq  int64  `gorm:"not null"`
	Hash string `gorm:"not null"`
}

func (chainHeadRow) TableName() string { return "audit_chain_head" }

// checkpointRow is a signed checkpoint of the chain head.
type checkpointRow struct {
	Seq       int64     `gorm:"primaryKey;autoIncrement:false"`
	Hash      string    `gorm:"not null"`
	At        time.Time `gorm:"not null"`
	KeyID     string    `gorm:"not null"`
	Signature string    `gorm:"not null"`
}

func (checkpointRow) TableName() string { return "audit_checkpoints" }

// ledgerRow is the membership ledger: one row per (group, user) that a
// grant ever touched. It exists to be locked: WithMembership locks it for
// every decision about the membership, so that concurrent grants and
// revocations of one membership are serialised. PreExisting records that
// the membership was found in place before any grant added it (access
// never removes such a membership).
type ledgerRow struct {
	GroupID     string    `gorm:"primaryKey"`
	UserID      string    `gorm:"primaryKey"`
	PreExisting bool      `gorm:"not null"`
	UpdatedAt   time.Time `gorm:"not null;autoUpdateTime:false"`
}

func (ledgerRow) TableName() string { return "memberships" }

// driftRow is an unexplained member of a managed group, recorded once so
// that the security channel is alerted once.
type driftRow struct {
	GroupID   string    `gorm:"primaryKey"`
	UserID    string    `gorm:"primaryKey"`
	FirstSeen time.Time `gorm:"not null"`
}

func (driftRow) TableName() string { return "drift_findings" }

// membershipRow is a direct group membership in the demo directory.
type membershipRow struct {
	GroupID   string    `gorm:"primaryKey"`
	UserID    string    `gorm:"primaryKey;index"`
	CreatedAt time.Time `gorm:"not null;autoCreateTime:false"`
}

func (membershipRow) TableName() string { return "demo_memberships" }

// downloadRow records the use of an audit download link: links are
// single-use across every replica sharing the database.
type downloadRow struct {
	LinkID string    `gorm:"primaryKey"`
	UserID string    `gorm:"not null"`
	UsedAt time.Time `gorm:"not null"`
}

func (downloadRow) TableName() string { return "audit_downloads" }

// budgetRow is a token bucket every replica shares (the directory's write
// budget), as access.Bucket: its tokens as of RefilledAt, the time before
// which none may be taken, the tokens leased to replicas and when those
// leases have ended, and until when removals wait. Times are Unix
// nanoseconds (0: none), the same on SQLite and PostgreSQL.
type budgetRow struct {
	Name          string  `gorm:"primaryKey"`
	Tokens        float64 `gorm:"not null;default:0"`
	RefilledAt    int64   `gorm:"not null;default:0"`
	PausedUntil   int64   `gorm:"not null;default:0"`
	Leased        float64 `gorm:"not null;default:0"`
	LeasedUntil   int64   `gorm:"not null;default:0"`
	RemovalsUntil int64   `gorm:"not null;default:0"`
}

func (budgetRow) TableName() string { return "token_buckets" }

// models lists the tables migrated at Open.
func models() []any {
	return []any{&requestRow{}, &decisionRow{}, &grantRow{}, &feedbackRow{}, &auditRow{}, &ledgerRow{}, &driftRow{}, &membershipRow{}, &metaRow{}, &chainHeadRow{}, &checkpointRow{}, &downloadRow{}, &budgetRow{}}
}
