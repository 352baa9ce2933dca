package cards

import (
	"github.com/jitbot/jitbot/access"
)

// Feedback is the card a requester gets once their access ended by expiry:
// "Did this access let you do what you needed?" (yes, partly, no), "Was
// approval fast enough?" (yes, no) and an optional comment, sent with one
// button (verb feedback, the request id in its data).
func Feedback(req *access.Request) Card {
	c := newCard(
		heading("Your access to "+oneLine(req.Profile, maxLine)+" has ended"),
		para("Two quick questions, answered once: they help the people who run jitbot see whether access and approvals work for you."),
		facts(feedbackFacts(req)...),
		inputChoiceSet{
			Type:         "Input.ChoiceSet",
			ID:           InputUseful,
			Label:        "Did this access let you do what you needed?",
			Style:        "expanded",
			IsRequired:   true,
			ErrorMessage: "Choose yes, partly or no.",
			Choices: []choice{
				{Title: "Yes", Value: string(access.UsefulYes)},
				{Title: "Partly", Value: string(access.UsefulPartly)},
				{Title: "No", Value: string(access.UsefulNo)},
			},
			Spacing: "Medium",
		},
		inputChoiceSet{
			Type:         "Input.ChoiceSet",
			ID:           InputFastEnough,
			Label:        "Was approval fast enough?",
			Style:        "expanded",
			IsRequired:   true,
			ErrorMessage: "Choose yes or no.",
			Choices: []choice{
				{Title: "Yes", Value: access.AnswerYes},
				{Title: "No", Value: access.AnswerNo},
			},
			Spacing: "Medium",
		},
		inputText{
			Type:        "Input.Text",
			ID:          InputComment,
			Label:       "Comment (optional)",
			Placeholder: "What was missing, or what would have helped?",
			IsMultiline: true,
			MaxLength:   maxComment,
			Spacing:     "Medium",
		},
	)
	c.Actions = []Action{requestAction("Send feedback", VerbFeedback, req.ID)}
	return c
}

// FeedbackRecorded replaces the feedback card once the requester answered:
// their answers, read-only.
func FeedbackRecorded(req *access.Request) Card {
	c := newCard(textBlock{Type: "TextBlock", Text: "Thank you for your feedback", Wrap: true, Size: "Medium", Weight: "Bolder", Color: "Good"})
	fs := feedbackFacts(req)
	if f := req.Feedback; f != nil {
		fast := "No"
		if f.FastEnough {
			fast = "Yes"
		}
		fs = append(fs,
			TextFact("Access served you", usefulTitle(f.Useful)),
			TextFact("Approval fast enough", fast),
			TimeFact("Answered", f.At),
		)
	}
	c.Body = append(c.Body, facts(fs...))
	if f := req.Feedback; f != nil && f.Comment != "" {
		c.Body = append(c.Body, label("Comment"), rich(run(block(f.Comment, maxComment))))
	}
	return c
}

// feedbackFacts names the access the feedback is about.
func feedbackFacts(req *access.Request) []Fact {
	fs := []Fact{TextFact("Profile", req.Profile)}
	if req.Ticket != "" {
		fs = append(fs, TextFact("Ticket", req.Ticket))
	}
	fs = append(fs, TimeFact("Requested", req.CreatedAt))
	if g := req.Grant; g != nil {
		fs = append(fs, TimeFact("Approved", g.ApprovedAt), TimeFact("Ended", g.RevokedAt))
	}
	return append(fs, TextFact("Request", req.ID))
}

func usefulTitle(u access.FeedbackUseful) string {
	switch u {
	case access.UsefulYes:
		return "Yes"
	case access.UsefulPartly:
		return "Partly"
	case access.UsefulNo:
		return "No"
	}
	return string(u)
}
