package cards

import (
	"github.com/jitbot/jitbot/access"
)

// Break-glass cards: the marker on the approval card of a request granted
// without approval, and the review card posted in the security channel with
// Acknowledge (an optional note) and Revoke now (a required reason).

// VerbAcknowledge is the Acknowledge button of a break-glass review card,
// with InputReviewNote.
const VerbAcknowledge = "acknowledgeReview"

// InputReviewNote is the reviewer's note when they acknowledge a
// break-glass grant (optional).
const InputReviewNote = "reviewNote"

// CardReview is the DataCard value of Revoke now on the review card: the
// answer is the review card again.
const CardReview = "review"

// ReviewOptions adjusts the review card.
type ReviewOptions struct {
	// Names gives the group's display name.
	Names Names
	// Note is a short line for the viewer at the top of the card, such as
	// why their click changed nothing.
	Note string
}

// breakGlassBanner marks the approval card of a break-glass grant: granted
// without approval, and where its review stands.
func breakGlassBanner(req *access.Request) Element {
	return box("warning", append([]Element{stateLine(access.BreakGlassReason, "Warning")}, reviewState(req.Grant)...)...)
}

// reviewState says where a break-glass grant's review stands.
func reviewState(g *access.Grant) []Element {
	rv := g.Review
	switch {
	case !rv.At.IsZero():
		out := []Element{rich(bold("Reviewed by "), bold(oneLine(rv.By.Name, maxLine))), subtle("at " + when(rv.At))}
		if rv.Note != "" {
			out = append(out, rich(bold("Note: "), run(block(rv.Note, maxReason))))
		}
		return out
	case g.Early.Kind == access.EndUnreviewed:
		return []Element{textBlock{Type: "TextBlock", Text: "Not reviewed in time: revoked by jitbot at " + when(g.Early.At), Wrap: true, Weight: "Bolder", Color: "Attention"}}
	}
	return []Element{subtle("Review by the security team due by " + when(g.ReviewBy))}
}

// Review is the card the security channel gets for a break-glass grant: who
// took which access without approval, for how long and why, where the
// review stands, Acknowledge (with an optional note) while it is
// unreviewed, and Revoke now (with a required reason) while the grant is
// active. Every click on it is checked by the bot.
func Review(req *access.Request, opts ReviewOptions) Card {
	g := req.Grant
	profile := oneLine(req.Profile, maxLine)
	c := newCard(heading("Break-glass access"))
	if opts.Note != "" {
		c.Body = append(c.Body, textBlock{Type: "TextBlock", Text: inert(truncate(opts.Note, maxReason)), Wrap: true, Weight: "Bolder", Color: "Warning", Spacing: "Small"})
	}
	c.Body = append(c.Body, box("attention",
		stateLine(access.BreakGlassReason, "Attention"),
		rich(who(req.Requester), run(" took "), bold(profile), run(" under break-glass, without an approver.")),
	))
	c.Body = append(c.Body, box("emphasis", reviewState(g)...))
	fs := []Fact{TextFact("User", req.Requester.Name), TextFact("Object id", orDash(req.Requester.ObjectID))}
	fs = append(fs, groupFacts(req.GroupID, opts.Names)...)
	fs = append(fs, TextFact("Profile", req.Profile), TextFact("Duration", FormatDuration(req.Duration)))
	if req.Ticket != "" {
		fs = append(fs, TextFact("Ticket", req.Ticket))
	}
	fs = append(fs, TimeFact("Granted", g.ApprovedAt), TimeFact("Until", g.ExpiresAt), TimeFact("Review due", g.ReviewBy))
	switch {
	case g.Early.Kind != "":
		fs = append(fs, TextFact("Access", "ended early"))
	case req.State == access.RequestExpired:
		fs = append(fs, TextFact("Access", "ended"))
	}
	fs = append(fs, TextFact("Request", req.ID))
	c.Body = append(c.Body, facts(fs...), label("Justification"), justification(req.Justification))
	if g.Review.At.IsZero() {
		c.Body = append(c.Body, inputText{
			Type: "Input.Text", ID: InputReviewNote, Label: "Review note (optional; audited)",
			Placeholder: "What you checked", MaxLength: maxReason, Spacing: "Medium",
		})
		ack := requestAction("Acknowledge", VerbAcknowledge, req.ID)
		ack.AssociatedInputs = "auto"
		c.Actions = append(c.Actions, ack)
	}
	before := len(c.Actions)
	addRevokeNow(&c, req)
	for i := before; i < len(c.Actions); i++ {
		if a, ok := c.Actions[i].(executeAction); ok {
			a.Data[DataCard] = CardReview
			c.Actions[i] = a
		}
	}
	return c
}

// breakGlassProfileLine tells, on the profiles card, that a profile grants
// at once and how it is reviewed.
func breakGlassProfileLine(p access.Profile) textBlock {
	text := "Break-glass: granted at once without approval; the security team is alerted and reviews it within " + FormatDuration(access.ReviewWithinOf(p)) + "."
	if p.RevokeIfUnreviewed {
		text += " Unreviewed by then, it is revoked."
	}
	return textBlock{Type: "TextBlock", Text: text, Wrap: true, Color: "Warning", Spacing: "Small"}
}

// ReviewSummary is the plain text of the review card, for notifications and
// clients that show no card.
func ReviewSummary(req *access.Request) string {
	return "Break-glass: " + req.Requester.Name + " took " + req.Profile + " (" + access.FormatDuration(req.Duration) + ") without approval; review due by " +
		access.FormatTime(req.Grant.ReviewBy) + "."
}
