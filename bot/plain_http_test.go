package bot_test

import (
	"context"
	"encoding/json"
	"net/http"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/jitbot/jitbot/access"
	"github.com/jitbot/jitbot/bot"
	"github.com/jitbot/jitbot/graph/graphtest"
)

const adminGroup = "aaaaaaaa-0000-4000-8000-000000000009"

// withAdminProfile restarts the bot with a second profile named like the
// first: prod-db-admin (alias dba), up to 1h, the same ticket pattern.
func (w *world) withAdminProfile() {
	w.graph.AddGroup(adminGroup)
	w.reconfigure(func(c *access.Config) {
		c.Profiles[0].Aliases = []string{"pdb"}
		c.Profiles = append(c.Profiles, access.Profile{
			Name: "prod-db-admin", Aliases: []string{"dba"}, Description: "Write access to the production databases", GroupID: adminGroup,
			MaxDuration: time.Hour, RequireTicket: true, TicketPattern: regexp.MustCompile(`^INC-[0-9]+$`),
			RequesterGroups: []string{requesterGrp}, ApproverGroups: []string{approverGroup}, ApproverChannelID: channelID,
		})
	})
}

// auditCount is the number of audit events stored.
func (w *world) auditCount() int {
	w.t.Helper()
	n := 0
	if err := w.db.EachAudit(context.Background(), access.AuditQuery{}, func(access.AuditEvent) error { n++; return nil }); err != nil {
		w.t.Fatal(err)
	}
	return n
}

// lastCard is the card of the last activity the bot sent to a conversation.
func (w *world) lastCard(conv string) map[string]any {
	w.t.Helper()
	acts := w.conn.Activities(conv)
	if len(acts) == 0 || acts[len(acts)-1].Card() == nil {
		w.t.Fatalf("no card in %s:\n%s", conv, w.texts(conv))
	}
	return acts[len(acts)-1].Card()
}

// formOf reads a request form: the value of each input and the text of its
// attention line ("" when none).
func formOf(t *testing.T, card map[string]any) (values map[string]string, line string) {
	t.Helper()
	raw, _ := json.Marshal(card)
	if !strings.Contains(string(raw), `"verb":"submitRequest"`) {
		t.Fatalf("not the request form: %s", raw)
	}
	values = map[string]string{}
	body, _ := card["body"].([]any)
	for _, el := range body {
		m, _ := el.(map[string]any)
		if id, _ := m["id"].(string); id != "" {
			v, _ := m["value"].(string)
			values[id] = v
		}
		if m["style"] == "attention" {
			var b strings.Builder
			for _, it := range m["items"].([]any) {
				for _, in := range it.(map[string]any)["inlines"].([]any) {
					b.WriteString(in.(map[string]any)["text"].(string))
				}
			}
			line = b.String()
		}
	}
	return values, line
}

// createdNothing checks that a message changed nothing: no request, no
// audit event, no approval card, no membership.
func (w *world) createdNothing() {
	w.t.Helper()
	if reqs, _ := w.db.OpenRequests(context.Background(), rileyID); len(reqs) != 0 {
		w.t.Fatalf("%d requests were stored", len(reqs))
	}
	if n := w.auditCount(); n != 0 {
		w.t.Fatalf("%d audit events were written", n)
	}
	for _, r := range w.conn.Requests() {
		if ch, _ := r.JSON["channelData"].(map[string]any); ch != nil && ch["channel"] != nil {
			w.t.Fatalf("an approval card was posted: %s %s", r.Method, r.Path)
		}
	}
	if n := w.graph.Count(graphtest.RouteAddMember); n != 0 {
		w.t.Fatalf("%d memberships were added", n)
	}
}

func TestPlainRequestCreatesTheSameRequestAsTheOneLiner(t *testing.T) {
	one, plain := newWorld(t), newWorld(t)
	personal := "a:personal-" + rileyID
	one.post(one.message(riley, "request prod-db 2h INC-4711 checkout is slow"))
	plain.post(plain.message(riley, "Hi, I need the prod DB for 2 hours for INC-4711, checkout is slow please"))
	a, b := one.onlyRequest(), plain.onlyRequest()
	if b.Profile != "prod-db" || b.Duration != 2*time.Hour || b.Ticket != "INC-4711" || b.Justification != "checkout is slow" {
		t.Fatalf("plain words stored %+v", b)
	}
	same := func(x, y *access.Request) bool {
		// Each world has its own fake connector, at its own address.
		cx, cy := x.RequesterChat, y.RequesterChat
		cx.ServiceURL, cy.ServiceURL = "", ""
		return cx == cy && x.RequesterChat.ServiceURL == one.conn.ServiceURL() && y.RequesterChat.ServiceURL == plain.conn.ServiceURL() && x.Profile == y.Profile && x.GroupID == y.GroupID && x.Requester == y.Requester && x.Duration == y.Duration &&
			x.Ticket == y.Ticket && x.Justification == y.Justification && x.State == y.State &&
			x.CreatedAt.Equal(y.CreatedAt) && x.DecideBy.Equal(y.DecideBy)
	}
	if !same(a, b) {
		t.Fatalf("the one-liner stored\n%+v\nplain words stored\n%+v", a, b)
	}
	// The approvers see the same card, and the requester the same receipt.
	_, cardA := one.approvalThread()
	_, cardB := plain.approvalThread()
	if ca, cb := cardJSON(cardA), strings.ReplaceAll(cardJSON(cardB), b.ID, a.ID); ca != cb {
		t.Fatalf("approval cards differ:\none-liner %s\nplain     %s", ca, cb)
	}
	if ra, rb := cardJSON(one.lastCard(personal)), strings.ReplaceAll(cardJSON(plain.lastCard(personal)), b.ID, a.ID); ra != rb || !strings.Contains(rb, "Request sent to approvers") {
		t.Fatalf("receipts differ:\none-liner %s\nplain     %s", ra, rb)
	}
	if ea, eb := one.events(access.ActionRequested), plain.events(access.ActionRequested); len(ea) != 1 || len(eb) != 1 || ea[0].Reason != eb[0].Reason || ea[0].Actor != eb[0].Actor {
		t.Fatalf("audited %+v and %+v", ea, eb)
	}

	// With an @mention in a channel, a severity word and an alias: the
	// receipt goes to the personal chat, the severity stays out of the
	// justification.
	plain.withAdminProfile()
	act, conv := plain.channelMessage(riley, "dba for 30 mins for INC-4712 SEV-1 kill a runaway query")
	if code, _ := plain.post(act); code != http.StatusOK {
		t.Fatalf("HTTP %d", code)
	}
	if acts := plain.conn.Activities(conv); len(acts) != 1 || acts[0].Text() != bot.SentPrivately {
		t.Fatalf("in the channel: %s", plain.texts(conv))
	}
	reqs, _ := plain.db.OpenRequests(context.Background(), rileyID)
	var admin *access.Request
	for i := range reqs {
		if reqs[i].Profile == "prod-db-admin" {
			admin = &reqs[i]
		}
	}
	if admin == nil || admin.Duration != 30*time.Minute || admin.Ticket != "INC-4712" || admin.Justification != "kill a runaway query" || admin.GroupID != adminGroup {
		t.Fatalf("from the channel: %+v", admin)
	}
}

func TestUncertainPlainRequestAnswersWithTheFormAndCreatesNothing(t *testing.T) {
	w := newWorld(t)
	w.withAdminProfile()
	personal := "a:personal-" + rileyID

	// No ticket for a profile that requires one.
	w.post(w.message(riley, "I need prod-db for 2 hours, checkout is slow"))
	values, line := formOf(t, w.lastCard(personal))
	if line != "prod-db needs a ticket (format ^INC-[0-9]+$)." {
		t.Errorf("the form says %q", line)
	}
	if want := map[string]string{"profile": "prod-db", "duration": "2h", "start": "", "ticket": "", "justification": "checkout is slow"}; !equalMaps(values, want) {
		t.Errorf("pre-filled %v, want %v", values, want)
	}

	// Two profiles named alike, asked with an @mention in a channel: the
	// form goes to the personal chat, the channel is told only that.
	act, conv := w.channelMessage(riley, "prod-db admin for 30 mins INC-4 kill a query")
	w.post(act)
	if acts := w.conn.Activities(conv); len(acts) != 1 || acts[0].Text() != bot.SentPrivately || acts[0].Card() != nil {
		t.Fatalf("in the channel: %s", w.texts(conv))
	}
	private := w.personalChatOf(rileyID)
	values, line = formOf(t, w.lastCard(private))
	if line != "Which profile: prod-db or prod-db-admin?" {
		t.Errorf("the form says %q", line)
	}
	if want := map[string]string{"profile": "", "duration": "30m", "start": "", "ticket": "INC-4", "justification": "kill a query"}; !equalMaps(values, want) {
		t.Errorf("pre-filled %v, want %v", values, want)
	}

	// A duration and no profile.
	w.post(w.message(riley, "for 45 minutes INC-3 because checkout is slow"))
	if _, line = formOf(t, w.lastCard(personal)); line != "Which profile do you need?" {
		t.Errorf("the form says %q", line)
	}
	w.createdNothing()

	// The pre-filled form, completed and sent, is an ordinary request.
	submit := w.click(riley, "submitRequest", "", map[string]any{"profile": "prod-db", "duration": "2h", "ticket": "INC-4711", "justification": "checkout is slow"})
	submit["conversation"] = map[string]any{"id": personal, "conversationType": "personal", "tenantId": tenantID}
	if _, resp := w.post(submit); !strings.Contains(cardJSON(resp["value"]), "Request sent to approvers") {
		t.Fatalf("submitting the completed form: %v", resp)
	}
	if req := w.onlyRequest(); req.Duration != 2*time.Hour || req.Justification != "checkout is slow" || req.Ticket != "INC-4711" {
		t.Fatalf("stored %+v", req)
	}
}

func equalMaps(a, b map[string]string) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if bv, ok := b[k]; !ok || bv != v {
			return false
		}
	}
	return true
}

func TestPlainRequestMeetsTheOneLinersRefusals(t *testing.T) {
	one, plain := newWorld(t), newWorld(t)
	for _, c := range []struct {
		who               person
		oneLiner, inWords string
		want              string
	}{
		{riley, "request prod-db 6h INC-1 long migration", "I need prod-db for 6 hours for INC-1, long migration", "Profile prod-db can be granted for 15m to 4h; you asked for 6h"},
		{riley, "request prod-db 10m INC-1 quick look", "prod-db for 10 minutes INC-1 quick look", "you asked for 10m"},
		{eve, "request prod-db 1h INC-1 let me in", "give me prod-db for an hour for INC-1 let me in", "not in a group allowed"},
	} {
		chat := "a:personal-" + c.who.id
		one.post(one.message(c.who, c.oneLiner))
		plain.post(plain.message(c.who, c.inWords))
		acts := plain.conn.Activities(chat)
		got, want := acts[len(acts)-1].Text(), one.conn.Activities(chat)[len(acts)-1].Text()
		if got != want || !strings.Contains(got, c.want) {
			t.Errorf("%q: answered %q; the one-liner was answered %q", c.inWords, got, want)
		}
	}
	for _, p := range []person{riley, eve} {
		if reqs, _ := plain.db.OpenRequests(context.Background(), p.id); len(reqs) != 0 {
			t.Fatalf("a refused request was stored: %+v", reqs)
		}
	}
	if a, b := len(one.events(access.ActionRequestRefused)), len(plain.events(access.ActionRequestRefused)); a != 1 || b != 1 {
		t.Fatalf("refusals audited: one-liner %d, plain words %d; want 1 each (the ineligible requester)", a, b)
	}
	if n := plain.graph.Count(graphtest.RouteAddMember); n != 0 {
		t.Fatalf("%d memberships added", n)
	}
}

func TestNotARequestKeepsItsAnswer(t *testing.T) {
	w := newWorld(t)
	personal := "a:personal-" + rileyID
	for _, c := range []struct{ text, want string }{
		{"thanks!", "I don't know `thanks!`"},
		{"we have 2 approvers on call", "I don't know `we`"},
		{"INC-4711 checkout is slow", "I don't know `INC-4711`"},
		{"hello there", "I grant temporary access"},
		// Known commands keep priority over plain words.
		{"help me get prod-db for 2 hours for INC-1, checkout is slow", "I grant temporary access"},
		{"status of prod-db for 2 hours INC-1", "You have nothing pending"},
	} {
		w.post(w.message(riley, c.text))
		acts := w.conn.Activities(personal)
		last := acts[len(acts)-1]
		if got := last.Text() + cardJSON(last.Card()); !strings.Contains(got, c.want) {
			t.Errorf("%q: answered %s, want %q", c.text, got, c.want)
		}
		if strings.Contains(cardJSON(last.Card()), `"verb":"submitRequest"`) {
			t.Errorf("%q was answered with the request form", c.text)
		}
	}
	w.createdNothing()
}
