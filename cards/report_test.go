package cards

import (
	"math"
	"strings"
	"testing"
	"time"

	"github.com/jitbot/jitbot/access"
)

var reportSince = requestedAt.AddDate(0, 0, -7)

const downloadURL = "https://jitbot.example.com/api/audit/download/eyJpZCI6IkwxIn0.c2ln"

func reportFixture() *access.Report {
	return &access.Report{
		Since: reportSince, Until: requestedAt,
		Requests: 12, Grants: 8, Denials: 2, Closed: 1, Pending: 1, Failed: 1, ApprovalRate: 0.8,
		Decisions: []access.DecisionTimes{
			{Profile: "prod-db", Count: 7, Median: 4 * time.Minute, P90: 38 * time.Minute},
			{Profile: "staging-admin", Count: 3, Median: 90 * time.Second, P90: 5 * time.Minute},
		},
		Accesses: 6, MedianAccess: 2 * time.Hour, LongestAccess: 4 * time.Hour,
		TopRequesters: []access.PersonCount{{Person: access.Person{ObjectID: "u1", Name: "Jane Responder"}, Count: 7}, {Person: access.Person{ObjectID: "u2", Name: "Riley Oncall"}, Count: 5}},
		TopApprovers:  []access.PersonCount{{Person: access.Person{ObjectID: "u3", Name: "Alex Approver"}, Count: 10}},
		Irrevocable:   1, Drift: 2,
		BreakGlass:   access.BreakGlassCounts{Grants: 3, Reviewed: 1, RevokedUnreviewed: 1, Unreviewed: 1},
		AutoApproved: 4, ForceApproved: 1, Extensions: 2, SelfExtensions: 3,
		Feedback: access.FeedbackCounts{Answers: 5, UsefulYes: 3, UsefulPartly: 1, UsefulNo: 1, FastEnough: 4, NotFastEnough: 1, Comments: 2},
		Link:     access.DownloadLink{ID: "L1", UserID: "u9", Since: reportSince, Until: requestedAt, ExpiresAt: requestedAt.Add(access.DownloadLinkTTL)},
	}
}

func reportGoldens() map[string]Card {
	empty := &access.Report{Since: reportSince, Until: requestedAt, Profile: "prod-db", ApprovalRate: math.NaN(),
		Link: access.DownloadLink{ExpiresAt: requestedAt.Add(access.DownloadLinkTTL)}}
	hostile := reportFixture()
	hostile.TopRequesters[0].Person.Name = hostileName
	hostile.Decisions[0].Profile = "prod-db [x](https://evil.example)"
	return map[string]Card{
		"audit_report":         Report(reportFixture(), ReportOptions{DownloadURL: downloadURL}),
		"audit_report_empty":   Report(empty, ReportOptions{DownloadURL: downloadURL}),
		"audit_report_no_link": Report(reportFixture(), ReportOptions{}),
		"audit_report_hostile": Report(hostile, ReportOptions{DownloadURL: downloadURL}),
	}
}

// TestReportCard: the report shows what a security team checks (counts,
// the approval rate, decision times per profile, irrevocable grants and
// drift), and its one button opens the download link.
func TestReportCard(t *testing.T) {
	m := decode(t, Report(reportFixture(), ReportOptions{DownloadURL: downloadURL}))
	text := strings.Join(strs(m), "\n")
	for _, want := range []string{"Audit report", "80%", "median 4m, p90 38m (7 decided)", "median 1m30s, p90 5m (3 decided)",
		"Jane Responder", "10 decisions", "Grants that could not be removed (irrevocable)", "yes 3, partly 1, no 1", "works once, for you only",
		"3 (1 reviewed, 1 revoked unreviewed, 1 not reviewed)", "went without a review"} {
		if !strings.Contains(text, want) {
			t.Errorf("report card lacks %q", want)
		}
	}
	bs := buttons(m)
	if len(bs) != 1 || bs[0]["type"] != "Action.OpenUrl" || bs[0]["title"] != DownloadTitle || bs[0]["url"] != downloadURL {
		t.Errorf("buttons %v, want one Action.OpenUrl to the link", bs)
	}
	if bs := buttons(decode(t, Report(reportFixture(), ReportOptions{}))); len(bs) != 0 {
		t.Errorf("without a public URL: buttons %v", bs)
	}
	empty := strings.Join(strs(decode(t, reportGoldens()["audit_report_empty"])), "\n")
	if !strings.Contains(empty, "Approval rate") || !strings.Contains(empty, "—") || strings.Contains(empty, "NaN") {
		t.Errorf("an empty period's approval rate is not a dash:\n%s", empty)
	}
	if strings.Contains(empty, "went without a review") || strings.Contains(empty, "not reviewed") {
		t.Errorf("an empty period warns of unreviewed break-glass grants:\n%s", empty)
	}
	facts := map[string]string{}
	for _, f := range factsOf(m) {
		facts[f[0]] = f[1]
	}
	for k, v := range map[string]string{"Auto-approved (on-call)": "4", "Force-approved by an admin": "1", "Extensions approved": "2", "Self-extensions": "3"} {
		if facts[k] != v {
			t.Errorf("fact %q = %q, want %q", k, facts[k], v)
		}
	}
}

// factsOf returns the title and value of every fact of the card's fact sets.
func factsOf(m map[string]any) [][2]string {
	var out [][2]string
	walk(m, "$", "refresh", func(_ string, obj map[string]any) {
		if obj["type"] != "FactSet" {
			return
		}
		fs, _ := obj["facts"].([]any)
		for _, f := range fs {
			fm, _ := f.(map[string]any)
			title, _ := fm["title"].(string)
			value, _ := fm["value"].(string)
			out = append(out, [2]string{title, value})
		}
	})
	return out
}
