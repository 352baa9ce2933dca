package cards

import (
	"strconv"
	"strings"

	"github.com/jitbot/jitbot/access"
)

// The lines an alert card uses to say what happens next, exported so that
// the bot and its tests can refer to them.
const (
	// AlertPermanentLine: the directory refused the removal for good (a
	// missing permission, a deleted or protected group).
	AlertPermanentLine = "Graph refused permanently: fix the permission or the group, then retry."
	// AlertRetryingLine: the failure looked transient (when the alert does
	// not say how often the removal is retried).
	AlertRetryingLine = "jitbot keeps retrying."
	// AlertDriftOpenLine: nobody removed the unexplained member yet.
	AlertDriftOpenLine = "Needs a person to look: added outside jitbot, or a removal that silently failed."
)

// maxError bounds the directory error an alert shows.
const maxError = 500

// Alert is the card the security channel gets for a: a membership that could
// not be removed at expiry (access.AlertIrrevocable), or a member of a
// managed group that no grant explains (access.AlertDrift).
//
// An unresolved irrevocable alert has one button, Retry now (Action.Execute,
// verb retryRevoke, data {"grantId": a.GrantID}); every irrevocable alert
// with a grant id has a refresh action (verb refreshAlert, same data) that
// every viewer's client runs, so the card shows the grant's current state.
// Teams runs a refresh without userIds only in conversations of up to 60
// members; in larger channels the card changes when the bot updates it. A
// resolved irrevocable alert says "Access removed"; drift alerts have no
// buttons and no refresh.
//
// The directory error, the user's name and every other value are shown
// inert; a.At is shown in each viewer's own time zone. names gives the
// group's display name and, for a drift finding, which knows only the
// user's object id, the user's.
func Alert(a access.Alert, names Names) Card {
	if a.User.Name == "" {
		// A drift finding knows only the object id.
		a.User.Name = names.name(a.User.ObjectID)
	}
	switch a.Kind {
	case access.AlertIrrevocable:
		return irrevocableAlert(a, names)
	case access.AlertDrift:
		return driftAlert(a, names)
	case access.AlertPIMOutlives:
		return pimOutlivesAlert(a, names)
	}
	c := newCard(heading("Security alert"),
		box("attention", stateLine("Security alert: "+oneLine(string(a.Kind), maxLine), "Attention")))
	c.Body = append(c.Body, alertFacts(a, true, names)...)
	return c
}

func irrevocableAlert(a access.Alert, names Names) Card {
	c := newCard(heading("Security alert"))
	if a.Resolved {
		note := "The membership was removed."
		if a.ResolvedNote != "" {
			note = sentence(a.ResolvedNote)
		}
		c.Body = append(c.Body,
			box("good",
				stateLine("Access removed", "Good"),
				rich(run(note)),
			),
			rich(who(a.User), run(" is no longer in the group of "), bold(oneLine(a.Profile, maxLine)), run(".")),
		)
	} else {
		next := AlertRetryingLine
		if a.RetryEvery > 0 {
			next = "jitbot keeps retrying every " + FormatDuration(a.RetryEvery) + "."
		}
		if a.Permanent {
			next = AlertPermanentLine
		}
		c.Body = append(c.Body,
			box("attention",
				stateLine("Access could not be removed", "Attention"),
				rich(who(a.User), run(" is still in the group of "), bold(oneLine(a.Profile, maxLine)), run(" although the grant expired.")),
				textBlock{Type: "TextBlock", Text: next, Wrap: true, Weight: "Bolder"},
			),
		)
	}
	c.Body = append(c.Body, alertFacts(a, true, names)...)
	if !a.Resolved && a.Error != "" {
		c.Body = append(c.Body, label("Latest error"), rich(textRun{Type: "TextRun", Text: block(a.Error, maxError), FontType: "Monospace"}))
	}
	if a.GrantID == "" {
		return c // nothing to retry or refresh by
	}
	c.Refresh = &Refresh{Action: grantAction("", VerbRefreshAlert, a.GrantID)}
	if !a.Resolved {
		c.Actions = []Action{grantAction("Retry now", VerbRetryRevoke, a.GrantID)}
	}
	return c
}

func driftAlert(a access.Alert, names Names) Card {
	c := newCard(heading("Security alert"))
	if a.Resolved {
		note := "Removed from the group."
		if a.ResolvedNote != "" {
			note = sentence(a.ResolvedNote)
		}
		c.Body = append(c.Body, box("warning",
			stateLine("Unexplained member in a managed group", "Warning"),
			rich(run(note)),
		))
	} else {
		c.Body = append(c.Body, box("attention",
			stateLine("Unexplained member in a managed group", "Attention"),
			textBlock{Type: "TextBlock", Text: AlertDriftOpenLine, Wrap: true, Weight: "Bolder"},
		))
	}
	if a.Resolved {
		c.Body = append(c.Body,
			rich(who(a.User), run(" was a member of the group of "), bold(oneLine(a.Profile, maxLine)), run(" that no grant of jitbot accounted for.")))
	} else {
		c.Body = append(c.Body,
			rich(who(a.User), run(" is a member of the group of "), bold(oneLine(a.Profile, maxLine)), run(", but no grant of jitbot accounts for it.")))
	}
	c.Body = append(c.Body, alertFacts(a, false, names)...)
	return c
}

// sentence renders a note the bot wrote ("removed by a retry") as a
// sentence: capitalised, one full stop, inert.
func sentence(s string) string {
	return capitalize(strings.TrimRight(oneLine(s, maxLine), ". ")) + "."
}

// who names a user in a sentence: the display name, or the object id when
// the name is unknown.
func who(p access.Person) textRun {
	if p.Name != "" {
		return bold(oneLine(p.Name, maxLine))
	}
	if p.ObjectID != "" {
		return bold(oneLine(p.ObjectID, maxLine))
	}
	return bold("An unknown user")
}

// alertFacts lists an alert's subject: the user, the group, the profile and
// when; withGrant adds the failed attempts and the grant.
func alertFacts(a access.Alert, withGrant bool, names Names) []Element {
	var fs []Fact
	if a.User.Name != "" {
		fs = append(fs, TextFact("User", a.User.Name))
	}
	fs = append(fs,
		TextFact("Object id", orDash(a.User.ObjectID)),
	)
	fs = append(fs, groupFacts(a.GroupID, names)...)
	fs = append(fs, TextFact("Profile", orDash(a.Profile)))
	if withGrant {
		fs = append(fs, TextFact("Failed attempts", strconv.Itoa(a.Attempts)))
		if a.GrantID != "" {
			fs = append(fs, TextFact("Grant", a.GrantID))
		}
	}
	fs = append(fs, TimeFact("When", a.At))
	return []Element{facts(fs...)}
}

// AlertPIMOutlivesLine says what an outliving PIM assignment means.
const AlertPIMOutlivesLine = "Entra will not end this membership on time by itself (has the PIM licence lapsed?): jitbot still removes it when the grant ends; check the group's PIM assignments."

// pimOutlivesAlert is the alert of a PIM assignment that ends after its
// grant, or never.
func pimOutlivesAlert(a access.Alert, names Names) Card {
	ends := "never"
	c := newCard(heading("Security alert"), box("warning",
		stateLine("PIM assignment outlives its grant", "Warning"),
		textBlock{Type: "TextBlock", Text: AlertPIMOutlivesLine, Wrap: true, Weight: "Bolder"},
	))
	c.Body = append(c.Body, alertFacts(a, false, names)...)
	fs := []Fact{TimeFact("Grant ends", a.GrantEnd)}
	if a.AssignmentEnd.IsZero() {
		fs = append(fs, TextFact("Assignment ends", ends))
	} else {
		fs = append(fs, TimeFact("Assignment ends", a.AssignmentEnd))
	}
	c.Body = append(c.Body, facts(fs...))
	return c
}

// orDash is s, or "—" for nothing.
func orDash(s string) string {
	if s == "" {
		return "—"
	}
	return s
}
