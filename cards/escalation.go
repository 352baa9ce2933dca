package cards

import "github.com/jitbot/jitbot/access"

// escalatedLine says on the approval card that the request got no decision
// in time and was escalated: the escalation groups may decide too.
func escalatedLine(req *access.Request) Element {
	return textBlock{Type: "TextBlock", Text: "Escalated at " + when(req.EscalatedAt) + ": no decision in time; the escalation approvers may decide too.",
		Wrap: true, Weight: "Bolder", Color: "Warning"}
}
