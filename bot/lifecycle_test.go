package bot_test

import (
	"context"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/jitbot/jitbot/access"
	"github.com/jitbot/jitbot/bot"
	"github.com/jitbot/jitbot/cards"
	"github.com/jitbot/jitbot/graph/graphtest"
)

// granted has riley ask for prod-db and alex approve it, and returns the
// request.
func (w *world) granted() *access.Request {
	w.t.Helper()
	if code, _ := w.post(w.message(riley, "request prod-db 2h INC-4711 checkout latency spike")); code != http.StatusOK {
		w.t.Fatalf("request: HTTP %d", code)
	}
	req := w.onlyRequest()
	w.clock.Advance(time.Minute)
	if code, _ := w.post(w.click(alex, "approve", req.ID, nil)); code != http.StatusOK {
		w.t.Fatalf("approve: HTTP %d", code)
	}
	if !w.graph.IsMember(prodGroup, rileyID) {
		w.t.Fatal("riley is not a member after approval")
	}
	return req
}

// personalClick is an Action.Execute by p on a card in p's personal chat.
func (w *world) personalClick(p person, verb, requestID string, extra map[string]any) map[string]any {
	act := w.click(p, verb, requestID, extra)
	act["conversation"] = map[string]any{"id": "a:personal-" + p.id, "conversationType": "personal", "tenantId": tenantID}
	return act
}

// auditBy counts the request's events of action by actor.
func (w *world) auditBy(requestID string, action access.Action, actor string) int {
	w.t.Helper()
	evs, err := w.db.Audit(context.Background(), access.AuditFilter{RequestID: requestID})
	if err != nil {
		w.t.Fatal(err)
	}
	n := 0
	for _, ev := range evs {
		if ev.Action == action && ev.Actor.ObjectID == actor {
			n++
		}
	}
	return n
}

// unchanged fails unless riley's grant is still active and in place.
func (w *world) unchanged(requestID string) {
	w.t.Helper()
	got, err := w.db.GetRequest(context.Background(), requestID)
	if err != nil {
		w.t.Fatal(err)
	}
	g := got.Grant
	if got.State != access.RequestActive || g.State != access.GrantActive || g.Early.Kind != "" || !g.DueAt.Equal(g.ExpiresAt) || !w.graph.IsMember(prodGroup, rileyID) {
		w.t.Fatalf("a refused action changed the grant: request %s grant %+v", got.State, g)
	}
}

func TestImDoneFromTheGrantedCard(t *testing.T) {
	w := newWorld(t)
	req := w.granted()
	personal := "a:personal-" + rileyID
	if got := w.texts(personal); !strings.Contains(got, `"verb":"release"`) || !strings.Contains(got, `"title":"I'm done"`) {
		t.Fatalf("the access granted notice has no I'm done button:\n%s", got)
	}

	// Anyone else's click is refused and changes nothing.
	code, resp := w.post(w.personalClick(eve, "release", req.ID, nil))
	if code != http.StatusOK || resp["type"] != "application/vnd.microsoft.activity.message" || !strings.Contains(cardJSON(resp["value"]), "There is no request") {
		t.Fatalf("eve's I'm done: HTTP %d %v", code, resp)
	}
	w.unchanged(req.ID)
	if w.auditBy(req.ID, access.ActionReleaseRefused, eveID) != 1 {
		t.Fatal("eve's refused release is not audited")
	}

	w.clock.Advance(10 * time.Minute)
	code, resp = w.post(w.personalClick(riley, "release", req.ID, nil))
	if code != http.StatusOK || resp["type"] != "application/vnd.microsoft.card.adaptive" {
		t.Fatalf("I'm done: HTTP %d %v", code, resp)
	}
	if c := cardJSON(resp["value"]); !strings.Contains(c, "You released your access") || strings.Contains(c, `"verb":"release"`) {
		t.Fatalf("card after I'm done: %s", c)
	}
	if w.graph.IsMember(prodGroup, rileyID) {
		t.Fatal("still a member after I'm done")
	}
	if n := w.graph.CountFor(graphtest.RouteRemoveMember, prodGroup, rileyID); n != 1 {
		t.Fatalf("%d DELETE calls for riley, want 1", n)
	}
	if w.auditBy(req.ID, access.ActionReleased, rileyID) != 1 {
		t.Fatal("grant.released by the requester not audited")
	}
	got, _ := w.db.GetRequest(context.Background(), req.ID)
	if rec := access.NewGrantRecord(*got); rec.Outcome != access.OutcomeReleased {
		t.Fatalf("grants view outcome %s", rec.Outcome)
	}
	thread, _ := w.approvalThread()
	final := w.conn.Activities(thread)[0]
	if c := cardJSON(final.Card()); !strings.Contains(c, "Released early by the requester at {{DATE(2026-11-23T09:11:00Z") {
		t.Fatalf("approval card does not show the release: %s", c)
	}
	if texts := w.texts(personal); !strings.Contains(texts, "has ended, as you asked") {
		t.Fatalf("requester not told:\n%s", texts)
	}

	// A second click shows the card as it stands and changes nothing.
	code, resp = w.post(w.personalClick(riley, "release", req.ID, nil))
	if code != http.StatusOK || !strings.Contains(cardJSON(resp["value"]), "You released your access") {
		t.Fatalf("second I'm done: HTTP %d %v", code, resp)
	}
	if n := w.graph.CountFor(graphtest.RouteRemoveMember, prodGroup, rileyID); n != 1 {
		t.Fatalf("%d DELETE calls after a second click, want 1", n)
	}
}

func TestReleaseCommand(t *testing.T) {
	w := newWorld(t)
	personal := "a:personal-" + rileyID
	if code, _ := w.post(w.message(riley, "release")); code != http.StatusOK {
		t.Fatal(code)
	}
	if got := w.texts(personal); !strings.Contains(got, "no active access to release") {
		t.Fatalf("release with nothing active:\n%s", got)
	}
	req := w.granted()

	// Alex names riley's request: refused, audited, nothing changes.
	if code, _ := w.post(w.message(alex, "release "+req.ID)); code != http.StatusOK {
		t.Fatal(code)
	}
	if got := w.texts("a:personal-" + alexID); !strings.Contains(got, "There is no request") {
		t.Fatalf("alex's release:\n%s", got)
	}
	w.unchanged(req.ID)
	if w.auditBy(req.ID, access.ActionReleaseRefused, alexID) != 1 {
		t.Fatal("alex's refused release is not audited")
	}

	if code, _ := w.post(w.message(riley, "release")); code != http.StatusOK {
		t.Fatal(code)
	}
	if w.graph.IsMember(prodGroup, rileyID) {
		t.Fatal("still a member after release")
	}
	if got := w.texts(personal); !strings.Contains(got, "You released your access") {
		t.Fatalf("release reply:\n%s", got)
	}
	if code, _ := w.post(w.message(riley, "release "+req.ID)); code != http.StatusOK {
		t.Fatal(code)
	}
	if got := w.texts(personal); !strings.Contains(got, "already being ended") && !strings.Contains(got, "not active any more") {
		t.Fatalf("releasing an ended grant does not say so:\n%s", got)
	}
}

func TestRevokeNowFromTheApprovalCard(t *testing.T) {
	w := newWorld(t)
	req := w.granted()
	thread, _ := w.approvalThread()
	if c := cardJSON(w.conn.Activities(thread)[0].Card()); !strings.Contains(c, `"verb":"revokeNow"`) || !strings.Contains(c, `"id":"revokeReason"`) {
		t.Fatalf("active approval card has no Revoke now: %s", c)
	}
	reason := map[string]any{"revokeReason": "incident closed `rm -rf` <b>"}

	// A refused click shows the clicker's own card, with why.
	for _, tc := range []struct {
		who   person
		extra map[string]any
		want  string
		verbs []string
		audit access.Action
	}{
		{eve, reason, "Only an approver of prod-db or the security team", nil, access.ActionRevokeRefused},
		{riley, reason, "cannot revoke your own access", []string{cards.VerbRelease, cards.VerbExtend}, access.ActionRevokeRefused},
		{alex, nil, "Say why you revoke", []string{"revokeNow"}, ""},
		{alex, map[string]any{"revokeReason": strings.Repeat("x", access.MaxReason+1)}, "too long", []string{"revokeNow"}, ""},
	} {
		note, verbs := w.viewIn(w.post(w.click(tc.who, "revokeNow", req.ID, tc.extra)))
		if !strings.Contains(note, tc.want) || !slices.Equal(verbs, tc.verbs) {
			t.Fatalf("%s's revoke now: note %q, buttons %v; want %q and %v", tc.who.name, note, verbs, tc.want, tc.verbs)
		}
		w.unchanged(req.ID)
		if tc.audit != "" && w.auditBy(req.ID, tc.audit, tc.who.id) != 1 {
			t.Fatalf("%s's refused revoke is not audited", tc.who.name)
		}
	}

	w.clock.Advance(20 * time.Minute)
	code, resp := w.post(w.click(alex, "revokeNow", req.ID, reason))
	if code != http.StatusOK || resp["type"] != "application/vnd.microsoft.card.adaptive" {
		t.Fatalf("revoke now: HTTP %d %v", code, resp)
	}
	c := cardJSON(resp["value"])
	for _, want := range []string{"Revoked early by ", "Alex Approver", "incident closed"} {
		if !strings.Contains(c, want) {
			t.Fatalf("card after revoke now lacks %q: %s", want, c)
		}
	}
	if strings.Contains(c, `"verb":"revokeNow"`) {
		t.Fatal("card after revoke now still has the button")
	}
	if w.graph.IsMember(prodGroup, rileyID) {
		t.Fatal("still a member after revoke now")
	}
	if w.auditBy(req.ID, access.ActionRevokedEarly, alexID) != 1 {
		t.Fatal("grant.revoked_early by alex not audited")
	}
	texts := w.texts("a:personal-" + rileyID)
	if !strings.Contains(texts, "revoked by Alex Approver") || !strings.Contains(texts, access.Quote("incident closed `rm -rf` <b>")) {
		t.Fatalf("requester not told who and why:\n%s", texts)
	}
}

// TestReleaseInAChannelStaysPrivate: `release` typed in a team channel
// answers in the sender's personal chat; the channel sees one line, nothing
// of the grant.
func TestReleaseInAChannelStaysPrivate(t *testing.T) {
	w := newWorld(t)
	req := w.granted()
	conv := "19:general@thread.tacv2;messageid=77"
	for _, text := range []string{"release " + req.ID, "release nope", "cancel"} {
		msg := w.message(riley, text)
		msg["conversation"] = map[string]any{"id": conv, "conversationType": "channel", "isGroup": true, "tenantId": tenantID}
		if code, _ := w.post(msg); code != http.StatusOK {
			t.Fatalf("%s: HTTP %d", text, code)
		}
	}
	got := w.texts(conv)
	if strings.Contains(got, "AdaptiveCard") || strings.Contains(got, req.ID) || strings.Count(got, bot.SentPrivately) != 3 {
		t.Fatalf("the channel saw more than the one-line replies:\n%s", got)
	}
	if personal := w.texts("a:personal-" + rileyID); !strings.Contains(personal, req.ID) {
		t.Fatalf("the released grant's card did not reach the personal chat:\n%s", personal)
	}
}
