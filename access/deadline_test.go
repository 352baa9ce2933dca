package access_test

import (
	"context"
	"errors"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jitbot/jitbot/access"
)

// withDeadline configures prod-db's approval timeout and reminders.
func withDeadline(timeout, remind time.Duration) func(*access.Config) {
	return func(c *access.Config) {
		p := prodProfile()
		p.ApprovalTimeout, p.RemindApprovers = timeout, remind
		c.Profiles = []access.Profile{p}
	}
}

// at moves the clock to start+d and runs the scheduler's pending work.
func (e *env) workAt(d time.Duration) {
	e.t.Helper()
	e.clock.Set(start.Add(d))
	if _, err := e.svc.WorkPending(context.Background()); err != nil {
		e.t.Fatalf("work pending at +%s: %v", d, err)
	}
}

func count[T comparable](actions []T, a T) int {
	n := 0
	for _, x := range actions {
		if x == a {
			n++
		}
	}
	return n
}

func TestUnansweredRequestTimesOutWithReminders(t *testing.T) {
	forEachStore(t, func(t *testing.T, kind storeKind) {
		e := newEnv(t, kind)
		e.openWith(withDeadline(time.Hour, 15*time.Minute))
		req := e.submit(riley, time.Hour)
		if want := start.Add(time.Hour); !req.DecideBy.Equal(want) {
			t.Fatalf("deadline %s, want %s", req.DecideBy, want)
		}
		e.workAt(14 * time.Minute)
		if got := e.notes.Reminders(req.ID); len(got) != 0 {
			t.Fatalf("reminders before +15m: %v", got)
		}
		e.workAt(15 * time.Minute)
		e.workAt(29 * time.Minute)
		if got := e.notes.Reminders(req.ID); !equal(got, []int{1}) {
			t.Fatalf("reminders by +29m: %v, want [1]", got)
		}
		e.workAt(30 * time.Minute)
		e.workAt(59 * time.Minute)
		if got := e.notes.Reminders(req.ID); !equal(got, []int{1, 2}) {
			t.Fatalf("reminders by +59m: %v, want [1 2]", got)
		}
		cur, _ := e.store.GetRequest(context.Background(), req.ID)
		if cur.State != access.RequestPending {
			t.Fatalf("state before the deadline: %s", cur.State)
		}

		e.workAt(time.Hour)
		cur, _ = e.store.GetRequest(context.Background(), req.ID)
		if cur.State != access.RequestTimedOut || !cur.State.Final() {
			t.Fatalf("state at the deadline: %s, want timed_out", cur.State)
		}
		// The third reminder would fall on the deadline: never sent.
		if got := e.notes.Reminders(req.ID); !equal(got, []int{1, 2}) {
			t.Fatalf("reminders at the deadline: %v, want [1 2]", got)
		}
		if got := e.audit(req.ID); !equal(got, []access.Action{access.ActionRequested, access.ActionReminded, access.ActionReminded, access.ActionTimedOut}) {
			t.Fatalf("audit: %v", got)
		}
		if ev := e.auditEvents(req.ID)[3]; ev.Actor != access.System {
			t.Fatalf("timed out by %+v, want jitbot", ev.Actor)
		}
		states := e.notes.CardStates(req.ID)
		if states[len(states)-1] != access.RequestTimedOut {
			t.Fatalf("card states %v: the card does not show the time-out", states)
		}
		notices := e.notes.Notices(req.ID)
		if notices[len(notices)-1] != access.NoticeTimedOut {
			t.Fatalf("notices %v: the requester was not told", notices)
		}

		// A late click changes nothing and carries the request as it stands.
		changes := e.changeCount()
		_, err := e.decide(req.ID, alex, access.Approve, "")
		var r *access.Refusal
		if !errors.As(err, &r) || !errors.Is(err, access.ErrNotPending) || r.Request == nil || r.Request.State != access.RequestTimedOut {
			t.Fatalf("late approval: %v", err)
		}
		if e.isMember(riley.ObjectID) || e.changeCount() != changes {
			t.Fatal("a late approval changed something")
		}
		// Nothing more happens to a closed request, and the requester may ask again.
		e.workAt(3 * time.Hour)
		if got := e.notes.Reminders(req.ID); len(got) != 2 {
			t.Fatalf("reminders after the deadline: %v", got)
		}
		again := e.submit(riley, time.Hour)
		if again.ID == req.ID || again.State != access.RequestPending {
			t.Fatalf("asking again: %+v", again)
		}
	})
}

func TestLateClickBeforeTheSchedulerRan(t *testing.T) {
	forEachStore(t, func(t *testing.T, kind storeKind) {
		e := newEnv(t, kind)
		e.openWith(withDeadline(30*time.Minute, 0))
		req := e.submit(riley, time.Hour)
		e.clock.Set(start.Add(30 * time.Minute))
		_, err := e.decide(req.ID, alex, access.Approve, "")
		var r *access.Refusal
		if !errors.As(err, &r) || !errors.Is(err, access.ErrNotPending) || r.Request == nil || r.Request.State != access.RequestTimedOut {
			t.Fatalf("approval at the deadline: %v", err)
		}
		if e.isMember(riley.ObjectID) || r.Request.Grant != nil {
			t.Fatal("an approval at the deadline granted access")
		}
		if got := e.audit(req.ID); !equal(got, []access.Action{access.ActionRequested, access.ActionTimedOut}) {
			t.Fatalf("audit: %v", got)
		}
		if got := e.notes.Reminders(req.ID); len(got) != 0 {
			t.Fatalf("reminders with remind_approvers 0: %v", got)
		}
	})
}

func TestRemindersAtMostThreeNeverRepeatedByARestart(t *testing.T) {
	forEachStore(t, func(t *testing.T, kind storeKind) {
		e := newEnv(t, kind)
		e.openWith(withDeadline(4*time.Hour, 15*time.Minute))
		req := e.submit(riley, time.Hour)
		e.workAt(15 * time.Minute)
		e.close()
		e.openWith(withDeadline(4*time.Hour, 15*time.Minute))
		e.workAt(16 * time.Minute)
		if got := e.notes.Reminders(req.ID); !equal(got, []int{1}) {
			t.Fatalf("reminders after a restart: %v, want [1]", got)
		}
		for _, d := range []time.Duration{30 * time.Minute, time.Hour, 2 * time.Hour, 3 * time.Hour} {
			e.workAt(d)
		}
		if got := e.notes.Reminders(req.ID); !equal(got, []int{1, 2, 3}) {
			t.Fatalf("reminders by +3h: %v, want [1 2 3]", got)
		}
		e.workAt(4 * time.Hour)
		if got := e.audit(req.ID); count(got, access.ActionReminded) != 3 || got[len(got)-1] != access.ActionTimedOut {
			t.Fatalf("audit: %v", got)
		}
	})
}

func TestTwoReplicasTimeOutARequestOnce(t *testing.T) {
	e := newEnv(t, onMemory)
	e.openWith(withDeadline(time.Hour, 15*time.Minute))
	req := e.submit(riley, time.Hour)
	first := e.svc
	e.openWith(withDeadline(time.Hour, 15*time.Minute))
	second := e.svc
	for _, d := range []time.Duration{15 * time.Minute, time.Hour} {
		e.clock.Set(start.Add(d))
		var wg sync.WaitGroup
		for _, s := range []*access.Service{first, second} {
			wg.Add(1)
			go func() {
				defer wg.Done()
				if _, err := s.WorkPending(context.Background()); err != nil {
					t.Error(err)
				}
			}()
		}
		wg.Wait()
	}
	got := e.audit(req.ID)
	if count(got, access.ActionReminded) != 1 || count(got, access.ActionTimedOut) != 1 {
		t.Fatalf("audit of two replicas: %v", got)
	}
	if n := count(e.notes.Notices(req.ID), access.NoticeTimedOut); n != 1 {
		t.Fatalf("requester told %d times", n)
	}
}

func TestCancel(t *testing.T) {
	forEachStore(t, func(t *testing.T, kind storeKind) {
		e := newEnv(t, kind)
		ctx := context.Background()
		req := e.submit(riley, time.Hour)

		// Someone else: refused, audited, nothing changes.
		changes := e.changeCount()
		_, err := e.svc.Cancel(ctx, access.CancelInput{TenantID: tenant, RequestID: req.ID, Who: eve})
		_, unknown := e.svc.Cancel(ctx, access.CancelInput{TenantID: tenant, RequestID: "00000000-0000-4000-8000-000000000000", Who: eve})
		sameAsUnknown(t, "cancel by eve", err, unknown, req.ID, "00000000-0000-4000-8000-000000000000")
		if cur, _ := e.store.GetRequest(ctx, req.ID); cur.State != access.RequestPending || e.changeCount() != changes+1 {
			t.Fatalf("cancel by eve changed the request: %s", cur.State)
		}
		if got := e.audit(req.ID); got[len(got)-1] != access.ActionCancelRefused {
			t.Fatalf("refusal not audited: %v", got)
		}

		// The requester, without naming it: their one pending request.
		out, err := e.svc.Cancel(ctx, access.CancelInput{TenantID: tenant, Who: riley})
		if err != nil || out.ID != req.ID || out.State != access.RequestCancelled {
			t.Fatalf("cancel by riley: %+v, %v", out, err)
		}
		if states := e.notes.CardStates(req.ID); states[len(states)-1] != access.RequestCancelled {
			t.Fatalf("card states %v", states)
		}
		if got := e.audit(req.ID); got[len(got)-1] != access.ActionCancelled {
			t.Fatalf("audit: %v", got)
		}
		// Again: no longer pending, nothing changes.
		changes = e.changeCount()
		_, err = e.svc.Cancel(ctx, access.CancelInput{TenantID: tenant, RequestID: req.ID, Who: riley})
		if !errors.Is(err, access.ErrNotPending) || e.changeCount() != changes {
			t.Fatalf("second cancel: %v", err)
		}
		if _, err := e.svc.Cancel(ctx, access.CancelInput{TenantID: tenant, Who: riley}); !errors.Is(err, access.ErrNotFound) {
			t.Fatalf("cancel with nothing pending: %v", err)
		}
		// An approval after the cancel changes nothing.
		if _, err := e.decide(req.ID, alex, access.Approve, ""); !errors.Is(err, access.ErrNotPending) || e.isMember(riley.ObjectID) {
			t.Fatalf("approval after cancel: %v", err)
		}
		// A cancelled request's deadline does nothing.
		e.workAt(2 * time.Hour)
		if got := e.audit(req.ID); count(got, access.ActionTimedOut) != 0 {
			t.Fatalf("a cancelled request timed out: %v", got)
		}
	})
}

func TestCancelAmongSeveralAsksWhich(t *testing.T) {
	e := newEnv(t, onMemory)
	e.openWith(func(c *access.Config) {
		staging := prodProfile()
		staging.Name = "staging"
		c.Profiles = append(c.Profiles, staging)
	})
	ctx := context.Background()
	first := e.submit(riley, time.Hour)
	second, err := e.svc.Submit(ctx, access.Submission{TenantID: tenant, Requester: riley, Profile: "staging", Duration: time.Hour, Ticket: "INC-1", Justification: "deploy check"})
	if err != nil {
		t.Fatal(err)
	}
	_, err = e.svc.Cancel(ctx, access.CancelInput{TenantID: tenant, Who: riley})
	if !errors.Is(err, access.ErrInvalidInput) || !contains(err.Error(), first.ID) || !contains(err.Error(), second.ID) {
		t.Fatalf("cancel among two: %v", err)
	}
	for _, id := range []string{first.ID, second.ID} {
		if cur, _ := e.store.GetRequest(ctx, id); cur.State != access.RequestPending {
			t.Fatalf("%s is %s", id, cur.State)
		}
	}
	if out, err := e.svc.Cancel(ctx, access.CancelInput{TenantID: tenant, RequestID: second.ID, Who: riley}); err != nil || out.State != access.RequestCancelled {
		t.Fatalf("cancel by id: %v", err)
	}
}

func contains(s, sub string) bool { return strings.Contains(s, sub) }

// TestReportCountsCancelledAndTimedOut: requests closed without a decision
// are counted as such, never as grants.
func TestReportCountsCancelledAndTimedOut(t *testing.T) {
	forEachStore(t, func(t *testing.T, kind storeKind) {
		e := readerEnv(t, kind)
		e.openWith(func(c *access.Config) {
			withDeadline(time.Hour, 0)(c)
			c.AuditReaderGroups = []string{auditGroup}
		})
		ctx := context.Background()
		cancelled := e.submit(riley, time.Hour)
		if _, err := e.svc.Cancel(ctx, access.CancelInput{TenantID: tenant, Who: riley}); err != nil {
			t.Fatal(err)
		}
		timedOut := e.submit(riley, time.Hour)
		e.workAt(time.Hour)
		rep, err := e.svc.AuditReport(ctx, access.ReportInput{TenantID: tenant, Who: sam, Private: true})
		if err != nil {
			t.Fatal(err)
		}
		if rep.Requests != 2 || rep.Cancelled != 1 || rep.TimedOut != 1 || rep.Grants != 0 || rep.Denials != 0 || rep.Pending != 0 {
			t.Fatalf("report: %+v", rep)
		}
		for id, want := range map[string]access.Outcome{cancelled.ID: access.OutcomeCancelled, timedOut.ID: access.OutcomeTimedOut} {
			r, _ := e.store.GetRequest(ctx, id)
			if got := access.NewGrantRecord(*r).Outcome; got != want {
				t.Errorf("outcome %s, want %s", got, want)
			}
		}
	})
}

// A pending request stored before deadlines existed has none: at start it
// gets its profile's, at the earliest a whole timeout from then, once, and
// then times out like any other.
func TestUndatedPendingRequestGetsADeadline(t *testing.T) {
	forEachStore(t, func(t *testing.T, kind storeKind) {
		e := newEnv(t, kind)
		e.openWith(withDeadline(time.Hour, 15*time.Minute))
		ctx := context.Background()
		old := &access.Request{
			ID: "old-request", Profile: "prod-db", GroupID: prodGroup, Requester: riley, Duration: time.Hour,
			Ticket: "INC-1", Justification: "asked before deadlines", State: access.RequestPending,
			CreatedAt: start, UpdatedAt: start,
		}
		if _, err := e.store.CreateRequest(ctx, old, access.AuditEvent{At: start, Actor: riley, Action: access.ActionRequested, RequestID: old.ID}); err != nil {
			t.Fatal(err)
		}
		if err := e.store.SetApprovalCard(ctx, old.ID, access.ConversationRef{ConversationID: "19:approvers@thread.tacv2;messageid=1"}, "1"); err != nil {
			t.Fatal(err)
		}
		e.clock.Set(start.Add(2 * time.Hour))
		n, err := e.svc.DatePending(ctx)
		if err != nil || n != 1 {
			t.Fatalf("DatePending = %d, %v; want 1 request dated", n, err)
		}
		got, err := e.store.GetRequest(ctx, old.ID)
		if err != nil {
			t.Fatal(err)
		}
		if want := start.Add(3 * time.Hour); !got.DecideBy.Equal(want) {
			t.Fatalf("deadline %s, want %s (a whole timeout after it was dated)", got.DecideBy, want)
		}
		evs := e.auditEvents(old.ID)
		if last := evs[len(evs)-1]; len(evs) != 2 || last.Action != access.ActionDeadlineSet || last.Actor.ObjectID != access.System.ObjectID ||
			!last.At.Equal(start.Add(2*time.Hour)) || !strings.Contains(last.Reason, access.FormatTime(start.Add(3*time.Hour))) {
			t.Fatalf("audit trail %v, want the deadline set by jitbot, with the deadline, last", e.audit(old.ID))
		}
		if states := e.notes.CardStates(old.ID); len(states) != 1 || states[0] != access.RequestPending {
			t.Fatalf("card updates %v, want one showing the pending request with its deadline", states)
		}
		if n, err := e.svc.DatePending(ctx); err != nil || n != 0 {
			t.Fatalf("second DatePending = %d, %v; want nothing to do", n, err)
		}
		audits := e.auditCount()
		if err := e.store.SetDeadline(ctx, old.ID, start.Add(9*time.Hour), time.Time{}, last(evs)); !errors.Is(err, access.ErrNotPending) {
			t.Fatalf("dating a dated request: %v, want ErrNotPending", err)
		}
		if e.auditCount() != audits {
			t.Fatal("a refused SetDeadline appended an audit event")
		}
		e.workAt(3*time.Hour - time.Second)
		if got, _ := e.store.GetRequest(ctx, old.ID); got.State != access.RequestPending {
			t.Fatalf("state before the deadline %s", got.State)
		}
		e.workAt(3 * time.Hour)
		if got, _ := e.store.GetRequest(ctx, old.ID); got.State != access.RequestTimedOut {
			t.Fatalf("state at the deadline %s, want timed out", got.State)
		}
	})
}

// last is the last of evs.
func last(evs []access.AuditEvent) access.AuditEvent { return evs[len(evs)-1] }
