package cards

import (
	"github.com/jitbot/jitbot/access"
)

// The requester's notices: one small card for each thing that happens to
// their request, with its facts and times in the viewer's own time zone.
// NoticeCard is the one place that maps a notice to its card.

// NoticeCard is the card of a notice to the requester about req: received
// (the "request received" card, with Cancel), approved, denied (with the
// reason), closed (no longer valid), granted (the access granted card,
// with I'm done), failed, ended (expired, released or revoked early, or
// removed outside jitbot; n.Membership tells whether the membership was
// removed or left in place), timed out, and the feedback card. A kind
// without a card of its own shows the notice's text with the request's
// facts. names gives the group's display name.
func NoticeCard(req *access.Request, n access.Notice, names Names) Card {
	switch n.Kind {
	case access.NoticeReceived:
		return Submitted(req, names)
	case access.NoticeApproved:
		return approvedNotice(req, names)
	case access.NoticeDenied:
		return deniedNotice(req, names)
	case access.NoticeClosed:
		return closedNotice(req, names)
	case access.NoticeGranted:
		if req.Grant != nil {
			return Granted(req, names)
		}
	case access.NoticeFailed:
		return failedNotice(req, names)
	case access.NoticeRevoked:
		if req.Grant != nil {
			return endedNotice(req, n.Membership, names)
		}
	case access.NoticeTimedOut:
		return timedOutNotice(req, names)
	case access.NoticeFeedback:
		return Feedback(req)
	case access.NoticeExpiring:
		if req.Grant != nil {
			return ExpiryReminder(req, names)
		}
	case access.NoticeExtended:
		if req.Grant != nil {
			return Extended(req, names)
		}
	}
	return Notice(n.Text, noticeFacts(req, names)...)
}

// noticeTitle is a notice card's heading, in the colour of its news.
func noticeTitle(text, color string) textBlock {
	return textBlock{Type: "TextBlock", Text: text, Wrap: true, Size: "Medium", Weight: "Bolder", Color: color}
}

// noticeFacts are a notice's facts: the profile, the group, the duration
// and the ticket, then the times given, then the request id.
func noticeFacts(req *access.Request, names Names, times ...Fact) []Fact {
	fs := []Fact{TextFact("Profile", req.Profile)}
	fs = append(fs, groupFacts(req.GroupID, names)...)
	fs = append(fs, TextFact("Duration", FormatDuration(req.Duration)))
	if req.Ticket != "" {
		fs = append(fs, TextFact("Ticket", req.Ticket))
	}
	fs = append(fs, times...)
	return withStart(req, append(fs, TextFact("Request", req.ID)))
}

// decider names who decided: the approver, or jitbot.
func decider(d *access.Decision) textRun {
	if d == nil || d.Approver.ObjectID == access.System.ObjectID {
		return bold("jitbot")
	}
	return who(d.Approver)
}

// decisionTime is a fact of when the latest decision was made.
func decisionTime(title string, req *access.Request) Fact {
	if d := req.LastDecision(); d != nil {
		return TimeFact(title, d.DecidedAt)
	}
	return TimeFact(title, req.UpdatedAt)
}

// approvedNext says what follows an approval.
func approvedNext(req *access.Request) string {
	if req.State == access.RequestScheduled {
		return "Approved ahead: nothing is granted before the start below. jitbot adds you to the group then and tells you here; until then you may cancel it from `status`."
	}
	return "You are being added to the group; you will be told here as soon as the access is in place."
}

func approvedNotice(req *access.Request, names Names) Card {
	profile := oneLine(req.Profile, maxLine)
	c := newCard(noticeTitle("Request approved", "Good"),
		rich(decider(req.LastDecision()), run(" approved your request for "), bold(profile), run(".")),
		para(approvedNext(req)))
	var times []Fact
	switch {
	case req.Grant != nil:
		times = append(times, TimeFact("Until", req.Grant.ExpiresAt))
	case req.Scheduled():
		times = append(times, TimeFact("Until", req.StartsAt.Add(req.Duration)))
	}
	times = append(times, decisionTime("Approved", req))
	c.Body = append(c.Body, facts(noticeFacts(req, names, times...)...))
	return c
}

// extensionUnchanged is what a notice of an extension that was not granted
// says of the access it would have extended.
const extensionUnchanged = "Your access is unchanged: it still ends when it did, unless you extend it again."

func deniedNotice(req *access.Request, names Names) Card {
	profile := oneLine(req.Profile, maxLine)
	d := req.LastDecision()
	title, what, outcome := "Request denied", " denied your request for ", "Nothing was granted. Ask again if you still need access."
	if req.ExtendsRequestID != "" {
		title, what, outcome = "Extension denied", " denied your extension (+"+FormatDuration(req.Duration)+") of ", extensionUnchanged
	}
	if revokedBeforeStart(req) {
		title, what = "Revoked before its start", " revoked, before its start, your access to "
	}
	c := newCard(noticeTitle(title, "Attention"),
		rich(decider(d), run(what), bold(profile), run(".")))
	if d != nil && d.Reason != "" {
		c.Body = append(c.Body, label("Reason"), rich(run(block(d.Reason, maxReason))))
	}
	c.Body = append(c.Body, para(outcome),
		facts(noticeFacts(req, names, TimeFact("Requested", req.CreatedAt), decisionTime("Denied", req))...))
	return c
}

func closedNotice(req *access.Request, names Names) Card {
	profile := oneLine(req.Profile, maxLine)
	title, what, why, outcome := "Request closed", "Your request for ", " was closed without a decision: it no longer fits its profile as configured now.", "Nothing was granted. Ask again if you still need access."
	if req.ExtendsRequestID != "" {
		title, what, why, outcome = "Extension closed", "Your extension (+"+FormatDuration(req.Duration)+") of ", " was closed without a decision: the access it would extend can no longer be extended.", extensionUnchanged
	}
	c := newCard(noticeTitle(title, "Warning"),
		rich(run(what), bold(profile), run(why)))
	if d := req.LastDecision(); d != nil && d.Reason != "" {
		c.Body = append(c.Body, label("Why"), rich(run(block(d.Reason, maxReason))))
	}
	c.Body = append(c.Body, para(outcome),
		facts(noticeFacts(req, names, TimeFact("Requested", req.CreatedAt), decisionTime("Closed", req))...))
	return c
}

func failedNotice(req *access.Request, names Names) Card {
	profile := oneLine(req.Profile, maxLine)
	c := newCard(noticeTitle("Access could not be granted", "Attention"),
		rich(run("Your request for "), bold(profile), run(" was approved, but adding you to its group failed.")),
		para("Nothing was granted. Ask again, or tell your administrator."))
	if g := req.Grant; g != nil && g.LastError != "" {
		c.Body = append(c.Body, label("Error"), rich(textRun{Type: "TextRun", Text: block(g.LastError, maxError), FontType: "Monospace"}))
	}
	c.Body = append(c.Body, facts(noticeFacts(req, names, decisionTime("Approved", req))...))
	return c
}

// endedNotice is the card of a grant that ended: how (expired, released,
// revoked early with who and why, or removed outside jitbot) and what
// became of the membership.
func endedNotice(req *access.Request, membership access.MembershipOutcome, names Names) Card {
	g := req.Grant
	profile := oneLine(req.Profile, maxLine)
	c := newCard(noticeTitle("Access ended", "Default"))
	ended := g.RevokedAt
	switch {
	case membership == access.MembershipGone:
		c.Body = append(c.Body, rich(run("Your access to "), bold(profile), run(" has ended: you are no longer in its group (you were removed outside jitbot).")))
	case g.Early.Kind == access.EndReleased:
		c.Body = append(c.Body, rich(run("Your access to "), bold(profile), run(" has ended, as you asked.")))
	case g.Early.Kind.Revoked():
		c.Body = append(c.Body, rich(who(g.Early.By), run(" revoked your access to "), bold(profile), run(".")),
			label("Reason"), rich(run(block(g.Early.Reason, maxReason))))
	default:
		c.Body = append(c.Body, rich(run("Your temporary access to "), bold(profile), run(" has ended.")))
	}
	if ended.IsZero() {
		ended = g.Early.At
	}
	if ended.IsZero() {
		ended = g.ExpiresAt
	}
	switch membership {
	case access.MembershipRemoved:
		c.Body = append(c.Body, para("You were removed from its group."))
	case access.MembershipLeft:
		c.Body = append(c.Body, para("Your membership of its group was left in place: it pre-existed this grant, or another active grant still holds it."))
	}
	c.Body = append(c.Body, facts(noticeFacts(req, names, TimeFact("Granted until", g.ExpiresAt), TimeFact("Ended", ended))...))
	return c
}

func timedOutNotice(req *access.Request, names Names) Card {
	profile := oneLine(req.Profile, maxLine)
	at := req.DecideBy
	if at.IsZero() {
		at = req.UpdatedAt
	}
	title, what, outcome, next := "Request expired", "No approver decided your request for ", ", so it expired and nothing was granted.", "Ask again if you still need access."
	if req.ExtendsRequestID != "" {
		title, what, outcome, next = "Extension expired", "No approver decided your extension (+"+FormatDuration(req.Duration)+") of ", ", so it expired.", extensionUnchanged
	}
	if missedStart(req) {
		return newCard(noticeTitle("Not granted: its time passed", "Warning"),
			rich(run("Your access to "), bold(profile), run(" was approved, but jitbot was not running during its time, so nothing was granted.")),
			para(next),
			facts(noticeFacts(req, names, TimeFact("Until", req.StartsAt.Add(req.Duration)))...))
	}
	line := []textRun{run(what), bold(profile)}
	if !req.DecideBy.IsZero() {
		line = append(line, run(" within "+FormatDuration(req.DecideBy.Sub(req.CreatedAt))))
	}
	line = append(line, run(outcome))
	c := newCard(noticeTitle(title, "Warning"), rich(line...),
		para(next),
		facts(noticeFacts(req, names, TimeFact("Requested", req.CreatedAt), TimeFact("Expired", at))...))
	return c
}
