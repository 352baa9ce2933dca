package bot_test

import (
	"context"
	"net/http"
	"reflect"
	"strings"
	"testing"

	"github.com/jitbot/jitbot/access"
	"github.com/jitbot/jitbot/bot"
	"github.com/jitbot/jitbot/cards"
	"github.com/jitbot/jitbot/graph/graphtest"
)

// inPersonalChat moves an invoke to p's personal chat with the bot.
func inPersonalChat(act map[string]any, p person) map[string]any {
	act["conversation"] = map[string]any{"id": "a:personal-" + p.id, "conversationType": "personal", "tenantId": tenantID}
	return act
}

// A request's approval card lives in the approvers' channel. Someone with
// no part in the request who sends its id from anywhere else (their
// personal chat: a crafted Action.Execute) learns nothing of it: the
// answer is the card of a request that does not exist, whatever the verb.
// The requester and the approvers still get their own views anywhere, and
// a bystander in the channel the card they see there.
func TestApprovalCardOfAnotherPersonIsNotShownOutsideItsChannel(t *testing.T) {
	w := newWorld(t)
	w.post(w.message(riley, "request prod-db 2h INC-4711 checkout latency spike"))
	req := w.onlyRequest()
	unknown := w.viewOf(w.post(inPersonalChat(w.refresh(eve, "no-such-request"), eve)))
	if !strings.Contains(unknown.json, "Request not found") {
		t.Fatalf("unknown request: %s", unknown.json)
	}
	secret := func(v view) bool {
		return strings.Contains(v.json, "checkout latency spike") || strings.Contains(v.json, "INC-4711") || strings.Contains(v.json, "Riley")
	}
	for _, c := range []struct {
		name  string
		act   map[string]any
		audit access.Action
	}{
		{"refresh", w.refresh(eve, req.ID), ""},
		{"approve", w.click(eve, cards.VerbApprove, req.ID, nil), access.ActionDecisionRefused},
		{"deny", w.click(eve, cards.VerbDeny, req.ID, map[string]any{"reason": "no"}), access.ActionDecisionRefused},
		{"cancel on the approval card", w.click(eve, cards.VerbCancel, req.ID, map[string]any{"card": cards.CardApproval}), access.ActionCancelRefused},
		{"extend on the approval card", w.click(eve, cards.VerbExtend, req.ID, map[string]any{"card": cards.CardApproval}), ""},
	} {
		writes, adds, audit := w.writes(), w.graph.Count(graphtest.RouteAddMember), len(w.auditOf(req.ID))
		v := w.viewOf(w.post(inPersonalChat(c.act, eve)))
		if secret(v) || len(v.verbs) != 0 || !strings.Contains(v.json, "Request not found") {
			t.Errorf("%s from eve's personal chat shows her the request: %s", c.name, v.json)
		}
		wantAudit := audit
		if c.audit != "" {
			wantAudit++
			if w.auditBy(req.ID, c.audit, eveID) == 0 {
				t.Errorf("%s: the refusal is not audited", c.name)
			}
		}
		if len(w.auditOf(req.ID)) != wantAudit || w.writes() != writes || w.graph.Count(graphtest.RouteAddMember) != adds {
			t.Errorf("%s: something changed or was posted", c.name)
		}
		if got, _ := w.db.GetRequest(context.Background(), req.ID); got.State != access.RequestPending {
			t.Fatalf("%s moved the request to %s", c.name, got.State)
		}
	}

	// The status card's Extend: someone else's request and an unknown id
	// get the same answer, so that it tells no id from another.
	mine := w.viewOf(w.post(inPersonalChat(w.click(eve, cards.VerbExtend, req.ID, map[string]any{"card": cards.CardStatus}), eve)))
	none := w.viewOf(w.post(inPersonalChat(w.click(eve, cards.VerbExtend, "00000000-0000-4000-8000-000000000000", map[string]any{"card": cards.CardStatus}), eve)))
	if secret(mine) || strings.Contains(mine.json, req.ID) {
		t.Errorf("status Extend shows a request: %s / %s", mine.json, none.json)
	}
	if strings.ReplaceAll(mine.json, req.ID, "") != strings.ReplaceAll(none.json, "00000000-0000-4000-8000-000000000000", "") {
		t.Errorf("status Extend tells an existing request from an unknown one:\n%s\n%s", mine.json, none.json)
	}

	// Those with a part in it see it anywhere; a bystander in the channel
	// sees the card of the channel.
	if v := w.viewOf(w.post(inPersonalChat(w.refresh(riley, req.ID), riley))); !secret(v) || !strings.Contains(strings.Join(v.verbs, " "), cards.VerbCancel) {
		t.Errorf("the requester's own view: %s", v.json)
	}
	if v := w.viewOf(w.post(inPersonalChat(w.refresh(alex, req.ID), alex))); !secret(v) || !strings.Contains(strings.Join(v.verbs, " "), cards.VerbApprove) {
		t.Errorf("an approver's own view: %s", v.json)
	}
	if v := w.viewOf(w.post(w.refresh(eve, req.ID))); !secret(v) || len(v.verbs) != 0 {
		t.Errorf("a bystander in the approvers' channel: %s", v.json)
	}
}

// A break-glass grant's review card lives in the security channel. A
// crafted Acknowledge or Revoke now naming the request from anywhere else,
// by someone who may not review it, is refused and audited as before, and
// its answer is the card of a request that does not exist: the same as for
// an unknown id, not the review card with the requester and justification.
func TestReviewCardIsNotShownOutsideTheSecurityChannel(t *testing.T) {
	w := newWorld(t)
	w.breakGlass(false)
	req := w.breakGlassRequest("1h")
	unknown := w.viewOf(w.post(inPersonalChat(w.click(eve, cards.VerbAcknowledge, "no-such-request", nil), eve)))
	for _, c := range []struct {
		name  string
		act   map[string]any
		audit access.Action
	}{
		{"acknowledge", w.click(eve, cards.VerbAcknowledge, req.ID, map[string]any{cards.InputReviewNote: "fine"}), access.ActionReviewRefused},
		{"revoke now", w.click(eve, cards.VerbRevokeNow, req.ID, map[string]any{cards.DataCard: cards.CardReview, cards.InputRevokeReason: "x"}), access.ActionRevokeRefused},
	} {
		writes, audit := w.writes(), w.auditBy(req.ID, c.audit, eveID)
		v := w.viewOf(w.post(inPersonalChat(c.act, eve)))
		if strings.Contains(v.json, "primary is down") || strings.Contains(v.json, "Riley") || len(v.verbs) != 0 {
			t.Errorf("%s from eve's personal chat shows her the review card: %s", c.name, v.json)
		}
		if strings.ReplaceAll(v.json, req.ID, "") != strings.ReplaceAll(unknown.json, "no-such-request", "") {
			t.Errorf("%s: the answer tells the request from an unknown one:\n%s\n%s", c.name, v.json, unknown.json)
		}
		if w.auditBy(req.ID, c.audit, eveID) != audit+1 || w.writes() != writes {
			t.Errorf("%s: not audited once, or something was posted", c.name)
		}
		w.unchanged(req.ID)
	}
	// In the security channel a bystander still gets the card with why.
	note, _ := w.viewIn(w.post(w.reviewClick(eve, cards.VerbAcknowledge, req.ID, nil)))
	if !strings.Contains(note, "Only the security team can review") {
		t.Errorf("in the channel: note %q", note)
	}
}

// The status card is the requester's own and works in their personal chat
// only: its Extend pressed (or crafted) in a channel opens no extend form
// there, which would show the grant where others read along; it answers
// like the status card's other buttons. In the personal chat it opens.
func TestStatusCardExtendOutsideThePersonalChatShowsNothing(t *testing.T) {
	w := newWorld(t)
	w.post(w.message(riley, "request prod-db 2h INC-4711 checkout latency spike"))
	req := w.onlyRequest()
	w.post(w.click(alex, cards.VerbApprove, req.ID, nil))
	if got, _ := w.db.GetRequest(context.Background(), req.ID); got.State != access.RequestActive {
		t.Fatalf("not active: %s", got.State)
	}
	writes := w.writes()
	code, resp := w.post(w.click(riley, cards.VerbExtend, req.ID, map[string]any{cards.DataCard: cards.CardStatus}))
	if code != 200 || resp["type"] != cards.MessageContentType || resp["value"] != bot.StatusElsewhere {
		t.Fatalf("status Extend in a channel: HTTP %d %v", code, resp)
	}
	if w.writes() != writes {
		t.Fatal("status Extend in a channel posted something")
	}
	v := w.viewOf(w.post(inPersonalChat(w.click(riley, cards.VerbExtend, req.ID, map[string]any{cards.DataCard: cards.CardStatus}), riley)))
	if !strings.Contains(v.json, "Extend your access") || !strings.Contains(strings.Join(v.inputs, " "), cards.InputExtendDuration) {
		t.Fatalf("status Extend in the personal chat: %s", v.json)
	}
}

// alertAct is p's click of verb on the irrevocable alert of grant id, from
// conversation conv.
func (w *world) alertAct(p person, verb, grantID, conv string) map[string]any {
	act := w.click(p, verb, "", map[string]any{cards.DataGrantID: grantID})
	act["conversation"] = map[string]any{"id": conv, "conversationType": "channel", "isGroup": true, "tenantId": tenantID}
	return act
}

// An irrevocable grant's alert card (who, which group, Graph's error) lives
// in the security channel. Someone outside the security team who sends the
// grant's id from anywhere else (a crafted refresh or Retry now from their
// personal chat) gets the answer of an unknown grant id, and a refused
// Retry now is audited as before. The security team sees it anywhere; a
// bystander in the channel, or in the alert's thread after the security
// channel moved, sees the card they read there anyway.
func TestAlertCardIsNotShownOutsideTheSecurityChannel(t *testing.T) {
	w := newWorld(t)
	g := w.irrevocable()
	const unknownID = "00000000-0000-4000-8000-000000000000"
	secret := func(resp map[string]any) bool {
		j := cardJSON(resp)
		return strings.Contains(j, "Riley") || strings.Contains(j, rileyID) || strings.Contains(j, prodGroup) || strings.Contains(j, "Insufficient privileges")
	}
	for _, verb := range []string{cards.VerbRefreshAlert, cards.VerbRetryRevoke} {
		_, unknown := w.post(inPersonalChat(w.alertAct(eve, verb, unknownID, ""), eve))
		writes, removes, refused := w.writes(), w.graph.Count(graphtest.RouteRemoveMember), w.auditBy(g.RequestID, access.ActionRetryRefused, eveID)
		audits := len(w.auditOf(g.RequestID))
		code, resp := w.post(inPersonalChat(w.alertAct(eve, verb, g.ID, ""), eve))
		if code != http.StatusOK || secret(resp) {
			t.Errorf("%s from eve's personal chat shows her the alert: HTTP %d %s", verb, code, cardJSON(resp))
		}
		if got, want := strings.ReplaceAll(cardJSON(resp), g.ID, ""), strings.ReplaceAll(cardJSON(unknown), unknownID, ""); got != want {
			t.Errorf("%s: the answer tells the grant from an unknown one:\n%s\n%s", verb, got, want)
		}
		wantAudits, wantRefused := audits, refused
		if verb == cards.VerbRetryRevoke {
			wantAudits, wantRefused = audits+1, refused+1
		}
		if len(w.auditOf(g.RequestID)) != wantAudits || w.auditBy(g.RequestID, access.ActionRetryRefused, eveID) != wantRefused {
			t.Errorf("%s: %d audit events, want %d (the refused retry on record)", verb, len(w.auditOf(g.RequestID)), wantAudits)
		}
		if w.writes() != writes || w.graph.Count(graphtest.RouteRemoveMember) != removes || !reflect.DeepEqual(w.grant(g.ID), g) {
			t.Errorf("%s from eve's personal chat changed or posted something", verb)
		}
	}

	// The security team (alex) sees it from their personal chat.
	if _, resp := w.post(inPersonalChat(w.alertAct(alex, cards.VerbRefreshAlert, g.ID, ""), alex)); !secret(resp) || !strings.Contains(cardJSON(resp), cards.VerbRetryRevoke) {
		t.Errorf("the security team's refresh in a personal chat: %s", cardJSON(resp))
	}
	// A bystander in the security channel sees the card of the channel.
	if _, resp := w.post(w.alertAct(eve, cards.VerbRefreshAlert, g.ID, securityChannel+";messageid=1")); !secret(resp) {
		t.Errorf("a bystander's refresh in the security channel: %s", cardJSON(resp))
	}
	// The alert's thread stays where it was posted when the security
	// channel is moved; the approvers' channel is not it.
	thread := w.grant(g.ID).AlertChat.ConversationID
	if !strings.HasPrefix(thread, securityChannel) {
		t.Fatalf("alert thread %q, want one in the security channel", thread)
	}
	w.reconfigure(func(c *access.Config) { c.SecurityChannelID = "19:new-security@thread.tacv2" })
	if _, resp := w.post(w.alertAct(eve, cards.VerbRefreshAlert, g.ID, thread)); !secret(resp) {
		t.Errorf("a bystander's refresh in the alert's thread: %s", cardJSON(resp))
	}
	if _, resp := w.post(w.alertAct(eve, cards.VerbRefreshAlert, g.ID, channelID+";messageid=1")); secret(resp) {
		t.Errorf("a bystander's refresh in the approvers' channel: %s", cardJSON(resp))
	}
}
