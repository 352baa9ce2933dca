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
	"github.com/jitbot/jitbot/graph/graphtest"
)

// securityGrp is the security team in the break-glass tests: Sam alone,
// so that Alex is an approver who is not on it.
const securityGrp = "aaaaaaaa-0000-4000-8000-000000000009"

// breakGlass makes prod-db a break-glass profile reviewed within an hour
// by the security group (Sam), revoking unreviewed grants when revoke is
// set.
func (w *world) breakGlass(revoke bool) {
	w.graph.AddGroup(securityGrp)
	w.graph.AddMember(securityGrp, samID)
	w.reconfigure(func(c *access.Config) {
		c.SecurityGroups = []string{securityGrp}
		c.Profiles[0].BreakGlass, c.Profiles[0].ReviewWithin, c.Profiles[0].RevokeIfUnreviewed = true, time.Hour, revoke
	})
}

// reviewThread returns the thread of the review card in the security
// channel and its current card.
func (w *world) reviewThread() (string, map[string]any) {
	w.t.Helper()
	th := w.securityThread()
	acts := w.conn.Activities(th)
	if len(acts) == 0 {
		w.t.Fatal("review thread has no activity")
	}
	return th, acts[0].Card()
}

// reviewClick is p's click of verb on the review card in the security
// channel.
func (w *world) reviewClick(p person, verb, requestID string, extra map[string]any) map[string]any {
	act := w.click(p, verb, requestID, extra)
	act["conversation"] = map[string]any{"id": securityChannel + ";messageid=1", "conversationType": "channel", "isGroup": true, "tenantId": tenantID}
	return act
}

// breakGlassRequest asks for prod-db as riley and returns the request,
// granted at once.
func (w *world) breakGlassRequest(d string) *access.Request {
	w.t.Helper()
	if code, _ := w.post(w.message(riley, "request prod-db "+d+" INC-4711 primary is down")); code != http.StatusOK {
		w.t.Fatalf("request: HTTP %d", code)
	}
	req := w.onlyRequest()
	if req.State != access.RequestActive || req.Grant == nil || !req.Grant.BreakGlass {
		w.t.Fatalf("break-glass request not granted at once: %s %+v", req.State, req.Grant)
	}
	return req
}

// threadTexts is the text of every activity of a thread but its root.
func (w *world) replies(thread string) []string {
	var out []string
	for _, a := range w.conn.Activities(thread) {
		if a.ReplyToID != "" || a.Card() == nil {
			out = append(out, a.Text())
		}
	}
	return out
}

func TestBreakGlassGrantsAtOnceAndSecurityAcknowledges(t *testing.T) {
	w := newWorld(t)
	w.breakGlass(false)
	ctx := context.Background()
	req := w.breakGlassRequest("2h")

	// Granted at once, by jitbot, marked break-glass, without approver.
	if !w.graph.IsMember(prodGroup, rileyID) {
		t.Fatal("riley is not a member after a break-glass request")
	}
	g := req.Grant
	if d := req.LastDecision(); d == nil || d.Approver.ObjectID != access.System.ObjectID || d.Reason != access.BreakGlassReason {
		t.Fatalf("decision %+v, want jitbot's break-glass approval", d)
	}
	if !g.ReviewBy.Equal(start.Add(time.Hour)) || !g.Review.At.IsZero() {
		t.Fatalf("review due %v, review %+v", g.ReviewBy, g.Review)
	}
	if w.auditBy(req.ID, access.ActionBreakGlass, access.System.ObjectID) != 1 {
		t.Fatal("request.break_glass not audited")
	}
	_, approval := w.approvalThread()
	if c := cardJSON(approval); !strings.Contains(c, access.BreakGlassReason) || !strings.Contains(c, `"verb":"revokeNow"`) || strings.Contains(c, `"verb":"approve"`) || strings.Contains(c, "Auto-approved") {
		t.Fatalf("approval card is not marked break-glass with Revoke now only: %s", c)
	}
	secThread, review := w.reviewThread()
	rc := cardJSON(review)
	for _, want := range []string{access.BreakGlassReason, `"verb":"acknowledgeReview"`, `"verb":"revokeNow"`, "Review due", "primary is down", "Riley Responder"} {
		if !strings.Contains(rc, want) {
			t.Fatalf("review card lacks %s: %s", want, rc)
		}
	}
	if texts := w.texts("a:personal-" + rileyID); !strings.Contains(texts, "granted at once under break-glass") || !strings.Contains(texts, "security team was alerted") ||
		!strings.Contains(texts, "Granted under break-glass") {
		t.Fatalf("requester not told of the break-glass grant:\n%s", texts)
	}

	// Only the security team acknowledges: an outsider, an approver who
	// is not on it and the requester are refused, audited, and nothing
	// changes.
	for _, tc := range []struct {
		who  person
		want string
	}{
		{eve, "Only the security team can review"},
		{alex, "Only the security team can review"},
		{riley, "cannot review your own"},
	} {
		writes := w.writes()
		note, verbs := w.viewIn(w.post(w.reviewClick(tc.who, cards.VerbAcknowledge, req.ID, map[string]any{cards.InputReviewNote: "looks fine"})))
		if !strings.Contains(note, tc.want) || !slices.Contains(verbs, cards.VerbAcknowledge) {
			t.Fatalf("%s's acknowledge: note %q, buttons %v", tc.who.name, note, verbs)
		}
		if w.auditBy(req.ID, access.ActionReviewRefused, tc.who.id) != 1 {
			t.Fatalf("%s's refused review is not audited", tc.who.name)
		}
		if got := w.grantOf(req.ID); !got.Review.At.IsZero() {
			t.Fatalf("a refused review was recorded: %+v", got.Review)
		}
		if w.writes() != writes {
			t.Fatalf("a refused review wrote to Teams")
		}
		w.unchanged(req.ID)
	}

	w.clock.Advance(10 * time.Minute)
	v := w.viewOf(w.post(w.reviewClick(sam, cards.VerbAcknowledge, req.ID, map[string]any{cards.InputReviewNote: "checked the INC, ok <b>"})))
	if v.note != "" || slices.Contains(v.verbs, cards.VerbAcknowledge) || !slices.Contains(v.verbs, cards.VerbRevokeNow) ||
		!strings.Contains(v.body, "Reviewed by ") || !strings.Contains(v.body, "Sam Second") || !strings.Contains(v.body, "checked the INC, ok") {
		t.Fatalf("card after acknowledge: note %q verbs %v body %s", v.note, v.verbs, v.body)
	}
	got := w.grantOf(req.ID)
	if got.Review.By.ObjectID != samID || got.Review.Note != "checked the INC, ok <b>" || !got.Review.At.Equal(start.Add(10*time.Minute)) || !got.ReviewDueAt.IsZero() {
		t.Fatalf("stored review %+v, next step %v", got.Review, got.ReviewDueAt)
	}
	if w.auditBy(req.ID, access.ActionReviewed, samID) != 1 {
		t.Fatal("grant.reviewed by sam not audited")
	}
	// Both cards were updated in place.
	if acts := w.conn.Activities(secThread); acts[0].Version < 2 || !strings.Contains(cardJSON(acts[0].Card()), "Sam Second") {
		t.Fatal("the review card in the security channel was not updated")
	}
	if _, approval := w.approvalThread(); !strings.Contains(cardJSON(approval), "Reviewed by ") {
		t.Fatalf("the approval card does not show the review: %s", cardJSON(approval))
	}

	// A second review keeps the first.
	note, _ := w.viewIn(w.post(w.reviewClick(sam, cards.VerbAcknowledge, req.ID, map[string]any{cards.InputReviewNote: "again"})))
	if !strings.Contains(note, "reviewed already by Sam Second") {
		t.Fatalf("second review: note %q", note)
	}
	if g := w.grantOf(req.ID); g.Review.Note != "checked the INC, ok <b>" || w.auditBy(req.ID, access.ActionReviewed, samID) != 1 {
		t.Fatalf("a second review changed the first: %+v", g.Review)
	}

	// Reviewed: no reminder, no revocation.
	w.clock.Advance(2 * time.Hour)
	if n, err := w.svc.WorkReviews(ctx); n != 0 || err != nil {
		t.Fatalf("work reviews after the review: %d %v", n, err)
	}
	if len(w.replies(secThread)) != 0 {
		t.Fatalf("reminders after the review: %v", w.replies(secThread))
	}
}

func TestUnreviewedBreakGlassIsRemindedThenRevoked(t *testing.T) {
	w := newWorld(t)
	w.breakGlass(true)
	ctx := context.Background()
	req := w.breakGlassRequest("2h")
	secThread, _ := w.reviewThread()

	w.clock.Advance(29 * time.Minute)
	if n, err := w.svc.WorkReviews(ctx); n != 0 || err != nil {
		t.Fatalf("before the reminder: %d %v", n, err)
	}
	w.clock.Advance(time.Minute)
	if n, err := w.svc.WorkReviews(ctx); n != 1 || err != nil {
		t.Fatalf("the reminder: %d %v", n, err)
	}
	replies := w.replies(secThread)
	if len(replies) != 1 || !strings.Contains(replies[0], "Reminder 1") || !strings.Contains(replies[0], "not reviewed yet") || !strings.Contains(replies[0], "jitbot revokes it") {
		t.Fatalf("review reminder: %q", replies)
	}
	// Exactly once: again, after a restart, and from a second replica.
	if n, _ := w.svc.WorkReviews(ctx); n != 0 {
		t.Fatal("the reminder was sent twice")
	}
	w.reconfigure(nil)
	if n, _ := w.svc.WorkReviews(ctx); n != 0 {
		t.Fatal("the reminder was sent again after a restart")
	}
	cfg := w.svcCfg
	cfg.Owner = "replica-2"
	other, err := access.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	if n, _ := other.WorkReviews(ctx); n != 0 {
		t.Fatal("a second replica sent the reminder again")
	}
	if w.auditBy(req.ID, access.ActionReviewReminded, access.System.ObjectID) != 1 || len(w.replies(secThread)) != 1 {
		t.Fatal("the reminder is not recorded once")
	}
	w.unchanged(req.ID)

	// At review_within, unreviewed: revoked through the early end.
	w.clock.Advance(29 * time.Minute)
	if n, _ := w.svc.WorkReviews(ctx); n != 0 || !w.graph.IsMember(prodGroup, rileyID) {
		t.Fatal("revoked before review_within")
	}
	w.clock.Advance(time.Minute)
	if n, err := w.svc.WorkReviews(ctx); n != 1 || err != nil {
		t.Fatalf("revoke unreviewed: %d %v", n, err)
	}
	if n, _ := other.WorkReviews(ctx); n != 0 {
		t.Fatal("the revocation was recorded twice")
	}
	g := w.grantOf(req.ID)
	if g.Early.Kind != access.EndUnreviewed || g.Early.Reason != "not reviewed within 1h" || !g.DueAt.Equal(start.Add(time.Hour)) {
		t.Fatalf("grant after the deadline: %+v", g.Early)
	}
	if w.auditBy(req.ID, access.ActionRevokedUnreviewed, access.System.ObjectID) != 1 {
		t.Fatal("grant.revoked_unreviewed not audited")
	}
	if _, err := w.svc.Work(ctx); err != nil {
		t.Fatal(err)
	}
	if w.graph.IsMember(prodGroup, rileyID) || w.graph.CountFor(graphtest.RouteRemoveMember, prodGroup, rileyID) != 1 {
		t.Fatal("riley was not removed once")
	}
	if texts := w.texts("a:personal-" + rileyID); !strings.Contains(texts, "revoked by jitbot") || !strings.Contains(texts, "not reviewed within 1h") {
		t.Fatalf("requester not told why:\n%s", texts)
	}
	if _, card := w.reviewThread(); !strings.Contains(cardJSON(card), "Not reviewed in time") || strings.Contains(cardJSON(card), `"verb":"revokeNow"`) {
		t.Fatalf("review card after the revocation: %s", cardJSON(card))
	}
	if _, card := w.approvalThread(); !strings.Contains(cardJSON(card), "Revoked early by ") {
		t.Fatalf("approval card after the revocation: %s", cardJSON(card))
	}
	// A late review is still recorded: the after-the-fact review is owed.
	v := w.viewOf(w.post(w.reviewClick(sam, cards.VerbAcknowledge, req.ID, nil)))
	if v.note != "" || !strings.Contains(v.body, "Sam Second") {
		t.Fatalf("late review: %q %s", v.note, v.body)
	}
}

func TestUnreviewedBreakGlassWithoutRevocationIsOnlyReminded(t *testing.T) {
	w := newWorld(t)
	w.breakGlass(false)
	ctx := context.Background()
	req := w.breakGlassRequest("4h")
	secThread, _ := w.reviewThread()
	for i, at := range []time.Duration{30 * time.Minute, time.Hour, 2 * time.Hour} {
		w.clock.Set(start.Add(at - time.Second))
		if n, _ := w.svc.WorkReviews(ctx); n != 0 {
			t.Fatalf("reminder %d early", i+1)
		}
		w.clock.Set(start.Add(at))
		if n, err := w.svc.WorkReviews(ctx); n != 1 || err != nil {
			t.Fatalf("reminder %d: %d %v", i+1, n, err)
		}
	}
	w.clock.Set(start.Add(3*time.Hour + 59*time.Minute))
	if n, _ := w.svc.WorkReviews(ctx); n != 0 {
		t.Fatal("a fourth reminder")
	}
	if r := w.replies(secThread); len(r) != access.MaxReviewReminders || strings.Contains(r[0], "revokes") {
		t.Fatalf("reminders: %q", r)
	}
	w.unchanged(req.ID)
}

// After downtime past the review's deadline, without revoke_if_unreviewed,
// the overdue reminders are not sent at once: one now, the next half the
// review time later, as the first was paced.
func TestReviewRemindersAfterDowntimeArePaced(t *testing.T) {
	w := newWorld(t)
	w.breakGlass(false)
	ctx := context.Background()
	req := w.breakGlassRequest("4h")
	secThread, _ := w.reviewThread()

	// Down from before the first reminder (30m) until past the second (1h).
	back := start.Add(90 * time.Minute)
	w.clock.Set(back)
	if n, err := w.svc.WorkReviews(ctx); n != 1 || err != nil {
		t.Fatalf("back after downtime: %d reminders sent, %v; want 1", n, err)
	}
	if r := w.replies(secThread); len(r) != 1 || !strings.Contains(r[0], "Reminder 1") {
		t.Fatalf("replies after downtime: %q", r)
	}
	for _, step := range []struct {
		at   time.Time
		want int
	}{
		{back.Add(30*time.Minute - time.Second), 0},
		{back.Add(30 * time.Minute), 1}, // reminder 2
		// Reminder 3 was due at 2h, now: it waits half the review time too.
		{back.Add(time.Hour - time.Second), 0},
		{back.Add(time.Hour), 1},
		{back.Add(3 * time.Hour), 0},
	} {
		w.clock.Set(step.at)
		if n, err := w.svc.WorkReviews(ctx); n != step.want || err != nil {
			t.Fatalf("at %s: %d reminders, %v; want %d", step.at.Sub(start), n, err, step.want)
		}
	}
	if r := w.replies(secThread); len(r) != access.MaxReviewReminders || !strings.Contains(r[1], "Reminder 2") || !strings.Contains(r[2], "Reminder 3") {
		t.Fatalf("reminders: %q", r)
	}
	if w.auditBy(req.ID, access.ActionReviewReminded, access.System.ObjectID) != access.MaxReviewReminders {
		t.Fatal("the reminders are not each recorded once")
	}
	w.unchanged(req.ID)
}

func TestRevokeNowFromTheReviewCard(t *testing.T) {
	w := newWorld(t)
	w.breakGlass(false)
	req := w.breakGlassRequest("2h")
	writes := w.writes()
	note, _ := w.viewIn(w.post(w.reviewClick(eve, cards.VerbRevokeNow, req.ID, map[string]any{cards.DataCard: cards.CardReview, cards.InputRevokeReason: "no INC"})))
	if !strings.Contains(note, "Only an approver of prod-db or the security team") || w.writes() != writes {
		t.Fatalf("outsider's revoke: %q", note)
	}
	w.unchanged(req.ID)
	w.clock.Advance(5 * time.Minute)
	v := w.viewOf(w.post(w.reviewClick(sam, cards.VerbRevokeNow, req.ID, map[string]any{cards.DataCard: cards.CardReview, cards.InputRevokeReason: "not an outage"})))
	if v.note != "" || slices.Contains(v.verbs, cards.VerbRevokeNow) || !strings.Contains(v.body, "Break-glass access") {
		t.Fatalf("review card after revoke now: %q %v %s", v.note, v.verbs, v.body)
	}
	if w.graph.IsMember(prodGroup, rileyID) || w.auditBy(req.ID, access.ActionRevokedEarly, samID) != 1 {
		t.Fatal("revoke now from the review card did not revoke")
	}
}

// The scheduler wakes for each step of a break-glass review and for an
// escalation by itself: the review reminder, the revocation of an
// unreviewed grant, and the escalation card come at their times while Run
// runs, without anyone calling the work.
func TestSchedulerRunsReviewsAndEscalations(t *testing.T) {
	w := newWorld(t)
	w.breakGlass(true)
	// A long lease, so that the scheduler's periodic look does not come
	// between the steps: it must wake for each step itself.
	w.reconfigure(func(c *access.Config) { c.Lease = 2 * time.Hour })
	req := w.breakGlassRequest("2h")
	secThread, _ := w.reviewThread()
	ctx, stop := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- w.svc.Run(ctx) }()
	defer func() { stop(); <-done }()
	step := func(to time.Time) {
		waitFor(t, "the scheduler to sleep", func() bool { return w.clock.Timers() > 0 })
		w.clock.Set(to)
	}
	step(start.Add(30*time.Minute - time.Second))
	time.Sleep(50 * time.Millisecond)
	if n := len(w.replies(secThread)); n != 0 {
		t.Fatalf("%d reminders before their time", n)
	}
	step(start.Add(30 * time.Minute))
	waitFor(t, "the review reminder", func() bool { return len(w.replies(secThread)) == 1 })
	step(start.Add(time.Hour))
	waitFor(t, "the unreviewed grant's removal", func() bool { return !w.graph.IsMember(prodGroup, rileyID) })
	if w.grantOf(req.ID).Early.Kind != access.EndUnreviewed {
		t.Fatal("removed, but not as unreviewed")
	}
}

func TestSchedulerEscalatesOnTime(t *testing.T) {
	w := newWorld(t)
	w.escalating()
	w.reconfigure(func(c *access.Config) { c.Lease = 2 * time.Hour; c.Profiles[0].RemindApprovers = 0 })
	if code, _ := w.post(w.message(riley, "request prod-db 2h INC-4711 checkout latency spike")); code != http.StatusOK {
		t.Fatalf("request: HTTP %d", code)
	}
	ctx, stop := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- w.svc.Run(ctx) }()
	defer func() { stop(); <-done }()
	step := func(to time.Time) {
		waitFor(t, "the scheduler to sleep", func() bool { return w.clock.Timers() > 0 })
		w.clock.Set(to)
	}
	step(start.Add(20*time.Minute - time.Second))
	time.Sleep(50 * time.Millisecond)
	if n := len(w.escalationThreads()); n != 0 {
		t.Fatal("escalated before its time")
	}
	step(start.Add(20 * time.Minute))
	waitFor(t, "the escalation card", func() bool { return len(w.escalationThreads()) == 1 })
}

// Break-glass decides who may act without asking, not who may act: the
// requester groups, the ticket and the justification still apply, and a
// refused request grants nothing and tells no channel.
func TestBreakGlassKeepsTheProfilesRules(t *testing.T) {
	w := newWorld(t)
	w.breakGlass(false)
	for _, tc := range []struct {
		who  person
		line string
		want string
	}{
		{eve, "request prod-db 1h INC-4711 primary is down", "not in a group allowed to request prod-db"},
		{riley, "request prod-db 1h primary is down", "needs a ticket"},
		{riley, "request prod-db 8h INC-4711 primary is down", "can be granted for"},
	} {
		writes := w.writes()
		if code, _ := w.post(w.message(tc.who, tc.line)); code != http.StatusOK {
			t.Fatalf("%s: HTTP %d", tc.line, code)
		}
		if got := w.texts("a:personal-" + tc.who.id); !strings.Contains(got, tc.want) {
			t.Fatalf("%s: answer lacks %q:\n%s", tc.line, tc.want, got)
		}
		if w.writes() != writes+1 || len(w.threads()) != 0 || w.graph.CountFor(graphtest.RouteAddMember, prodGroup, "") != 0 {
			t.Fatalf("%s: a refused break-glass request posted a card or granted", tc.line)
		}
		if reqs, _ := w.db.OpenRequests(context.Background(), tc.who.id); len(reqs) != 0 {
			t.Fatalf("%s: stored %d requests", tc.line, len(reqs))
		}
	}
}
