package cards

import (
	"github.com/jitbot/jitbot/access"
)

// The cards and card parts of a grant ended early: the requester's access
// granted card with its I'm done button, the approval card's Revoke now
// button and reason, and the banner of a grant released or revoked early.

// addRevokeNow puts the Revoke now button and its required reason on an
// approval card whose grant may be ended early (access.Endable), for a
// viewer who may revoke. The service checks the clicker again.
func addRevokeNow(c *Card, req *access.Request) {
	if access.Endable(req) != nil && req.State != access.RequestScheduled {
		return
	}
	c.Body = append(c.Body, inputText{
		Type:         "Input.Text",
		ID:           InputRevokeReason,
		Label:        "Reason to revoke now (approvers and security; shown to the requester)",
		Placeholder:  "Why the access ends before its time",
		MaxLength:    maxReason,
		IsRequired:   true,
		ErrorMessage: "Say why you revoke this access.",
		Spacing:      "Medium",
	})
	revoke := requestAction("Revoke now", VerbRevokeNow, req.ID)
	revoke.Style = "destructive"
	c.Actions = append(c.Actions, revoke)
}

// earlyBanner tells, on the approval card, who ended a grant before its
// expiry, how and why, and whether the removal is done.
func earlyBanner(req *access.Request) Element {
	g := req.Grant
	e := g.Early
	var items []Element
	ended := req.State == access.RequestExpired
	who := oneLine(e.By.Name, maxLine)
	switch {
	case e.Kind == access.EndReleased && ended:
		items = append(items, stateLine("Released early by the requester at "+when(e.At), ""))
	case e.Kind == access.EndReleased:
		items = append(items, stateLine("Released early by the requester at "+when(e.At)+" — removal in progress", "Warning"))
	case ended:
		items = append(items, rich(textRun{Type: "TextRun", Text: "Revoked early by ", Weight: "Bolder"}, textRun{Type: "TextRun", Text: who, Weight: "Bolder"}),
			subtle("at "+when(e.At)))
	default:
		items = append(items, rich(textRun{Type: "TextRun", Text: "Revoked early by ", Weight: "Bolder", Color: "Warning"}, textRun{Type: "TextRun", Text: who, Weight: "Bolder", Color: "Warning"}),
			subtle("at "+when(e.At)+" — removal in progress"))
	}
	if e.Kind.Revoked() {
		items = append(items, rich(bold("Reason: "), run(block(e.Reason, maxReason))))
	}
	switch {
	case !ended && g.Attempts > 0:
		items = append(items, subtle("The removal failed and is retried; security is alerted if it keeps failing."))
	case ended && g.PreExisting:
		items = append(items, subtle("Membership pre-existed; left in place."))
	case ended && g.Shared:
		items = append(items, subtle("Membership shared with another active grant; removed only once no grant holds it."))
	}
	items = append(items, decidedBy("Approved", "", req.LastDecision(), "")...)
	return box("emphasis", items...)
}

// GrantedSummary is the plain text of the access granted card, for
// notifications and clients that show no card.
func GrantedSummary(req *access.Request) string {
	if req.Grant == nil {
		return "Access to " + req.Profile + " granted."
	}
	return "Access granted: you are in the group for " + req.Profile + " until " + access.FormatTime(req.Grant.ExpiresAt) + "."
}

// Granted is the requester's "access granted" card: the profile, until when
// (in the viewer's time zone), and an I'm done button while the grant may
// be ended early. Once it is ending or ended the card says so, without the
// button.
func Granted(req *access.Request, names Names) Card {
	g := req.Grant
	profile := oneLine(req.Profile, maxLine)
	var early access.EarlyEnd
	if g != nil {
		early = g.Early
	}
	fs := []Fact{TextFact("Profile", req.Profile)}
	fs = append(fs, groupFacts(req.GroupID, names)...)
	if g != nil {
		fs = append(fs, TimeFact("Until", g.ExpiresAt))
	}
	fs = append(fs, TextFact("Request", req.ID))

	if access.Endable(req) == nil {
		c := newCard(
			textBlock{Type: "TextBlock", Text: "Access granted", Wrap: true, Size: "Medium", Weight: "Bolder", Color: "Good"},
			para("You are in the group for "+profile+" until "+when(g.ExpiresAt)+". Press I'm done as soon as you no longer need it."),
		)
		if g.PreExisting {
			c.Body = append(c.Body, subtle("You already were a member; that membership pre-existed and is left in place when this grant ends."))
		}
		c.Body = append(c.Body, facts(fs...))
		c.Actions = []Action{requestAction("I'm done", VerbRelease, req.ID)}
		return c
	}
	var line string
	switch {
	case req.State == access.RequestExpired && early.Kind == access.EndReleased:
		line = "You released your access to " + profile + " at " + when(early.At) + "."
	case req.State == access.RequestExpired && early.Kind.Revoked():
		line = "Your access to " + profile + " was revoked at " + when(early.At) + "."
	case req.State == access.RequestExpired:
		line = "Your access to " + profile + " has ended."
	case g != nil && g.State.Live():
		line = "Your access to " + profile + " is being removed."
	default:
		line = "Your access to " + profile + " is not active."
	}
	c := newCard(heading("Access ended"), para(line))
	if early.Kind.Revoked() {
		c.Body = append(c.Body, rich(bold("Revoked by "), run(oneLine(early.By.Name, maxLine))),
			rich(bold("Reason: "), run(block(early.Reason, maxReason))))
	}
	c.Body = append(c.Body, facts(fs...))
	return c
}
