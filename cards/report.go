package cards

import (
	"fmt"
	"math"
	"strconv"

	"github.com/jitbot/jitbot/access"
)

// DownloadTitle is the title of the report card's download button.
const DownloadTitle = "Download CSV"

// openURLAction is an Action.OpenUrl button.
type openURLAction struct {
	Type  string `json:"type"`
	Title string `json:"title"`
	URL   string `json:"url"`
}

func (openURLAction) isAction() {}

// ReportOptions says how the report card links its CSV.
type ReportOptions struct {
	// DownloadURL is the signed, single-use link to the report's CSV; ""
	// leaves the button out and says why (no public_url configured).
	DownloadURL string
}

// Report is the audit report card an audit reader gets for `audit`: the
// period's grants, denials and approval rate, the policy's exceptions
// (break-glass grants and their reviews, auto- and force-approvals,
// extensions), the time approvers took per
// profile, how long access was held, who asked and who decided most,
// irrevocable grants and drift findings, the requesters' feedback, and a
// Download CSV button (Action.OpenUrl) to the grants view of the same
// requests. Names are shown inert; times in each viewer's time zone.
func Report(r *access.Report, opts ReportOptions) Card {
	scope := "All profiles"
	if r.Profile != "" {
		scope = "Profile " + oneLine(r.Profile, maxLine)
	}
	c := newCard(heading("Audit report"), subtle(scope+"; requests made between the two times below."),
		facts(TimeFact("From", r.Since), TimeFact("Until", r.Until)))

	rate := "—"
	if !math.IsNaN(r.ApprovalRate) {
		rate = strconv.Itoa(int(math.Round(r.ApprovalRate*100))) + "%"
	}
	c.Body = append(c.Body, label("Requests"), facts(
		TextFact("Requests", strconv.Itoa(r.Requests)),
		TextFact("Granted", strconv.Itoa(r.Grants)),
		TextFact("Denied", strconv.Itoa(r.Denials)),
		TextFact("Approval rate", rate),
		TextFact("Closed as no longer valid", strconv.Itoa(r.Closed)),
		TextFact("Cancelled by the requester", strconv.Itoa(r.Cancelled)),
		TextFact("Expired without a decision", strconv.Itoa(r.TimedOut)),
		TextFact("Failed to grant", strconv.Itoa(r.Failed)),
		TextFact("Still pending", strconv.Itoa(r.Pending)),
	))

	bg := r.BreakGlass
	glass := strconv.Itoa(bg.Grants)
	if bg.Grants > 0 {
		glass = fmt.Sprintf("%d (%d reviewed, %d revoked unreviewed, %d not reviewed)", bg.Grants, bg.Reviewed, bg.RevokedUnreviewed, bg.Unreviewed)
	}
	c.Body = append(c.Body, label("Policy"), facts(
		TextFact("Break-glass grants", glass),
		TextFact("Auto-approved (on-call)", strconv.Itoa(r.AutoApproved)),
		TextFact("Force-approved by an admin", strconv.Itoa(r.ForceApproved)),
		TextFact("Extensions approved", strconv.Itoa(r.Extensions)),
		TextFact("Self-extensions", strconv.Itoa(r.SelfExtensions)),
	))
	if bg.RevokedUnreviewed > 0 || bg.Unreviewed > 0 {
		c.Body = append(c.Body, stateLine("Break-glass grants went without a review: look at the security channel's review alerts.", "Attention"))
	}

	c.Body = append(c.Body, label("Time to decision"))
	if len(r.Decisions) == 0 {
		c.Body = append(c.Body, subtle("No decisions in this period."))
	} else {
		var fs []Fact
		for _, d := range r.Decisions {
			fs = append(fs, TextFact(d.Profile, fmt.Sprintf("median %s, p90 %s (%d decided)", FormatDuration(d.Median), FormatDuration(d.P90), d.Count)))
		}
		c.Body = append(c.Body, facts(fs...))
	}

	c.Body = append(c.Body, label("Access held"))
	if r.Accesses == 0 {
		c.Body = append(c.Body, subtle("No access ended in this period."))
	} else {
		c.Body = append(c.Body, facts(
			TextFact("Ended grants", strconv.Itoa(r.Accesses)),
			TextFact("Median", FormatDuration(r.MedianAccess)),
			TextFact("Longest", FormatDuration(r.LongestAccess)),
		))
	}

	c.Body = append(c.Body, ranking("Top requesters", "requests", r.TopRequesters)...)
	c.Body = append(c.Body, ranking("Top approvers", "decisions", r.TopApprovers)...)

	security := stateLine("Nothing to look at.", "Good")
	if r.Irrevocable > 0 || r.Drift > 0 {
		security = stateLine("Look at the security channel's alerts of this period.", "Attention")
	}
	c.Body = append(c.Body, label("Security"), facts(
		TextFact("Grants that could not be removed (irrevocable)", strconv.Itoa(r.Irrevocable)),
		TextFact("Unexplained group members found (drift)", strconv.Itoa(r.Drift)),
	), security)

	f := r.Feedback
	c.Body = append(c.Body, label("Requester feedback"))
	if f.Answers == 0 {
		c.Body = append(c.Body, subtle("No feedback in this period."))
	} else {
		c.Body = append(c.Body, facts(
			TextFact("Answers", strconv.Itoa(f.Answers)),
			TextFact("Did what they needed", fmt.Sprintf("yes %d, partly %d, no %d", f.UsefulYes, f.UsefulPartly, f.UsefulNo)),
			TextFact("Approval fast enough", fmt.Sprintf("yes %d, no %d", f.FastEnough, f.NotFastEnough)),
			TextFact("Comments", strconv.Itoa(f.Comments)),
		))
	}

	if opts.DownloadURL == "" {
		c.Body = append(c.Body, subtle("No download link: the bot's public_url is not configured. Use `jitbot audit export` instead."))
		return c
	}
	c.Body = append(c.Body, subtle(fmt.Sprintf("The CSV link works once, for you only, until %s (%s).", when(r.Link.ExpiresAt), FormatDuration(access.DownloadLinkTTL))))
	c.Actions = []Action{openURLAction{Type: "Action.OpenUrl", Title: DownloadTitle, URL: opts.DownloadURL}}
	return c
}

// ranking lists people and their counts under a heading.
func ranking(title, what string, pcs []access.PersonCount) []Element {
	out := []Element{label(title)}
	if len(pcs) == 0 {
		return append(out, subtle("Nobody in this period."))
	}
	var fs []Fact
	for _, pc := range pcs {
		name := pc.Person.Name
		if name == "" {
			name = pc.Person.ObjectID
		}
		fs = append(fs, TextFact(name, fmt.Sprintf("%d %s", pc.Count, what)))
	}
	return append(out, facts(fs...))
}
