package access_test

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/jitbot/jitbot/access"
)

const auditGroup = "aaaaaaaa-0000-4000-8000-0000000000a0"

// readerEnv is an env whose audit readers are the members of auditGroup,
// sam among them.
func readerEnv(t *testing.T, store storeKind) *env {
	e := newEnv(t, store)
	if err := e.dir.SetMember(context.Background(), auditGroup, sam.ObjectID); err != nil {
		t.Fatal(err)
	}
	e.openWith(func(c *access.Config) { c.AuditReaderGroups = []string{auditGroup} })
	return e
}

func (e *env) actions(a access.Action) []access.AuditEvent {
	e.t.Helper()
	evs, err := e.store.Audit(context.Background(), access.AuditFilter{})
	if err != nil {
		e.t.Fatal(err)
	}
	var out []access.AuditEvent
	for _, ev := range evs {
		if ev.Action == a {
			out = append(out, ev)
		}
	}
	return out
}

// TestAuditReport: an audit reader's report counts the period's grants and
// denials, times the decisions per profile, and ranks requesters and
// approvers; it is audited, and its download link is the reader's for ten
// minutes.
func TestAuditReport(t *testing.T) {
	forEachStore(t, func(t *testing.T, store storeKind) {
		e := readerEnv(t, store)
		ctx := context.Background()
		first := e.submit(riley, time.Hour)
		e.clock.Advance(3 * time.Minute)
		if _, err := e.decide(first.ID, alex, access.Approve, "ok"); err != nil {
			t.Fatal(err)
		}
		e.clock.Advance(time.Hour)
		if _, err := e.svc.Work(ctx); err != nil {
			t.Fatal(err)
		}
		if _, err := e.svc.Feedback(ctx, access.FeedbackInput{TenantID: tenant, RequestID: first.ID, Who: riley,
			Useful: string(access.UsefulPartly), FastEnough: access.AnswerNo, Comment: "approval took a while"}); err != nil {
			t.Fatalf("feedback: %v", err)
		}
		second := e.submit(riley, time.Hour)
		e.clock.Advance(10 * time.Minute)
		if _, err := e.decide(second.ID, alex, access.Deny, "not now"); err != nil {
			t.Fatal(err)
		}
		e.clock.Advance(time.Minute)
		e.submit(riley, time.Hour) // pending
		for _, ev := range []access.AuditEvent{
			{At: e.clock.Now(), Actor: access.System, Action: access.ActionIrrevocable, Profile: "prod-db"},
			{At: e.clock.Now(), Actor: access.System, Action: access.ActionDriftFound, Profile: "prod-db"},
			{At: e.clock.Now(), Actor: access.System, Action: access.ActionDriftFound, Profile: "other"},
			{At: start.AddDate(0, 0, -8), Actor: access.System, Action: access.ActionDriftFound, Profile: "prod-db"},
		} {
			if err := e.store.AppendAudit(ctx, ev); err != nil {
				t.Fatal(err)
			}
		}
		e.clock.Advance(time.Minute)

		rep, err := e.svc.AuditReport(ctx, access.ReportInput{TenantID: tenant, Who: sam, Private: true})
		if err != nil {
			t.Fatal(err)
		}
		now := e.clock.Now()
		if !rep.Until.Equal(now) || !rep.Since.Equal(now.AddDate(0, 0, -7)) {
			t.Errorf("default period %v..%v, want the 7 days to %v", rep.Since, rep.Until, now)
		}
		if rep.Requests != 3 || rep.Grants != 1 || rep.Denials != 1 || rep.Pending != 1 || rep.ApprovalRate != 0.5 {
			t.Errorf("counts: %+v", rep)
		}
		if len(rep.Decisions) != 1 || rep.Decisions[0] != (access.DecisionTimes{Profile: "prod-db", Count: 2, Median: 3 * time.Minute, P90: 10 * time.Minute}) {
			t.Errorf("decision times: %+v", rep.Decisions)
		}
		if rep.Accesses != 1 || rep.MedianAccess != time.Hour || rep.LongestAccess != time.Hour {
			t.Errorf("access durations: %d %v %v", rep.Accesses, rep.MedianAccess, rep.LongestAccess)
		}
		if len(rep.TopRequesters) != 1 || rep.TopRequesters[0] != (access.PersonCount{Person: riley, Count: 3}) ||
			len(rep.TopApprovers) != 1 || rep.TopApprovers[0] != (access.PersonCount{Person: alex, Count: 2}) {
			t.Errorf("top: %+v %+v", rep.TopRequesters, rep.TopApprovers)
		}
		if rep.Feedback != (access.FeedbackCounts{Answers: 1, UsefulPartly: 1, NotFastEnough: 1, Comments: 1}) {
			t.Errorf("feedback counts: %+v", rep.Feedback)
		}
		if rep.Irrevocable != 1 || rep.Drift != 2 {
			t.Errorf("irrevocable %d, drift %d in the period, want 1 and 2", rep.Irrevocable, rep.Drift)
		}
		if rep.Link.UserID != sam.ObjectID || rep.Link.ID == "" || !rep.Link.ExpiresAt.Equal(now.Add(access.DownloadLinkTTL)) {
			t.Errorf("link %+v", rep.Link)
		}
		if viewed := e.actions(access.ActionReportViewed); len(viewed) != 1 || viewed[0].Actor != sam {
			t.Errorf("report not audited: %+v", viewed)
		}

		none, err := e.svc.AuditReport(ctx, access.ReportInput{TenantID: tenant, Who: sam, Profile: "other", Private: true})
		if err != nil || none.Requests != 0 || len(none.Decisions) != 0 || none.Drift != 1 || none.Irrevocable != 0 {
			t.Errorf("report of another profile: %+v %v", none, err)
		}
		if _, err := e.svc.AuditReport(ctx, access.ReportInput{TenantID: tenant, Who: sam, Period: "2026-11-30..2026-11-01", Private: true}); !errors.Is(err, access.ErrInvalidInput) {
			t.Errorf("reversed period: %v", err)
		}
	})
}

// TestAuditReportRefusesNonReaders: someone outside the reader groups is
// refused politely and the refusal is audited; with no reader groups
// configured, nobody may read reports.
func TestAuditReportRefusesNonReaders(t *testing.T) {
	forEachStore(t, func(t *testing.T, store storeKind) {
		e := readerEnv(t, store)
		ctx := context.Background()
		_, err := e.svc.AuditReport(ctx, access.ReportInput{TenantID: tenant, Who: eve, Period: "30d", Private: true, ConversationID: "a:eve", ActivityID: "m-1"})
		var r *access.Refusal
		if !errors.As(err, &r) || !errors.Is(err, access.ErrNotAuditReader) {
			t.Fatalf("non-reader: %v", err)
		}
		refused := e.actions(access.ActionReportRefused)
		if len(refused) != 1 || refused[0].Actor != eve || refused[0].ConversationID != "a:eve" {
			t.Errorf("refusal audit: %+v", refused)
		}
		if len(e.actions(access.ActionReportViewed)) != 0 {
			t.Error("a refused report was recorded as viewed")
		}

		e.openWith(nil) // no reader groups
		if _, err := e.svc.AuditReport(ctx, access.ReportInput{TenantID: tenant, Who: sam, Private: true}); !errors.Is(err, access.ErrNotAuditReader) {
			t.Errorf("without reader groups: %v, want ErrNotAuditReader", err)
		}
		if _, err := e.svc.AuditReport(ctx, access.ReportInput{TenantID: "99999999-9999-4999-8999-999999999999", Who: sam}); !errors.Is(err, access.ErrWrongTenant) {
			t.Errorf("other tenant: %v", err)
		}
	})
}

// TestRedeemDownload: a link works once, within ten minutes, for a person
// who still is an audit reader; its use is audited, and so is the refusal
// of a reader who left, which spends the link. Replays of a used or expired
// link are refused without adding to the audit log.
func TestRedeemDownload(t *testing.T) {
	forEachStore(t, func(t *testing.T, store storeKind) {
		e := readerEnv(t, store)
		ctx := context.Background()
		report := func() access.DownloadLink {
			rep, err := e.svc.AuditReport(ctx, access.ReportInput{TenantID: tenant, Who: sam, Private: true})
			if err != nil {
				t.Fatal(err)
			}
			return rep.Link
		}
		link := report()
		if err := e.svc.RedeemDownload(ctx, link); err != nil {
			t.Fatalf("first use: %v", err)
		}
		for i := 0; i < 3; i++ {
			if err := e.svc.RedeemDownload(ctx, link); !errors.Is(err, access.ErrLinkUsed) {
				t.Errorf("another use: %v, want ErrLinkUsed", err)
			}
		}
		expired := report()
		e.clock.Advance(access.DownloadLinkTTL)
		if err := e.svc.RedeemDownload(ctx, expired); !errors.Is(err, access.ErrLinkExpired) {
			t.Errorf("after ten minutes: %v, want ErrLinkExpired", err)
		}
		left := report()
		if err := e.dir.RemoveMember(ctx, auditGroup, sam.ObjectID); err != nil {
			t.Fatal(err)
		}
		if err := e.svc.RedeemDownload(ctx, left); !errors.Is(err, access.ErrNotAuditReader) {
			t.Errorf("reader removed from the group: %v, want ErrNotAuditReader", err)
		}
		for i := 0; i < 5; i++ {
			if err := e.svc.RedeemDownload(ctx, left); !errors.Is(err, access.ErrLinkUsed) {
				t.Errorf("replay of the spent link: %v, want ErrLinkUsed", err)
			}
		}
		if got := e.actions(access.ActionDownloaded); len(got) != 1 || got[0].Actor.ObjectID != sam.ObjectID {
			t.Errorf("downloads audited: %+v", got)
		}
		if got := e.actions(access.ActionDownloadRefused); len(got) != 1 || !strings.Contains(got[0].Reason, "not an audit reader") {
			t.Errorf("refused downloads audited: %+v, want the one of the reader who left", got)
		}
	})
}

func TestParsePeriod(t *testing.T) {
	now := time.Date(2026, 12, 1, 10, 30, 0, 0, time.UTC)
	day := func(m time.Month, d int) time.Time { return time.Date(2026, m, d, 0, 0, 0, 0, time.UTC) }
	for _, c := range []struct {
		in           string
		since, until time.Time
	}{
		{"", now.AddDate(0, 0, -7), now},
		{"7d", now.AddDate(0, 0, -7), now},
		{"30D", now.AddDate(0, 0, -30), now},
		{"2026-11-01..2026-11-30", day(11, 1), day(12, 1)},
		{"2026-11-05..2026-11-05", day(11, 5), day(11, 6)},
	} {
		s, u, err := access.ParsePeriod(c.in, now)
		if err != nil || !s.Equal(c.since) || !u.Equal(c.until) {
			t.Errorf("ParsePeriod(%q) = %v..%v %v, want %v..%v", c.in, s, u, err, c.since, c.until)
		}
	}
	for _, bad := range []string{"0d", "400d", "7", "week", "2026-11-30..2026-11-01", "2026-11-01..", "2025-01-01..2026-06-01"} {
		if _, _, err := access.ParsePeriod(bad, now); !errors.Is(err, access.ErrInvalidInput) {
			t.Errorf("ParsePeriod(%q): %v, want ErrInvalidInput", bad, err)
		}
	}
}

func TestPercentile(t *testing.T) {
	ds := func(ms ...int) []time.Duration {
		var out []time.Duration
		for _, m := range ms {
			out = append(out, time.Duration(m)*time.Minute)
		}
		return out
	}
	for _, c := range []struct {
		in     []time.Duration
		p      int
		wantMs int
	}{
		{ds(1, 2, 3, 4), 50, 2}, {ds(1, 2, 3), 50, 2}, {ds(1, 2, 3, 4, 5, 6, 7, 8, 9, 10), 90, 9}, {ds(5), 90, 5}, {nil, 50, 0},
	} {
		if got := access.Percentile(c.in, c.p); got != time.Duration(c.wantMs)*time.Minute {
			t.Errorf("Percentile(%v, %d) = %v, want %dm", c.in, c.p, got, c.wantMs)
		}
	}
}
