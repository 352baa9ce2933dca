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
	// their own view of the card from the bot when they show it (at most
	// MaxRefreshUsers; the rest are dropped). Empty: every viewer does,
	// which Teams allows in conversations of up to 60 members.
	RefreshUserIDs []string
	// GroupName is the display name of the profile's group (from the
	// directory); empty shows the group's object id alone.
	GroupName string
	// View is whose card it is: it has the buttons of what they may do now
	// and no others (the zero Viewer: none, a read-only card). nil is the
	// card posted in the approvers' channel, access.ChannelViewer.
	View *access.Viewer
	// Note is a short line for the viewer at the top of the card, such as
	// why their click changed nothing: the bot's own words (a refusal's
	// reason), whose markdown (a command in a code span) is kept, while
	// anything quoted in it is made inert.
	Note string
}

// MaxRefreshUsers is the most user ids Teams takes in refresh.userIds.
const MaxRefreshUsers = 60

// SelfApprovalWarning is the line an approval card shows when the requester
// may decide their own request.
const SelfApprovalWarning = "Demo profile: the requester may approve their own request."

// Approval is the card of a request: who asks for which access, for how
// long and why, and where the request stands. Its body is the same for
// every viewer; its buttons are the viewer's (opts.View): an approver's
// Approve and Deny with a reason while the request is pending and Revoke
// now while its grant is active, the requester's Cancel and I'm done, and
// none for anyone else. Its refresh action lets the clients of
// opts.RefreshUserIDs fetch their own view.
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
	if b := severityBadge(req); b != nil {
		c.Body = append(c.Body[:1], append([]Element{b}, c.Body[1:]...)...)
	}
	if !req.Client.IsZero() {
		c.Body = append(c.Body, viaAPI(req))
	}
	if opts.Note != "" {
		c.Body = append(c.Body, textBlock{Type: "TextBlock", Text: inert(truncate(opts.Note, maxReason)), Wrap: true, Weight: "Bolder", Color: "Warning", Spacing: "Small"})
	}
	if profile.Description != "" {
		c.Body = append(c.Body, subtle(oneLine(profile.Description, maxLine)))
	}
	c.Body = append(c.Body, banner(req))
	if req.Grant != nil && req.Grant.BreakGlass {
		c.Body = append(c.Body, breakGlassBanner(req))
	}
	if !req.EscalatedAt.IsZero() {
		c.Body = append(c.Body, escalatedLine(req))
	}
	c.Body = append(c.Body, policyLines(req, profile)...)
	if req.SelfApproval || profile.AllowSelfApproval {
		c.Body = append(c.Body, textBlock{Type: "TextBlock", Text: SelfApprovalWarning, Wrap: true, Weight: "Bolder", Color: "Warning"})
	}

	fs := []Fact{
		TextFact("Profile", profileName),
	}
	groupNames := Names{}
	groupNames.Set(groupID, opts.GroupName)
	fs = append(fs, groupFacts(groupID, groupNames)...)
	fs = append(fs, TextFact("Duration", FormatDuration(req.Duration)))
	if req.Severity != "" {
		fs = append(fs, TextFact("Severity", req.Severity))
	}
	if req.Ticket != "" {
		fs = append(fs, TextFact("Ticket", req.Ticket))
	}
	fs = append(fs, TimeFact("Requested", req.CreatedAt), TextFact("Request", req.ID))
	fs = withStart(req, fs)
	why := "Justification"
	if req.ExtendsRequestID != "" {
		why = "Reason for the extension"
	}
	c.Body = append(c.Body, facts(fs...), label(why), justification(req.Justification))

	ids := opts.RefreshUserIDs
	if len(ids) > MaxRefreshUsers {
		ids = ids[:MaxRefreshUsers]
	}
	c.Refresh = &Refresh{Action: requestAction("", VerbRefresh, req.ID), UserIDs: ids}
	v := access.ChannelViewer(req)
	if opts.View != nil {
		v = *opts.View
	}
	addDecision(&c, req, profile, v)
	addForceApprove(&c, req, v)
	if v.May.Has(access.CanRevoke) {
		addRevokeNow(&c, req)
	}
	c.Actions = append(c.Actions, requesterActions(req, v)...)
	return c
}

// StepUpNotice tells approvers of a profile with a step-up rule that
// Approve asks them to sign in again.
const StepUpNotice = "Approving needs a fresh sign-in with multi-factor authentication or a compliant device: Teams asks for it when you press Approve. Deny needs none."

// addDecision puts the reason input and the Approve and Deny buttons on
// the card of a viewer who may decide. Deny always sends the reason, which
// it requires; Approve sends it only where the profile requires a reason.
func addDecision(c *Card, req *access.Request, profile access.Profile, v access.Viewer) {
	if !v.May.Has(access.CanApprove) && !v.May.Has(access.CanDeny) {
		return
	}
	in := inputText{
		Type:         "Input.Text",
		ID:           InputReason,
		Label:        "Reason (required to deny; shown to the requester)",
		Placeholder:  "Why you decide as you do",
		MaxLength:    maxReason,
		IsRequired:   true,
		ErrorMessage: "Say why you deny this request.",
		Spacing:      "Medium",
	}
	if profile.RequireReason {
		in.Label = "Reason (required; shown to the requester)"
		in.ErrorMessage = "Say why you approve or deny this request."
	}
	if v.May.Has(access.CanApprove) && profile.StepUp.On() {
		c.Body = append(c.Body, textBlock{Type: "TextBlock", Text: StepUpNotice, Wrap: true, Spacing: "Medium"})
	}
	c.Body = append(c.Body, in)
	if v.May.Has(access.CanApprove) {
		approve := requestAction("Approve", VerbApprove, req.ID)
		approve.Style = "positive"
		approve.AssociatedInputs = "none" // the reason goes with a denial only
		if profile.RequireReason {
			approve.AssociatedInputs = "auto"
		}
		c.Actions = append(c.Actions, approve)
	}
	if v.May.Has(access.CanDeny) {
		deny := requestAction("Deny", VerbDeny, req.ID)
		deny.Style = "destructive"
		deny.AssociatedInputs = "auto"
		c.Actions = append(c.Actions, deny)
	}
}

// requesterActions are the requester's buttons on their view of the
// card: Cancel while the request is pending, I'm done while the grant is
// active, Extend while it may be extended. Each says it was pressed on
// this card (DataCard), so that the answer is this card again (for Extend:
// the extend form), and sends no input (a self-approving
// requester's card also has the approvers' required reasons, which these
// buttons must not wait for).
func requesterActions(req *access.Request, v access.Viewer) []Action {
	var out []Action
	if v.May.Has(access.CanCancel) {
		out = append(out, onApprovalCard(cancelAction(req)))
	}
	if v.May.Has(access.CanRelease) {
		out = append(out, onApprovalCard(requestAction("I'm done", VerbRelease, req.ID)))
	}
	if v.May.Has(access.CanExtend) {
		// Opens the extend form, which asks how much longer and why.
		out = append(out, onApprovalCard(extendOpener(req)))
	}
	return out
}

// onApprovalCard marks a requester's button as pressed on the approval
// card, sending no input.
func onApprovalCard(a executeAction) executeAction {
	a.Data[DataCard] = CardApproval
	a.AssociatedInputs = "none"
	return a
}

// NotFound is the read-only card shown in place of a card whose request
// does not exist (any more).
func NotFound(requestID string) Card {
	c := newCard(heading("Access request"), box("emphasis", stateLine("Request not found", ""), subtle("This request does not exist (any more); there is nothing to do on it.")))
	if requestID != "" {
		c.Body = append(c.Body, facts(TextFact("Request", requestID)))
	}
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

	case access.RequestScheduled:
		return scheduledBanner(req)

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
		verb := "Denied"
		if revokedBeforeStart(req) {
			verb = "Revoked before its start"
		}
		items := decidedBy(verb, "Attention", d, "")
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
// more (", more" after the time, or on its own), and an approval's reason. The approver's name is a
// text run, so it stays inert; times are in a text block, where every client
// applies DATE/TIME. color "" makes it a secondary line.
func decidedBy(verb, color string, d *access.Decision, more string) []Element {
	var items []Element
	if d != nil && d.Forced && verb == "Approved" {
		verb = "Force-approved"
	}
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
	if d != nil && d.Verdict == access.Approve && d.Reason != "" {
		// A denial's reason has its own line in the denied banner.
		items = append(items, rich(bold("Reason: "), run(block(d.Reason, maxReason))))
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
