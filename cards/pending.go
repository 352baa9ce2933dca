package cards

import (
	"github.com/jitbot/jitbot/access"
)

// pendingBanner is the approval card's state while a request waits for a
// decision, with its deadline when it has one.
func pendingBanner(req *access.Request) Element {
	items := []Element{stateLine("Pending", "Accent"), subtle("Waiting for an approver.")}
	if !req.DecideBy.IsZero() {
		items = append(items, subtle("Expires without a decision at "+when(req.DecideBy)+"."))
	}
	return box("accent", items...)
}

// closedBanner is the approval card's state of a request closed without a
// decision: cancelled by its requester, or timed out. ok is false for any
// other state.
func closedBanner(req *access.Request) (Element, bool) {
	switch req.State {
	case access.RequestCancelled:
		line := "Cancelled by the requester"
		if !req.UpdatedAt.IsZero() {
			line += " at " + when(req.UpdatedAt)
		}
		return box("emphasis", stateLine(line, ""), subtle("Nothing was granted.")), true
	case access.RequestTimedOut:
		if missedStart(req) {
			return box("emphasis", stateLine("Not granted: its time passed while jitbot was not running", "Warning"),
				subtle("It was approved to start at "+when(req.StartsAt)+"; nothing was added, and the requester was told.")), true
		}
		at := req.DecideBy
		if at.IsZero() {
			at = req.UpdatedAt
		}
		line := "Expired without a decision"
		if !at.IsZero() {
			line += " at " + when(at)
		}
		return box("emphasis", stateLine(line, "Warning"), subtle("Nothing was granted; the requester was told and may ask again.")), true
	}
	return nil, false
}

// cancelAction is the requester's Cancel button of a pending request.
func cancelAction(req *access.Request) executeAction {
	a := requestAction("Cancel request", VerbCancel, req.ID)
	a.Style = "destructive"
	return a
}

// submittedClosed is the requester's "request received" card once the
// request is no longer pending: where it stands, and no buttons.
func submittedClosed(req *access.Request, names Names) Card {
	title, color, text := "Request no longer pending", "Default", "Send `status` to see your requests and access."
	switch req.State {
	case access.RequestCancelled:
		title, text = "Request cancelled", "You cancelled this request; nothing was granted. Ask again whenever you need access."
	case access.RequestTimedOut:
		title, color, text = "Request expired", "Warning", "No approver decided in time; nothing was granted. Ask again if you still need access."
	case access.RequestApproved, access.RequestActive, access.RequestExpired:
		title, color = "Request approved", "Good"
	case access.RequestScheduled:
		title, color, text = "Request approved", "Good", "Your access starts at the time below; nothing is granted before then. You may still cancel it from `status`."
	case access.RequestExtended:
		title, color, text = "Extension approved", "Good", "Your access was extended; its card shows the new end."
	case access.RequestDenied:
		title, color = "Request denied", "Attention"
		if revokedBeforeStart(req) {
			title = "Revoked before its start"
		}
	case access.RequestFailed:
		title, color = "Request approved, but access could not be granted", "Attention"
	}
	if g := req.Grant; g != nil && g.BreakGlass && req.State != access.RequestFailed {
		title, color = "Granted under break-glass", "Warning"
		text = "Granted at once, without approval. The security team was alerted and reviews it by " + when(g.ReviewBy) + "."
	}
	fs := submittedFacts(req, names)
	return newCard(
		textBlock{Type: "TextBlock", Text: title, Wrap: true, Size: "Medium", Weight: "Bolder", Color: color},
		para(text),
		facts(fs...),
	)
}
