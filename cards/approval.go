package cards

import (
	"strconv"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/jitbot/jitbot/access"
)

// ApprovalOptions adjusts the approval card.
type ApprovalOptions struct {
	// RefreshUserIDs are the Teams user ids ("29:...") whose clients fetch
	// the card's current state from the bot when they show it. Empty: every
	// viewer does, which Teams allows in conversations of up to 60 members.
	RefreshUserIDs []string
}

// SelfApprovalWarning is the line an approval card shows when the requester
// may decide their own request.
const SelfApprovalWarning = "Demo profile: the requester may approve their own request."

// Approval is the card approvers see in their channel: who asks for which
// access, for how long and why, and where the request stands. While the
// request is pending it has an optional reason input and the Approve and
// Deny buttons; afterwards it has no buttons. Its refresh action lets every
// viewer's client fetch the current state.
func Approval(req *access.Request, profile access.Profile, opts ApprovalOptions) Card {
	profileName := profile.Name
	if profileName == "" {
		profileName = req.Profile
	}
	groupID := req.GroupID
	if groupID == "" {
		groupID = profile.GroupID
	}

	c := newCard(
		heading("Access request"),
		rich(bold(oneLine(req.Requester.Name, maxLine)), run(" asks for temporary access to "), bold(oneLine(profileName, maxLine))),
	)
	if req.ExtendsRequestID != "" {
		c = newCard(extensionHead(req, profileName)...)
	}
	if !req.Client.IsZero() {
		c.Body = append(c.Body, viaAPI(req))
	}
	if profile.Description != "" {
		c.Body = append(c.Body, subtle(oneLine(profile.Description, maxLine)))
	}
	c.Body = append(c.Body, banner(req))
	if req.SelfApproval || profile.AllowSelfApproval {
		c.Body = append(c.Body, textBlock{Type: "TextBlock", Text: SelfApprovalWarning, Wrap: true, Weight: "Bolder", Color: "Warning"})
	}

	fs := []Fact{
		TextFact("Profile", profileName),
		TextFact("Group", groupID),
		TextFact("Duration", FormatDuration(req.Duration)),
	}
	if req.Ticket != "" {
		fs = append(fs, TextFact("Ticket", req.Ticket))
	}
	fs = append(fs, TimeFact("Requested", req.CreatedAt), TextFact("Request", req.ID))
	why := "Justification"
	if req.ExtendsRequestID != "" {
		why = "Reason for the extension"
	}
	c.Body = append(c.Body, facts(fs...), label(why), justification(req.Justification))

	c.Refresh = &Refresh{Action: requestAction("", VerbRefresh, req.ID), UserIDs: opts.RefreshUserIDs}
	if req.State != access.RequestPending {
		addRevokeNow(&c, req)
		return c
	}
	c.Body = append(c.Body, inputText{
		Type:        "Input.Text",
		ID:          InputReason,
		Label:       "Reason, if you deny (optional)",
		Placeholder: "Shown to the requester",
		MaxLength:   maxReason,
		Spacing:     "Medium",
	})
	approve := requestAction("Approve", VerbApprove, req.ID)
	approve.Style = "positive"
	approve.AssociatedInputs = "none" // the reason goes with a denial only
	deny := requestAction("Deny", VerbDeny, req.ID)
	deny.Style = "destructive"
	c.Actions = []Action{approve, deny}
	return c
}

// justification renders a request's justification, which its requester
// typed, as inert text.
func justification(s string) Element {
	s = block(s, maxJustification)
	if s == "" {
		return subtle("None given.")
	}
	return rich(run(s))
}

// banner tells where the request stands, in a coloured box.
func banner(req *access.Request) Element {
	d := req.LastDecision()
	g := req.Grant
	var expires time.Time
	if g != nil {
		expires = g.ExpiresAt
	}
	switch req.State {
	case access.RequestPending:
		return pendingBanner(req)

	case access.RequestApproved:
		until := ""
		if !expires.IsZero() {
			until = "access until " + when(expires)
		}
		items := decidedBy("Approved", "Good", d, until)
		items = append(items, subtle("Adding the membership now."))
		return box("good", items...)

	case access.RequestActive:
		if g != nil && g.Early.Kind != "" {
			return earlyBanner(req)
		}
		if g != nil && (g.State == access.GrantRevoking || g.State == access.GrantIrrevocable) {
			return endingBanner(g, d)
		}
		line := "Active"
		if !expires.IsZero() {
			line = "Active until " + when(expires)
		}
		items := []Element{stateLine(line, "Good")}
		items = append(items, extensionLines(req)...)
		items = append(items, decidedBy("Approved", "", d, "")...)
		switch {
		case g != nil && g.PreExisting:
			items = append(items, subtle("Membership pre-existed; left in place at expiry."))
		case g != nil && g.Shared:
			items = append(items, subtle("Membership shared with another active grant: nothing was added for this request, and the membership is removed only once no grant holds it."))
		}
		return box("good", items...)

	case access.RequestExtended:
		return extendedBanner(req)

	case access.RequestDenied:
		items := decidedBy("Denied", "Attention", d, "")
		if d != nil && d.Reason != "" {
			items = append(items, rich(bold("Reason: "), run(block(d.Reason, maxReason))))
		} else {
			items = append(items, subtle("No reason given."))
		}
		return box("attention", items...)

	case access.RequestFailed:
		items := []Element{stateLine("Failed: the membership could not be added", "Attention")}
		if g != nil && g.LastError != "" {
			items = append(items, rich(run("("+oneLine(g.LastError, maxReason)+")")))
		}
		items = append(items, decidedBy("Approved", "", d, "")...)
		return box("attention", items...)

	case access.RequestExpired:
		if g != nil && g.Early.Kind != "" {
			return earlyBanner(req)
		}
		at := time.Time{}
		if g != nil {
			at = g.RevokedAt
		}
		if at.IsZero() {
			at = expires
		}
		line := "Expired"
		if !at.IsZero() {
			line += " at " + when(at)
		}
		switch {
		case g != nil && g.PreExisting:
			line += " (membership pre-existed; left in place)"
		case g != nil && g.Shared:
			line += " (membership shared with another active grant; removed only once no grant holds it)"
		default:
			line += " (removed)"
		}
		items := []Element{stateLine(line, "")}
		items = append(items, decidedBy("Approved", "", d, "")...)
		return box("emphasis", items...)
	}
	if b, ok := closedBanner(req); ok {
		return b
	}
	return box("emphasis", stateLine(oneLine(string(req.State), maxLine), ""))
}

// endingBanner tells where an active request stands whose grant is being
// removed (revoking) or could not be removed (irrevocable).
func endingBanner(g *access.Grant, d *access.Decision) Element {
	var items []Element
	style := "good"
	if g.State == access.GrantIrrevocable {
		style = "attention"
		line := "Expired, but removal failed; security has been alerted"
		if !g.ExpiresAt.IsZero() {
			line = "Expired at " + when(g.ExpiresAt) + ", but removal failed; security has been alerted"
		}
		items = append(items, stateLine(line, "Attention"))
	} else {
		line := "Active; removal in progress"
		if !g.ExpiresAt.IsZero() {
			line = "Active until " + when(g.ExpiresAt) + " — removal in progress"
		}
		color := "Good"
		if g.Attempts > 0 {
			style, color = "warning", "Warning"
		}
		items = append(items, stateLine(line, color))
	}
	if g.Attempts > 0 {
		attempts := strconv.Itoa(g.Attempts) + " failed removal attempts; jitbot keeps retrying."
		if g.Attempts == 1 {
			attempts = "1 failed removal attempt; jitbot keeps retrying."
		}
		items = append(items, subtle(attempts))
	}
	if g.LastError != "" {
		items = append(items, rich(run("("+oneLine(g.LastError, maxReason)+")")))
	}
	items = append(items, decidedBy("Approved", "", d, "")...)
	return box(style, items...)
}

// stateLine is a banner's first, bold line (our own words and times only).
func stateLine(s, color string) textBlock {
	return textBlock{Type: "TextBlock", Text: s, Wrap: true, Weight: "Bolder", Color: color}
}

// decidedBy renders "<verb> by <approver>" and, below it, when, followed by
// more (", more" after the time, or on its own). The approver's name is a
// text run, so it stays inert; times are in a text block, where every client
// applies DATE/TIME. color "" makes it a secondary line.
func decidedBy(verb, color string, d *access.Decision, more string) []Element {
	var items []Element
	switch {
	case d != nil:
		head := textRun{Type: "TextRun", Text: verb + " by ", Weight: "Bolder", Color: color}
		name := textRun{Type: "TextRun", Text: oneLine(d.Approver.Name, maxLine), Weight: "Bolder", Color: color}
		line := rich(head, name)
		if color == "" {
			head.Weight, name.Weight = "", ""
			head.IsSubtle, name.IsSubtle = true, true
			line = rich(head, name)
			line.Spacing = "Small"
		}
		items = append(items, line)
	case color != "":
		items = append(items, stateLine(verb, color))
	}
	var at string
	if d != nil {
		at = when(d.DecidedAt)
	}
	switch {
	case at != "" && more != "":
		items = append(items, subtle("at "+at+", "+more))
	case at != "":
		items = append(items, subtle("at "+at))
	case more != "":
		items = append(items, subtle(capitalize(more)))
	}
	return items
}

// capitalize upper-cases the first letter of a phrase.
func capitalize(s string) string {
	r, n := utf8.DecodeRuneInString(s)
	if n == 0 || r == utf8.RuneError {
		return s
	}
	return string(unicode.ToUpper(r)) + s[n:]
}
