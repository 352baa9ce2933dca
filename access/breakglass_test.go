package access_test

import (
	"context"
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
