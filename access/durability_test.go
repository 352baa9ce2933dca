package access_test

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/jitbot/jitbot/access"
)

// crash is what a failpoint panics with to stop the service mid-way, as a
// killed process would.
type crash string

// runUntilCrash runs fn and reports whether it stopped at the failpoint.
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

// TestCrashAtEachPoint stops the service at every named point of the grant
// and revoke paths, starts a new one on the same database (after the dead
// process's lease ran out) and checks the membership and the ledger end
// right: granted and then revoked exactly once.
func TestCrashAtEachPoint(t *testing.T) {
	forEachStore(t, func(t *testing.T, store storeKind) {
		for _, point := range []string{"grant.after-intent", "grant.after-check", "grant.after-add", "revoke.after-intent", "revoke.after-remove"} {
			t.Run(point, func(t *testing.T) {
				e := newEnv(t, store)
				arm := func(c *access.Config) {
					c.Owner = "replica-1"
					c.Failpoint = func(name string) {
						if name == point {
							panic(crash(name))
						}
					}
				}
				e.openWith(arm)
				req := e.submit(riley, time.Hour)
				crashed := runUntilCrash(func() { _, _ = e.decide(req.ID, alex, access.Approve, "") })
				if !crashed {
					e.clock.Advance(time.Hour)
					crashed = runUntilCrash(func() { _, _ = e.svc.Work(context.Background()) })
				}
				if !crashed {
					t.Fatalf("failpoint %s never reached", point)
				}
				// A new process (another owner) once the dead one's lease ran out.
				e.clock.Advance(2 * time.Minute)
				e.openWith(func(c *access.Config) { c.Owner = "replica-2" })
				if _, err := e.svc.Work(context.Background()); err != nil {
					t.Fatal(err)
				}
				g := mustGrant(t, e, req.ID)
				if g.State == access.GrantActive {
					if !e.isMember(riley.ObjectID) {
						t.Fatal("grant active after recovery but riley is not a member")
					}
					e.clock.Advance(time.Hour)
					if _, err := e.svc.Work(context.Background()); err != nil {
						t.Fatal(err)
					}
					g = mustGrant(t, e, req.ID)
				}
				if g.State != access.GrantRevoked || e.isMember(riley.ObjectID) {
					t.Fatalf("after recovery and expiry: grant %s, member %v", g.State, e.isMember(riley.ObjectID))
				}
				if r, _ := e.store.GetRequest(context.Background(), req.ID); r.State != access.RequestExpired {
					t.Fatalf("request %s", r.State)
				}
			})
		}
	})
}

func TestCheckBeforeAddKeepsPreExistingAfterCrash(t *testing.T) {
	forEachStore(t, func(t *testing.T, store storeKind) {
		e := newEnv(t, store)
		if err := e.dir.SetMember(context.Background(), prodGroup, riley.ObjectID); err != nil {
			t.Fatal(err)
		}
		e.openWith(func(c *access.Config) {
			c.Owner = "a"
			c.Failpoint = func(n string) {
				if n == "grant.after-check" {
					panic(crash(n))
				}
			}
		})
		req := e.submit(riley, time.Hour)
		runUntilCrash(func() { _, _ = e.decide(req.ID, alex, access.Approve, "") })
		e.clock.Advance(2 * time.Minute)
		e.openWith(func(c *access.Config) { c.Owner = "b" })
		e.svc.Work(context.Background())
		if g := mustGrant(t, e, req.ID); !g.PreExisting || g.State != access.GrantActive {
			t.Fatalf("grant %s pre-existing %v: the check before the crash must be kept", g.State, g.PreExisting)
		}
		e.clock.Advance(time.Hour)
		e.svc.Work(context.Background())
		if !e.isMember(riley.ObjectID) {
			t.Fatal("a pre-existing membership was removed")
		}
	})
}

func TestOverlappingGrantsShareOneMembership(t *testing.T) {
	forEachStore(t, func(t *testing.T, store storeKind) {
		e := newEnv(t, store)
		first := e.submit(riley, time.Hour)
		if _, err := e.decide(first.ID, alex, access.Approve, ""); err != nil {
			t.Fatal(err)
		}
		e.clock.Advance(30 * time.Minute)
		second := e.submit(riley, 2*time.Hour)
		got, err := e.decide(second.ID, alex, access.Approve, "")
		if err != nil {
			t.Fatal(err)
		}
		if !got.Grant.Shared || got.Grant.PreExisting || got.State != access.RequestActive {
			t.Fatalf("second grant: shared %v pre-existing %v state %s", got.Grant.Shared, got.Grant.PreExisting, got.State)
		}
		e.clock.Advance(30 * time.Minute) // the first grant ends
		e.svc.Work(context.Background())
		if mustGrant(t, e, first.ID).State != access.GrantRevoked || !e.isMember(riley.ObjectID) {
			t.Fatal("the first grant's end removed a membership the second still holds")
		}
		if e.dir.removes.Load() != 0 {
			t.Fatal("RemoveMember called while another grant holds the membership")
		}
		e.clock.Advance(90 * time.Minute) // the second ends
		e.svc.Work(context.Background())
		if mustGrant(t, e, second.ID).State != access.GrantRevoked || e.isMember(riley.ObjectID) {
			t.Fatal("the last grant's end did not remove the membership")
		}
		if n := e.dir.removes.Load(); n != 1 {
			t.Fatalf("%d removals, want 1", n)
		}
	})
}

func TestIrrevocableAfterMaxAttempts(t *testing.T) {
	forEachStore(t, func(t *testing.T, store storeKind) {
		e := newEnv(t, store)
		e.openWith(func(c *access.Config) { c.MaxAttempts = 3; c.SweepInterval = time.Hour })
		req := e.submit(riley, time.Hour)
		e.decide(req.ID, alex, access.Approve, "")
		e.dir.failRemove.Store(4)
		e.clock.Advance(time.Hour)
		for i := 0; i < 3; i++ {
			if i > 0 {
				e.clock.Set(mustGrant(t, e, req.ID).DueAt)
			}
			e.svc.Work(context.Background())
		}
		g := mustGrant(t, e, req.ID)
		if g.State != access.GrantIrrevocable || g.Attempts != 3 {
			t.Fatalf("after 3 failures: %s, %d attempts", g.State, g.Attempts)
		}
		alerts := e.notes.Alerts()
		if len(alerts) != 1 || alerts[0].Kind != access.AlertIrrevocable || alerts[0].GrantID != g.ID || alerts[0].User.ObjectID != riley.ObjectID {
			t.Fatalf("alerts %+v", alerts)
		}
		if g.AlertActivityID == "" {
			t.Fatal("the alert card's location was not recorded")
		}
		// The sweep keeps retrying hourly; the 4th attempt fails, no second alert.
		if d := g.DueAt.Sub(e.clock.Now()); d != time.Hour {
			t.Fatalf("next sweep in %v, want 1h", d)
		}
		e.clock.Advance(time.Hour)
		e.svc.Work(context.Background())
		if len(e.notes.Alerts()) != 1 {
			t.Fatal("an irrevocable grant alerted twice")
		}
		e.clock.Advance(time.Hour)
		e.svc.Work(context.Background())
		if g := mustGrant(t, e, req.ID); g.State != access.GrantRevoked || e.isMember(riley.ObjectID) {
			t.Fatalf("sweep did not revoke: %s", g.State)
		}
		last := e.notes.Alerts()[len(e.notes.Alerts())-1]
		if !last.Resolved {
			t.Fatal("the alert card was not updated once the removal worked")
		}
	})
}

func TestPermanentErrorEscalatesAtOnce(t *testing.T) {
	forEachStore(t, func(t *testing.T, store storeKind) {
		e := newEnv(t, store)
		req := e.submit(riley, time.Hour)
		e.decide(req.ID, alex, access.Approve, "")
		e.dir.removeErr = fmt.Errorf("remove: graph 403 Authorization_RequestDenied: %w", access.ErrPermanent)
		e.dir.failRemove.Store(1)
		e.clock.Advance(time.Hour)
		e.svc.Work(context.Background())
		g := mustGrant(t, e, req.ID)
		if g.State != access.GrantIrrevocable || g.Attempts != 1 {
			t.Fatalf("permanent error: %s after %d attempts", g.State, g.Attempts)
		}
		if a := e.notes.Alerts(); len(a) != 1 || !a[0].Permanent {
			t.Fatalf("alert %+v", a)
		}
		// The grant records the error and that it is permanent; the alert
		// shown on a later refresh says so too.
		if !g.LastErrorPermanent || g.LastError != e.dir.removeErr.Error() {
			t.Errorf("stored last error %q, permanent %v", g.LastError, g.LastErrorPermanent)
		}
		if v, err := e.svc.AlertView(context.Background(), tenant, g.ID, alex); err != nil || !v.Alert.Permanent || v.Alert.Error != e.dir.removeErr.Error() || !v.Security {
			t.Errorf("refreshed alert %+v, %v", v, err)
		}
	})
}

type retryLater struct{ wait time.Duration }

func (r retryLater) Error() string                 { return "graph: 429" }
func (r retryLater) RetryAfterHint() time.Duration { return r.wait }

func TestRetryAfterIsHonoured(t *testing.T) {
	forEachStore(t, func(t *testing.T, store storeKind) {
		e := newEnv(t, store)
		req := e.submit(riley, time.Hour)
		e.decide(req.ID, alex, access.Approve, "")
		e.dir.removeErr = retryLater{wait: 7 * time.Minute}
		e.dir.failRemove.Store(1)
		e.clock.Advance(time.Hour)
		e.svc.Work(context.Background())
		if d := mustGrant(t, e, req.ID).DueAt.Sub(e.clock.Now()); d != 7*time.Minute {
			t.Fatalf("next attempt in %v, want the 7m Retry-After", d)
		}
	})
}

func TestRetryNowBySecurityOnly(t *testing.T) {
	forEachStore(t, func(t *testing.T, store storeKind) {
		e := newEnv(t, store)
		e.openWith(func(c *access.Config) { c.MaxAttempts = 1; c.SecurityGroups = []string{approverGroup} })
		req := e.submit(riley, time.Hour)
		e.decide(req.ID, alex, access.Approve, "")
		e.dir.failRemove.Store(1)
		e.clock.Advance(time.Hour)
		e.svc.Work(context.Background())
		g := mustGrant(t, e, req.ID)
		if g.State != access.GrantIrrevocable {
			t.Fatalf("state %s", g.State)
		}
		if _, err := e.svc.RetryNow(context.Background(), tenant, g.ID, eve); !errors.Is(err, access.ErrNotApprover) {
			t.Fatalf("outsider retry: %v", err)
		}
		a, err := e.svc.RetryNow(context.Background(), tenant, g.ID, alex)
		if err != nil || !a.Resolved {
			t.Fatalf("retry now: %+v %v", a, err)
		}
		if e.isMember(riley.ObjectID) {
			t.Fatal("still a member after Retry now")
		}
	})
}

func TestDriftFindsAndRemovesUnexplainedMembers(t *testing.T) {
	forEachStore(t, func(t *testing.T, store storeKind) {
		e := newEnv(t, store)
		ctx := context.Background()
		// An active grant, a pre-existing member with a grant, and an outsider.
		req := e.submit(riley, time.Hour)
		e.decide(req.ID, alex, access.Approve, "")
		e.dir.SetMember(ctx, prodGroup, sam.ObjectID)
		req2 := e.submit(sam, time.Hour)
		e.decide(req2.ID, alex, access.Approve, "")
		e.dir.SetMember(ctx, prodGroup, eve.ObjectID)
		e.clock.Advance(time.Minute)

		if err := e.svc.CheckDrift(ctx); err != nil {
			t.Fatal(err)
		}
		alerts := e.notes.Alerts()
		if len(alerts) != 1 || alerts[0].Kind != access.AlertDrift || alerts[0].User.ObjectID != eve.ObjectID || alerts[0].Resolved {
			t.Fatalf("alerts %+v", alerts)
		}
		e.svc.CheckDrift(ctx)
		if len(e.notes.Alerts()) != 1 {
			t.Fatal("the same unexplained member was reported twice")
		}
		if !e.isMember(eve.ObjectID) {
			t.Fatal("removed without drift.remove_unexplained")
		}

		// With removal on, the outsider is removed and the removal audited.
		e.openWith(func(c *access.Config) { c.DriftRemove = true })
		e.svc.CheckDrift(ctx)
		if e.isMember(eve.ObjectID) {
			t.Fatal("unexplained member not removed")
		}
		if last := e.notes.Alerts()[len(e.notes.Alerts())-1]; !last.Resolved {
			t.Fatal("removal not reported")
		}
		evs, _ := e.store.Audit(ctx, access.AuditFilter{})
		removed := 0
		for _, ev := range evs {
			if ev.Action == access.ActionDriftRemoved && ev.TargetUserID == eve.ObjectID {
				removed++
			}
		}
		if removed != 1 {
			t.Fatalf("%d drift removals audited", removed)
		}

		// Riley removed outside jitbot: the grant is closed.
		e.dir.demoDirectory.RemoveMember(ctx, prodGroup, riley.ObjectID)
		e.svc.CheckDrift(ctx)
		if g := mustGrant(t, e, req.ID); g.State != access.GrantRevoked {
			t.Fatalf("grant of a member gone: %s", g.State)
		}
		if !e.isMember(sam.ObjectID) {
			t.Fatal("a pre-existing member was touched")
		}
	})
}

// driftEnv returns an environment where riley's request was approved a
// minute ago, its service reopened on the directory wrap makes of the
// environment's own.
func driftEnv(t *testing.T, store storeKind, wrap func(access.Directory) access.Directory) (*env, *access.Request) {
	t.Helper()
	e := newEnv(t, store)
	req := e.submit(riley, time.Hour)
	e.decide(req.ID, alex, access.Approve, "")
	e.clock.Advance(time.Minute)
	e.openWith(func(c *access.Config) { c.Directory = wrap(c.Directory) })
	return e, req
}

// listingThen is a directory that runs then, once, after it has listed a
// group's members and before it returns the listing, as when grants end
// while a large group is being paged through.
type listingThen struct {
	access.Directory
	then *func()
}

func (d listingThen) GroupMembers(ctx context.Context, groupID string) ([]string, error) {
	ms, err := d.Directory.GroupMembers(ctx, groupID)
	if f := *d.then; f != nil {
		*d.then = nil
		f()
	}
	return ms, err
}

// TestDriftIgnoresGrantsEndingDuringTheListing: a member listed while
// their grant was still live, then revoked before the check reads the
// live grants, is no drift; a member still there once no grant explains
// them is reported by the next check.
func TestDriftIgnoresGrantsEndingDuringTheListing(t *testing.T) {
	forEachStore(t, func(t *testing.T, store storeKind) {
		ctx := context.Background()
		var then func()
		e, req := driftEnv(t, store, func(d access.Directory) access.Directory { return listingThen{Directory: d, then: &then} })
		then = func() {
			e.clock.Advance(time.Hour)
			if _, err := e.svc.Work(ctx); err != nil {
				t.Error(err)
			}
		}
		if err := e.svc.CheckDrift(ctx); err != nil {
			t.Fatal(err)
		}
		if g := mustGrant(t, e, req.ID); g.State != access.GrantRevoked || e.isMember(riley.ObjectID) {
			t.Fatalf("during the listing: grant %s, member %v", g.State, e.isMember(riley.ObjectID))
		}
		if a := e.notes.Alerts(); len(a) != 0 {
			t.Fatalf("a grant revoked during the listing was reported as drift: %+v", a)
		}
		for _, ev := range e.actions(access.ActionDriftFound) {
			t.Fatalf("drift audited: %+v", ev)
		}

		// The member comes back with no grant: the next check reports it.
		e.dir.SetMember(ctx, prodGroup, riley.ObjectID)
		if err := e.svc.CheckDrift(ctx); err != nil {
			t.Fatal(err)
		}
		if a := e.notes.Alerts(); len(a) != 1 || a[0].Kind != access.AlertDrift || a[0].User.ObjectID != riley.ObjectID {
			t.Fatalf("alerts %+v", a)
		}
	})
}

// listingMisses is a directory whose member listing leaves some members
// out, as a listing paged through while members are removed does.
type listingMisses struct {
	access.Directory
	missed string
}

func (d listingMisses) GroupMembers(ctx context.Context, groupID string) ([]string, error) {
	ms, err := d.Directory.GroupMembers(ctx, groupID)
	return slices.DeleteFunc(ms, func(m string) bool { return m == d.missed }), err
}

// TestDriftConfirmsADepartedMember: a member the listing missed but who is
// still in the group keeps an active grant (and is removed at its end);
// closing it without a removal would leave the access in place.
func TestDriftConfirmsADepartedMember(t *testing.T) {
	forEachStore(t, func(t *testing.T, store storeKind) {
		ctx := context.Background()
		e, req := driftEnv(t, store, func(d access.Directory) access.Directory { return listingMisses{Directory: d, missed: riley.ObjectID} })
		if err := e.svc.CheckDrift(ctx); err != nil {
			t.Fatal(err)
		}
		if g := mustGrant(t, e, req.ID); g.State != access.GrantActive {
			t.Fatalf("grant of a member the listing missed: %s", g.State)
		}
		e.clock.Advance(time.Hour)
		if _, err := e.svc.Work(ctx); err != nil {
			t.Fatal(err)
		}
		if g := mustGrant(t, e, req.ID); g.State != access.GrantRevoked || e.isMember(riley.ObjectID) {
			t.Fatalf("after expiry: grant %s, member %v", g.State, e.isMember(riley.ObjectID))
		}
	})
}
