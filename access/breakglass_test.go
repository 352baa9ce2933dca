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

func breakGlassProfile(revoke bool) func(*access.Config) {
	return func(c *access.Config) {
		p := prodProfile()
		p.BreakGlass, p.ReviewWithin, p.RevokeIfUnreviewed = true, time.Hour, revoke
		c.Profiles = []access.Profile{p}
	}
}

// A process killed at any point of a break-glass grant leaves it for the
// next one to finish; the review is still owed and its steps come at their
// times: the reminder halfway, the revocation at review_within.
func TestBreakGlassSurvivesACrash(t *testing.T) {
	forEachStore(t, func(t *testing.T, store storeKind) {
		for _, point := range []string{"grant.after-intent", "grant.after-check", "grant.after-add"} {
			t.Run(point, func(t *testing.T) {
				ctx := context.Background()
				e := newEnv(t, store)
				e.openWith(func(c *access.Config) {
					breakGlassProfile(true)(c)
					c.Owner = "replica-1"
					c.Failpoint = func(name string) {
						if name == point {
							panic(crash(name))
						}
					}
				})
				var id string
				if !runUntilCrash(func() { id = e.submit(riley, 2*time.Hour).ID }) {
					t.Fatalf("failpoint %s never reached", point)
				}
				reqs, err := e.store.OpenRequests(ctx, riley.ObjectID)
				if err != nil || len(reqs) != 1 {
					t.Fatalf("open requests after the crash: %d %v", len(reqs), err)
				}
				id = reqs[0].ID
				e.clock.Advance(2 * time.Minute)
				e.openWith(func(c *access.Config) { breakGlassProfile(true)(c); c.Owner = "replica-2" })
				if _, err := e.svc.Work(ctx); err != nil {
					t.Fatal(err)
				}
				g := mustGrant(t, e, id)
				if g.State != access.GrantActive || !g.BreakGlass || !e.isMember(riley.ObjectID) {
					t.Fatalf("after recovery: %s break-glass %v member %v", g.State, g.BreakGlass, e.isMember(riley.ObjectID))
				}
				e.clock.Set(start.Add(30 * time.Minute))
				if n, err := e.svc.WorkReviews(ctx); n != 1 || err != nil {
					t.Fatalf("review reminder: %d %v", n, err)
				}
				if got := e.notes.ReviewReminders(id); len(got) != 1 || got[0] != 1 {
					t.Fatalf("review reminders %v", got)
				}
				e.clock.Set(start.Add(time.Hour))
				if n, err := e.svc.WorkReviews(ctx); n != 1 || err != nil {
					t.Fatalf("revoke unreviewed: %d %v", n, err)
				}
				if _, err := e.svc.Work(ctx); err != nil {
					t.Fatal(err)
				}
				if g := mustGrant(t, e, id); g.State != access.GrantRevoked || g.Early.Kind != access.EndUnreviewed || e.isMember(riley.ObjectID) {
					t.Fatalf("after the deadline: %s %s member %v", g.State, g.Early.Kind, e.isMember(riley.ObjectID))
				}
			})
		}
	})
}

// A profile's break-glass and escalation rules are checked when the
// service starts: a break-glass profile needs the security channel.
func TestBreakGlassAndEscalationRulesAreChecked(t *testing.T) {
	for name, tune := range map[string]func(*access.Profile){
		"review_within without break_glass": func(p *access.Profile) { p.ReviewWithin = time.Hour },
		"break_glass and self-approval":     func(p *access.Profile) { p.BreakGlass, p.AllowSelfApproval = true, true },
		"break_glass with a quorum":         func(p *access.Profile) { p.BreakGlass, p.RequiredApprovals = true, 2 },
		"escalation without a channel":      func(p *access.Profile) { p.EscalateAfter, p.EscalationGroups = time.Minute, []string{approverGroup} },
		"escalation at the deadline": func(p *access.Profile) {
			p.EscalateAfter, p.EscalationChannelID, p.EscalationGroups = time.Hour, "19:esc@thread.tacv2", []string{approverGroup}
		},
	} {
		t.Run(name, func(t *testing.T) {
			p := prodProfile()
			tune(&p)
			if err := p.Validate(); err == nil {
				t.Fatalf("%s accepted", name)
			}
		})
	}
}

func TestBreakGlassNeedsTheSecurityChannel(t *testing.T) {
	e := newEnv(t, onMemory)
	cfg := access.Config{TenantID: tenant, Store: e.store, Directory: e.dir, Notifier: e.notes, Clock: e.clock, NewID: func() string { return "x" }}
	breakGlassProfile(false)(&cfg)
	if _, err := access.New(cfg); err == nil {
		t.Fatal("a break-glass profile without a security channel was accepted")
	}
	cfg.SecurityChannelID = "19:security@thread.tacv2"
	if _, err := access.New(cfg); err != nil {
		t.Fatal(err)
	}
}

// A process killed after storing a break-glass request and before jitbot
// approved it leaves a pending request nobody can see (its cards are posted
// after the approval): the next process grants it by itself, with its
// review owed, and the requester is told, instead of leaving it to time
// out with nothing granted.
func TestBreakGlassRequestStoredBeforeACrashIsGranted(t *testing.T) {
	forEachStore(t, func(t *testing.T, store storeKind) {
		ctx := context.Background()
		e := newEnv(t, store)
		e.openWith(func(c *access.Config) {
			breakGlassProfile(true)(c)
			c.Owner = "replica-1"
			c.Failpoint = func(name string) {
				if name == "breakglass.after-request" {
					panic(crash(name))
				}
			}
		})
		if !runUntilCrash(func() { e.submit(riley, 2*time.Hour) }) {
			t.Fatal("failpoint breakglass.after-request never reached")
		}
		reqs, err := e.store.OpenRequests(ctx, riley.ObjectID)
		if err != nil || len(reqs) != 1 || reqs[0].State != access.RequestPending {
			t.Fatalf("open requests after the crash: %+v %v", reqs, err)
		}
		id := reqs[0].ID
		if e.isMember(riley.ObjectID) {
			t.Fatal("member before the approval")
		}
		// Two processes start after the dead one's lease ran out, and
		// their schedulers look at once, as Run runs them: one grants it.
		e.clock.Advance(2 * time.Minute)
		e.openWith(func(c *access.Config) { breakGlassProfile(true)(c); c.Owner = "replica-3" })
		other := e.svc
		e.openWith(func(c *access.Config) { breakGlassProfile(true)(c); c.Owner = "replica-2" })
		var wg sync.WaitGroup
		errs := make([]error, 2)
		for i, svc := range []*access.Service{e.svc, other} {
			wg.Add(1)
			go func() {
				defer wg.Done()
				_, errs[i] = svc.WorkPending(ctx)
			}()
		}
		wg.Wait()
		if err := errors.Join(errs...); err != nil {
			t.Fatal(err)
		}
		if _, err := e.svc.Work(ctx); err != nil {
			t.Fatal(err)
		}
		req, err := e.store.GetRequest(ctx, id)
		if err != nil {
			t.Fatal(err)
		}
		g := req.Grant
		if req.State != access.RequestActive || g == nil || g.State != access.GrantActive || !g.BreakGlass || !e.isMember(riley.ObjectID) {
			t.Fatalf("after the restart: request %s grant %+v member %v", req.State, g, e.isMember(riley.ObjectID))
		}
		if want := e.clock.Now().UTC().Add(time.Hour); !g.ReviewBy.Equal(want) {
			t.Fatalf("review by %s, want %s", g.ReviewBy, want)
		}
		if n := countActions(e.audit(id), access.ActionBreakGlass); n != 1 {
			t.Fatalf("%d request.break_glass events: %v", n, e.audit(id))
		}
		posted := 0
		for _, c := range e.notes.ReviewCards() {
			if !c.Update && c.RequestID == id && c.Channel == "19:security@thread.tacv2" {
				posted++
			}
		}
		if posted != 1 {
			t.Fatalf("%d review cards posted: %+v", posted, e.notes.ReviewCards())
		}
		// A second look changes nothing: granted once.
		before := e.auditCount()
		if _, err := e.svc.WorkPending(ctx); err != nil {
			t.Fatal(err)
		}
		if after := e.auditCount(); after != before {
			t.Fatalf("a second look appended %d events", after-before)
		}
	})
}

// countActions counts the events of action a in actions.
func countActions(actions []access.Action, a access.Action) int {
	n := 0
	for _, x := range actions {
		if x == a {
			n++
		}
	}
	return n
}

// A break-glass request left pending by a crash is checked like an
// approval when it is resumed: a requester no longer in a requester group
// gets nothing; the request is closed as no longer valid, with that
// reason, and they are told.
func TestBreakGlassRequestResumedOnlyWhileItFits(t *testing.T) {
	forEachStore(t, func(t *testing.T, store storeKind) {
		ctx := context.Background()
		e := newEnv(t, store)
		e.openWith(func(c *access.Config) {
			breakGlassProfile(true)(c)
			c.Failpoint = func(name string) {
				if name == "breakglass.after-request" {
					panic(crash(name))
				}
			}
		})
		if !runUntilCrash(func() { e.submit(riley, 2*time.Hour) }) {
			t.Fatal("failpoint breakglass.after-request never reached")
		}
		reqs, err := e.store.OpenRequests(ctx, riley.ObjectID)
		if err != nil || len(reqs) != 1 {
			t.Fatalf("open requests after the crash: %+v %v", reqs, err)
		}
		id := reqs[0].ID
		if err := e.dir.RemoveMember(ctx, requesterGrp, riley.ObjectID); err != nil {
			t.Fatal(err)
		}
		e.clock.Advance(2 * time.Minute)
		e.openWith(breakGlassProfile(true))
		if n, err := e.svc.WorkPending(ctx); n != 1 || err != nil {
			t.Fatalf("work pending: %d %v", n, err)
		}
		req, err := e.store.GetRequest(ctx, id)
		if err != nil {
			t.Fatal(err)
		}
		if req.State != access.RequestDenied || req.Grant != nil || e.isMember(riley.ObjectID) {
			t.Fatalf("after the restart: %s grant %+v member %v", req.State, req.Grant, e.isMember(riley.ObjectID))
		}
		if got := e.audit(id); countActions(got, access.ActionInvalidated) != 1 || countActions(got, access.ActionBreakGlass) != 0 {
			t.Fatalf("audit %v", got)
		}
		if texts := e.notes.Texts(id); len(texts) != 1 || !strings.Contains(texts[0], "no longer in a requester group") {
			t.Fatalf("requester told %q", texts)
		}
		if len(e.notes.ReviewCards()) != 0 {
			t.Fatalf("review cards %+v", e.notes.ReviewCards())
		}
	})
}
