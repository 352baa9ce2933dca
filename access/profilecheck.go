package access

import (
	"fmt"
	"strings"
	"time"
)

// ProfileWarning is a setting of a valid profile that cannot do what it
// says: the profile works, but a key of it never takes effect or makes
// another pointless. Key is the profile's key as written in the
// configuration ("remind_before"); Problem says what happens and Fix what to
// change.
type ProfileWarning struct {
	Key     string
	Problem string
	Fix     string
}

// Warnings lists the contradictions among the settings of a profile that
// passed Validate. Each is decided by the rule the bot applies (ReminderAt,
// RemindAt, the extension bounds), so the warning holds exactly when the
// setting can never take effect.
func (p *Profile) Warnings() []ProfileWarning {
	var out []ProfileWarning
	add := func(key, fix, format string, args ...any) {
		out = append(out, ProfileWarning{Key: key, Problem: fmt.Sprintf(format, args...), Fix: fix})
	}
	// Any instant: the rules depend only on the distances between times.
	t0 := time.Unix(0, 0).UTC()
	timeout := p.ApprovalTimeout
	if timeout <= 0 {
		timeout = DefaultApprovalTimeout
	}
	if p.RemindApprovers > 0 && ReminderAt(*p, t0, t0.Add(timeout), 1).IsZero() {
		add("remind_approvers", "make remind_approvers shorter than approval_timeout, or 0 to turn reminders off",
			"%s is not before approval_timeout (%s): no reminder is ever sent, a request times out first",
			FormatDuration(p.RemindApprovers), FormatDuration(timeout))
	}
	if p.RemindBefore > 0 && RemindAt(*p, t0, t0.Add(p.MaxDuration)).IsZero() {
		add("remind_before", "make remind_before shorter than max_duration, or 0 to turn the expiry reminder off",
			"%s is not shorter than max_duration (%s): no grant is ever reminded before it ends",
			FormatDuration(p.RemindBefore), FormatDuration(p.MaxDuration))
	}
	// The longest extension there can be: from the shortest grant up to
	// the whole time allowed.
	if longest := p.MaxTotal() - p.MinDuration; p.SelfExtendMax > 0 && p.SelfExtendMax >= longest {
		add("self_extend_max", "lower self_extend_max (extensions longer than it go to the approvers), or set it to 0 so that every extension is approved",
			"%s covers every extension there can be (at most %s: max_total_duration %s minus min_duration %s): no extension ever goes to the approvers",
			FormatDuration(p.SelfExtendMax), FormatDuration(longest), FormatDuration(p.MaxTotal()), FormatDuration(p.MinDuration))
	}
	for _, g := range p.ApproverGroups {
		for _, r := range p.RequesterGroups {
			if strings.EqualFold(g, r) {
				add("approvers.groups", "use an approver group that requesters are not in, if requesters should not approve each other",
					"group %s is both a requester and an approver group: its members approve each other's requests (never their own)", g)
			}
		}
	}
	return out
}
