package access

import (
	"fmt"
	"regexp"
	"slices"
	"time"
)

// Profile is a kind of access that can be requested: membership of one group
// for a bounded time, approved by members of the approver groups.
type Profile struct {
	Name string
	// Aliases are other names people may use for the profile when they ask
	// in plain words ("db" for prod-db); each is written like a name and
	// is unique across all profiles' names and aliases.
	Aliases       []string
	Description   string
	GroupID       string
	MinDuration   time.Duration
	MaxDuration   time.Duration
	RequireTicket bool
	// TicketPattern, when set, is what a ticket must match.
	TicketPattern *regexp.Regexp
	// RequesterGroups: a requester must be a transitive member of one of
	// them; empty means everyone in the tenant.
	RequesterGroups []string
	// ApproverGroups: an approver must be a transitive member of one of them.
	ApproverGroups []string
	// ApproverChannelID is the Teams channel where approval cards are posted.
	ApproverChannelID string
	// AllowSelfApproval lets a requester decide their own request. Only the
	// demo profile sets it.
	AllowSelfApproval bool
	// RequireReason makes an approval need a reason too (a denial always
	// needs one); the reason is shown on the card, told to the requester
	// and audited.
	RequireReason bool
	// StepUp, when on, makes an approval count only with a fresh sign-in
	// that satisfied a Conditional Access authentication context.
	StepUp StepUp
	// NoFeedback turns off the feedback card a requester gets when a grant
	// of the profile ends (on by default).
	NoFeedback bool
	// ApprovalTimeout is how long a request waits for a decision before it
	// times out (0: DefaultApprovalTimeout). RemindApprovers is the delay
	// of the first reminder to the approvers' thread, doubling for each
	// next one, at most MaxReminders (0: no reminders).
	ApprovalTimeout time.Duration
	RemindApprovers time.Duration
	// RemindBefore is how long before a grant's end its requester is
	// reminded, with Extend and I'm done (0: no reminder). SelfExtendMax
	// is the longest extension the requester may apply without approval
	// (0: every extension needs approval). MaxTotalDuration bounds a
	// grant's whole time, extensions included (0: MaxDuration).
	RemindBefore     time.Duration
	SelfExtendMax    time.Duration
	MaxTotalDuration time.Duration
	// BreakGlass grants a request at once, without an approver: the
	// approvers' channel and the security channel are told, and the
	// security team reviews the grant afterwards (see breakglass.go)
	// within ReviewWithin (0: DefaultReviewWithin). RevokeIfUnreviewed
	// revokes a grant still unreviewed then; without it the reminders go
	// on (at most MaxReviewReminders).
	BreakGlass         bool
	ReviewWithin       time.Duration
	RevokeIfUnreviewed bool
	// EscalateAfter is how long a request waits for a decision before its
	// card is posted to EscalationChannelID too, from when the members of
	// EscalationGroups may decide as well (0: no escalation).
	EscalateAfter       time.Duration
	EscalationChannelID string
	EscalationGroups    []string
	// Membership is how the group membership is made: MembershipDirect
	// (also when empty) or MembershipPIM.
	Membership MembershipMode
	// MaxStartAhead is how far ahead a request may ask its access to start
	// ("2h at 22:00"; 0: DefaultMaxStartAhead).
	MaxStartAhead time.Duration

	// RequiredApprovals is how many distinct approvers must approve a
	// request (0: 1); the requester never counts (see policy.go).
	RequiredApprovals int
	// Severities are the severities a request may name, in the
	// operator's words (sev1, sev2, ...); a request must name one unless
	// SeverityOptional. SeverityRules override the profile's rules per
	// severity; AutoApprove approves on-call requesters at once.
	Severities       []string
	SeverityOptional bool
	SeverityRules    map[string]SeverityRule
	AutoApprove      *AutoApprove
}

// MaxTotal is the longest a grant of the profile may last in all,
// extensions included.
func (p *Profile) MaxTotal() time.Duration {
	if p.MaxTotalDuration > 0 {
		return p.MaxTotalDuration
	}
	return p.MaxDuration
}

// allows reports whether the profile grants access for d.
func (p *Profile) allows(d time.Duration) bool {
	return d > 0 && d >= p.MinDuration && d <= p.MaxDuration
}

// Validate checks the profile's own consistency.
func (p *Profile) Validate() error {
	switch {
	case p.Name == "":
		return fmt.Errorf("name is empty")
	case !profileName.MatchString(p.Name):
		return fmt.Errorf("name %q: use lower-case letters, digits and dashes", p.Name)
	case p.GroupID == "":
		return fmt.Errorf("profile %s: group_id is empty", p.Name)
	case p.Membership != "" && !slices.Contains(MembershipModes, p.Membership):
		return fmt.Errorf("profile %s: membership %q: want direct or pim", p.Name, p.Membership)
	case p.MaxDuration <= 0:
		return fmt.Errorf("profile %s: max_duration must be positive", p.Name)
	case p.MinDuration < 0 || p.MinDuration > p.MaxDuration:
		return fmt.Errorf("profile %s: min_duration must be between 0 and max_duration", p.Name)
	case p.RequireTicket && p.TicketPattern == nil:
		return fmt.Errorf("profile %s: require_ticket needs a ticket_pattern", p.Name)
	case len(p.ApproverGroups) == 0 && !p.AllowSelfApproval:
		return fmt.Errorf("profile %s: approvers.groups is empty", p.Name)
	case p.ApproverChannelID == "":
		return fmt.Errorf("profile %s: approvers.channel_id is empty", p.Name)
	case p.ApprovalTimeout < 0:
		return fmt.Errorf("profile %s: approval_timeout must not be negative", p.Name)
	case p.RemindApprovers < 0:
		return fmt.Errorf("profile %s: remind_approvers must not be negative", p.Name)
	case p.MaxStartAhead < 0:
		return fmt.Errorf("profile %s: max_start_ahead must not be negative", p.Name)
	case p.RemindBefore < 0:
		return fmt.Errorf("profile %s: remind_before must not be negative", p.Name)
	case p.SelfExtendMax < 0:
		return fmt.Errorf("profile %s: self_extend_max must not be negative", p.Name)
	case p.ReviewWithin < 0:
		return fmt.Errorf("profile %s: review_within must not be negative", p.Name)
	case !p.BreakGlass && (p.ReviewWithin != 0 || p.RevokeIfUnreviewed):
		return fmt.Errorf("profile %s: review_within and revoke_if_unreviewed need break_glass: true", p.Name)
	case p.EscalateAfter < 0:
		return fmt.Errorf("profile %s: approvers.escalate_after must not be negative", p.Name)
	case p.EscalateAfter > 0 && p.EscalationChannelID == "":
		return fmt.Errorf("profile %s: approvers.escalate_after needs approvers.escalation_channel_id", p.Name)
	case p.EscalateAfter > 0 && len(p.EscalationGroups) == 0:
		return fmt.Errorf("profile %s: approvers.escalate_after needs approvers.escalation_groups", p.Name)
	case p.EscalateAfter == 0 && (p.EscalationChannelID != "" || len(p.EscalationGroups) > 0):
		return fmt.Errorf("profile %s: approvers.escalation_channel_id and escalation_groups need approvers.escalate_after", p.Name)
	case p.EscalateAfter > 0 && p.EscalateAfter >= p.timeout():
		return fmt.Errorf("profile %s: approvers.escalate_after (%s) must be shorter than approval_timeout (%s)", p.Name, FormatDuration(p.EscalateAfter), FormatDuration(p.timeout()))
	case p.BreakGlass && p.EscalateAfter > 0:
		return fmt.Errorf("profile %s: break_glass requests are never pending, so approvers.escalate_after does not apply", p.Name)
	case p.BreakGlass && (p.RequiredApprovals > 1 || p.AutoApprove != nil || len(p.SeverityRules) > 0 && hasQuorumOrAuto(p.SeverityRules)):
		return fmt.Errorf("profile %s: break_glass grants without approvers, so approvers.required and auto_approve do not apply", p.Name)
	case p.BreakGlass && p.AllowSelfApproval:
		return fmt.Errorf("profile %s: break_glass and self-approval exclude each other", p.Name)
	case p.MaxTotalDuration != 0 && p.MaxTotalDuration < p.MaxDuration:
		return fmt.Errorf("profile %s: max_total_duration must be at least max_duration (%s)", p.Name, FormatDuration(p.MaxDuration))
	}
	if err := p.StepUp.Validate(); err != nil {
		return fmt.Errorf("profile %s: %w", p.Name, err)
	}
	if err := p.validatePolicy(); err != nil {
		return err
	}
	seen := map[string]bool{p.Name: true}
	for i, a := range p.Aliases {
		switch {
		case !profileName.MatchString(a):
			return fmt.Errorf("profile %s: aliases[%d] %q: use lower-case letters, digits and dashes", p.Name, i, a)
		case seen[a]:
			return fmt.Errorf("profile %s: aliases[%d] %q repeats the name or another alias", p.Name, i, a)
		}
		seen[a] = true
	}
	return nil
}

// CheckNames checks that no two profiles share a name or an alias: each
// word names at most one profile. The error names the word and both
// profiles.
func CheckNames(ps []Profile) error {
	owner := map[string]string{}
	for _, p := range ps {
		for _, n := range append([]string{p.Name}, p.Aliases...) {
			if o, dup := owner[n]; dup {
				if o == p.Name {
					return fmt.Errorf("profile %s: %q is used twice", p.Name, n)
				}
				return fmt.Errorf("profile %s: %q is already a name or alias of profile %s", p.Name, n, o)
			}
			owner[n] = p.Name
		}
	}
	return nil
}

// IsProfileName reports whether s is written as a profile's name or alias
// must be: lower-case letters, digits and dashes, not starting with a dash.
func IsProfileName(s string) bool { return profileName.MatchString(s) }

var profileName = regexp.MustCompile(`^[a-z0-9][a-z0-9-]*$`)
