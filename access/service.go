package access

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"strings"
	"time"
)

// System is the actor recorded for what the bot does on its own (expiries,
// retries, recovery after a restart).
var System = Person{ObjectID: "jitbot", Name: "jitbot"}

// Config wires a Service.
type Config struct {
	// TenantID is the only Entra tenant whose users are served.
	TenantID  string
	Profiles  []Profile
	Store     Store
	Directory Directory
	// PIM makes the memberships of profiles with MembershipPIM; required
	// when there is one.
	PIM      PIM
	Notifier Notifier
	Clock    Clock
	Logger   *slog.Logger
	// NewID returns a fresh unique id for requests and grants.
	NewID func() string
	// Owner names this replica in claims on grants; replicas sharing a
	// database need distinct owners. Default "jitbot".
	Owner string
	// Lease is how long a claim on a grant lasts; a replica that dies
	// holding one lets it run out and another replica takes the work.
	Lease time.Duration
	// RevokeBackoff is the delay after the first failed revocation; it
	// doubles with each further failure up to RevokeBackoffMax. Jitter
	// spreads each delay over its upper half. A Retry-After from the
	// directory that is longer wins.
	RevokeBackoff    time.Duration
	RevokeBackoffMax time.Duration
	// MaxAttempts failed removals make a grant irrevocable: the security
	// channel is alerted and the removal is retried every SweepInterval.
	MaxAttempts   int
	SweepInterval time.Duration
	// SecurityChannelID is the Teams channel for alerts; SecurityGroups
	// may press "Retry now" (with none, the profile's approvers may).
	SecurityChannelID string
	SecurityGroups    []string
	// AdminGroups may force-approve any pending request, with a reason
	// (none: nobody may).
	AdminGroups []string
	// DriftInterval is how often managed groups are compared with the
	// ledger (0: never); DriftRemove removes unexplained members.
	DriftInterval time.Duration
	DriftRemove   bool
	// AuditReaderGroups may read audit reports in Teams and download
	// them (transitive members); with none, nobody may.
	AuditReaderGroups []string
	// GrantTimeout bounds one directory call of the lifecycle.
	GrantTimeout time.Duration
	// Jitter returns a number in [0,1); nil uses math/rand.
	Jitter func() float64
	// Failpoint, when set, is called at each named point of the grant and
	// revoke paths (crash-injection tests kill the process there).
	Failpoint func(name string)
	// Monitor, when set, is told how late each expired grant ended.
	Monitor Monitor
	// RevokeConcurrency bounds the grants one replica works on at once
	// (default DefaultRevokeConcurrency). Within it the number adapts:
	// it grows while directory calls succeed and halves when they are
	// throttled, fail transiently or time out.
	RevokeConcurrency int
	// Budget, when set, paces directory writes with a token bucket every
	// replica shares: WriteQuota writes (default DefaultWriteQuota; a
	// negative value turns pacing off) per WriteQuotaWindow (default
	// DefaultWriteQuotaWindow). Removals go first: adds, re-adds and drift
	// repairs leave WriteReserve of the budget (default
	// DefaultWriteReserve) to them and wait while one waits, on any
	// replica. Each replica leases a few tokens at a time and spends them
	// from memory (see WritePacer); Run gives back what is left.
	Budget           BudgetStore
	WriteQuota       int
	WriteQuotaWindow time.Duration
	WriteReserve     float64
	// ViewerGroupsFor is how long the directory's answer to which of the
	// approver, security and admin groups a person is in is used again
	// for the buttons their cards show (default DefaultViewerGroupsFor; a
	// negative value: never). Every action asks afresh.
	ViewerGroupsFor time.Duration
}

// Service runs the access lifecycle: it validates and stores requests,
// accepts decisions from approvers, grants memberships and revokes them when
// they expire.
type Service struct {
	cfg      Config
	profiles map[string]Profile
	order    []string
	log      *slog.Logger
	wake     chan struct{}
	// pimGroups are the groups whose memberships are PIM assignments
	// (lower case); policies caches their PIM policies.
	pimGroups map[string]bool
	policies  pimPolicies
	limiter   *limiter
	pacer     *WritePacer // nil: writes are not paced
	finisher  finisher
	// viewerGroups are the directory's recent answers for Viewer.
	viewerGroups viewerGroups
}

// New checks the configuration and returns a Service.
func New(cfg Config) (*Service, error) {
	if cfg.Store == nil || cfg.Directory == nil || cfg.Notifier == nil || cfg.Clock == nil || cfg.NewID == nil {
		return nil, fmt.Errorf("access service: store, directory, notifier, clock and id source are required")
	}
	if cfg.TenantID == "" {
		return nil, fmt.Errorf("access service: tenant id is required")
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	if cfg.RevokeBackoff <= 0 {
		cfg.RevokeBackoff = 30 * time.Second
	}
	if cfg.RevokeBackoffMax < cfg.RevokeBackoff {
		cfg.RevokeBackoffMax = 30 * time.Minute
	}
	if cfg.GrantTimeout <= 0 {
		cfg.GrantTimeout = 20 * time.Second
	}
	if cfg.Owner == "" {
		cfg.Owner = "jitbot"
	}
	if cfg.Lease <= 0 {
		cfg.Lease = time.Minute
	}
	if cfg.MaxAttempts <= 0 {
		cfg.MaxAttempts = 8
	}
	if cfg.SweepInterval <= 0 {
		cfg.SweepInterval = time.Hour
	}
	if cfg.Failpoint == nil {
		cfg.Failpoint = func(string) {}
	}
	if cfg.Jitter == nil {
		cfg.Jitter = rand.Float64
	}
	if cfg.RevokeConcurrency <= 0 {
		cfg.RevokeConcurrency = DefaultRevokeConcurrency
	}
	if cfg.WriteQuota == 0 {
		cfg.WriteQuota = DefaultWriteQuota
	}
	if cfg.WriteQuotaWindow <= 0 {
		cfg.WriteQuotaWindow = DefaultWriteQuotaWindow
	}
	switch {
	case cfg.WriteReserve == 0:
		cfg.WriteReserve = DefaultWriteReserve
	case cfg.WriteReserve < 0 || cfg.WriteReserve >= 1:
		return nil, fmt.Errorf("access service: write reserve %v is not a share between 0 and 1", cfg.WriteReserve)
	}
	if cfg.ViewerGroupsFor == 0 {
		cfg.ViewerGroupsFor = DefaultViewerGroupsFor
	}
	s := &Service{cfg: cfg, profiles: map[string]Profile{}, log: cfg.Logger, wake: make(chan struct{}, 1),
		limiter: newLimiter(cfg.RevokeConcurrency), pacer: NewWritePacer(&cfg),
		viewerGroups: viewerGroups{ttl: cfg.ViewerGroupsFor}}
	for _, p := range cfg.Profiles {
		if err := p.Validate(); err != nil {
			return nil, fmt.Errorf("access service: %w", err)
		}
		if p.ApprovalTimeout == 0 {
			p.ApprovalTimeout = DefaultApprovalTimeout
		}
		if _, dup := s.profiles[p.Name]; dup {
			return nil, fmt.Errorf("access service: profile %s is defined twice", p.Name)
		}
		if p.BreakGlass && cfg.SecurityChannelID == "" {
			return nil, fmt.Errorf("access service: profile %s: break_glass needs security.channel_id for its alerts", p.Name)
		}
		s.profiles[p.Name] = p
		s.order = append(s.order, p.Name)
	}
	if err := CheckNames(cfg.Profiles); err != nil {
		return nil, fmt.Errorf("access service: %w", err)
	}
	pim, err := pimGroups(cfg.Profiles)
	if err != nil {
		return nil, fmt.Errorf("access service: %w", err)
	}
	if len(pim) > 0 && cfg.PIM == nil {
		return nil, fmt.Errorf("access service: profiles with membership pim need a PIM directory")
	}
	s.pimGroups = pim
	return s, nil
}

// Refusal is a request or decision that was turned down. Reason is written
// for the person who asked: what is wrong and what to do.
type Refusal struct {
	Reason string
	// Err is the class of refusal (ErrInvalidInput, ErrNotEligible,
	// ErrDuplicate, ...).
	Err error
	// Request is the request concerned, when there is one (the existing
	// pending request for a duplicate, the current state for a stale click).
	Request *Request
}

func (r *Refusal) Error() string { return r.Reason }
func (r *Refusal) Unwrap() error { return r.Err }

func refuse(err error, format string, args ...any) *Refusal {
	return &Refusal{Err: err, Reason: fmt.Sprintf(format, args...)}
}

// Profile returns the named profile.
func (s *Service) Profile(name string) (Profile, bool) {
	p, ok := s.profiles[name]
	return p, ok
}

// Profiles returns every configured profile in configuration order.
func (s *Service) Profiles() []Profile {
	out := make([]Profile, 0, len(s.order))
	for _, n := range s.order {
		out = append(out, s.profiles[n])
	}
	return out
}

// EligibleProfiles returns the profiles the user may request.
func (s *Service) EligibleProfiles(ctx context.Context, tenantID string, user Person) ([]Profile, error) {
	if err := s.checkCaller(tenantID, user); err != nil {
		return nil, err
	}
	// One directory question for every profile's requester groups.
	var all []string
	seen := map[string]bool{}
	for _, p := range s.Profiles() {
		for _, g := range p.RequesterGroups {
			if k := strings.ToLower(g); !seen[k] {
				seen[k] = true
				all = append(all, g)
			}
		}
	}
	member := map[string]bool{}
	if len(all) > 0 {
		found, err := s.cfg.Directory.MemberGroups(ctx, user.ObjectID, all)
		if err != nil {
			return nil, fmt.Errorf("check eligibility of %s: %w", user.ObjectID, err)
		}
		for _, f := range found {
			member[strings.ToLower(f)] = true
		}
	}
	var out []Profile
	for _, p := range s.Profiles() {
		ok := len(p.RequesterGroups) == 0
		for _, g := range p.RequesterGroups {
			ok = ok || member[strings.ToLower(g)]
		}
		if ok {
			out = append(out, p)
		}
	}
	return out, nil
}

func (s *Service) checkTenant(tenantID string) error {
	if tenantID == "" || !strings.EqualFold(tenantID, s.cfg.TenantID) {
		return refuse(ErrWrongTenant, "This bot serves only its own organisation's tenant; your tenant is not allowed.")
	}
	return nil
}

// checkCaller admits a caller from the configured tenant whose identity is
// an Entra object id: no directory question is asked about anything else.
func (s *Service) checkCaller(tenantID string, who Person) error {
	if err := s.checkTenant(tenantID); err != nil {
		return err
	}
	if !IsObjectID(who.ObjectID) {
		if who.ObjectID == "" {
			return refuse(ErrNoIdentity, "Your Teams account sent no Entra ID object id, so jitbot cannot tell who you are. Use a Teams account of this organisation (guests and anonymous users are not served).")
		}
		return refuse(ErrNoIdentity, "Your Teams account sent %s as its Entra ID object id, which is not one (an object id is a GUID). Use a Teams account of this organisation.", Quote(who.ObjectID))
	}
	return nil
}

// inGroups reports whether the user is a transitive member of one of the
// groups. With no groups, emptyMeansAll decides.
func (s *Service) inGroups(ctx context.Context, userID string, groups []string, emptyMeansAll bool) (bool, error) {
	if len(groups) == 0 {
		return emptyMeansAll, nil
	}
	if userID == "" {
		return false, nil
	}
	found, err := s.cfg.Directory.MemberGroups(ctx, userID, groups)
	if err != nil {
		return false, err
	}
	for _, f := range found {
		for _, g := range groups {
			if strings.EqualFold(f, g) {
				return true, nil
			}
		}
	}
	return false, nil
}

// Submission is a request as the requester typed or filled it in.
type Submission struct {
	TenantID      string
	Requester     Person
	Profile       string
	Duration      time.Duration
	Ticket        string
	Justification string
	// Severity is the severity named (one of the profile's severities;
	// "" for none).
	Severity string
	// Chat is the requester's personal chat with the bot, for notices.
	Chat ConversationRef
	// ConversationID and ActivityID locate the asking message, for the audit.
	ConversationID string
	ActivityID     string
	// Client is the API client that submits on the requester's behalf
	// (zero in Teams).
	Client APIClient
	// Start is when the access should start, as written ("22:00",
	// "tomorrow 9:00", "2026-12-02 22:00"; "" or "now": at once), read
	// in TimeZone, the requester's IANA time zone as their client sent it
	// ("" or unknown: UTC). See ParseStart.
	Start    string
	TimeZone string
}

// Submit validates a submission, stores it as a pending request and posts the
// approval card. A *Refusal says why a submission was turned down; nothing is
// stored then.
func (s *Service) Submit(ctx context.Context, sub Submission) (*Request, error) {
	if err := s.checkCaller(sub.TenantID, sub.Requester); err != nil {
		return nil, err
	}
	p, ok := s.profiles[sub.Profile]
	if !ok {
		return nil, refuse(ErrUnknownProfile, "There is no profile called %s. Send `profiles` to see the ones you may request.", Quote(sub.Profile))
	}
	if p.BreakGlass && !sub.Client.IsZero() {
		// Break-glass grants at once, with no approver: a person asks for
		// it in Teams, never a program holding a credential.
		return nil, refuse(ErrInvalidInput, "Profile %s is break-glass: it grants at once without an approver, so only a person may ask for it, in Teams. A pipeline must request a profile with approvers.", p.Name)
	}
	sub.Justification = strings.TrimSpace(sub.Justification)
	sub.Ticket = strings.TrimSpace(sub.Ticket)
	sub.Severity = strings.ToLower(strings.TrimSpace(sub.Severity))
	if err := checkSeverity(p, sub.Severity); err != nil {
		return nil, err
	}
	if err := checkSubmissionFor(p, sub.Severity, sub.Duration, sub.Ticket, sub.Justification); err != nil {
		return nil, err
	}
	zone, zoneName := Zone(sub.TimeZone)
	startsAt, err := ParseStart(sub.Start, zone, s.cfg.Clock.Now().UTC())
	if err != nil {
		return nil, err
	}
	if err := checkStart(p, startsAt, s.cfg.Clock.Now().UTC()); err != nil {
		return nil, err
	}
	if err := s.checkPIM(ctx, p, sub.Duration); err != nil {
		return nil, err
	}
	eligible, err := s.inGroups(ctx, sub.Requester.ObjectID, p.RequesterGroups, true)
	if err != nil {
		return nil, fmt.Errorf("check whether %s may request %s: %w", sub.Requester.ObjectID, p.Name, err)
	}
	if !eligible {
		r := refuse(ErrNotEligible, "You are not in a group allowed to request %s. Ask your manager to add you to one of its requester groups.", p.Name)
		base := &Request{Profile: p.Name, GroupID: p.GroupID, Requester: sub.Requester}
		s.auditRefusal(ctx, sub.Requester, ActionRequestRefused, base, "not in a requester group", sub.ConversationID, sub.ActivityID)
		return nil, r
	}

	now := s.cfg.Clock.Now().UTC()
	req := &Request{
		ID:            s.cfg.NewID(),
		Profile:       p.Name,
		GroupID:       p.GroupID,
		Requester:     sub.Requester,
		Duration:      sub.Duration,
		Ticket:        sub.Ticket,
		Justification: sub.Justification,
		Severity:      sub.Severity,
		State:         RequestPending,
		CreatedAt:     now,
		UpdatedAt:     now,
		SelfApproval:  p.AllowSelfApproval,
		RequesterChat: sub.Chat,
		Client:        sub.Client,
	}
	if !startsAt.IsZero() {
		req.StartsAt, req.StartZone = startsAt, zoneName
	}
	setDeadline(p, req)
	if p.EscalateAfter > 0 && !p.BreakGlass {
		req.EscalateAt = now.Add(p.EscalateAfter)
	}
	if p.BreakGlass {
		// Nobody is asked to approve it, so there are no reminders; its
		// next look instead is the scheduler's, once this replica's lease
		// has run out: should the process stop before jitbot's approval
		// is stored, the scheduler grants it then (see resumeBreakGlass).
		req.NextReminderAt = now.Add(s.cfg.Lease)
	}
	ev := s.event(now, sub.Requester, ActionRequested, req, requestedReason(req))
	ev.ConversationID, ev.ActivityID = sub.ConversationID, sub.ActivityID
	existing, err := s.cfg.Store.CreateRequest(ctx, req, ev)
	if errors.Is(err, ErrDuplicate) {
		r := refuse(ErrDuplicate, "You already have a pending request for %s (asked %s). Wait for an approver, or send `status` to see it.",
			p.Name, FormatTime(existing.CreatedAt))
		r.Request = existing
		return nil, r
	}
	if err != nil {
		return nil, fmt.Errorf("store request: %w", err)
	}
	if p.BreakGlass {
		s.cfg.Failpoint("breakglass.after-request")
		out, err := s.grantBreakGlass(ctx, p, req, sub)
		if lostBreakGlassRace(err) {
			// Another replica's scheduler granted it meanwhile (or the
			// requester cancelled it): it stands as stored.
			return s.cfg.Store.GetRequest(ctx, req.ID)
		}
		return out, err
	}

	chat, activityID, err := s.cfg.Notifier.PostApprovalCard(ctx, req, p.ApproverChannelID)
	if err != nil {
		// Nobody can approve a request whose card was not posted: close it
		// so the requester can ask again, and say so.
		s.log.Error("post approval card", "request", req.ID, "err", err)
		d := Decision{Approver: System, Verdict: Deny, Reason: "the approval card could not be posted to the approvers' channel", DecidedAt: now}
		if _, derr := s.cfg.Store.Deny(ctx, req.ID, d, s.event(now, System, ActionDenied, req, d.Reason)); derr != nil {
			return nil, fmt.Errorf("post approval card: %w (and closing the request failed: %v)", err, derr)
		}
		return nil, refuse(ErrApproversUnreachable, "Your request could not be shown to the approvers (their channel could not be reached), so it was closed. Try again in a few minutes, or tell your Teams administrator.")
	}
	if err := s.cfg.Store.SetApprovalCard(ctx, req.ID, chat, activityID); err != nil {
		return nil, fmt.Errorf("record approval card: %w", err)
	}
	req.ApprovalChat, req.ApprovalActivityID = chat, activityID
	if approved, ok, err := s.autoApprove(ctx, p, req); err != nil {
		return nil, err
	} else if ok {
		return approved, nil
	}
	if sub.Chat.ConversationID != "" && sub.Chat.ConversationID == sub.ConversationID {
		// Asked in the personal chat: the reply there already says so.
		return req, nil
	}
	received := fmt.Sprintf("Your request for %s (%s) was sent to the approvers.", p.Name, FormatDuration(req.Duration))
	if req.Scheduled() {
		received = fmt.Sprintf("Your request for %s (%s from %s) was sent to the approvers; once approved, access starts then.", p.Name, FormatDuration(req.Duration), FormatStart(req))
	}
	if !sub.Client.IsZero() {
		received = fmt.Sprintf("%s asked for %s (%s) on your behalf through jitbot's API; the request was sent to the approvers.",
			Escape(sub.Client.Name), p.Name, FormatDuration(req.Duration))
	}
	s.notify(ctx, req, NoticeReceived, received)
	return req, nil
}

// checkSubmission checks what was typed against the profile: the duration
// within its bounds, a justification, a ticket when required and matching
// its pattern, and every text within its length limit.
func checkSubmission(p Profile, d time.Duration, ticket, justification string) error {
	return checkSubmissionFor(p, "", d, ticket, justification)
}

// checkSubmissionFor is checkSubmission for a request of the severity,
// whose rules may bound the duration tighter.
func checkSubmissionFor(p Profile, severity string, d time.Duration, ticket, justification string) error {
	if err := checkDurationFor(p, severity, d); err != nil {
		return err
	}
	switch {
	case justification == "":
		return refuse(ErrInvalidInput, "Say why you need access: add a justification after the duration (and ticket).")
	case Length(justification) > MaxJustification:
		return refuse(ErrInvalidInput, "The justification is too long (%d characters); keep it to %d.", Length(justification), MaxJustification)
	case Length(ticket) > MaxTicket:
		return refuse(ErrInvalidInput, "The ticket is too long (%d characters); a ticket reference has at most %d.", Length(ticket), MaxTicket)
	case p.RequireTicket && ticket == "":
		return refuse(ErrInvalidInput, "Profile %s needs a ticket matching %s. Put it right after the duration.", p.Name, Quote(p.TicketPattern.String()))
	case ticket != "" && p.TicketPattern != nil && !p.TicketPattern.MatchString(ticket):
		return refuse(ErrInvalidInput, "Ticket %s does not match %s, the pattern profile %s expects.", Quote(ticket), Quote(p.TicketPattern.String()), p.Name)
	}
	return nil
}

// checkDuration checks a duration against the profile's bounds.
func checkDuration(p Profile, d time.Duration) error { return checkDurationFor(p, "", d) }

// checkDurationFor checks a duration against the bounds of the profile's
// rules for the severity.
func checkDurationFor(p Profile, severity string, d time.Duration) error {
	if p.allowsFor(severity, d) {
		return nil
	}
	if severity != "" && p.Rules(severity).MaxDuration < p.MaxDuration {
		return refuse(ErrInvalidInput, "Profile %s can be granted for %s at severity %s; you asked for %s. Ask again with a duration in that range.",
			p.Name, p.spanFor(severity), severity, FormatDuration(d))
	}
	return refuse(ErrInvalidInput, "Profile %s can be granted for %s; you asked for %s. Ask again with a duration in that range.",
		p.Name, durationSpan(p), FormatDuration(d))
}

// durationSpan says how long a profile can be granted for.
func durationSpan(p Profile) string {
	if p.MinDuration > 0 {
		return FormatDuration(p.MinDuration) + " to " + FormatDuration(p.MaxDuration)
	}
	return "up to " + FormatDuration(p.MaxDuration)
}

// DecisionInput is an approver's click on the approval card.
type DecisionInput struct {
	TenantID       string
	RequestID      string
	Approver       Person
	Verdict        Verdict
	Reason         string
	ConversationID string
	ActivityID     string
	// StepUp is the user token that came with the click, as the bot
	// verified it (nil: none, or one that failed verification). Approvals
	// of a profile with a StepUp rule need it (see checkStepUp).
	StepUp *StepUpProof
	// StepUpMissing says, for the audit trail, why StepUp is nil although
	// the click brought a sign-in ("" when it brought none): a token that
	// failed verification, a sign-in code the token service refused, ...
	StepUpMissing string
}

// Decide applies an approver's decision. It returns the request as it now
// stands. A *Refusal (with Request set when the request exists) says why a
// decision was not accepted; nothing changes then.
func (s *Service) Decide(ctx context.Context, in DecisionInput) (*Request, error) {
	if err := s.checkCaller(in.TenantID, in.Approver); err != nil {
		return nil, err
	}
	if in.Verdict != Approve && in.Verdict != Deny {
		return nil, refuse(ErrInvalidInput, "Unknown decision %s.", Quote(string(in.Verdict)))
	}
	in.Reason = strings.TrimSpace(in.Reason)
	if n := Length(in.Reason); n > MaxReason {
		return nil, refuse(ErrInvalidInput, "The reason is too long (%d characters); keep it to %d.", n, MaxReason)
	}
	req, err := s.cfg.Store.GetRequest(ctx, in.RequestID)
	if errors.Is(err, ErrNotFound) {
		return nil, refuse(ErrNotFound, "This request does not exist (any more).")
	}
	if err != nil {
		return nil, fmt.Errorf("load request %s: %w", in.RequestID, err)
	}
	if req.State != RequestPending {
		r := refuse(ErrNotPending, "This request was already decided; the card shows its current state.")
		r.Request = req
		return nil, r
	}
	if late := s.lateDecision(ctx, req); late != nil {
		return nil, late
	}
	p, ok := s.profiles[req.Profile]
	if !ok {
		// Nobody can ever decide it: close it, whoever clicked.
		return nil, s.invalidate(ctx, req, in, fmt.Sprintf("profile %s is no longer configured", req.Profile))
	}
	self := strings.EqualFold(in.Approver.ObjectID, req.Requester.ObjectID)
	if self && !p.AllowSelfApproval {
		r := refuse(ErrSelfApproval, "You cannot decide your own request; another approver has to.")
		r.Request = req
		s.auditRefusal(ctx, in.Approver, ActionDecisionRefused, req, "the requester tried to decide their own request", in.ConversationID, in.ActivityID)
		return nil, r
	}
	if !self {
		ok, err := s.inGroups(ctx, in.Approver.ObjectID, deciderGroups(p, req), false)
		if err != nil {
			return nil, fmt.Errorf("check whether %s may approve %s: %w", in.Approver.ObjectID, p.Name, err)
		}
		if !ok {
			r := refuse(ErrNotApprover, "You are not an approver for %s; only members of its approver groups can decide.", p.Name)
			r.Request = req
			s.auditRefusal(ctx, in.Approver, ActionDecisionRefused, req, "not in an approver group", in.ConversationID, in.ActivityID)
			return nil, r
		}
	}
	if r := missingReason(p, req, in); r != nil {
		return nil, r
	}
	if r := s.approvedAlready(ctx, p, req, in); r != nil {
		return nil, r
	}
	if r := s.checkStepUp(ctx, p, req, in); r != nil {
		return nil, r
	}
	if req.ExtendsRequestID != "" {
		return s.decideExtension(ctx, req, p, in)
	}
	if in.Verdict == Approve {
		// The profile may have changed since the request was made: an
		// approval is checked against the profile as it is now.
		why, err := s.stillValid(ctx, p, req)
		if err != nil {
			return nil, err
		}
		if why != "" {
			return nil, s.invalidate(ctx, req, in, why)
		}
	}

	if err := s.withdrawDeparted(ctx, p, req, in); err != nil {
		return nil, err
	}

	// The directory questions above take time: the deadline holds up to
	// the moment the decision is stored.
	if late := s.lateDecision(ctx, req); late != nil {
		return nil, late
	}
	now := s.cfg.Clock.Now().UTC()
	d := Decision{Approver: in.Approver, Verdict: in.Verdict, Reason: in.Reason, DecidedAt: now}
	action := ActionDenied
	var grant *Grant
	if in.Verdict == Approve {
		action = ActionApproved
		grant = s.newApprovalGrant(p, req, now)
	}
	ev := s.event(now, in.Approver, action, req, d.Reason)
	ev.ConversationID, ev.ActivityID = in.ConversationID, in.ActivityID
	required := p.Rules(req.Severity).RequiredApprovals
	// req was read at the start of Decide: whether it is still pending is
	// decided with the membership locked.
	updated, counted, err := RecordApprovalOf(ctx, s.cfg.Store, req, d, required, grant, s.cfg.Owner, now.Add(s.cfg.Lease), ev)
	if errors.Is(err, ErrAlreadyApproved) {
		return nil, s.refuseApprovedAlready(ctx, req, in, counted, required)
	}
	if errors.Is(err, ErrNotPending) {
		cur, gerr := s.cfg.Store.GetRequest(ctx, req.ID)
		if gerr != nil {
			return nil, fmt.Errorf("reload request %s: %w", req.ID, gerr)
		}
		return nil, decidedFirst(cur)
	}
	if err != nil {
		return nil, fmt.Errorf("record decision on %s: %w", req.ID, err)
	}

	if in.Verdict == Approve && counted < required {
		// Counted towards the quorum; the request waits for the others.
		s.updateCard(ctx, updated)
		return updated, nil
	}
	if in.Verdict == Deny {
		text := fmt.Sprintf("Your request for %s was denied by %s.", req.Profile, Escape(in.Approver.Name))
		if d.Reason != "" {
			text += " Reason: " + Quote(d.Reason)
		}
		s.notify(ctx, updated, NoticeDenied, text)
		s.updateCard(ctx, updated)
		return updated, nil
	}
	approved := fmt.Sprintf("Your request for %s was approved by %s. %s",
		req.Profile, approverNames(updated, in.Approver), accessText(req, grant.ExpiresAt, now))
	if d.Reason != "" {
		approved += " Reason: " + Quote(d.Reason)
	}
	s.notify(ctx, updated, NoticeApproved, approved)
	return s.startGrant(ctx, updated)
}

// newApprovalGrant is the grant an approval of req at now stores: its
// clock starts now, and it ends Duration later, or at the end of a
// scheduled request's window (see windowEnd). For a request whose start is
// still to come, it is the grant its start will store (StartScheduled).
func (s *Service) newApprovalGrant(p Profile, req *Request, now time.Time) *Grant {
	end := windowEnd(req, now)
	return &Grant{
		ID: s.cfg.NewID(), RequestID: req.ID, Profile: req.Profile, GroupID: req.GroupID,
		User: req.Requester, State: GrantGranting, ApprovedAt: now,
		ExpiresAt: end, DueAt: end, RemindAt: RemindAt(p, now, end),
	}
}

// startGrant adds the membership of a request whose approval was just
// stored (by an approver, auto-approval, force-approval or break-glass) or
// whose scheduled start came, or, when another grant holds it already,
// tells the requester so. A request approved ahead of its start is left
// to the scheduler.
func (s *Service) startGrant(ctx context.Context, updated *Request) (*Request, error) {
	req := updated
	if req.State == RequestScheduled {
		// Approved ahead: the scheduler grants it at its start.
		s.Wake()
		s.updateCard(ctx, updated)
		return updated, nil
	}
	g := updated.Grant
	if g == nil {
		return nil, fmt.Errorf("approved request %s has no grant", req.ID)
	}
	if g.State == GrantActive {
		// Another live grant already holds this membership.
		s.extendPIM(ctx, g)
		s.Wake()
		s.notify(ctx, updated, NoticeGranted, grantedText(g))
		s.updateCard(ctx, updated)
		return updated, nil
	}
	s.cfg.Failpoint("grant.after-intent")
	// The decision is stored: whatever fails from here on is finished by
	// the scheduler (the grant stays claimable), so the approver is shown
	// the approval, not an error.
	final, err := s.grant(ctx, g)
	if err != nil {
		s.log.Error("grant after approval; the scheduler will finish it", "request", req.ID, "grant", g.ID, "err", err)
		s.Wake()
		return updated, nil
	}
	return final, nil
}

// missingReason refuses a decision without the reason it needs: a denial
// always (the requester is told why), an approval where the profile
// requires one. The refusal carries the request, so the approver sees
// their card again with the line saying why; nothing changes.
func missingReason(p Profile, req *Request, in DecisionInput) *Refusal {
	if in.Reason != "" {
		return nil
	}
	var r *Refusal
	switch {
	case in.Verdict == Deny:
		r = refuse(ErrInvalidInput, "Say why you deny this request: the reason is shown to the requester.")
	case p.RequireReason:
		r = refuse(ErrInvalidInput, "Profile %s needs a reason to approve: say why this access is right, it is shown to the requester and audited.", p.Name)
	default:
		return nil
	}
	r.Request = req
	return r
}

// decidedFirst is the refusal of a decision that lost the race to close a
// pending request: to another approver, the deadline or the requester.
func decidedFirst(cur *Request) *Refusal {
	r := refuse(ErrNotPending, "Another approver decided this request first; the card shows the outcome.")
	switch cur.State {
	case RequestTimedOut:
		r = refuse(ErrNotPending, "This request got no decision before its deadline and has expired; nothing was granted. The card shows it.")
	case RequestCancelled:
		r = refuse(ErrNotPending, "The requester cancelled this request; nothing was granted. The card shows it.")
	}
	r.Request = cur
	return r
}

// auditRefusal records a refused attempt by an identified person (its
// object id was checked): the refusal itself changes nothing else. A
// failure to record it is logged; the refusal stands.
func (s *Service) auditRefusal(ctx context.Context, who Person, action Action, req *Request, why, conversationID, activityID string) {
	ev := s.event(s.cfg.Clock.Now().UTC(), who, action, req, why)
	ev.ConversationID, ev.ActivityID = conversationID, activityID
	if err := s.cfg.Store.AppendAudit(ctx, ev); err != nil {
		s.log.Warn("audit refused attempt", "action", action, "by", who.ObjectID, "err", err)
	}
}

// stillValid checks a pending request against its profile as configured
// now: the same group, the duration within the bounds, a scheduled
// request's window not passed (nor, for a pim group, less of it left than
// PIMMinDuration) and the requester still in a requester group. It returns
// why the request no longer fits, or "".
func (s *Service) stillValid(ctx context.Context, p Profile, req *Request) (string, error) {
	if !strings.EqualFold(req.GroupID, p.GroupID) {
		return fmt.Sprintf("profile %s now grants membership of another group", p.Name), nil
	}
	if req.Severity != "" && !p.HasSeverity(req.Severity) {
		return fmt.Sprintf("profile %s no longer has severity %s", p.Name, req.Severity), nil
	}
	if !p.allowsFor(req.Severity, req.Duration) {
		return fmt.Sprintf("%s was asked for, but profile %s now grants %s", FormatDuration(req.Duration), p.Name, p.spanFor(req.Severity)), nil
	}
	if now := s.cfg.Clock.Now(); req.Scheduled() && !windowEnd(req, now).After(now) {
		return fmt.Sprintf("the time it was asked for, %s to %s, has passed", FormatStart(req), FormatTime(windowEnd(req, now))), nil
	}
	if now := s.cfg.Clock.Now(); req.Scheduled() && s.usesPIM(req.GroupID) {
		// Its grant ends at the window's end, however late it comes:
		// Entra refuses an assignment shorter than its minimum.
		if left := windowEnd(req, now).Sub(now); left < PIMMinDuration {
			return fmt.Sprintf("only %s of the time it was asked for (until %s) is left, less than the shortest assignment of Entra's Privileged Identity Management (%s)",
				FormatDuration(left.Round(time.Second)), FormatTime(windowEnd(req, now)), FormatDuration(PIMMinDuration)), nil
		}
	}
	eligible, err := s.inGroups(ctx, req.Requester.ObjectID, p.RequesterGroups, true)
	if err != nil {
		return "", fmt.Errorf("check whether %s may still request %s: %w", req.Requester.ObjectID, p.Name, err)
	}
	if !eligible {
		return fmt.Sprintf("the requester is no longer in a requester group of %s", p.Name), nil
	}
	return "", nil
}

// invalidate closes a pending request that no longer fits its profile, on
// the click of in.Approver: it is denied by jitbot with the reason, the
// card and the requester are told, and the click is audited as
// request.invalidated. Nothing is granted. It returns the refusal the
// clicker sees, with the request as it now stands.
func (s *Service) invalidate(ctx context.Context, req *Request, in DecisionInput, why string) error {
	now := s.cfg.Clock.Now().UTC()
	d := Decision{Approver: System, Verdict: Deny, Reason: "No longer valid: " + why + ".", DecidedAt: now}
	ev := s.event(now, in.Approver, ActionInvalidated, req, why)
	ev.ConversationID, ev.ActivityID = in.ConversationID, in.ActivityID
	updated, err := s.cfg.Store.Deny(ctx, req.ID, d, ev)
	if errors.Is(err, ErrNotPending) {
		cur, gerr := s.cfg.Store.GetRequest(ctx, req.ID)
		if gerr != nil {
			return fmt.Errorf("reload request %s: %w", req.ID, gerr)
		}
		return decidedFirst(cur)
	}
	if err != nil {
		return fmt.Errorf("close request %s as no longer valid: %w", req.ID, err)
	}
	s.log.Info("request closed as no longer valid", "request", req.ID, "profile", req.Profile, "why", why, "by", in.Approver.ObjectID)
	s.notify(ctx, updated, NoticeClosed, fmt.Sprintf("Your request for %s was closed without a decision: %s. Nothing was granted; ask again if you still need access.",
		req.Profile, why))
	s.updateCard(ctx, updated)
	r := refuse(ErrNoLongerValid, "This request no longer fits its profile (%s), so it was closed and nothing was granted; the requester was told.", why)
	r.Request = updated
	return r
}

// grant adds the membership of a granting grant this replica has claimed,
// resuming where an earlier attempt stopped: the check whether the user
// already was a member is stored before anything is added, so a membership
// found after a crash is known to be this grant's own.
func (s *Service) grant(ctx context.Context, g *Grant) (*Request, error) {
	base := g.request()
	fail := func(err error) (*Request, error) {
		now := s.cfg.Clock.Now().UTC()
		s.log.Error("add member", "request", g.RequestID, "group", g.GroupID, "user", g.User.ObjectID, "err", err)
		if ferr := FailGrant(ctx, s.cfg.Store, g.ID, s.cfg.Owner, err.Error(), s.event(now, System, ActionGrantFailed, base, err.Error())); ferr != nil {
			return nil, fmt.Errorf("add %s to %s: %w (recording the failure also failed: %v)", g.User.ObjectID, g.GroupID, err, ferr)
		}
		req, lerr := s.cfg.Store.GetRequest(ctx, g.RequestID)
		if lerr != nil {
			return nil, fmt.Errorf("reload request %s: %w", g.RequestID, lerr)
		}
		s.notify(ctx, req, NoticeFailed, fmt.Sprintf("Your access to %s was approved but could not be granted: %s. Ask again, or tell your administrator.", g.Profile, Quote(err.Error())))
		s.updateCard(ctx, req)
		return req, nil
	}
	if !g.Checked {
		cctx, cancel := context.WithTimeout(ctx, s.callTimeout())
		member, err := s.isMember(cctx, g)
		cancel()
		if err != nil {
			return fail(fmt.Errorf("check membership: %w", err))
		}
		if err := s.cfg.Store.RecordCheck(ctx, g.ID, s.cfg.Owner, member); err != nil {
			return nil, fmt.Errorf("record membership check of grant %s: %w", g.ID, err)
		}
		g.Checked, g.PreExisting = true, member
		s.cfg.Failpoint("grant.after-check")
	}
	action := ActionPreExisting
	if !g.PreExisting {
		action = ActionGranted
		actx, cancel := context.WithTimeout(ctx, s.callTimeout())
		if err := s.paceWrite(actx, PriorityAdd); err != nil {
			cancel()
			// Not a failure of the grant: it stays granting, and once its
			// claim ends the scheduler adds the member.
			return nil, fmt.Errorf("add %s to %s: %w", g.User.ObjectID, g.GroupID, err)
		}
		err := s.addMembership(actx, g)
		cancel()
		if err != nil {
			return fail(err)
		}
		s.cfg.Failpoint("grant.after-add")
	}
	now := s.cfg.Clock.Now().UTC()
	// The request comes back as the completion stored it.
	req, err := CompleteGrantOf(ctx, s.cfg.Store, g, s.cfg.Owner, now, s.event(now, System, action, base, ""))
	if err != nil {
		return nil, fmt.Errorf("record grant %s: %w", g.ID, err)
	}
	s.Wake()
	s.notify(ctx, req, NoticeGranted, grantedText(g))
	s.updateCard(ctx, req)
	return req, nil
}

// grantedText tells the requester their membership is in place.
func grantedText(g *Grant) string {
	if g.PreExisting {
		return fmt.Sprintf("You already were a member of the group for %s; that membership pre-existed and will be left in place when this grant ends at %s.",
			g.Profile, FormatTime(g.ExpiresAt))
	}
	return fmt.Sprintf("Access granted: you are in the group for %s until %s.", g.Profile, FormatTime(g.ExpiresAt))
}

// Status returns the user's open requests and active grants.
func (s *Service) Status(ctx context.Context, tenantID string, user Person) ([]Request, error) {
	if err := s.checkCaller(tenantID, user); err != nil {
		return nil, err
	}
	reqs, err := s.cfg.Store.OpenRequests(ctx, user.ObjectID)
	if err != nil {
		return nil, fmt.Errorf("list requests of %s: %w", user.ObjectID, err)
	}
	return reqs, nil
}

// Request returns a stored request (for card refreshes).
func (s *Service) Request(ctx context.Context, tenantID, id string) (*Request, error) {
	if err := s.checkTenant(tenantID); err != nil {
		return nil, err
	}
	req, err := s.cfg.Store.GetRequest(ctx, id)
	if err != nil {
		return nil, fmt.Errorf("load request %s: %w", id, err)
	}
	return req, nil
}

func (s *Service) event(at time.Time, actor Person, action Action, req *Request, reason string) AuditEvent {
	return AuditEvent{
		At: at, Actor: actor, Action: action, RequestID: req.ID, Profile: req.Profile,
		GroupID: req.GroupID, TargetUserID: req.Requester.ObjectID, Reason: reason,
	}
}

// notify tells the requester; a failure is logged, never fatal: the state
// change it reports has already been stored.
func (s *Service) notify(ctx context.Context, req *Request, kind NoticeKind, text string) {
	if err := s.cfg.Notifier.NotifyRequester(ctx, req, Notice{Kind: kind, Text: text}); err != nil {
		s.log.Warn("notify requester", "request", req.ID, "notice", kind, "err", err)
	}
}

func (s *Service) updateCard(ctx context.Context, req *Request) {
	s.updateReviewCard(ctx, req)
	if req.ApprovalActivityID == "" {
		return
	}
	if err := s.cfg.Notifier.UpdateApprovalCard(ctx, req); err != nil {
		s.log.Warn("update approval card", "request", req.ID, "err", err)
	}
}

// FormatTime writes an instant for plain text a person reads without a
// card (a notification, a message): the time of day and the date in UTC,
// "14:30 UTC on 23 Nov 2026". Cards show times in the viewer's own zone
// instead.
func FormatTime(t time.Time) string {
	return t.UTC().Format("15:04 UTC on 2 Jan 2006")
}

// FormatDuration writes a duration the way users type it: 2h, 1h30m, 45m.
func FormatDuration(d time.Duration) string {
	if d <= 0 {
		return "0m"
	}
	d = d.Round(time.Second)
	h := d / time.Hour
	m := (d % time.Hour) / time.Minute
	sec := (d % time.Minute) / time.Second
	var b strings.Builder
	if h > 0 {
		fmt.Fprintf(&b, "%dh", h)
	}
	if m > 0 {
		fmt.Fprintf(&b, "%dm", m)
	}
	if sec > 0 {
		fmt.Fprintf(&b, "%ds", sec)
	}
	return b.String()
}
