package cards

import (
	"reflect"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/jitbot/jitbot/access"
)

const prodGroupName = "Prod DB readers"

// namedGroups knows the display name of prod-db's group.
func namedGroups() Names {
	n := Names{}
	n.Set(profileProdDB().GroupID, prodGroupName)
	return n
}

func closedRequest() *access.Request {
	r := decided(access.RequestDenied, access.Deny, "No longer valid: the requester is no longer in a requester group of prod-db.")
	r.Decisions[0].Approver = access.System
	return r
}

func preExistingExpired() *access.Request {
	r := expiredRequest()
	r.Grant.PreExisting = true
	return r
}

// noticeCases are the requester's notices, one per kind and ending.
func noticeCases() map[string]struct {
	req    *access.Request
	notice access.Notice
	title  string
} {
	n := func(k access.NoticeKind) access.Notice {
		return access.Notice{Kind: k, Text: "plain text of " + string(k)}
	}
	ended := func(m access.MembershipOutcome) access.Notice {
		x := n(access.NoticeRevoked)
		x.Membership = m
		return x
	}
	return map[string]struct {
		req    *access.Request
		notice access.Notice
		title  string
	}{
		"notice_received":       {pendingRequest(), n(access.NoticeReceived), "Request sent to approvers"},
		"notice_approved":       {approvedRequest(), n(access.NoticeApproved), "Request approved"},
		"notice_denied":         {deniedRequest(), n(access.NoticeDenied), "Request denied"},
		"notice_closed":         {closedRequest(), n(access.NoticeClosed), "Request closed"},
		"notice_granted":        {activeRequest(), n(access.NoticeGranted), "Access granted"},
		"notice_failed":         {failedRequest(), n(access.NoticeFailed), "Access could not be granted"},
		"notice_ended_expired":  {expiredRequest(), ended(access.MembershipRemoved), "Access ended"},
		"notice_ended_left":     {preExistingExpired(), ended(access.MembershipLeft), "Access ended"},
		"notice_ended_released": {endedEarly(access.EndReleased, true), ended(access.MembershipRemoved), "Access ended"},
		"notice_ended_revoked":  {endedEarly(access.EndRevoked, true), ended(access.MembershipRemoved), "Access ended"},
		"notice_ended_gone":     {expiredRequest(), ended(access.MembershipGone), "Access ended"},
		"notice_timed_out":      {timedOutRequest(), n(access.NoticeTimedOut), "Request expired"},
		"notice_other_kind":     {activeRequest(), access.Notice{Kind: "some_future_kind", Text: "Your access to prod-db changed."}, ""},
	}
}

func noticeGoldens() map[string]Card {
	out := map[string]Card{}
	for name, tc := range noticeCases() {
		out[name] = NoticeCard(tc.req, tc.notice, namedGroups())
	}
	out["approval_group_named"] = Approval(pendingRequest(), profileProdDB(), ApprovalOptions{GroupName: prodGroupName})
	drift := driftUnnamedFixture()
	names := namedGroups()
	names.Set(drift.User.ObjectID, "Dana Drift")
	out["alert_drift_named"] = Alert(drift, names)
	irrevocable := irrevocableFixture()
	out["alert_irrevocable_named"] = Alert(irrevocable, names)
	reqs := []access.Request{*activeRequest(), *pendingRequest()}
	reqs[1].ID = "req-0004"
	out["status_named_note"] = Status(reqs, namedGroups(), StatusOptions{Note: "Your request for prod-db (2h) is cancelled; nothing was granted."})
	return out
}

var rawStamp = regexp.MustCompile(`\d{4}-\d{2}-\d{2}T\d{2}:\d{2}`)

// TestNoticeCards: every notice is its own card with the heading of its
// news, the group's display name and object id, the request id, and its
// times only as DATE/TIME functions (no bare timestamp a viewer would
// have to convert).
func TestNoticeCards(t *testing.T) {
	for name, tc := range noticeCases() {
		m := decode(t, NoticeCard(tc.req, tc.notice, namedGroups()))
		checkCommon(t, name, m)
		all := strs(m)
		text := strings.Join(all, "\n")
		if tc.title != "" {
			body := m["body"].([]any)
			if got := body[0].(map[string]any)["text"]; got != tc.title {
				t.Errorf("%s: heading %q, want %q", name, got, tc.title)
			}
		}
		for _, want := range []string{prodGroupName, tc.req.GroupID, tc.req.ID} {
			if tc.notice.Kind == access.NoticeFeedback {
				continue
			}
			if !strings.Contains(text, want) {
				t.Errorf("%s: card does not show %q", name, want)
			}
		}
		for _, s := range all {
			if strings.Contains(s, wordJoiner) {
				continue // typed text, shown inert (a typed timestamp is the typist's)
			}
			if rawStamp.MatchString(dateTimeCall.ReplaceAllString(s, "")) {
				t.Errorf("%s: %q shows a bare timestamp", name, s)
			}
		}
	}
}

// TestNoticeEndings: the ended notice says how the grant ended and what
// became of the membership.
func TestNoticeEndings(t *testing.T) {
	cs := noticeCases()
	for name, want := range map[string][]string{
		"notice_ended_expired":  {"Your temporary access to ", " has ended.", "You were removed from its group."},
		"notice_ended_left":     {"left in place"},
		"notice_ended_released": {" has ended, as you asked.", "You were removed from its group."},
		"notice_ended_revoked":  {"Alex Approver", " revoked your access to ", "Incident closed."},
		"notice_ended_gone":     {"removed outside jitbot"},
		"notice_denied":         {"Alex Approver", " denied your request for ", "Use the read replica instead."},
		"notice_closed":         {"was closed without a decision", "no longer in a requester group"},
		"notice_failed":         {"insufficient privileges"},
		"notice_timed_out":      {" within 1h", "nothing was granted"},
		"notice_other_kind":     {"Your access to prod-db changed."},
	} {
		tc := cs[name]
		text := visible(strings.Join(strs(decode(t, NoticeCard(tc.req, tc.notice, namedGroups()))), "\n"))
		for _, w := range want {
			if !strings.Contains(text, w) {
				t.Errorf("%s: card does not say %q:\n%s", name, w, text)
			}
		}
		if name != "notice_ended_left" && strings.Contains(text, "left in place") {
			t.Errorf("%s: says the membership was left in place", name)
		}
	}
}

// TestGroupFacts: without a name the group is its object id alone; with
// one, the name and the id; a name is shown inert.
func TestGroupFacts(t *testing.T) {
	id := profileProdDB().GroupID
	if got := groupFacts(id, nil); len(got) != 1 || got[0].value != id {
		t.Errorf("no name: %v", got)
	}
	n := Names{}
	n.Set(strings.ToUpper(id), "Evil [x](https://evil.example)")
	got := groupFacts(id, n)
	if len(got) != 2 || got[0].title != "Group" || strings.Contains(got[0].value, "](") || got[1].value != id {
		t.Errorf("named: %v", got)
	}
}

// TestStatusButtons: each pending request has Cancel and each active grant
// I'm done, inside its own container and marked as the status card's;
// within a heading the newest request comes first; a refusal and a note
// are lines at the top; nothing at all says so plainly.
func TestStatusButtons(t *testing.T) {
	older, newer := *pendingRequest(), *pendingRequest()
	older.ID, newer.ID = "req-old", "req-new"
	newer.CreatedAt = older.CreatedAt.Add(time.Minute)
	active := *activeRequest()
	ended := *expiredRequest()
	ended.State, ended.Grant.State, ended.ID = access.RequestActive, access.GrantRevoking, "req-ending"
	m := decode(t, Status([]access.Request{older, active, ended, newer}, nil, StatusOptions{Refused: "Only the person who asked can cancel."}))
	var got []string
	walk(m, "$", "", func(path string, obj map[string]any) {
		if obj["type"] != "Container" {
			return
		}
		var id string
		var titles []string
		for _, it := range obj["items"].([]any) {
			o := it.(map[string]any)
			if o["type"] == "FactSet" {
				for _, f := range o["facts"].([]any) {
					if f.(map[string]any)["title"] == "Request" {
						id = f.(map[string]any)["value"].(string)
					}
				}
			}
			if o["type"] == "ActionSet" {
				for _, a := range o["actions"].([]any) {
					b := a.(map[string]any)
					d := b["data"].(map[string]any)
					if b["type"] != "Action.Execute" || d[DataCard] != CardStatus || d[DataRequestID] != id {
						t.Errorf("%s: button %v", id, b)
					}
					titles = append(titles, b["title"].(string)+"/"+b["verb"].(string))
				}
			}
		}
		got = append(got, id+":"+strings.Join(titles, ","))
	})
	want := []string{"req-0001:I'm done/release", "req-ending:", "req-new:Cancel request/cancelRequest", "req-old:Cancel request/cancelRequest"}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("items = %q, want %q", got, want)
	}
	if m["actions"] != nil {
		t.Errorf("card-level actions %v", m["actions"])
	}
	if !strings.Contains(strings.Join(strs(m), "\n"), "Only the person who asked can cancel.") {
		t.Error("the refusal is not on the card")
	}
	empty := visible(strings.Join(strs(decode(t, Status(nil, nil, StatusOptions{}))), "\n"))
	if !strings.Contains(empty, "You have nothing pending and no active access.") || len(buttons(decode(t, Status(nil, nil, StatusOptions{})))) != 0 {
		t.Errorf("empty status = %s", empty)
	}
}
