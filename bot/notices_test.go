package bot_test

import (
	"context"
	"net/http"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/jitbot/jitbot/access"
	"github.com/jitbot/jitbot/bot"
	"github.com/jitbot/jitbot/cards"
	"github.com/jitbot/jitbot/graph/graphtest"
)

const prodGroupName = "Prod DB readers"

// rfc3339 matches a timestamp a person would have to convert.
var rfc3339 = regexp.MustCompile(`\d{4}-\d{2}-\d{2}T\d{2}:\d{2}`)

// personalNotices returns the activities the bot sent to riley's personal
// chat (the one riley wrote in, or else the one the bot opened): each
// one's summary and card.
func (w *world) personalNotices() (summaries []string, cardsSent []map[string]any) {
	conv := "a:personal-" + rileyID
	if opened := w.personalChatOf(rileyID); opened != "" {
		conv = opened
	}
	for _, a := range w.conn.Activities(conv) {
		s, _ := a.Fields()["summary"].(string)
		summaries = append(summaries, s)
		cardsSent = append(cardsSent, a.Card())
	}
	return summaries, cardsSent
}

// heading is a card's first line.
func heading(c map[string]any) string {
	body, _ := c["body"].([]any)
	if len(body) == 0 {
		return ""
	}
	s, _ := body[0].(map[string]any)["text"].(string)
	return s
}

// TestNoticesAreCardsInTheViewersTime: every notice of a request's life
// (received from a channel, approved, granted, ended, and the feedback
// question) reaches the requester as a card with the group's display name
// and times as DATE/TIME functions; its summary, what a notification
// shows, is plain text without an RFC 3339 stamp. The approval card shows
// the group's name too, and the name is looked up once for all of them.
func TestNoticesAreCardsInTheViewersTime(t *testing.T) {
	w := newWorld(t)
	w.graph.SetDisplayName(prodGroup, prodGroupName)
	// Asked in a channel: the "request received" card is a notice.
	msg, _ := w.channelMessage(riley, "request prod-db 2h INC-4711 checkout latency spike")
	if code, _ := w.post(msg); code != http.StatusOK {
		t.Fatalf("request: HTTP %d", code)
	}
	req := w.onlyRequest()
	_, approval := w.approvalThread()
	if c := cardJSON(approval); !strings.Contains(c, prodGroupName) || !strings.Contains(c, prodGroup) {
		t.Fatalf("approval card lacks the group's name and id: %s", c)
	}
	w.clock.Advance(time.Minute)
	if code, _ := w.post(w.click(alex, "approve", req.ID, nil)); code != http.StatusOK {
		t.Fatalf("approve: HTTP %d", code)
	}
	// Received, approval card, approved, granted, the card's update: one
	// lookup of the name.
	if n := w.nameLookups(); n != 1 {
		t.Errorf("%d name lookups, want 1: the name is cached", n)
	}
	w.clock.Advance(2 * time.Hour)
	if n, err := w.svc.Work(context.Background()); n != 1 || err != nil {
		t.Fatalf("expire: %d %v", n, err)
	}
	// Two hours later the name's hour in the cache is up: it is asked for
	// again, once.
	if n := w.nameLookups(); n != 2 {
		t.Errorf("%d name lookups after the TTL, want 2", n)
	}

	summaries, sent := w.personalNotices()
	want := []string{"Request sent to approvers", "Request approved", "Access granted", "Access ended", ""}
	if len(sent) != len(want) {
		t.Fatalf("%d notices, want %d: %q", len(sent), len(want), summaries)
	}
	for i, c := range sent {
		if c == nil {
			t.Fatalf("notice %d (%q) is not a card", i, summaries[i])
		}
		if want[i] != "" && heading(c) != want[i] {
			t.Errorf("notice %d: heading %q, want %q", i, heading(c), want[i])
		}
		if summaries[i] == "" || rfc3339.MatchString(summaries[i]) {
			t.Errorf("notice %d: summary %q is empty or has an RFC 3339 stamp", i, summaries[i])
		}
		js := cardJSON(c)
		if i < 4 && (!strings.Contains(js, prodGroupName) || !strings.Contains(js, req.ID)) {
			t.Errorf("notice %d lacks the group's name or the request id: %s", i, js)
		}
		if stripped := regexp.MustCompile(`\{\{(DATE|TIME)\([^)]*\)\}\}`).ReplaceAllString(js, ""); rfc3339.MatchString(stripped) {
			t.Errorf("notice %d shows a bare timestamp: %s", i, js)
		}
	}
	expires := start.Add(time.Minute + 2*time.Hour)
	if !strings.Contains(cardJSON(sent[1]), "{{TIME("+expires.Format("2006-01-02T15:04:05Z")+")}}") {
		t.Errorf("approved notice does not show the expiry in the viewer's time: %s", cardJSON(sent[1]))
	}
	if !strings.Contains(summaries[1], "until "+access.FormatTime(expires)) {
		t.Errorf("approved summary %q does not say until when in words", summaries[1])
	}
	if !strings.Contains(cardJSON(sent[3]), "You were removed from its group.") {
		t.Errorf("ended notice does not say the membership was removed: %s", cardJSON(sent[3]))
	}
}

// TestDeniedNoticeIsACard: a denial reaches the requester as a card with
// the approver and the reason, shown inert.
func TestDeniedNoticeIsACard(t *testing.T) {
	w := newWorld(t)
	w.post(w.message(riley, "request prod-db 1h INC-1 checkout is slow"))
	req := w.onlyRequest()
	w.post(w.click(alex, "deny", req.ID, map[string]any{"reason": "use [the replica](https://evil.example)"}))
	summaries, sent := w.personalNotices()
	last := sent[len(sent)-1]
	if heading(last) != "Request denied" {
		t.Fatalf("last notice %q: %s", summaries[len(sent)-1], cardJSON(last))
	}
	js := cardJSON(last)
	if !strings.Contains(js, "Alex Approver") || !strings.Contains(js, `use [the replica]\u2060(https://evil.example)`) && !strings.Contains(js, "use [the replica]\u2060(https://evil.example)") {
		t.Errorf("denied card lacks the approver or the inert reason: %s", js)
	}
}

// statusButtons returns the status card's buttons as "title/verb/request id".
func statusButtons(t *testing.T, card map[string]any) []string {
	t.Helper()
	var out []string
	var walk func(v any)
	walk = func(v any) {
		switch x := v.(type) {
		case map[string]any:
			if x["type"] == "ActionSet" {
				for _, a := range x["actions"].([]any) {
					b := a.(map[string]any)
					d := b["data"].(map[string]any)
					if d[cards.DataCard] != cards.CardStatus {
						t.Errorf("button %v is not marked as the status card's", b)
					}
					out = append(out, b["title"].(string)+"/"+b["verb"].(string)+"/"+d[cards.DataRequestID].(string))
				}
				return
			}
			for _, c := range x {
				walk(c)
			}
		case []any:
			for _, c := range x {
				walk(c)
			}
		}
	}
	walk(card["body"])
	return out
}

// statusClick is a click by p on a button of the status card in p's
// personal chat.
func (w *world) statusClick(p person, verb, requestID string) (int, map[string]any) {
	return w.post(w.personalClick(p, verb, requestID, map[string]any{cards.DataCard: cards.CardStatus}))
}

// rileyCard is the latest card the bot sent to riley's personal chat.
func (w *world) rileyCard() map[string]any {
	w.t.Helper()
	return w.lastCard("a:personal-" + rileyID)
}

// TestStatusCardCancel: status shows Cancel on a pending request; someone
// else's Cancel from the status card is refused with a line on their
// card and changes nothing; the requester's cancels and answers with the
// new status, which then says plainly there is nothing.
func TestStatusCardCancel(t *testing.T) {
	w := newWorld(t)
	w.graph.SetDisplayName(prodGroup, prodGroupName)
	w.post(w.message(riley, "request prod-db 1h INC-1 checkout is slow"))
	req := w.onlyRequest()
	w.post(w.message(riley, "status"))
	card := w.rileyCard()
	if got := statusButtons(t, card); len(got) != 1 || got[0] != "Cancel request/"+cards.VerbCancel+"/"+req.ID {
		t.Fatalf("status buttons = %q", got)
	}
	if !strings.Contains(cardJSON(card), prodGroupName) {
		t.Errorf("status card lacks the group's name: %s", cardJSON(card))
	}

	// Eve's click: refused, audited, nothing else written, nothing sent.
	sentBefore, graphBefore := len(w.conn.Requests()), len(w.graph.Calls())
	auditBefore, _ := w.db.Audit(context.Background(), access.AuditFilter{RequestID: req.ID})
	code, resp := w.statusClick(eve, cards.VerbCancel, req.ID)
	if code != http.StatusOK || resp["type"] != cards.ContentType {
		t.Fatalf("eve's cancel: HTTP %d %v", code, resp)
	}
	eveCard := resp["value"].(map[string]any)
	if js := cardJSON(eveCard); !strings.Contains(js, "There is no request `"+req.ID+"`.") ||
		strings.Contains(js, prodGroupName) || strings.Contains(js, "prod-db") || !strings.Contains(js, cards.StatusEmpty) {
		t.Errorf("eve's answer is not her own status with the refusal: %s", js)
	}
	if got, _ := w.db.GetRequest(context.Background(), req.ID); got.State != access.RequestPending {
		t.Fatalf("eve's click changed the request: %s", got.State)
	}
	auditAfter, _ := w.db.Audit(context.Background(), access.AuditFilter{RequestID: req.ID})
	if len(auditAfter) != len(auditBefore)+1 || auditAfter[len(auditAfter)-1].Action != access.ActionCancelRefused {
		t.Errorf("audit after eve's click: %d events (was %d), want one cancel_refused", len(auditAfter), len(auditBefore))
	}
	if len(w.conn.Requests()) != sentBefore || len(w.graph.Calls()) != graphBefore {
		t.Errorf("eve's click sent %d connector and %d Graph requests", len(w.conn.Requests())-sentBefore, len(w.graph.Calls())-graphBefore)
	}

	// The same click outside the personal chat does nothing.
	code, resp = w.post(w.click(riley, cards.VerbCancel, req.ID, map[string]any{cards.DataCard: cards.CardStatus}))
	if code != http.StatusOK || resp["type"] != cards.MessageContentType || resp["value"] != bot.StatusElsewhere {
		t.Fatalf("a status click in a channel: HTTP %d %v", code, resp)
	}
	if got, _ := w.db.GetRequest(context.Background(), req.ID); got.State != access.RequestPending {
		t.Fatalf("a status click in a channel changed the request: %s", got.State)
	}

	// Riley's click cancels and answers with the new status.
	code, resp = w.statusClick(riley, cards.VerbCancel, req.ID)
	if code != http.StatusOK || resp["type"] != cards.ContentType {
		t.Fatalf("riley's cancel: HTTP %d %v", code, resp)
	}
	js := cardJSON(resp["value"])
	if !strings.Contains(js, "is cancelled; nothing was granted") || !strings.Contains(js, cards.StatusEmpty) {
		t.Errorf("riley's answer is not the refreshed status: %s", js)
	}
	if got, _ := w.db.GetRequest(context.Background(), req.ID); got.State != access.RequestCancelled {
		t.Fatalf("after riley's cancel: %s", got.State)
	}
	// A second click (a stale card) says why and still shows the status.
	_, resp = w.statusClick(riley, cards.VerbCancel, req.ID)
	if js := cardJSON(resp["value"]); resp["type"] != cards.ContentType || !strings.Contains(js, cards.StatusEmpty) || !strings.Contains(js, "cancel") {
		t.Errorf("stale cancel: %v", resp)
	}
}

// TestStatusCardImDone: status shows I'm done on an active grant; someone
// else's click is refused and changes nothing; the requester's ends the
// grant (the member is removed) and answers with the new status.
func TestStatusCardImDone(t *testing.T) {
	w := newWorld(t)
	req := w.granted()
	w.post(w.message(riley, "status"))
	if got := statusButtons(t, w.rileyCard()); len(got) != 2 || got[0] != "I'm done/"+cards.VerbRelease+"/"+req.ID || got[1] != "Extend/"+cards.VerbExtend+"/"+req.ID {
		t.Fatalf("status buttons = %q", got)
	}

	sentBefore, graphBefore := len(w.conn.Requests()), len(w.graph.Calls())
	code, resp := w.statusClick(eve, cards.VerbRelease, req.ID)
	if code != http.StatusOK || resp["type"] != cards.ContentType || !strings.Contains(cardJSON(resp["value"]), "There is no request") {
		t.Fatalf("eve's I'm done: HTTP %d %v", code, resp)
	}
	w.unchanged(req.ID)
	if w.auditBy(req.ID, access.ActionReleaseRefused, eveID) != 1 {
		t.Error("eve's refused release is not audited")
	}
	if len(w.conn.Requests()) != sentBefore || len(w.graph.Calls()) != graphBefore {
		t.Errorf("eve's click sent %d connector and %d Graph requests", len(w.conn.Requests())-sentBefore, len(w.graph.Calls())-graphBefore)
	}

	code, resp = w.statusClick(riley, cards.VerbRelease, req.ID)
	if code != http.StatusOK || resp["type"] != cards.ContentType {
		t.Fatalf("riley's I'm done: HTTP %d %v", code, resp)
	}
	if js := cardJSON(resp["value"]); !strings.Contains(js, "Your access to prod-db has ended.") || !strings.Contains(js, cards.StatusEmpty) {
		t.Errorf("riley's answer is not the refreshed status: %s", js)
	}
	if w.graph.IsMember(prodGroup, rileyID) {
		t.Fatal("still a member after I'm done")
	}
	if w.auditBy(req.ID, access.ActionReleased, rileyID) != 1 {
		t.Error("the release is not audited")
	}
}

// TestStatusNewestFirst: with two pending requests the status card lists
// the newer first, each with its own Cancel.
func TestStatusNewestFirst(t *testing.T) {
	w := newWorld(t)
	w.reconfigure(func(c *access.Config) {
		p := c.Profiles[0]
		p.Name = "prod-logs"
		c.Profiles = append(c.Profiles, p)
	})
	w.post(w.message(riley, "request prod-db 1h INC-1 first"))
	w.clock.Advance(time.Minute)
	w.post(w.message(riley, "request prod-logs 1h INC-2 second"))
	reqs, err := w.db.OpenRequests(context.Background(), rileyID)
	if err != nil || len(reqs) != 2 {
		t.Fatalf("open requests: %d %v", len(reqs), err)
	}
	ids := map[string]string{}
	for _, r := range reqs {
		ids[r.Profile] = r.ID
	}
	w.post(w.message(riley, "status"))
	got := statusButtons(t, w.rileyCard())
	want := []string{"Cancel request/" + cards.VerbCancel + "/" + ids["prod-logs"], "Cancel request/" + cards.VerbCancel + "/" + ids["prod-db"]}
	if strings.Join(got, ",") != strings.Join(want, ",") {
		t.Errorf("status buttons = %q, want %q", got, want)
	}
}

// TestDriftAlertNamesTheUser: the drift alert, which knows only the
// member's object id, shows the user's display name from the directory,
// and the group's.
func TestDriftAlertNamesTheUser(t *testing.T) {
	w := newWorld(t)
	w.graph.SetDisplayName(prodGroup, prodGroupName)
	w.graph.SetDisplayName(eveID, "Eve Outsider")
	w.graph.AddMember(prodGroup, eveID)
	if err := w.svc.CheckDrift(context.Background()); err != nil {
		t.Fatal(err)
	}
	js := w.texts(w.securityThread())
	for _, want := range []string{"Eve Outsider", eveID, prodGroupName, prodGroup} {
		if !strings.Contains(js, want) {
			t.Errorf("drift alert lacks %q: %s", want, js)
		}
	}
}

// securityThread is the conversation of the first alert posted to the
// security channel.
func (w *world) securityThread() string {
	w.t.Helper()
	for _, r := range w.conn.Requests() {
		if r.Method == http.MethodPost && strings.HasSuffix(r.Path, "/v3/conversations") {
			if ch, _ := r.JSON["channelData"].(map[string]any); ch != nil {
				if c, _ := ch["channel"].(map[string]any); c != nil && c["id"] == securityChannel {
					return r.ConversationID
				}
			}
		}
	}
	w.t.Fatal("no alert was posted to the security channel")
	return ""
}

// nameLookups counts the GET /groups calls that asked for a display name
// (a membership check asks for the id alone).
func (w *world) nameLookups() int {
	n := 0
	for _, c := range w.graph.CallsTo(graphtest.RouteGetGroup) {
		if c.Query.Get("$select") == "id,displayName" {
			n++
		}
	}
	return n
}
