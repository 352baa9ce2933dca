package cards

import (
	"strings"

	"github.com/jitbot/jitbot/access"
)

// FormOptions fills the request form again after a refused submission, so
// the user fixes it in place.
type FormOptions struct {
	// Profile, Duration, Ticket and Justification prefill the inputs with
	// what the user entered.
	Profile       string
	Duration      string
	Ticket        string
	Justification string
	// Severity prefills the severity choice (forms offering profiles with
	// severities).
	Severity string
	// Start prefills the optional start ("22:00", "tomorrow 9:00").
	Start string
	// Error, when set, says at the top of the form what to fix.
	Error string
}

// RequestForm is the card on which a user asks for access: a profile among
// profiles, a duration, a ticket and a justification, sent with the Submit
// button (verb submitRequest).
func RequestForm(profiles []access.Profile, opts FormOptions) Card {
	c := newCard(heading("Request temporary access"))
	if opts.Error != "" {
		c.Body = append(c.Body, box("attention",
			rich(textRun{Type: "TextRun", Text: block(opts.Error, maxReason), Color: "Attention", Weight: "Bolder"})))
	}
	if len(profiles) == 0 {
		c.Body = append(c.Body, para("No access profile is open to you. Ask the team that runs jitbot to add one."))
		return c
	}

	choices := make([]choice, 0, len(profiles))
	for _, p := range profiles {
		title := p.Name
		if p.Description != "" {
			title += " — " + p.Description
		}
		choices = append(choices, choice{Title: oneLine(title, maxLine), Value: p.Name})
	}
	selected := opts.Profile
	if selected == "" && len(profiles) == 1 {
		selected = profiles[0].Name
	}

	var limits []string
	var ticketHint []textRun
	for _, p := range profiles {
		if p.MinDuration > 0 {
			limits = append(limits, p.Name+" "+FormatDuration(p.MinDuration)+" to "+FormatDuration(p.MaxDuration))
		} else {
			limits = append(limits, p.Name+" up to "+FormatDuration(p.MaxDuration))
		}
		if p.RequireTicket {
			if ticketHint == nil {
				ticketHint = append(ticketHint, small("Required for "))
			} else {
				ticketHint = append(ticketHint, small("; "))
			}
			ticketHint = append(ticketHint, small(p.Name))
			if p.TicketPattern != nil {
				ticketHint = append(ticketHint, small(" (format "), code(p.TicketPattern.String()), small(")"))
			}
		}
	}
	if ticketHint == nil {
		ticketHint = []textRun{small("Optional: the incident or change this access is for.")}
	} else {
		ticketHint = append(ticketHint, small("; optional otherwise."))
	}

	c.Body = append(c.Body,
		inputChoiceSet{
			Type:         "Input.ChoiceSet",
			ID:           InputProfile,
			Label:        "Profile",
			Style:        "compact",
			Placeholder:  "Choose a profile",
			Value:        selected,
			IsRequired:   true,
			ErrorMessage: "Choose a profile.",
			Choices:      choices,
		},
		inputText{
			Type:        "Input.Text",
			ID:          InputDuration,
			Label:       "Duration",
			Placeholder: "2h",
			Value:       opts.Duration,
			MaxLength:   20,
		},
		hint(small("Such as 2h, 1h30m or 45m. Allowed: "+strings.Join(limits, "; ")+".")),
		inputText{
			Type:        "Input.Text",
			ID:          InputStart,
			Label:       "Start (optional)",
			Placeholder: "Now, or a time such as 22:00 or tomorrow 9:00",
			Value:       opts.Start,
			MaxLength:   access.MaxStartText,
		},
		hint(small("In your own time zone, as Teams reports it (UTC when it does not); a time already passed today means tomorrow. Approvers decide ahead; the access starts then.")),
	)
	if sev := severityChoice(profiles, opts.Severity); sev != nil {
		c.Body = append(c.Body, sev)
	}
	c.Body = append(c.Body,
		inputText{
			Type:        "Input.Text",
			ID:          InputTicket,
			Label:       "Ticket",
			Placeholder: "Incident or change number",
			Value:       opts.Ticket,
			MaxLength:   maxTicket,
		},
		hint(ticketHint...),
		inputText{
			Type:         "Input.Text",
			ID:           InputJustification,
			Label:        "Justification",
			Placeholder:  "What will you do with this access, and why now?",
			Value:        opts.Justification,
			IsMultiline:  true,
			MaxLength:    maxJustification,
			IsRequired:   true,
			ErrorMessage: "Tell the approvers why you need this access.",
		},
	)
	c.Actions = []Action{executeAction{Type: "Action.Execute", Title: "Submit", Verb: VerbSubmitRequest}}
	return c
}

// hint is the small print under an input, in text runs so that names and
// patterns from the configuration are shown exactly as written.
func hint(runs ...textRun) richTextBlock {
	r := rich(runs...)
	r.Spacing = "Small"
	return r
}

// small is a run of small print.
func small(s string) textRun {
	return textRun{Type: "TextRun", Text: inert(s), Size: "Small", IsSubtle: true}
}

// code is a run of small print in a fixed-width font, for patterns.
func code(s string) textRun {
	return textRun{Type: "TextRun", Text: inert(truncate(s, maxLine)), Size: "Small", IsSubtle: true, FontType: "Monospace"}
}

// Submitted replaces the request form once a request has been sent: what was
// asked for, what happens next, and a Cancel button while it is pending.
// Once it is no longer pending it says where it stands, without buttons.
func Submitted(req *access.Request, names Names) Card {
	if req.State != access.RequestPending {
		return submittedClosed(req, names)
	}
	fs := submittedFacts(req, names)
	c := newCard(
		textBlock{Type: "TextBlock", Text: "Request sent to approvers", Wrap: true, Size: "Medium", Weight: "Bolder", Color: "Good"},
		para(submittedNext(req)),
		facts(fs...),
		label("Justification"),
		justification(req.Justification),
	)
	c.Actions = append(c.Actions, cancelAction(req))
	return c
}

// submittedNext says what happens after a request is sent.
func submittedNext(req *access.Request) string {
	if req.Scheduled() {
		return "You will get a message here as soon as an approver decides. Once approved, your access starts at the time below, not before."
	}
	return "You will get a message here as soon as an approver decides."
}

// submittedFacts are the facts of the requester's "request received" card,
// pending or not.
func submittedFacts(req *access.Request, names Names) []Fact {
	fs := []Fact{TextFact("Profile", req.Profile)}
	fs = append(fs, groupFacts(req.GroupID, names)...)
	fs = append(fs, TextFact("Duration", FormatDuration(req.Duration)))
	if req.Severity != "" {
		fs = append(fs, TextFact("Severity", req.Severity))
	}
	if req.Ticket != "" {
		fs = append(fs, TextFact("Ticket", req.Ticket))
	}
	return withStart(req, append(fs, TimeFact("Requested", req.CreatedAt), TextFact("Request", req.ID)))
}
