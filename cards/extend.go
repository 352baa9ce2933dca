package cards

import (
	"strconv"
	"time"

	"github.com/jitbot/jitbot/access"
)

// The cards and card parts of extending a grant: the requester's expiry
// reminder with Extend and I'm done, the Extend inputs and button (for any
// card that offers it), the "access extended" card, and the parts of the
// approval card of an extension request and of an extended grant.

// ExtendInputs are the Extend button's inputs: how much longer (a
// duration as typed, e.g. 30m) and why, both required, their maxLength
// the shared limits.
func ExtendInputs() []Element {
	return []Element{
		inputText{
			Type:         "Input.Text",
			ID:           InputExtendDuration,
			Label:        "Extend by",
			Placeholder:  "e.g. 30m or 1h",
			MaxLength:    access.MaxDurationText,
			IsRequired:   true,
			ErrorMessage: "Say how much longer you need the access, e.g. 30m.",
			Spacing:      "Medium",
		},
		inputText{
			Type:         "Input.Text",
			ID:           InputExtendReason,
			Label:        "Why you need it longer (shown to the approvers)",
			Placeholder:  "What is left to do",
			IsMultiline:  true,
			MaxLength:    maxReason,
			IsRequired:   true,
			ErrorMessage: "Say why you need the access longer.",
		},
	}
}

// ExtendAction is the Extend button of req's grant; it sends the inputs
// of ExtendInputs and the grant's end as shown (DataExtendsFrom). Whether
// the grant may be extended, and by whom, is decided by the bot's service
// when it is pressed.
func ExtendAction(req *access.Request) Action {
	a := requestAction("Extend", VerbExtend, req.ID)
	a.Style = "positive"
	if req.Grant != nil && !req.Grant.ExpiresAt.IsZero() {
		a.Data[DataExtendsFrom] = req.Grant.ExpiresAt.UTC().Format(time.RFC3339Nano)
	}
	return a
}

// imDone is the I'm done button on a card that also has inputs for
// another button: it sends none of them, so their being required never
// holds it back.
func imDone(req *access.Request) Action {
	a := requestAction("I'm done", VerbRelease, req.ID)
	a.AssociatedInputs = "none"
	return a
}

// ExpiryReminderSummary is the plain text of the expiry reminder, for
// notifications and clients that show no card.
func ExpiryReminderSummary(req *access.Request) string {
	if req.Grant == nil {
		return "Your access to " + req.Profile + " ends soon."
	}
	return "Your access to " + req.Profile + " ends at " + stamp(req.Grant.ExpiresAt) + ". Extend it, or press I'm done."
}

// ExpiryReminder is the requester's reminder that their grant ends soon:
// "Your access to <profile> ends at <time>" (in the viewer's time zone),
// with Extend (duration and reason) and I'm done while the grant is
// active; once it is not, the card says where it stands, without buttons.
func ExpiryReminder(req *access.Request, names Names) Card {
	return extendCard(req, names, "Your access ends soon", "Warning")
}

// ExtendForm asks the requester how much longer they need their grant and
// why, with Extend and I'm done: what Extend on the status card or on their
// view of the approval card opens. Once the grant is not active the card
// says where it stands, without buttons.
func ExtendForm(req *access.Request, names Names) Card {
	return extendCard(req, names, "Extend your access", "")
}

// extendCard is the expiry reminder and the extend form, under title.
func extendCard(req *access.Request, names Names, title, color string) Card {
	if access.Endable(req) != nil {
		return Granted(req, names)
	}
	g := req.Grant
	profile := oneLine(req.Profile, maxLine)
	c := newCard(
		textBlock{Type: "TextBlock", Text: title, Wrap: true, Size: "Medium", Weight: "Bolder", Color: color},
		para("Your access to "+profile+" ends at "+when(g.ExpiresAt)+"."),
		subtle("Need more time? Say how much and why: it goes to the approvers (short extensions may apply at once). Done already? Press I'm done."),
		grantFacts(req, names),
	)
	c.Body = append(c.Body, ExtendInputs()...)
	c.Actions = []Action{ExtendAction(req), imDone(req)}
	return c
}

// extendOpener is an Extend button that sends no input: pressed, it opens
// ExtendForm (the card it is on says where, in DataCard).
func extendOpener(req *access.Request) executeAction {
	a := requestAction("Extend", VerbExtend, req.ID)
	a.AssociatedInputs = "none"
	return a
}

// ExtendedSummary is the plain text of the "access extended" card.
func ExtendedSummary(req *access.Request) string {
	if req.Grant == nil {
		return "Your access to " + req.Profile + " was extended."
	}
	return "Your access to " + req.Profile + " was extended: it now ends at " + stamp(req.Grant.ExpiresAt) + "."
}

// Extended is the requester's "access extended" card: the new end (in the
// viewer's time zone), who extended it, by how much and why, and I'm done
// while the grant is active.
func Extended(req *access.Request, names Names) Card {
	if access.Endable(req) != nil || req.Grant == nil || req.Grant.Extended.Count == 0 {
		return Granted(req, names)
	}
	g := req.Grant
	x := g.Extended
	profile := oneLine(req.Profile, maxLine)
	c := newCard(
		textBlock{Type: "TextBlock", Text: "Access extended", Wrap: true, Size: "Medium", Weight: "Bolder", Color: "Good"},
		para("Your access to "+profile+" now ends at "+when(g.ExpiresAt)+"."),
		extendedBy(req),
		rich(bold("Reason: "), run(block(x.Reason, maxReason))),
		grantFacts(req, names),
	)
	c.Actions = []Action{requestAction("I'm done", VerbRelease, req.ID)}
	return c
}

// extendedBy is "Extended by <who> (+<d>)" of a grant's latest extension,
// "by you" on the requester's own.
func extendedBy(req *access.Request) Element {
	x := req.Grant.Extended
	who := oneLine(x.By.Name, maxLine)
	if x.By.ObjectID == req.Requester.ObjectID {
		who = "the requester"
	}
	line := rich(run("Extended by "), bold(who), run(" (+"+FormatDuration(x.Added)+")"))
	if x.Count > 1 {
		line.Inlines = append(line.Inlines, run(", "+strconv.Itoa(x.Count)+" extensions in all"))
	}
	return line
}

// extensionLines are the approval card's lines about an extended grant:
// who extended it, by how much, and when.
func extensionLines(req *access.Request) []Element {
	g := req.Grant
	if g == nil || g.Extended.Count == 0 {
		return nil
	}
	return []Element{extendedBy(req), subtle("at " + when(g.Extended.At))}
}

// extensionHead is the approval card's title and first line for an
// extension request: "Extension of <profile> for <who>: +<duration>", the
// request it extends and that grant's end when it was asked.
func extensionHead(req *access.Request, profileName string) []Element {
	return []Element{
		heading("Extension request"),
		rich(run("Extension of "), bold(oneLine(profileName, maxLine)), run(" for "), bold(oneLine(req.Requester.Name, maxLine)),
			run(": +"+FormatDuration(req.Duration))),
		subtle("Extends request " + oneLine(req.ExtendsRequestID, maxLine) + ", which ends at " + when(req.ExtendsFrom) + "; approving moves that end later by " + FormatDuration(req.Duration) + "."),
	}
}

// extendedBanner is the approval card's state of an approved extension
// request.
func extendedBanner(req *access.Request) Element {
	items := decidedBy("Extension approved", "Good", req.LastDecision(), "")
	items = append(items, subtle("The access of request "+oneLine(req.ExtendsRequestID, maxLine)+" was extended by "+FormatDuration(req.Duration)+"; its card shows the new end."))
	return box("good", items...)
}

// grantFacts are the facts of a grant's cards: the profile, its group (by
// name when known), the end and the request id.
func grantFacts(req *access.Request, names Names) factSet {
	fs := []Fact{TextFact("Profile", req.Profile)}
	fs = append(fs, groupFacts(req.GroupID, names)...)
	if req.Grant != nil {
		fs = append(fs, TimeFact("Until", req.Grant.ExpiresAt))
	}
	return facts(append(fs, TextFact("Request", req.ID))...)
}
