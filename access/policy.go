package access

import (
	"fmt"
	"slices"
	"strings"
	"time"
)

// A profile's policy: the severities a request may name, the rules each
// severity overrides (its longest duration, how many approvers it needs,
// who is approved at once), and the on-call auto-approval. A request's
// rules are its profile's as configured now, with its severity's
// overrides (see Profile.Rules).

// MaxRequiredApprovals is the largest approvers.required a profile may
// set.
const MaxRequiredApprovals = 5

// SeverityRule is what one severity of a profile overrides; a zero field
// keeps the profile's own value.
type SeverityRule struct {
	// MaxDuration bounds the requests of the severity (at most the
	// profile's max_duration; 0: the profile's).
	MaxDuration time.Duration
	// RequiredApprovals is how many distinct approvers must approve (0:
	// the profile's).
	RequiredApprovals int
	// AutoApprove replaces the profile's auto-approval for the severity
	// (nil: the profile's).
	AutoApprove *AutoApprove
}

// AutoApprove approves a request at once, without an approver: its
// requester is a transitive member of one of Groups (an on-call rota kept
// as an Entra group, say), it asks for at most MaxDuration and, when
// Severities is set, names one of them. The approval card is still posted
// to the approvers, marked auto-approved, with Revoke now.
type AutoApprove struct {
	Groups      []string
	MaxDuration time.Duration
	Severities  []string
}

// Rules are the effective rules of one request: its profile's, with its
// severity's overrides.
type Rules struct {
	Severity          string
	MaxDuration       time.Duration
	RequiredApprovals int
	AutoApprove       *AutoApprove
}

// Rules returns the rules for a request of the given severity ("" for
// none).
func (p *Profile) Rules(severity string) Rules {
	r := Rules{Severity: severity, MaxDuration: p.MaxDuration, RequiredApprovals: p.RequiredApprovals, AutoApprove: p.AutoApprove}
	if r.RequiredApprovals <= 0 {
		r.RequiredApprovals = 1
	}
	if sr, ok := p.SeverityRules[severity]; ok && severity != "" {
		if sr.MaxDuration > 0 {
			r.MaxDuration = sr.MaxDuration
		}
		if sr.RequiredApprovals > 0 {
			r.RequiredApprovals = sr.RequiredApprovals
		}
		if sr.AutoApprove != nil {
			r.AutoApprove = sr.AutoApprove
		}
	}
	return r
}

// allowsFor reports whether the profile grants a request of the severity
// access for d.
func (p *Profile) allowsFor(severity string, d time.Duration) bool {
	return p.allows(d) && d <= p.Rules(severity).MaxDuration
}

// spanFor says how long a request of the severity can be granted for.
func (p *Profile) spanFor(severity string) string {
	max := p.Rules(severity).MaxDuration
	if p.MinDuration > 0 {
		return FormatDuration(p.MinDuration) + " to " + FormatDuration(max)
	}
	return "up to " + FormatDuration(max)
}

// HasSeverity reports whether the profile declares the severity.
func (p *Profile) HasSeverity(s string) bool { return slices.Contains(p.Severities, s) }

// applies reports whether the auto-approval applies to a request of
// the severity for d, leaving aside who asks (the group question is the
// service's).
func (a *AutoApprove) applies(severity string, d time.Duration) bool {
	if a == nil || len(a.Groups) == 0 || d > a.MaxDuration {
		return false
	}
	return len(a.Severities) == 0 || slices.Contains(a.Severities, severity)
}

// checkSeverity checks the severity of a submission against the profile:
// one of its severities, required unless the profile makes it optional,
// and none on a profile that declares none. The refusal names the allowed
// ones.
func checkSeverity(p Profile, severity string) error {
	switch {
	case len(p.Severities) == 0 && severity != "":
		return refuse(ErrInvalidInput, "Profile %s takes no severity; ask again without %s.", p.Name, Quote(severity))
	case len(p.Severities) == 0:
		return nil
	case severity == "" && !p.SeverityOptional:
		return refuse(ErrInvalidInput, "Profile %s needs a severity: one of %s. Put it right after the duration, e.g. `request %s 1h %s ...`.",
			p.Name, strings.Join(p.Severities, ", "), p.Name, p.Severities[0])
	case severity != "" && !p.HasSeverity(severity):
		return refuse(ErrInvalidInput, "Profile %s has no severity %s; use one of %s.", p.Name, Quote(severity), strings.Join(p.Severities, ", "))
	}
	return nil
}

// validatePolicy checks the policy keys of a profile; each error names
// its key.
func (p *Profile) validatePolicy() error {
	switch {
	case p.RequiredApprovals < 0 || p.RequiredApprovals > MaxRequiredApprovals:
		return fmt.Errorf("profile %s: approvers.required must be between 1 and %d", p.Name, MaxRequiredApprovals)
	case p.AllowSelfApproval && p.RequiredApprovals > 1:
		return fmt.Errorf("profile %s: approvers.required above 1 cannot be met with allow_self_approval (the requester never counts towards a quorum)", p.Name)
	}
	seen := map[string]bool{}
	for i, s := range p.Severities {
		switch {
		case !profileName.MatchString(s):
			return fmt.Errorf("profile %s: severities[%d] %q: use lower-case letters, digits and dashes", p.Name, i, s)
		case seen[s]:
			return fmt.Errorf("profile %s: severities[%d] %q is listed twice", p.Name, i, s)
		}
		seen[s] = true
	}
	if err := p.validateAuto("auto_approve", p.AutoApprove, p.MaxDuration); err != nil {
		return err
	}
	for name, r := range p.SeverityRules {
		key := "severity_rules." + name
		switch {
		case !seen[name]:
			return fmt.Errorf("profile %s: %s: %q is not in severities", p.Name, key, name)
		case r.MaxDuration < 0 || r.MaxDuration > p.MaxDuration:
			return fmt.Errorf("profile %s: %s.max_duration must be positive and at most the profile's max_duration (%s)", p.Name, key, FormatDuration(p.MaxDuration))
		case r.MaxDuration > 0 && r.MaxDuration < p.MinDuration:
			return fmt.Errorf("profile %s: %s.max_duration must be at least the profile's min_duration (%s)", p.Name, key, FormatDuration(p.MinDuration))
		case r.RequiredApprovals < 0 || r.RequiredApprovals > MaxRequiredApprovals:
			return fmt.Errorf("profile %s: %s.approvers.required must be between 1 and %d", p.Name, key, MaxRequiredApprovals)
		case p.AllowSelfApproval && r.RequiredApprovals > 1:
			return fmt.Errorf("profile %s: %s.approvers.required above 1 cannot be met with allow_self_approval", p.Name, key)
		}
		max := p.Rules(name).MaxDuration
		if err := p.validateAuto(key+".auto_approve", r.AutoApprove, max); err != nil {
			return err
		}
	}
	return nil
}

// validateAuto checks an auto-approval under key; max is the longest
// duration the requests it applies to may have.
func (p *Profile) validateAuto(key string, a *AutoApprove, max time.Duration) error {
	if a == nil {
		return nil
	}
	switch {
	case len(a.Groups) == 0:
		return fmt.Errorf("profile %s: %s.groups is empty", p.Name, key)
	case a.MaxDuration <= 0:
		return fmt.Errorf("profile %s: %s.max_duration must be positive", p.Name, key)
	case a.MaxDuration > max:
		return fmt.Errorf("profile %s: %s.max_duration must be at most %s (the longest such a request may be)", p.Name, key, FormatDuration(max))
	}
	for i, g := range a.Groups {
		if !IsObjectID(g) {
			return fmt.Errorf("profile %s: %s.groups[%d] %q is not a group object id", p.Name, key, i, g)
		}
	}
	for i, s := range a.Severities {
		if !p.HasSeverity(s) {
			return fmt.Errorf("profile %s: %s.severities[%d] %q is not in severities", p.Name, key, i, s)
		}
	}
	return nil
}

// requestedReason is the reason of a request's request.created event: its
// justification, after its severity when it names one ("severity sev1:
// ..."), so that the audit log records the severity it was asked at.
func requestedReason(req *Request) string {
	if req.Severity == "" {
		return req.Justification
	}
	return "severity " + req.Severity + ": " + req.Justification
}
