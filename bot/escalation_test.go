package bot_test

import (
	"context"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/jitbot/jitbot/access"
	"github.com/jitbot/jitbot/cards"
)

const (
	escalationChannel = "19:escalation@thread.tacv2"
	escalationGrp     = "aaaaaaaa-0000-4000-8000-00000000000e"
	danaID            = "55555555-5555-4555-8555-555555555555"
)

var dana = person{danaID, "Dana Duty"}

// escalating makes prod-db escalate after 20 minutes to the escalation
// channel, whose group is Dana alone.
func (w *world) escalating() {
	w.graph.AddUser(danaID)
	w.graph.AddGroup(escalationGrp)
	w.graph.AddMember(escalationGrp, danaID)
	w.reconfigure(func(c *access.Config) {
		c.Profiles[0].EscalateAfter = 20 * time.Minute
		c.Profiles[0].EscalationChannelID, c.Profiles[0].EscalationGroups = escalationChannel, []string{escalationGrp}
	})
}

// escalationThreads returns the threads opened in the escalation channel.
func (w *world) escalationThreads() []string {
	var out []string
	for _, th := range w.threads() {
		if strings.HasPrefix(th, escalationChannel) {
			out = append(out, th)
		}
	}
	return out
}

// inChannel moves a click to a thread of channel.
func inChannel(act map[string]any, channel string) map[string]any {
	act["conversation"] = map[string]any{"id": channel + ";messageid=1", "conversationType": "channel", "isGroup": true, "tenantId": tenantID}
	return act
}

func TestEscalationPostsOnceAndLetsTheEscalationGroupDecide(t *testing.T) {
	w := newWorld(t)
	w.escalating()
	ctx := context.Background()
	if code, _ := w.post(w.message(riley, "request prod-db 2h INC-4711 checkout latency spike")); code != http.StatusOK {
		t.Fatalf("request: HTTP %d", code)
	}
	req := w.onlyRequest()
	if !req.EscalateAt.Equal(start.Add(20 * time.Minute)) {
		t.Fatalf("escalate at %v", req.EscalateAt)
	}

	// Before the escalation Dana may not decide.
	writes := w.writes()
	note, verbs := w.viewIn(w.post(w.click(dana, cards.VerbApprove, req.ID, nil)))
	if !strings.Contains(note, "You are not an approver for prod-db") || len(verbs) != 0 {
		t.Fatalf("dana before the escalation: %q %v", note, verbs)
	}
	if w.auditBy(req.ID, access.ActionDecisionRefused, danaID) != 1 || w.writes() != writes || w.onlyRequest().State != access.RequestPending {
		t.Fatal("dana's early click changed something or was not audited")
	}

	if v := w.viewOf(w.post(w.refresh(dana, req.ID))); len(v.verbs) != 0 {
		t.Fatalf("dana's own card before the escalation has %v", v.verbs)
	}

	w.clock.Advance(20*time.Minute - time.Second)
	if n, _ := w.svc.WorkEscalations(ctx); n != 0 || len(w.escalationThreads()) != 0 {
		t.Fatal("escalated early")
	}
	w.clock.Advance(time.Second)
	if n, err := w.svc.WorkEscalations(ctx); n != 1 || err != nil {
		t.Fatalf("escalate: %d %v", n, err)
	}
	// Exactly once: again, after a restart, and from a second replica.
	if n, _ := w.svc.WorkEscalations(ctx); n != 0 {
		t.Fatal("escalated twice")
	}
	w.reconfigure(nil)
	if n, _ := w.svc.WorkEscalations(ctx); n != 0 {
		t.Fatal("escalated again after a restart")
	}
	cfg := w.svcCfg
	cfg.Owner = "replica-2"
	other, err := access.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	if n, _ := other.WorkEscalations(ctx); n != 0 {
		t.Fatal("a second replica escalated again")
	}
	threads := w.escalationThreads()
	if len(threads) != 1 || w.auditBy(req.ID, access.ActionEscalated, access.System.ObjectID) != 1 {
		t.Fatalf("escalation threads %v, audited %d", threads, w.auditBy(req.ID, access.ActionEscalated, access.System.ObjectID))
	}
	esc := w.conn.Activities(threads[0])[0]
	if c := cardJSON(esc.Card()); !strings.Contains(c, `"verb":"approve"`) || !strings.Contains(c, "Escalated at") || !strings.Contains(c, req.ID) {
		t.Fatalf("escalation card: %s", c)
	}
	stored := w.onlyRequest()
	if stored.EscalatedAt.IsZero() || !stored.EscalateAt.IsZero() || !strings.HasPrefix(stored.EscalationChat.ConversationID, escalationChannel) || stored.EscalationActivityID != esc.ID {
		t.Fatalf("stored escalation %+v", stored)
	}
	if _, first := w.approvalThread(); !strings.Contains(cardJSON(first), "Escalated at") {
		t.Fatal("the first card does not say the request was escalated")
	}

	if v := w.viewOf(w.post(w.refresh(dana, req.ID))); !slices.Equal(v.verbs, []string{cards.VerbApprove, cards.VerbDeny}) {
		t.Fatalf("dana's own card after the escalation has %v", v.verbs)
	}

	// Now Dana may decide, on the escalation card.
	w.clock.Advance(time.Minute)
	v := w.viewOf(w.post(inChannel(w.click(dana, cards.VerbApprove, req.ID, nil), escalationChannel)))
	if v.note != "" || slices.Contains(v.verbs, cards.VerbApprove) || !strings.Contains(v.body, "Dana Duty") {
		t.Fatalf("dana's approval: %q %v", v.note, v.verbs)
	}
	if !w.graph.IsMember(prodGroup, rileyID) || w.auditBy(req.ID, access.ActionApproved, danaID) != 1 {
		t.Fatal("dana's approval did not grant")
	}
	// Both cards show the decision.
	cur, _ := w.conn.Activity(threads[0], esc.ID)
	if c := cardJSON(cur.Card()); !strings.Contains(c, "Dana Duty") || strings.Contains(c, `"verb":"approve"`) {
		t.Fatalf("escalation card after the approval: %s", c)
	}
	if _, first := w.approvalThread(); !strings.Contains(cardJSON(first), "Dana Duty") {
		t.Fatal("the first card does not show the approval")
	}
}
