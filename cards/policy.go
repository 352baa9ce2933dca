package cards

import (
	"strings"

	"github.com/jitbot/jitbot/access"
)

// What the approval card shows of a profile's policy: the request's
// severity in a badge under the heading, how far a quorum has come ("1 of
// 2 approvals: Alex Approver"), and that jitbot approved it at once under
// the on-call rule.

// AutoApprovedLine is the line of an approval card whose request jitbot
// approved under its profile's auto_approve.
const AutoApprovedLine = "Auto-approved (on-call)"

// severityBadge is the request's severity, in bold capitals in the
// attention colour, for the top of a card (nil without a severity).
func severityBadge(req *access.Request) Element {
	if req.Severity == "" {
		return nil
	}
	return textBlock{Type: "TextBlock", Text: "Severity " + strings.ToUpper(oneLine(req.Severity, maxLine)), Wrap: true, Size: "Large", Weight: "Bolder", Color: "Attention", Spacing: "Small"}
}

// policyLines are the lines under the approval card's banner: the quorum
// while it counts (pending, or settled by several approvers) and the
// auto-approval.
func policyLines(req *access.Request, profile access.Profile) []Element {
	var out []Element
	if access.AutoApproved(req) {
		out = append(out, textBlock{Type: "TextBlock", Text: AutoApprovedLine + ": approved at once by jitbot; any approver may revoke it now.", Wrap: true, Weight: "Bolder", Color: "Warning"})
	}
	required := profile.Rules(req.Severity).RequiredApprovals
	as := access.Approvals(req)
	if profile.Name == "" || (required < 2 && len(as) < 2) || req.ExtendsRequestID != "" {
		return out
	}
	if req.State != access.RequestPending && len(as) < 2 {
		return out
	}
	runs := []textRun{{Type: "TextRun", Text: access.QuorumLine(len(as), max(required, len(as))), Weight: "Bolder"}}
	for i, d := range as {
		sep := ", "
		if i == 0 {
			sep = ": "
		}
		runs = append(runs, run(sep), run(oneLine(d.Approver.Name, maxLine)))
	}
	out = append(out, rich(runs...))
	return out
}

// severityChoice is the request form's severity input, offering the
// severities of every profile on the form ("" when none declares one).
func severityChoice(profiles []access.Profile, selected string) Element {
	var choices []choice
	seen := map[string]bool{}
	var offering []string
	for _, p := range profiles {
		if len(p.Severities) > 0 {
			offering = append(offering, p.Name)
		}
		for _, s := range p.Severities {
			if !seen[s] {
				seen[s] = true
				choices = append(choices, choice{Title: oneLine(s, maxLine), Value: s})
			}
		}
	}
	if len(choices) == 0 {
		return nil
	}
	return inputChoiceSet{
		Type:        "Input.ChoiceSet",
		ID:          InputSeverity,
		Label:       "Severity (" + oneLine(strings.Join(offering, ", "), maxLine) + ")",
		Style:       "compact",
		Placeholder: "Choose the incident's severity",
		Value:       selected,
		Choices:     choices,
	}
}
