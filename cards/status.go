package cards

import (
	"sort"
	"time"

	"github.com/jitbot/jitbot/access"
)

// maxNotice bounds a notice's text.
const maxNotice = 2000

// The status card's section headings, in the order the card lists them.
const (
	statusActive    = "Active access"
	statusScheduled = "Scheduled access"
	statusEnded     = "Ended access"
	statusPending   = "Waiting for approval"
	statusOther     = "Other requests"
)

// The notes an active grant's status line carries, in parentheses.
const (
	notePreExisting = "membership pre-existed; left in place at expiry"
	noteShared      = "shared with another of your grants"
)

// StatusEmpty is what the status card says when there is nothing to show.
const StatusEmpty = "You have nothing pending and no active access."

// StatusOptions adjusts the status card.
type StatusOptions struct {
	// Note is a short line at the top: what a button on the card just did.
	Note string
	// Refused is a short line at the top, in the colour of a warning: why a
	// button on the card did nothing.
	Refused string
	// Extendable holds the ids of the requests whose grants may be
	// extended now (access.Service.MayExtend): they get an Extend button.
	Extendable map[string]bool
}

// Status lists a user's open requests, each under a heading: access they
// hold or are being given, with its expiry ("Active access"); access whose
// time is up but whose membership is still being removed, or could not be
// removed ("Ended access"); requests waiting for approval; anything else
// last. Within a heading the newest request (by when it was asked) comes
// first, whatever order they come in. Each request has its buttons in its own container: Cancel
// while it is pending, I'm done while its grant may be ended early
// (statusActions). Their data carries DataCard = CardStatus, so that the
// bot answers a click with this card refreshed. names gives the groups'
// display names.
//
// Where a request stands is read from its grant when it has one: an active
// request's grant may be granting again (the membership is re-added),
// revoking (removal in progress) or irrevocable (removal failed; security
// was alerted), and the store reads requests and grants separately, so the
// two may be a transition apart.
func Status(reqs []access.Request, names Names, opts StatusOptions) Card {
	c := newCard(heading("Your access"))
	if opts.Note != "" {
		c.Body = append(c.Body, textBlock{Type: "TextBlock", Text: oneLine(opts.Note, maxNotice), Wrap: true, Color: "Good", Spacing: "Small"})
	}
	if opts.Refused != "" {
		c.Body = append(c.Body, textBlock{Type: "TextBlock", Text: oneLine(opts.Refused, maxNotice), Wrap: true, Color: "Warning", Spacing: "Small"})
	}
	if len(reqs) == 0 {
		c.Body = append(c.Body,
			para(StatusEmpty),
			subtle("When you need access, ask for it with the request form (send `request`)."))
		return c
	}
	order := make([]*access.Request, len(reqs))
	for i := range reqs {
		order[i] = &reqs[i]
	}
	sort.SliceStable(order, func(i, j int) bool { return order[i].CreatedAt.After(order[j].CreatedAt) })
	sections := map[string][]Element{}
	for _, r := range order {
		section, line := statusLine(r)
		sections[section] = append(sections[section], statusItem(r, line, names, opts.Extendable[r.ID]))
	}
	for _, title := range []string{statusActive, statusScheduled, statusEnded, statusPending, statusOther} {
		if items := sections[title]; len(items) > 0 {
			c.Body = append(c.Body, label(title))
			c.Body = append(c.Body, items...)
		}
	}
	return c
}

// statusActions are the buttons of one request on the status card: Cancel
// while it is pending, I'm done while its grant may be ended early, and
// Extend (which opens ExtendForm) while it may be extended.
func statusActions(r *access.Request, extendable bool) []Action {
	var as []Action
	if r.State == access.RequestPending || r.State == access.RequestScheduled {
		as = append(as, fromStatus(cancelAction(r)))
	}
	if access.Endable(r) == nil {
		as = append(as, fromStatus(requestAction("I'm done", VerbRelease, r.ID)))
	}
	if extendable {
		as = append(as, fromStatus(extendOpener(r)))
	}
	return as
}

// fromStatus marks a button as one of the status card's.
func fromStatus(a executeAction) executeAction {
	a.Data[DataCard] = CardStatus
	return a
}

// statusLine says where r stands, and under which heading of the status
// card it goes. The line holds the package's own words and DATE/TIME
// functions only.
func statusLine(r *access.Request) (section string, line textBlock) {
	g := r.Grant
	if r.State == access.RequestPending {
		return statusPending, timedLine("Pending", " since ", r.CreatedAt, "Accent")
	}
	if r.State == access.RequestScheduled {
		line := timedLine("Approved, starts", " at ", r.StartsAt, "Good")
		line.Text += "; until " + when(r.StartsAt.Add(r.Duration))
		return statusScheduled, line
	}
	if r.State != access.RequestApproved && r.State != access.RequestActive {
		return statusOther, stateLine(stateName(r.State), "")
	}
	if g == nil {
		if r.State == access.RequestActive {
			return statusActive, stateLine("Active", "Good")
		}
		return statusActive, stateLine("Approved, being granted", "Good")
	}
	switch g.State {
	case access.GrantGranting:
		return statusActive, timedLine("Approved, being granted", "; until ", g.ExpiresAt, "Good")
	case access.GrantActive:
		line := timedLine("Active", " until ", g.ExpiresAt, "Good")
		switch {
		case g.PreExisting:
			line.Text += " (" + notePreExisting + ")"
		case g.Shared:
			line.Text += " (" + noteShared + ")"
		}
		return statusActive, line
	case access.GrantRevoking:
		line := timedLine("Ended", " at ", g.ExpiresAt, "")
		line.Text += ", removal in progress"
		return statusEnded, line
	case access.GrantIrrevocable:
		line := timedLine("Ended", " at ", g.ExpiresAt, "Attention")
		line.Text += ", but removal failed; security has been alerted"
		return statusEnded, line
	case access.GrantRevoked:
		// The request is a step behind its grant: it is expiring.
		at := g.RevokedAt
		if at.IsZero() {
			at = g.ExpiresAt
		}
		return statusEnded, timedLine("Ended", " at ", at, "")
	case access.GrantFailed:
		return statusOther, stateLine("Failed: the membership could not be added", "Attention")
	}
	// A grant state this package does not know: say no more than the request.
	if r.State == access.RequestActive {
		return statusActive, stateLine("Active", "Good")
	}
	return statusActive, stateLine("Approved, being granted", "Good")
}

// timedLine is a status line: what, then sep and t when t is set.
func timedLine(what, sep string, t time.Time, color string) textBlock {
	line := stateLine(what, color)
	if !t.IsZero() {
		line.Text += sep + when(t)
	}
	return line
}

// statusItem is one request of the status card: its profile, where it
// stands (line), and its facts.
func statusItem(r *access.Request, line textBlock, names Names, extendable bool) Element {
	line.Weight = ""
	line.Spacing = "None"

	fs := groupFacts(r.GroupID, names)
	fs = append(fs, TextFact("Duration", FormatDuration(r.Duration)))
	if r.Ticket != "" {
		fs = append(fs, TextFact("Ticket", r.Ticket))
	}
	fs = append(fs, TextFact("Request", r.ID))
	fs = withStart(r, fs)
	c := box("", rich(bold(oneLine(r.Profile, maxLine))), line, facts(fs...))
	if as := statusActions(r, extendable); len(as) > 0 {
		c.Items = append(c.Items, actionSet{Type: "ActionSet", Actions: as})
	}
	c.Separator = true
	return c
}

// stateName is how a final state reads on its own.
func stateName(s access.RequestState) string {
	switch s {
	case access.RequestDenied:
		return "Denied"
	case access.RequestFailed:
		return "Failed"
	case access.RequestExpired:
		return "Expired"
	}
	return oneLine(string(s), maxLine)
}

// Profiles lists the access profiles a user can ask for: what each is for,
// how long it can last, and whether it needs a ticket (and in what format).
func Profiles(profiles []access.Profile) Card {
	c := newCard(heading("Access profiles"))
	if len(profiles) == 0 {
		c.Body = append(c.Body, para("No access profile is open to you. Ask the team that runs jitbot to add one."))
		return c
	}
	for _, p := range profiles {
		items := []Element{rich(bold(oneLine(p.Name, maxLine)))}
		if p.Description != "" {
			items = append(items, subtle(oneLine(p.Description, maxLine)))
		}
		fs := []Fact{TextFact("Longest", FormatDuration(p.MaxDuration))}
		if p.MinDuration > 0 {
			fs = append(fs, TextFact("Shortest", FormatDuration(p.MinDuration)))
		}
		if p.RequireTicket {
			fs = append(fs, TextFact("Ticket", "Required"))
		} else {
			fs = append(fs, TextFact("Ticket", "Optional"))
		}
		items = append(items, facts(fs...))
		if p.TicketPattern != nil {
			items = append(items, hint(small("Ticket format: "), code(p.TicketPattern.String())))
		}
		if p.AllowSelfApproval {
			items = append(items, textBlock{Type: "TextBlock", Text: "Demo profile: requesters may approve their own requests.", Wrap: true, Color: "Warning", Spacing: "Small"})
		}
		if p.BreakGlass {
			items = append(items, breakGlassProfileLine(p))
		}
		b := box("", items...)
		b.Separator = true
		c.Body = append(c.Body, b)
	}
	return c
}

// Notice is a simple card for a message to a requester: text (shown as
// written, line breaks kept) and optional facts below it.
func Notice(text string, fs ...Fact) Card {
	c := newCard(rich(run(block(text, maxNotice))))
	if len(fs) > 0 {
		c.Body = append(c.Body, facts(fs...))
	}
	return c
}
