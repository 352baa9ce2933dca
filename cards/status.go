package cards

import (
	"time"

	"github.com/jitbot/jitbot/access"
)

// maxNotice bounds a notice's text.
const maxNotice = 2000

// Status lists a user's open requests: the access they hold (or are being
// given) with its expiry, then the requests waiting for approval. Requests
// come as the store returns them, newest first; other states are listed
// last.
func Status(reqs []access.Request) Card {
	c := newCard(heading("Your access"))
	var active, pending, other []Element
	for i := range reqs {
		r := &reqs[i]
		switch r.State {
		case access.RequestActive, access.RequestApproved:
			active = append(active, statusItem(r))
		case access.RequestPending:
			pending = append(pending, statusItem(r))
		default:
			other = append(other, statusItem(r))
		}
	}
	if len(active)+len(pending)+len(other) == 0 {
		c.Body = append(c.Body,
			para("Nothing pending, and no access granted right now."),
			subtle("When you need access, ask for it with the request form."))
		return c
	}
	section := func(title string, items []Element) {
		if len(items) > 0 {
			c.Body = append(c.Body, label(title))
			c.Body = append(c.Body, items...)
		}
	}
	section("Active access", active)
	section("Waiting for approval", pending)
	section("Other requests", other)
	return c
}

// statusItem is one request of the status card.
func statusItem(r *access.Request) Element {
	var line textBlock
	var expires time.Time
	if r.Grant != nil {
		expires = r.Grant.ExpiresAt
	}
	switch r.State {
	case access.RequestActive:
		line = stateLine("Active", "Good")
		if !expires.IsZero() {
			line.Text = "Active until " + when(expires)
		}
	case access.RequestApproved:
		line = stateLine("Approved, being added", "Good")
		if !expires.IsZero() {
			line.Text += "; until " + when(expires)
		}
	case access.RequestPending:
		line = stateLine("Pending", "Accent")
		if !r.CreatedAt.IsZero() {
			line.Text = "Requested " + when(r.CreatedAt)
		}
	default:
		line = stateLine(stateName(r.State), "")
	}
	line.Weight = ""
	line.Spacing = "None"

	fs := []Fact{TextFact("Duration", FormatDuration(r.Duration))}
	if r.Ticket != "" {
		fs = append(fs, TextFact("Ticket", r.Ticket))
	}
	fs = append(fs, TextFact("Request", r.ID))
	c := box("", rich(bold(oneLine(r.Profile, maxLine))), line, facts(fs...))
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
