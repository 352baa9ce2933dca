package bot_test

import (
	"context"
	"net/http"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/jitbot/jitbot/access"
	"github.com/jitbot/jitbot/cards"
)

// feedbackCards returns the feedback cards the bot sent to a conversation.
func (w *world) feedbackCards(conversationID string) []map[string]any {
	var out []map[string]any
	for _, a := range w.conn.Activities(conversationID) {
		if c := a.Card(); c != nil && strings.Contains(cardJSON(c), `"verb":"`+cards.VerbFeedback+`"`) {
			out = append(out, c)
		}
	}
	return out
}

// answer is p's Action.Execute on the feedback card in their personal chat.
func (w *world) answer(p person, requestID string, inputs map[string]any) map[string]any {
	act := w.click(p, cards.VerbFeedback, requestID, inputs)
	act["conversation"] = map[string]any{"id": "a:personal-" + p.id, "conversationType": "personal", "tenantId": tenantID}
	return act
}

// grantAndExpire has riley request prod-db for 1h, alex approve it, and the
// grant expire and be revoked.
func (w *world) grantAndExpire() *access.Request {
	w.t.Helper()
	if code, _ := w.post(w.message(riley, "request prod-db 1h INC-4711 checkout latency spike")); code != http.StatusOK {
		w.t.Fatalf("request: HTTP %d", code)
	}
	req := w.onlyRequest()
	w.clock.Advance(2 * time.Minute)
	if code, _ := w.post(w.click(alex, cards.VerbApprove, req.ID, nil)); code != http.StatusOK {
		w.t.Fatalf("approve: HTTP %d", code)
	}
	w.clock.Advance(time.Hour)
	if n, err := w.svc.Work(context.Background()); n != 1 || err != nil {
		w.t.Fatalf("revoke: %d %v", n, err)
	}
	return req
}

func TestFeedbackAfterExpiryOverHTTP(t *testing.T) {
	w := newWorld(t)
	ctx := context.Background()
	personal := "a:personal-" + rileyID
	if code, _ := w.post(w.message(riley, "request prod-db 1h INC-4711 checkout latency spike")); code != http.StatusOK {
		t.Fatalf("request: HTTP %d", code)
	}
	req := w.onlyRequest()
	w.clock.Advance(2 * time.Minute)
	w.post(w.click(alex, cards.VerbApprove, req.ID, nil))
	if fc := w.feedbackCards(personal); len(fc) != 0 {
		t.Fatal("feedback asked while access is active")
	}
	// Answering before the access ended is refused.
	_, resp := w.post(w.answer(riley, req.ID, map[string]any{cards.InputUseful: "yes", cards.InputFastEnough: "yes"}))
	if resp["type"] != cards.MessageContentType || !strings.Contains(resp["value"].(string), "does not ask for feedback") {
		t.Fatalf("answer before expiry: %v", resp)
	}

	w.clock.Advance(time.Hour)
	if n, err := w.svc.Work(ctx); n != 1 || err != nil {
		t.Fatalf("revoke: %d %v", n, err)
	}
	fc := w.feedbackCards(personal)
	if len(fc) != 1 {
		t.Fatalf("%d feedback cards after expiry, want 1:\n%s", len(fc), w.texts(personal))
	}
	c := cardJSON(fc[0])
	for _, want := range []string{"Did this access let you do what you needed?", "Was approval fast enough?", `"id":"comment"`, req.ID} {
		if !strings.Contains(c, want) {
			t.Errorf("feedback card lacks %s: %s", want, c)
		}
	}
	acts := w.conn.Activities(personal)
	if last := acts[len(acts)-1].Card(); cardJSON(last) != c || !strings.Contains(w.texts(personal), "has ended") {
		t.Fatal("the feedback card is not the last message after the notice that access ended")
	}

	// Someone else's answer is refused and audited; nothing is stored.
	_, resp = w.post(w.answer(sam, req.ID, map[string]any{cards.InputUseful: "no", cards.InputFastEnough: "no"}))
	if resp["type"] != cards.MessageContentType || !strings.Contains(resp["value"].(string), "Only the person who asked") {
		t.Fatalf("sam's answer: %v", resp)
	}
	if got, _ := w.db.GetRequest(ctx, req.ID); got.Feedback != nil {
		t.Fatalf("sam's answer was stored: %+v", got.Feedback)
	}
	if evs, _ := w.db.Audit(ctx, access.AuditFilter{RequestID: req.ID}); evs[len(evs)-1].Action != access.ActionFeedbackRefused || evs[len(evs)-1].Actor.ObjectID != samID {
		t.Fatalf("sam's answer audited as %+v", evs[len(evs)-1])
	}

	// Riley's answer is stored and audited, and the card says thank you.
	w.clock.Advance(3 * time.Minute)
	code, resp := w.post(w.answer(riley, req.ID, map[string]any{
		cards.InputUseful: "partly", cards.InputFastEnough: "no", cards.InputComment: "the approver took a while",
	}))
	if code != http.StatusOK || resp["type"] != cards.ContentType || !strings.Contains(cardJSON(resp["value"]), "Thank you for your feedback") {
		t.Fatalf("riley's answer: HTTP %d %v", code, resp)
	}
	got, _ := w.db.GetRequest(ctx, req.ID)
	want := access.Feedback{Useful: access.UsefulPartly, FastEnough: false, Comment: "the approver took a while", At: w.clock.Now().UTC()}
	if got.Feedback == nil || !reflect.DeepEqual(*got.Feedback, want) {
		t.Fatalf("stored feedback %+v, want %+v", got.Feedback, want)
	}
	evs, _ := w.db.Audit(ctx, access.AuditFilter{RequestID: req.ID})
	last := evs[len(evs)-1]
	if last.Action != access.ActionFeedback || last.Actor.ObjectID != rileyID || !strings.Contains(last.Reason, "useful: partly; fast enough: no") {
		t.Fatalf("feedback audited as %+v", last)
	}

	// A second answer is refused politely and changes nothing.
	_, resp = w.post(w.answer(riley, req.ID, map[string]any{cards.InputUseful: "yes", cards.InputFastEnough: "yes"}))
	if resp["type"] != cards.MessageContentType || !strings.Contains(resp["value"].(string), "first answer is kept") {
		t.Fatalf("second answer: %v", resp)
	}
	again, _ := w.db.GetRequest(ctx, req.ID)
	evs2, _ := w.db.Audit(ctx, access.AuditFilter{RequestID: req.ID})
	if !reflect.DeepEqual(*again.Feedback, want) || len(evs2) != len(evs) {
		t.Fatalf("a second answer changed the feedback (%+v) or the audit log (%d events, was %d)", again.Feedback, len(evs2), len(evs))
	}

	// No reminder.
	w.clock.Advance(24 * time.Hour)
	if _, err := w.svc.Work(ctx); err != nil {
		t.Fatal(err)
	}
	if n := len(w.feedbackCards(personal)); n != 1 {
		t.Fatalf("%d feedback cards, want 1", n)
	}
}

func TestFeedbackOffSendsNoCard(t *testing.T) {
	w := newWorld(t)
	w.reconfigure(func(c *access.Config) { c.Profiles[0].NoFeedback = true })
	personal := "a:personal-" + rileyID
	req := w.grantAndExpire()
	if !strings.Contains(w.texts(personal), "has ended") {
		t.Fatalf("requester not told access ended:\n%s", w.texts(personal))
	}
	if fc := w.feedbackCards(personal); len(fc) != 0 {
		t.Fatalf("feedback: false still sent %d feedback cards", len(fc))
	}
	_, resp := w.post(w.answer(riley, req.ID, map[string]any{cards.InputUseful: "yes", cards.InputFastEnough: "yes"}))
	if resp["type"] != cards.MessageContentType || !strings.Contains(resp["value"].(string), "does not ask for feedback") {
		t.Fatalf("answer with feedback off: %v", resp)
	}
	if got, _ := w.db.GetRequest(context.Background(), req.ID); got.Feedback != nil {
		t.Fatalf("feedback stored with feedback off: %+v", got.Feedback)
	}
}
