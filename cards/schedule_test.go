package cards

import (
	"encoding/json"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/jitbot/jitbot/access"
)

// startsAt is the start of the scheduled fixtures: 22:00 in Berlin on the
// day of the request (21:00 UTC), 6h 55m after it was asked.
var startsAt = time.Date(2026, 11, 23, 21, 0, 0, 0, time.UTC)

func init() {
	fixtureStamps["2026-11-23T21:00:00Z"] = true // startsAt
	fixtureStamps["2026-11-23T23:00:00Z"] = true // startsAt + 2h
}

func scheduledPending() *access.Request {
	r := pendingRequest()
	r.ID = "req-0700"
	r.StartsAt, r.StartZone = startsAt, "Europe/Berlin"
	return r
}

func scheduledApproved() *access.Request {
	r := scheduledPending()
	r.State, r.ApprovedAhead = access.RequestScheduled, true
	r.Decisions = []access.Decision{{Approver: approver, Verdict: access.Approve, DecidedAt: decidedAt}}
	return r
}

func scheduledRevoked() *access.Request {
	r := scheduledApproved()
	r.State = access.RequestDenied
	r.Decisions = append(r.Decisions, access.Decision{Approver: approver, Verdict: access.Deny, Reason: "The maintenance window moved to Friday.", DecidedAt: decidedAt.Add(time.Hour)})
	return r
}

func scheduledMissed() *access.Request {
	r := scheduledApproved()
	r.State = access.RequestTimedOut
	return r
}

func scheduleGoldens() map[string]Card {
	prod := profileProdDB()
	requester := access.Viewer{Requester: true, May: access.CanCancel}
	return map[string]Card{
		"approval_scheduled_pending":   Approval(scheduledPending(), prod, refreshUsers),
		"approval_scheduled":           Approval(scheduledApproved(), prod, refreshUsers),
		"approval_scheduled_requester": Approval(scheduledApproved(), prod, viewed(requester, "")),
		"approval_scheduled_revoked":   Approval(scheduledRevoked(), prod, refreshUsers),
		"approval_scheduled_missed":    Approval(scheduledMissed(), prod, refreshUsers),
		"submitted_scheduled":          Submitted(scheduledPending(), nil),
		"status_scheduled":             Status([]access.Request{*activeRequest(), *scheduledApproved()}, nil, StatusOptions{}),
		"notice_approved_scheduled":    NoticeCard(scheduledApproved(), access.Notice{Kind: access.NoticeApproved}, nil),
		"notice_revoked_before_start":  NoticeCard(scheduledRevoked(), access.Notice{Kind: access.NoticeDenied}, nil),
		"notice_start_missed":          NoticeCard(scheduledMissed(), access.Notice{Kind: access.NoticeTimedOut}, nil),
	}
}

// text is every text of a card, joined: what a reader of it sees.
func text(t *testing.T, c Card) string {
	t.Helper()
	raw, err := json.Marshal(c)
	if err != nil {
		t.Fatal(err)
	}
	return visible(string(raw))
}

// The start is said in the viewer's own time, in the requester's zone and
// UTC, and how long after the request it comes; the approved card says
// nothing is granted before it, and each viewer gets the buttons of a
// request approved ahead: the approvers Revoke now, the requester Cancel.
func TestScheduledCards(t *testing.T) {
	g := scheduleGoldens()
	for _, name := range []string{"approval_scheduled_pending", "approval_scheduled", "submitted_scheduled", "status_scheduled", "notice_approved_scheduled"} {
		got := text(t, g[name])
		for _, want := range []string{"Starts", "{{DATE(2026-11-23T21:00:00Z, SHORT)}} {{TIME(2026-11-23T21:00:00Z)}}", "22:00 on 23 Nov 2026 Europe/Berlin (21:00 UTC)"} {
			if !strings.Contains(got, want) {
				t.Errorf("%s: %q missing", name, want)
			}
		}
	}
	if got := text(t, g["approval_scheduled_pending"]); !strings.Contains(got, "in 6h 55m from the request") {
		t.Errorf("pending card does not say how far ahead the start is")
	}
	approved := text(t, g["approval_scheduled"])
	for _, want := range []string{"Approved: starts at", "Nothing is in the group yet", "{{TIME(2026-11-23T23:00:00Z)}}"} {
		if !strings.Contains(approved, want) {
			t.Errorf("approved card: %q missing", want)
		}
	}
	if v := verbs(t, g["approval_scheduled"]); !slices.Equal(v, []string{VerbRevokeNow}) {
		t.Errorf("approvers' buttons = %v, want Revoke now only", v)
	}
	if v := verbs(t, g["approval_scheduled_requester"]); !slices.Equal(v, []string{VerbCancel}) {
		t.Errorf("requester's buttons = %v, want Cancel only", v)
	}
	if v := verbs(t, g["status_scheduled"]); !slices.Contains(v, VerbCancel) {
		t.Errorf("status buttons = %v, want the scheduled request's Cancel", v)
	}
	if s := text(t, g["status_scheduled"]); !strings.Contains(s, statusScheduled) || !strings.Contains(s, "Approved, starts at") {
		t.Errorf("status card does not list the scheduled access under its heading")
	}
	if v := verbs(t, g["approval_scheduled_revoked"]); len(v) != 0 {
		t.Errorf("revoked card has buttons %v", v)
	}
	if s := text(t, g["approval_scheduled_revoked"]); !strings.Contains(s, "Revoked before its start by ") {
		t.Errorf("revoked card does not say it was revoked before its start")
	}
	if s := text(t, g["notice_start_missed"]); !strings.Contains(s, "nothing was granted") {
		t.Errorf("missed notice does not say nothing was granted")
	}
	// An ordinary request has no start fact.
	if s := text(t, Approval(pendingRequest(), profileProdDB(), refreshUsers)); strings.Contains(s, "Starts") {
		t.Errorf("an ordinary request's card names a start")
	}
}
