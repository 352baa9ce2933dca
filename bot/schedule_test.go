package bot_test

import (
	"context"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jitbot/jitbot/access"
	"github.com/jitbot/jitbot/graph/graphtest"
)

// scheduledAt is 22:00 in Berlin on the day of start (09:00 UTC, 10:00 in
// Berlin): 21:00 UTC, twelve hours on.
var scheduledAt = time.Date(2026, 11, 23, 21, 0, 0, 0, time.UTC)

// inZone is riley's personal-chat message sent from a Teams client in
// the IANA zone tz, as Teams sends it (activity.localTimezone and the
// clientInfo entity).
func (w *world) inZone(text, tz string) map[string]any {
	act := w.message(riley, text)
	act["localTimezone"] = tz
	act["entities"] = []any{map[string]any{"type": "clientInfo", "locale": "de-DE", "country": "DE", "platform": "Web", "timezone": tz}}
	return act
}

// scheduled sends riley's scheduled request from Berlin, has alex
// approve it five minutes later, and returns it (scheduled).
func (w *world) scheduled(text string) *access.Request {
	w.t.Helper()
	if code, _ := w.post(w.inZone(text, "Europe/Berlin")); code != http.StatusOK {
		w.t.Fatalf("request: HTTP %d", code)
	}
	req := w.onlyRequest()
	w.clock.Advance(5 * time.Minute)
	if code, _ := w.post(w.click(alex, "approve", req.ID, nil)); code != http.StatusOK {
		w.t.Fatalf("approve: HTTP %d", code)
	}
	got, err := w.db.GetRequest(context.Background(), req.ID)
	if err != nil {
		w.t.Fatal(err)
	}
	if got.State != access.RequestScheduled || got.Grant != nil {
		w.t.Fatalf("approved ahead: %s, grant %+v", got.State, got.Grant)
	}
	return got
}

// nothingAdded fails if anything was added to the group for riley.
func (w *world) nothingAdded(when string) {
	w.t.Helper()
	if w.graph.IsMember(prodGroup, rileyID) || w.graph.CountFor(graphtest.RouteAddMember, prodGroup, rileyID) != 0 {
		w.t.Fatalf("%s: riley was added to the group", when)
	}
}

// TestScheduledStartOverHTTP: `request prod-db 2h at 22:00 ...` from a
// client in Berlin is read in Berlin time and said back in Berlin time and
// UTC; it is approved ahead with nothing added; at the start the member is
// added once although two replicas look at once, and removed at start +
// duration.
func TestScheduledStartOverHTTP(t *testing.T) {
	w := newWorld(t)
	personal := "a:personal-" + rileyID
	req := w.scheduled("request prod-db 2h at 22:00 INC-4711 nightly orders migration")
	if !req.StartsAt.Equal(scheduledAt) || req.StartZone != "Europe/Berlin" || req.Ticket != "INC-4711" || req.Justification != "nightly orders migration" {
		t.Fatalf("stored %v in %q, ticket %q, justification %q", req.StartsAt, req.StartZone, req.Ticket, req.Justification)
	}
	said := "22:00 on 23 Nov 2026 Europe/Berlin (21:00 UTC)"
	if got := w.texts(personal); !strings.Contains(got, said) || !strings.Contains(got, "Starts") {
		t.Fatalf("the request received card does not say the start as %q:\n%s", said, got)
	}
	_, card := w.approvalThread()
	if c := cardJSON(card); !strings.Contains(c, said) || !strings.Contains(c, "in 12h from the request") {
		t.Fatalf("approvers' card does not say when it starts: %s", c)
	}
	if got := w.texts(personal); !strings.Contains(got, "Access from "+said+" until 23:00 UTC on 23 Nov 2026; nothing is granted before then.") {
		t.Fatalf("requester not told the approved window:\n%s", got)
	}
	w.nothingAdded("approved ahead")
	if w.auditBy(req.ID, access.ActionApproved, alexID) != 1 {
		t.Fatal("the approval ahead is not audited")
	}

	// status lists it as scheduled, with Cancel.
	_, resp := w.post(w.message(riley, "status"))
	if c := cardJSON(resp) + w.texts(personal); !strings.Contains(c, "Scheduled access") {
		t.Fatalf("status does not show the scheduled access")
	}

	// A second replica on the same database.
	w2 := w.svc
	w.reconfigure(func(c *access.Config) { c.Owner = "replica-2" })
	replicas := []*access.Service{w2, w.svc}
	work := func() {
		var wg sync.WaitGroup
		for _, s := range replicas {
			wg.Add(1)
			go func() {
				defer wg.Done()
				if _, err := s.WorkStarts(context.Background()); err != nil {
					t.Error(err)
				}
				if _, err := s.Work(context.Background()); err != nil {
					t.Error(err)
				}
			}()
		}
		wg.Wait()
	}
	w.clock.Set(scheduledAt.Add(-time.Second))
	work()
	w.nothingAdded("a second before the start")

	w.clock.Set(scheduledAt)
	work()
	work()
	if !w.graph.IsMember(prodGroup, rileyID) {
		t.Fatal("riley is not a member at the start")
	}
	if n := w.graph.CountFor(graphtest.RouteAddMember, prodGroup, rileyID); n != 1 {
		t.Fatalf("%d POSTs adding riley with two replicas, want 1", n)
	}
	got, _ := w.db.GetRequest(context.Background(), req.ID)
	end := scheduledAt.Add(2 * time.Hour)
	if got.State != access.RequestActive || !got.Grant.ApprovedAt.Equal(scheduledAt) || !got.Grant.ExpiresAt.Equal(end) {
		t.Fatalf("at the start: %s, grant from %v until %v", got.State, got.Grant.ApprovedAt, got.Grant.ExpiresAt)
	}
	if w.auditBy(req.ID, access.ActionStarted, access.System.ObjectID) != 1 || w.auditBy(req.ID, access.ActionGranted, access.System.ObjectID) != 1 {
		t.Fatal("the start and the grant are not audited once each")
	}
	if got := w.texts(personal); !strings.Contains(got, "Access granted") {
		t.Fatalf("requester not told at the start:\n%s", got)
	}

	w.clock.Set(end.Add(-time.Second))
	work()
	if !w.graph.IsMember(prodGroup, rileyID) {
		t.Fatal("removed before start + duration")
	}
	w.clock.Set(end)
	work()
	if w.graph.IsMember(prodGroup, rileyID) || w.graph.CountFor(graphtest.RouteRemoveMember, prodGroup, rileyID) != 1 {
		t.Fatal("not removed once at start + duration")
	}
	if got, _ := w.db.GetRequest(context.Background(), req.ID); got.State != access.RequestExpired {
		t.Fatalf("after the window: %s", got.State)
	}
}

// TestSchedulerWakesForTheStart: the running scheduler sleeps until the
// start and grants it then, and a restart after the start does not grant
// it again.
func TestSchedulerWakesForTheStart(t *testing.T) {
	w := newWorld(t)
	// A long lease, so that the scheduler's periodic look does not come
	// between the steps below: it must wake for the start itself.
	w.reconfigure(func(c *access.Config) { c.Lease = 24 * time.Hour })
	req := w.scheduled("request prod-db 1h from 22:00 INC-4711 nightly orders migration")
	run := func() func() {
		ctx, stop := context.WithCancel(context.Background())
		done := make(chan error, 1)
		go func() { done <- w.svc.Run(ctx) }()
		return func() { stop(); <-done }
	}
	stop := run()
	step := func(to time.Time) {
		waitFor(t, "the scheduler to sleep", func() bool { return w.clock.Timers() > 0 })
		w.clock.Set(to)
	}
	step(scheduledAt.Add(-time.Second))
	time.Sleep(50 * time.Millisecond)
	w.nothingAdded("before the start")
	step(scheduledAt)
	waitFor(t, "the member added at the start", func() bool {
		r, err := w.db.GetRequest(context.Background(), req.ID)
		return err == nil && r.State == access.RequestActive && w.graph.IsMember(prodGroup, rileyID)
	})
	stop()

	w.reconfigure(nil)
	stop = run()
	defer stop()
	step(scheduledAt.Add(10 * time.Minute))
	waitFor(t, "the scheduler to sleep again", func() bool { return w.clock.Timers() > 0 })
	time.Sleep(50 * time.Millisecond)
	if n := w.graph.CountFor(graphtest.RouteAddMember, prodGroup, rileyID); n != 1 {
		t.Fatalf("%d POSTs adding riley after a restart, want 1", n)
	}
}

// crash is what a failpoint panics with, as a killed process would stop.
type crash string

func runUntilCrash(fn func()) (crashed bool) {
	defer func() {
		if r := recover(); r != nil {
			if _, ok := r.(crash); !ok {
				panic(r)
			}
			crashed = true
		}
	}()
	fn()
	return false
}

// TestScheduledStartSurvivesACrash: a process that dies at each point of
// the grant path at the start leaves the start recorded; the next process
// (after the dead one's lease ran out) finishes it: one grant, one start,
// riley a member, removed at start + duration.
func TestScheduledStartSurvivesACrash(t *testing.T) {
	for _, point := range []string{"grant.after-intent", "grant.after-check", "grant.after-add"} {
		t.Run(point, func(t *testing.T) {
			w := newWorld(t)
			req := w.scheduled("request prod-db 2h at 22:00 INC-4711 nightly orders migration")
			w.reconfigure(func(c *access.Config) {
				c.Failpoint = func(name string) {
					if name == point {
						panic(crash(name))
					}
				}
			})
			w.clock.Set(scheduledAt)
			if !runUntilCrash(func() { _, _ = w.svc.WorkStarts(context.Background()) }) {
				t.Fatalf("failpoint %s never reached", point)
			}
			w.clock.Advance(2 * time.Minute)
			w.reconfigure(func(c *access.Config) { c.Failpoint, c.Owner = nil, "replica-2" })
			for range 2 {
				if _, err := w.svc.WorkStarts(context.Background()); err != nil {
					t.Fatal(err)
				}
				if _, err := w.svc.Work(context.Background()); err != nil {
					t.Fatal(err)
				}
			}
			got, _ := w.db.GetRequest(context.Background(), req.ID)
			if got.State != access.RequestActive || got.Grant == nil || got.Grant.State != access.GrantActive || !w.graph.IsMember(prodGroup, rileyID) {
				t.Fatalf("after recovery: %s, grant %+v", got.State, got.Grant)
			}
			if w.auditBy(req.ID, access.ActionStarted, access.System.ObjectID) != 1 {
				t.Fatal("started more than once")
			}
			w.clock.Set(scheduledAt.Add(2 * time.Hour))
			if _, err := w.svc.Work(context.Background()); err != nil {
				t.Fatal(err)
			}
			if w.graph.IsMember(prodGroup, rileyID) {
				t.Fatal("still a member after start + duration")
			}
		})
	}
}

// TestCancelAndRevokeBeforeTheStart: the requester cancels a scheduled
// request with `cancel`, an approver revokes another with Revoke now; both
// are audited, the requester is told, and nothing is ever added to the
// group, also once their start has come.
func TestCancelAndRevokeBeforeTheStart(t *testing.T) {
	w := newWorld(t)
	personal := "a:personal-" + rileyID
	first := w.scheduled("request prod-db 2h at 22:00 INC-4711 nightly orders migration")
	if _, resp := w.post(w.message(riley, "cancel")); !strings.Contains(cardJSON(resp)+w.texts(personal), "cancel") {
		t.Fatal("cancel got no answer")
	}
	if got, _ := w.db.GetRequest(context.Background(), first.ID); got.State != access.RequestCancelled {
		t.Fatalf("after cancel: %s", got.State)
	}
	if w.auditBy(first.ID, access.ActionCancelled, rileyID) != 1 {
		t.Fatal("the cancel is not audited")
	}

	w.clock.Advance(time.Minute)
	second := w.scheduled("request prod-db 2h at 22:30 INC-4712 reindex after the migration")
	if code, resp := w.post(w.click(eve, "revokeNow", second.ID, map[string]any{"revokeReason": "no"})); code != http.StatusOK || w.auditBy(second.ID, access.ActionRevokeRefused, eveID) != 1 {
		t.Fatalf("eve's revoke: HTTP %d %v", code, resp)
	}
	if got, _ := w.db.GetRequest(context.Background(), second.ID); got.State != access.RequestScheduled {
		t.Fatalf("a refused revoke changed the request: %s", got.State)
	}
	code, resp := w.post(w.click(alex, "revokeNow", second.ID, map[string]any{"revokeReason": "the migration moved to Friday"}))
	if c := cardJSON(resp["value"]); code != http.StatusOK || !strings.Contains(c, "Revoked before its start by ") || strings.Contains(c, `"verb":"revokeNow"`) {
		t.Fatalf("revoke before start: HTTP %d %s", code, c)
	}
	if got, _ := w.db.GetRequest(context.Background(), second.ID); got.State != access.RequestDenied {
		t.Fatalf("after revoke: %s", got.State)
	}
	if w.auditBy(second.ID, access.ActionRevokedBeforeStart, alexID) != 1 {
		t.Fatal("the revocation before the start is not audited")
	}
	if got := w.texts(personal); !strings.Contains(got, "revoked before its start by Alex Approver") || !strings.Contains(got, "the migration moved to Friday") {
		t.Fatalf("requester not told of the revocation:\n%s", got)
	}

	w.clock.Set(scheduledAt.Add(time.Hour))
	if _, err := w.svc.WorkStarts(context.Background()); err != nil {
		t.Fatal(err)
	}
	if _, err := w.svc.Work(context.Background()); err != nil {
		t.Fatal(err)
	}
	w.nothingAdded("after the starts of a cancelled and a revoked request")
}

// TestStartTimeZonesAndBounds: the start is read in the client's zone
// (localTimezone, else the clientInfo entity, else UTC); a time already
// passed today is tomorrow; past max_start_ahead, or on a break-glass
// profile, the request is refused and nothing is stored.
func TestStartTimeZonesAndBounds(t *testing.T) {
	w := newWorld(t)
	ask := func(act map[string]any) (*access.Request, string) {
		t.Helper()
		_, _ = w.post(act)
		reqs, _ := w.db.OpenRequests(context.Background(), rileyID)
		texts := w.texts("a:personal-" + rileyID)
		if len(reqs) == 0 {
			return nil, texts
		}
		r := reqs[0]
		if _, err := w.svc.Cancel(context.Background(), access.CancelInput{TenantID: tenantID, RequestID: r.ID, Who: access.Person{ObjectID: rileyID, Name: riley.name}}); err != nil {
			t.Fatal(err)
		}
		return &r, texts
	}
	// 09:00 UTC: 22:00 in UTC is today, 8:00 has passed (tomorrow).
	if r, _ := ask(w.message(riley, "request prod-db 2h at 22:00 INC-1 no zone sent")); r == nil || !r.StartsAt.Equal(time.Date(2026, 11, 23, 22, 0, 0, 0, time.UTC)) || r.StartZone != "UTC" {
		t.Fatalf("without a zone: %+v", r)
	}
	if r, _ := ask(w.inZone("request prod-db 2h at 8:00 INC-1 passed today", "UTC")); r == nil || !r.StartsAt.Equal(time.Date(2026, 11, 24, 8, 0, 0, 0, time.UTC)) {
		t.Fatalf("a time passed today: %+v", r)
	}
	// Only the clientInfo entity names the zone: New York, 04:00 there.
	act := w.message(riley, "request prod-db 2h tomorrow at 9:00 INC-1 from New York")
	act["entities"] = []any{map[string]any{"type": "clientInfo", "timezone": "America/New_York"}}
	if r, _ := ask(act); r == nil || !r.StartsAt.Equal(time.Date(2026, 11, 24, 14, 0, 0, 0, time.UTC)) || r.StartZone != "America/New_York" {
		t.Fatalf("clientInfo zone: %+v", r)
	}
	// Past max_start_ahead (48h by default): refused, naming the key.
	if r, texts := ask(w.inZone("request prod-db 2h at 2026-11-26 09:00 INC-1 too far ahead", "Europe/Berlin")); r != nil || !strings.Contains(texts, "max_start_ahead") {
		t.Fatalf("beyond max_start_ahead: %+v\n%s", r, texts)
	}
	// "now" and a start in the past are an ordinary request.
	if r, _ := ask(w.inZone("request prod-db 2h at 2026-11-22 09:00 INC-1 yesterday", "Europe/Berlin")); r == nil || r.Scheduled() {
		t.Fatalf("a start in the past: %+v", r)
	}
	// Break-glass is for now.
	w.reconfigure(func(c *access.Config) { c.Profiles[0].BreakGlass = true })
	if r, texts := ask(w.inZone("request prod-db 2h at 22:00 INC-1 later", "Europe/Berlin")); r != nil || !strings.Contains(texts, "cannot be scheduled") {
		t.Fatalf("break-glass scheduled: %+v\n%s", r, texts)
	}
	w.nothingAdded("refused and cancelled requests")
}

// TestScheduledEdges: an on-call requester's auto-approval applies ahead
// (the card says so, nothing is added before the start); an approval after
// the start but within the window grants at once until the window's end;
// one after the window finds the request expired (its deadline is the
// window's end at the latest); a requester no
// longer eligible at the start is not granted; a window that passed while
// jitbot did not run is closed as missed; and a start in plain words is
// read like the one-liner's.
func TestScheduledEdges(t *testing.T) {
	t.Run("auto-approved ahead", func(t *testing.T) {
		w := newWorld(t)
		w.reconfigure(func(c *access.Config) {
			c.Profiles[0].AutoApprove = &access.AutoApprove{Groups: []string{requesterGrp}, MaxDuration: 4 * time.Hour}
		})
		if code, _ := w.post(w.inZone("request prod-db 2h at 22:00 INC-4711 nightly orders migration", "Europe/Berlin")); code != http.StatusOK {
			t.Fatalf("request: HTTP %d", code)
		}
		req := w.onlyRequest()
		if req.State != access.RequestScheduled || w.auditBy(req.ID, access.ActionAutoApproved, access.System.ObjectID) != 1 {
			t.Fatalf("auto-approved ahead: %s", req.State)
		}
		w.nothingAdded("auto-approved ahead")
		w.clock.Set(scheduledAt)
		if _, err := w.svc.WorkStarts(context.Background()); err != nil {
			t.Fatal(err)
		}
		if !w.graph.IsMember(prodGroup, rileyID) {
			t.Fatal("not granted at the start")
		}
	})
	t.Run("approved within and after the window", func(t *testing.T) {
		w := newWorld(t)
		w.reconfigure(func(c *access.Config) { c.Profiles[0].ApprovalTimeout = 24 * time.Hour })
		if code, _ := w.post(w.inZone("request prod-db 2h at 10:30 INC-4711 short window", "Europe/Berlin")); code != http.StatusOK {
			t.Fatalf("request: HTTP %d", code)
		}
		req := w.onlyRequest() // 09:30 UTC to 11:30 UTC
		w.clock.Set(time.Date(2026, 11, 23, 10, 0, 0, 0, time.UTC))
		w.post(w.click(alex, "approve", req.ID, nil))
		got, _ := w.db.GetRequest(context.Background(), req.ID)
		if got.State != access.RequestActive || !w.graph.IsMember(prodGroup, rileyID) || !got.Grant.ExpiresAt.Equal(time.Date(2026, 11, 23, 11, 30, 0, 0, time.UTC)) {
			t.Fatalf("approved in the window: %s, grant %+v", got.State, got.Grant)
		}

		if _, err := w.svc.Release(context.Background(), access.EndInput{TenantID: tenantID, RequestID: req.ID, Who: access.Person{ObjectID: rileyID, Name: riley.name}}); err != nil {
			t.Fatal(err)
		}
		if _, err := w.svc.Work(context.Background()); err != nil {
			t.Fatal(err)
		}
		if code, _ := w.post(w.inZone("request prod-db 1h at 12:00 INC-4712 another window", "Europe/Berlin")); code != http.StatusOK {
			t.Fatalf("request: HTTP %d", code)
		}
		late := w.onlyRequest() // 11:00 to 12:00 UTC
		w.clock.Set(time.Date(2026, 11, 23, 12, 0, 0, 0, time.UTC))
		_, resp := w.post(w.click(alex, "approve", late.ID, nil))
		// Its deadline was the window's end: the click finds it expired.
		if got, _ := w.db.GetRequest(context.Background(), late.ID); got.State != access.RequestTimedOut || !strings.Contains(cardJSON(resp), "has expired; nothing was granted") {
			t.Fatalf("approved after its window: %s %s", got.State, cardJSON(resp))
		}
		if n := w.graph.CountFor(graphtest.RouteAddMember, prodGroup, rileyID); n != 1 {
			t.Fatalf("%d POSTs, want the first request's only", n)
		}
	})
	t.Run("no longer eligible at the start", func(t *testing.T) {
		w := newWorld(t)
		req := w.scheduled("request prod-db 2h at 22:00 INC-4711 nightly orders migration")
		w.graph.RemoveMember(requesterGrp, rileyID)
		w.clock.Set(scheduledAt)
		if _, err := w.svc.WorkStarts(context.Background()); err != nil {
			t.Fatal(err)
		}
		w.nothingAdded("a requester no longer eligible at the start")
		if got, _ := w.db.GetRequest(context.Background(), req.ID); got.State != access.RequestDenied || w.auditBy(req.ID, access.ActionInvalidated, access.System.ObjectID) != 1 {
			t.Fatalf("at the start: %s", got.State)
		}
		if got := w.texts("a:personal-" + rileyID); !strings.Contains(got, "closed at its start") {
			t.Fatalf("requester not told:\n%s", got)
		}
	})
	t.Run("window missed while down", func(t *testing.T) {
		w := newWorld(t)
		req := w.scheduled("request prod-db 2h at 22:00 INC-4711 nightly orders migration")
		w.clock.Set(scheduledAt.Add(2 * time.Hour))
		if _, err := w.svc.WorkStarts(context.Background()); err != nil {
			t.Fatal(err)
		}
		w.nothingAdded("a missed window")
		if got, _ := w.db.GetRequest(context.Background(), req.ID); got.State != access.RequestTimedOut || w.auditBy(req.ID, access.ActionStartMissed, access.System.ObjectID) != 1 {
			t.Fatalf("after a missed window: %s", got.State)
		}
	})
	t.Run("in plain words", func(t *testing.T) {
		w := newWorld(t)
		if code, _ := w.post(w.inZone("I need prod-db for 2 hours tomorrow at 9:00 for INC-4711, release checks", "Europe/Berlin")); code != http.StatusOK {
			t.Fatalf("request: HTTP %d", code)
		}
		if req := w.onlyRequest(); !req.StartsAt.Equal(time.Date(2026, 11, 24, 8, 0, 0, 0, time.UTC)) || req.Justification != "release checks" {
			t.Fatalf("plain words: %v %q", req.StartsAt, req.Justification)
		}
	})
}

// TestScheduledAutoApprovalOffCallAtTheStart: a request auto-approved ahead
// because its requester was on call when asking is not granted at its
// start when they are no longer on call then: the auto-approval vouched
// for the requester as they were, not for the window they asked for.
// Nothing is added; the request is closed with the reason and the
// requester told.
func TestScheduledAutoApprovalOffCallAtTheStart(t *testing.T) {
	w := newWorld(t)
	w.graph.AddGroup(oncallGroup)
	w.graph.AddMember(oncallGroup, rileyID)
	w.reconfigure(func(c *access.Config) {
		c.Profiles[0].AutoApprove = &access.AutoApprove{Groups: []string{oncallGroup}, MaxDuration: 4 * time.Hour}
	})
	if code, _ := w.post(w.inZone("request prod-db 2h at 22:00 INC-4711 nightly orders migration", "Europe/Berlin")); code != http.StatusOK {
		t.Fatalf("request: HTTP %d", code)
	}
	req := w.onlyRequest()
	if req.State != access.RequestScheduled || w.auditBy(req.ID, access.ActionAutoApproved, access.System.ObjectID) != 1 {
		t.Fatalf("auto-approved ahead: %s", req.State)
	}
	// The shift ends before the start; riley may still request prod-db.
	w.graph.RemoveMember(oncallGroup, rileyID)
	w.clock.Set(scheduledAt)
	if _, err := w.svc.WorkStarts(context.Background()); err != nil {
		t.Fatal(err)
	}
	if _, err := w.svc.Work(context.Background()); err != nil {
		t.Fatal(err)
	}
	w.nothingAdded("an auto-approval whose requester is off call at the start")
	got, _ := w.db.GetRequest(context.Background(), req.ID)
	if got.State != access.RequestDenied || w.auditBy(req.ID, access.ActionInvalidated, access.System.ObjectID) != 1 {
		t.Fatalf("at the start: %s", got.State)
	}
	if got := w.texts("a:personal-" + rileyID); !strings.Contains(got, "closed at its start") || !strings.Contains(got, "on-call") {
		t.Fatalf("requester not told why:\n%s", got)
	}
}

// TestScheduledApproverLeftBeforeTheStart: a request approved ahead by an
// approver who is no longer in an approver group when its start comes (they
// left the team, or their rights were taken away) is not granted: the
// approval takes effect only at the start, and jitbot does not add a member
// on the word of someone who may no longer approve. Nothing is added; the
// request is closed with the reason and the requester told.
func TestScheduledApproverLeftBeforeTheStart(t *testing.T) {
	w := newWorld(t)
	req := w.scheduled("request prod-db 2h at 22:00 INC-4711 nightly orders migration")
	w.graph.RemoveMember(approverGroup, alexID)
	w.clock.Set(scheduledAt)
	if _, err := w.svc.WorkStarts(context.Background()); err != nil {
		t.Fatal(err)
	}
	if _, err := w.svc.Work(context.Background()); err != nil {
		t.Fatal(err)
	}
	w.nothingAdded("an approval by someone no longer an approver at the start")
	got, _ := w.db.GetRequest(context.Background(), req.ID)
	if got.State != access.RequestDenied || w.auditBy(req.ID, access.ActionInvalidated, access.System.ObjectID) != 1 {
		t.Fatalf("at the start: %s", got.State)
	}
	if got := w.texts("a:personal-" + rileyID); !strings.Contains(got, "closed at its start") || !strings.Contains(got, "no longer in an approver group") {
		t.Fatalf("requester not told why:\n%s", got)
	}
}
