package bot_test

import (
	"context"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/jitbot/jitbot/access"
	"github.com/jitbot/jitbot/bot"
)

// withDeadline restarts the bot with prod-db's approval timeout and
// reminders set.
func (w *world) withDeadline(timeout, remind time.Duration) {
	w.reconfigure(func(c *access.Config) {
		c.Profiles[0].ApprovalTimeout, c.Profiles[0].RemindApprovers = timeout, remind
	})
}

// channelMessage is p's message with an @mention in a team channel.
func (w *world) channelMessage(p person, text string) (map[string]any, string) {
	act := w.message(p, "<at>jitbot</at> "+text)
	conv := "19:general@thread.tacv2;messageid=" + act["id"].(string)
	act["conversation"] = map[string]any{"id": conv, "conversationType": "channel", "isGroup": true, "tenantId": tenantID}
	return act, conv
}

// personalChatOf returns the personal chat the bot opened with a user, or "".
func (w *world) personalChatOf(userID string) string {
	for _, r := range w.conn.Requests() {
		if r.Method != http.MethodPost || !strings.HasSuffix(r.Path, "/v3/conversations") {
			continue
		}
		if ch, _ := r.JSON["channelData"].(map[string]any); ch != nil && ch["channel"] != nil {
			continue
		}
		members, _ := r.JSON["members"].([]any)
		for _, m := range members {
			if mm, _ := m.(map[string]any); mm != nil && mm["aadObjectId"] == userID {
				return r.ConversationID
			}
		}
	}
	return ""
}

// currentCard is the approval card as it now stands in its thread.
func (w *world) currentCard(thread string) string {
	w.t.Helper()
	acts := w.conn.Activities(thread)
	if len(acts) == 0 {
		w.t.Fatal("approval thread is empty")
	}
	a, _ := w.conn.Activity(thread, acts[0].ID)
	return cardJSON(a.Card())
}

// waitFor polls cond for up to five seconds.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	for deadline := time.Now().Add(5 * time.Second); time.Now().Before(deadline); time.Sleep(10 * time.Millisecond) {
		if cond() {
			return
		}
	}
	t.Fatalf("timed out waiting for %s", what)
}

func TestUnansweredRequestExpiresAtItsDeadlineWithReminders(t *testing.T) {
	w := newWorld(t)
	w.withDeadline(time.Hour, 15*time.Minute)
	personal := "a:personal-" + rileyID
	w.post(w.message(riley, "request prod-db 2h INC-4711 checkout latency spike"))
	req := w.onlyRequest()
	thread, _ := w.approvalThread()
	if c := w.currentCard(thread); !strings.Contains(c, "Expires without a decision at") {
		t.Fatalf("pending card does not show the deadline: %s", c)
	}

	// The scheduler, on the injected clock.
	ctx, stop := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- w.svc.Run(ctx) }()
	t.Cleanup(func() { stop(); <-done })
	reminders := func() int { return strings.Count(w.texts(thread), "still waits for a decision") }
	step := func(to time.Duration) {
		waitFor(t, "the scheduler to sleep", func() bool { return w.clock.Timers() > 0 })
		w.clock.Set(start.Add(to))
	}

	step(14 * time.Minute)
	time.Sleep(50 * time.Millisecond)
	if n := reminders(); n != 0 {
		t.Fatalf("%d reminders before +15m", n)
	}
	step(15 * time.Minute)
	waitFor(t, "reminder 1", func() bool { return reminders() == 1 })
	if got := w.texts(thread); !strings.Contains(got, "Reminder 1 of 3") || !strings.Contains(got, "Riley Responder") {
		t.Fatalf("reminder text: %s", got)
	}
	step(30 * time.Minute)
	waitFor(t, "reminder 2", func() bool { return reminders() == 2 })
	step(time.Hour)
	waitFor(t, "the time-out", func() bool {
		r, _ := w.db.GetRequest(context.Background(), req.ID)
		return r.State == access.RequestTimedOut
	})
	waitFor(t, "the card update", func() bool { return strings.Contains(w.currentCard(thread), "Expired without a decision") })
	if c := w.currentCard(thread); strings.Contains(c, `"verb":"approve"`) {
		t.Fatalf("timed-out card still has buttons: %s", c)
	}
	if n := reminders(); n != 2 {
		t.Fatalf("%d reminders, want 2 (the third would fall on the deadline)", n)
	}
	waitFor(t, "the requester's notice", func() bool { return strings.Contains(w.texts(personal), "got no decision within 1h") })

	// A late click changes nothing and shows the card as it stands.
	code, resp := w.post(w.click(alex, "approve", req.ID, nil))
	if c := cardJSON(resp["value"]); code != http.StatusOK || !strings.Contains(c, "Expired without a decision") || strings.Contains(c, `"verb":"approve"`) {
		t.Fatalf("late click: HTTP %d %v", code, resp)
	}
	if w.graph.IsMember(prodGroup, rileyID) {
		t.Fatal("a late click granted access")
	}
	if r, _ := w.db.GetRequest(context.Background(), req.ID); r.State != access.RequestTimedOut || r.Grant != nil {
		t.Fatalf("after the late click: %s", r.State)
	}
	// The requester can ask again.
	w.post(w.message(riley, "request prod-db 2h INC-4711 still needed"))
	if got := w.onlyRequest(); got.ID == req.ID || got.State != access.RequestPending {
		t.Fatalf("asking again: %+v", got)
	}
}

func TestCancelFromItsButtonAndItsCommand(t *testing.T) {
	w := newWorld(t)
	personal := "a:personal-" + rileyID
	w.post(w.message(riley, "request prod-db 2h INC-4711 checkout latency spike"))
	req := w.onlyRequest()
	thread, _ := w.approvalThread()
	if got := w.texts(personal); !strings.Contains(got, `"verb":"cancelRequest"`) {
		t.Fatalf("the received card has no Cancel: %s", got)
	}

	// Someone else's click: refused, audited, nothing changes.
	code, resp := w.post(w.click(eve, "cancelRequest", req.ID, nil))
	if code != http.StatusOK || resp["type"] != "application/vnd.microsoft.activity.message" || !strings.Contains(resp["value"].(string), "There is no request") {
		t.Fatalf("eve's cancel: HTTP %d %v", code, resp)
	}
	if r, _ := w.db.GetRequest(context.Background(), req.ID); r.State != access.RequestPending {
		t.Fatalf("eve's cancel changed the request: %s", r.State)
	}
	evs, _ := w.db.Audit(context.Background(), access.AuditFilter{RequestID: req.ID})
	if last := evs[len(evs)-1]; last.Action != access.ActionCancelRefused || last.Actor.ObjectID != eveID {
		t.Fatalf("eve's cancel not audited: %+v", last)
	}

	// The requester's click.
	code, resp = w.post(w.click(riley, "cancelRequest", req.ID, nil))
	if c := cardJSON(resp["value"]); code != http.StatusOK || !strings.Contains(c, "Request cancelled") || strings.Contains(c, `"verb":"cancelRequest"`) {
		t.Fatalf("riley's cancel: HTTP %d %v", code, resp)
	}
	if c := w.currentCard(thread); !strings.Contains(c, "Cancelled by the requester") || strings.Contains(c, `"verb":"approve"`) {
		t.Fatalf("approval card after the cancel: %s", c)
	}
	// An approval after it changes nothing.
	w.post(w.click(alex, "approve", req.ID, nil))
	if w.graph.IsMember(prodGroup, rileyID) {
		t.Fatal("approved after the cancel")
	}
	// A second click shows the request as it stands.
	_, resp = w.post(w.click(riley, "cancelRequest", req.ID, nil))
	if c := cardJSON(resp["value"]); !strings.Contains(c, "Request cancelled") {
		t.Fatalf("second cancel: %v", resp)
	}

	// The command: the single pending request.
	w.post(w.message(riley, "request prod-db 1h INC-4712 again"))
	second := w.onlyRequest()
	w.post(w.message(eve, "cancel "+second.ID))
	if r, _ := w.db.GetRequest(context.Background(), second.ID); r.State != access.RequestPending {
		t.Fatalf("eve's cancel command changed the request: %s", r.State)
	}
	// Told exactly what an unknown id gets: nothing says the request exists.
	w.post(w.message(eve, "cancel 00000000-0000-4000-8000-000000000000"))
	got := w.texts("a:personal-" + eveID)
	if !strings.Contains(got, "There is no request `"+second.ID+"`. Send `status` to see yours.") ||
		!strings.Contains(got, "There is no request `00000000-0000-4000-8000-000000000000`. Send `status` to see yours.") {
		t.Fatalf("eve was not told as for an unknown id: %s", got)
	}
	w.post(w.message(riley, "cancel"))
	if r, _ := w.db.GetRequest(context.Background(), second.ID); r.State != access.RequestCancelled {
		t.Fatalf("cancel command: %s", r.State)
	}
	if got := w.texts(personal); !strings.Contains(got, "is cancelled") {
		t.Fatalf("riley was not told: %s", got)
	}
	w.post(w.message(riley, "cancel"))
	if got := w.texts(personal); !strings.Contains(got, "no pending request to cancel") {
		t.Fatalf("cancel with nothing pending: %s", got)
	}
}

func TestPersonalAnswersInAChannelGoToThePersonalChat(t *testing.T) {
	w := newWorld(t)
	w.post(w.message(riley, "request prod-db 2h INC-4711 checkout latency spike"))
	req := w.onlyRequest()

	for _, cmd := range []string{"status", "profiles", "request"} {
		act, conv := w.channelMessage(riley, cmd)
		if code, _ := w.post(act); code != http.StatusOK {
			t.Fatalf("%s: HTTP %d", cmd, code)
		}
		acts := w.conn.Activities(conv)
		if len(acts) != 1 || acts[0].Text() != bot.SentPrivately || acts[0].Card() != nil {
			t.Fatalf("%s in a channel posted %d activities there: %s", cmd, len(acts), w.texts(conv))
		}
	}
	private := w.personalChatOf(rileyID)
	if private == "" {
		t.Fatal("no personal chat was opened")
	}
	got := w.texts(private)
	for _, want := range []string{req.ID, "prod-db", `"id":"justification"`} {
		if !strings.Contains(got, want) {
			t.Errorf("the personal chat lacks %s:\n%s", want, got)
		}
	}

	// A one-line request in a channel: its received card goes to the personal chat.
	w.post(w.message(riley, "cancel"))
	act, conv := w.channelMessage(riley, "request prod-db 1h INC-4713 from the channel")
	w.post(act)
	if acts := w.conn.Activities(conv); len(acts) != 1 || acts[0].Text() != bot.SentPrivately {
		t.Fatalf("one-line request in a channel: %s", w.texts(conv))
	}
	second := w.onlyRequest()
	waitFor(t, "the received card", func() bool {
		return strings.Contains(w.texts(w.personalChatOf(rileyID)), second.ID)
	})
	if got := w.texts(w.personalChatOf(rileyID)); !strings.Contains(got, `"verb":"cancelRequest"`) {
		t.Fatalf("the received card in the personal chat has no Cancel: %s", got)
	}
}

func TestRemindersAtMostThreeAndNoneRepeatedAfterARestart(t *testing.T) {
	w := newWorld(t)
	w.withDeadline(4*time.Hour, 15*time.Minute)
	w.post(w.message(riley, "request prod-db 2h INC-4711 checkout latency spike"))
	thread, _ := w.approvalThread()
	reminders := func() int { return strings.Count(w.texts(thread), "still waits for a decision") }
	workAt := func(d time.Duration) {
		w.clock.Set(start.Add(d))
		if _, err := w.svc.WorkPending(context.Background()); err != nil {
			t.Fatal(err)
		}
	}
	workAt(15 * time.Minute)
	if n := reminders(); n != 1 {
		t.Fatalf("%d reminders at +15m", n)
	}
	w.reconfigure(nil) // restarted with the same configuration
	workAt(16 * time.Minute)
	if n := reminders(); n != 1 {
		t.Fatalf("%d reminders after a restart, want 1", n)
	}
	for _, d := range []time.Duration{30 * time.Minute, time.Hour, 2 * time.Hour, 3 * time.Hour, 3*time.Hour + 59*time.Minute} {
		workAt(d)
	}
	got := w.texts(thread)
	if n := reminders(); n != 3 || !strings.Contains(got, "Reminder 3 of 3") {
		t.Fatalf("%d reminders by +4h, want 3:\n%s", n, got)
	}
}
