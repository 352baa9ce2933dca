package access_test

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/jitbot/jitbot/access"
)

// activeGrant submits riley's request for an hour and has alex approve it.
func activeGrant(t *testing.T, e *env) *access.Request {
	t.Helper()
	req := e.submit(riley, time.Hour)
	got, err := e.decide(req.ID, alex, access.Approve, "")
	if err != nil {
		t.Fatal(err)
	}
	if got.State != access.RequestActive || !e.isMember(riley.ObjectID) {
		t.Fatalf("after approval: request %s, member %v", got.State, e.isMember(riley.ObjectID))
	}
	return got
}

func (e *env) release(id string, who access.Person) (*access.Request, error) {
	return e.svc.Release(context.Background(), access.EndInput{TenantID: tenant, RequestID: id, Who: who})
}

func (e *env) revokeNow(id string, who access.Person, reason string) (*access.Request, error) {
	return e.svc.RevokeNow(context.Background(), access.EndInput{TenantID: tenant, RequestID: id, Who: who, Reason: reason})
}

func TestReleaseRemovesMemberNow(t *testing.T) {
	forEachStore(t, func(t *testing.T, store storeKind) {
		e := newEnv(t, store)
		req := activeGrant(t, e)
		e.clock.Advance(10 * time.Minute)
		got, err := e.release("", riley) // the single active grant
		if err != nil {
			t.Fatal(err)
		}
		if e.isMember(riley.ObjectID) {
			t.Fatal("riley is still a member after releasing")
		}
		g := got.Grant
		at := start.Add(10 * time.Minute)
		if got.State != access.RequestExpired || g.State != access.GrantRevoked || !g.RevokedAt.Equal(at) {
			t.Fatalf("after release: request %s grant %s revoked at %v", got.State, g.State, g.RevokedAt)
		}
		if g.Early.Kind != access.EndReleased || g.Early.By.ObjectID != riley.ObjectID || !g.Early.At.Equal(at) {
			t.Fatalf("early end %+v", g.Early)
		}
		if rec := access.NewGrantRecord(*got); rec.Outcome != access.OutcomeReleased {
			t.Fatalf("grants view outcome %s, want released", rec.Outcome)
		}
		want := []access.Action{access.ActionRequested, access.ActionApproved, access.ActionGranted, access.ActionReleased, access.ActionRevoking, access.ActionRevoked}
		if got := e.audit(req.ID); !equal(got, want) {
			t.Fatalf("audit %v, want %v", got, want)
		}
		evs := e.auditEvents(req.ID)
		if ev := evs[3]; ev.Actor.ObjectID != riley.ObjectID {
			t.Fatalf("grant.released by %s, want the requester", ev.Actor.ObjectID)
		}
		texts := e.notes.Texts(req.ID)
		if last := texts[len(texts)-1]; !strings.Contains(last, "ended, as you asked") {
			t.Fatalf("last notice %q", last)
		}
		if kinds := e.notes.Notices(req.ID); kinds[len(kinds)-1] == access.NoticeFeedback {
			t.Fatal("feedback asked for a released grant")
		}
		// Releasing again says it is not active and changes nothing.
		n := e.auditCount()
		if _, err := e.release(req.ID, riley); !errors.Is(err, access.ErrNotActive) {
			t.Fatalf("second release: %v, want ErrNotActive", err)
		}
		if e.auditCount() != n {
			t.Fatal("a refused second release changed the audit log")
		}
	})
}

func TestReleaseByAnyoneElseIsRefused(t *testing.T) {
	forEachStore(t, func(t *testing.T, store storeKind) {
		e := newEnv(t, store)
		req := activeGrant(t, e)
		changes := e.changeCount()
		// Someone else's id is answered as an unknown one: the answer
		// tells nobody that the request exists.
		_, unknown := e.release("00000000-0000-4000-8000-000000000000", eve)
		for _, who := range []access.Person{alex, eve} {
			_, err := e.release(req.ID, who)
			sameAsUnknown(t, "release by "+who.Name, err, unknown, req.ID, "00000000-0000-4000-8000-000000000000")
		}
		g := mustGrant(t, e, req.ID)
		if g.State != access.GrantActive || g.Early.Kind != "" || !g.DueAt.Equal(g.ExpiresAt) || !e.isMember(riley.ObjectID) {
			t.Fatalf("a refused release changed the grant: %+v", g)
		}
		refused := 0
		for _, ev := range e.auditEvents(req.ID) {
			switch ev.Action {
			case access.ActionReleaseRefused:
				refused++
			case access.ActionReleased, access.ActionRevoking:
				t.Fatalf("refused release audited as %s", ev.Action)
			}
		}
		if refused != 2 || e.changeCount() != changes+2 {
			t.Fatalf("%d refusals audited, want 2", refused)
		}
	})
}

func TestReleaseWithSeveralActiveAsksWhich(t *testing.T) {
	e := newEnv(t, onMemory)
	p2 := prodProfile()
	p2.Name, p2.GroupID = "prod-logs", "aaaaaaaa-0000-4000-8000-000000000009"
	e.openWith(func(c *access.Config) { c.Profiles = append(c.Profiles, p2) })
	a := activeGrant(t, e)
	b, err := e.svc.Submit(context.Background(), access.Submission{
		TenantID: tenant, Requester: riley, Profile: "prod-logs", Duration: time.Hour, Ticket: "INC-1", Justification: "logs",
	})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := e.decide(b.ID, alex, access.Approve, ""); err != nil {
		t.Fatal(err)
	}
	_, err = e.release("", riley)
	if !errors.Is(err, access.ErrInvalidInput) || !strings.Contains(err.Error(), "release "+a.ID) || !strings.Contains(err.Error(), "release "+b.ID) {
		t.Fatalf("release with two active grants: %v", err)
	}
	if g := mustGrant(t, e, a.ID); g.Early.Kind != "" {
		t.Fatal("an ambiguous release ended a grant")
	}
	if _, err := e.release(b.ID, riley); err != nil {
		t.Fatal(err)
	}
	if g := mustGrant(t, e, b.ID); g.State != access.GrantRevoked {
		t.Fatalf("named grant %s", g.State)
	}
	if g := mustGrant(t, e, a.ID); g.State != access.GrantActive || !e.isMember(riley.ObjectID) {
		t.Fatalf("the other grant %s, member %v", g.State, e.isMember(riley.ObjectID))
	}
}

func TestReleaseOfSharedMembershipLeavesItInPlace(t *testing.T) {
	forEachStore(t, func(t *testing.T, store storeKind) {
		e := newEnv(t, store)
		// The membership pre-existed: it stays, exactly as at expiry.
		if err := e.dir.SetMember(context.Background(), prodGroup, riley.ObjectID); err != nil {
			t.Fatal(err)
		}
		req := activeGrant(t, e)
		got, err := e.release(req.ID, riley)
		if err != nil {
			t.Fatal(err)
		}
		if got.Grant.State != access.GrantRevoked || !e.isMember(riley.ObjectID) || e.dir.removes.Load() != 0 {
			t.Fatalf("grant %s member %v removes %d: a pre-existing membership must stay", got.Grant.State, e.isMember(riley.ObjectID), e.dir.removes.Load())
		}
	})
}

func TestRevokeNowByApprover(t *testing.T) {
	forEachStore(t, func(t *testing.T, store storeKind) {
		e := newEnv(t, store)
		req := activeGrant(t, e)
		if _, err := e.revokeNow(req.ID, alex, "  "); !errors.Is(err, access.ErrInvalidInput) {
			t.Fatalf("revoke without a reason: %v", err)
		}
		if _, err := e.revokeNow(req.ID, alex, strings.Repeat("x", access.MaxReason+1)); !errors.Is(err, access.ErrInvalidInput) {
			t.Fatalf("revoke with a long reason: %v", err)
		}
		if g := mustGrant(t, e, req.ID); g.Early.Kind != "" || !e.isMember(riley.ObjectID) {
			t.Fatal("a refused revoke changed the grant")
		}
		got, err := e.revokeNow(req.ID, alex, "incident closed <b>")
		if err != nil {
			t.Fatal(err)
		}
		g := got.Grant
		if g.State != access.GrantRevoked || e.isMember(riley.ObjectID) {
			t.Fatalf("after revoke now: grant %s member %v", g.State, e.isMember(riley.ObjectID))
		}
		if g.Early.Kind != access.EndRevoked || g.Early.By.ObjectID != alex.ObjectID || g.Early.Reason != "incident closed <b>" {
			t.Fatalf("early end %+v", g.Early)
		}
		if rec := access.NewGrantRecord(*got); rec.Outcome != access.OutcomeRevokedEarly {
			t.Fatalf("outcome %s", rec.Outcome)
		}
		var found bool
		for _, ev := range e.auditEvents(req.ID) {
			if ev.Action == access.ActionRevokedEarly {
				found = ev.Actor.ObjectID == alex.ObjectID && ev.Reason == "incident closed <b>"
			}
		}
		if !found {
			t.Fatal("no grant.revoked_early by alex with the reason")
		}
		texts := e.notes.Texts(req.ID)
		last := texts[len(texts)-1]
		if !strings.Contains(last, "revoked by Alex Approver") || !strings.Contains(last, access.Quote("incident closed <b>")) {
			t.Fatalf("requester told %q", last)
		}
	})
}

func TestRevokeNowRefusals(t *testing.T) {
	forEachStore(t, func(t *testing.T, store storeKind) {
		e := newEnv(t, store)
		req := activeGrant(t, e)
		changes := e.changeCount()
		// The requester (an approver too, but not of their own grant) and
		// an outsider.
		if _, err := e.revokeNow(req.ID, riley, "done"); !errors.Is(err, access.ErrSelfApproval) {
			t.Fatalf("requester's revoke now: %v", err)
		}
		if _, err := e.revokeNow(req.ID, eve, "because"); !errors.Is(err, access.ErrNotApprover) {
			t.Fatalf("outsider's revoke now: %v", err)
		}
		g := mustGrant(t, e, req.ID)
		if g.State != access.GrantActive || g.Early.Kind != "" || !g.DueAt.Equal(g.ExpiresAt) || !e.isMember(riley.ObjectID) {
			t.Fatalf("a refused revoke changed the grant: %+v", g)
		}
		n := 0
		for _, ev := range e.auditEvents(req.ID) {
			if ev.Action == access.ActionRevokeRefused {
				n++
			}
		}
		if n != 2 || e.changeCount() != changes+2 {
			t.Fatalf("%d refusals audited, want 2", n)
		}
	})
}

func TestRevokeNowBySecurityAndSelfWhereAllowed(t *testing.T) {
	e := newEnv(t, onMemory)
	const securityGroup = "aaaaaaaa-0000-4000-8000-000000000077"
	if err := e.dir.SetMember(context.Background(), securityGroup, eve.ObjectID); err != nil {
		t.Fatal(err)
	}
	e.openWith(func(c *access.Config) { c.SecurityGroups = []string{securityGroup} })
	req := activeGrant(t, e)
	if _, err := e.revokeNow(req.ID, eve, "suspicious activity"); err != nil {
		t.Fatalf("security's revoke now: %v", err)
	}
	if e.isMember(riley.ObjectID) {
		t.Fatal("still a member")
	}

	self := prodProfile()
	self.AllowSelfApproval = true
	e.openWith(func(c *access.Config) { c.Profiles = []access.Profile{self} })
	req = activeGrant(t, e)
	if _, err := e.revokeNow(req.ID, riley, "trying it out"); err != nil {
		t.Fatalf("self revoke where self-approval is allowed: %v", err)
	}
}

// TestEarlyEndSurvivesCrash kills the process between the intent and the
// removal of a release and of a revoke now: a new process finishes it,
// removing the member exactly once.
func TestEarlyEndSurvivesCrash(t *testing.T) {
	forEachStore(t, func(t *testing.T, store storeKind) {
		for _, how := range []access.EndKind{access.EndReleased, access.EndRevoked} {
			for _, point := range []string{"revoke.after-intent", "revoke.after-remove"} {
				t.Run(string(how)+"/"+point, func(t *testing.T) {
					e := newEnv(t, store)
					req := activeGrant(t, e)
					e.openWith(func(c *access.Config) {
						c.Owner = "replica-1"
						c.Failpoint = func(name string) {
							if name == point {
								panic(crash(name))
							}
						}
					})
					crashed := runUntilCrash(func() {
						if how == access.EndReleased {
							_, _ = e.release(req.ID, riley)
						} else {
							_, _ = e.revokeNow(req.ID, alex, "incident closed")
						}
					})
					if !crashed {
						t.Fatalf("failpoint %s never reached", point)
					}
					e.clock.Advance(2 * time.Minute)
					// Each process has its own directory client: count both.
					before := e.dir.removes.Load()
					e.openWith(func(c *access.Config) { c.Owner = "replica-2" })
					if _, err := e.svc.Work(context.Background()); err != nil {
						t.Fatal(err)
					}
					g := mustGrant(t, e, req.ID)
					if g.State != access.GrantRevoked || g.Early.Kind != how || e.isMember(riley.ObjectID) {
						t.Fatalf("after recovery: grant %s early %s member %v", g.State, g.Early.Kind, e.isMember(riley.ObjectID))
					}
					after := e.dir.removes.Load()
					removes := before + after
					want := int32(1) // after-intent: the removal is the new process's
					if point == "revoke.after-remove" {
						want = 0 // removed before the crash; the new process finds it gone
					}
					if after != want || removes != 1 {
						t.Fatalf("removals: %d after restart, %d in all; want %d and 1", after, removes, want)
					}
				})
			}
		}
	})
}

func TestReleaseOfADueGrantLeavesItToExpiry(t *testing.T) {
	forEachStore(t, func(t *testing.T, store storeKind) {
		e := newEnv(t, store)
		req := activeGrant(t, e)
		e.clock.Advance(time.Hour) // due, not yet worked on
		if _, err := e.release(req.ID, riley); !errors.Is(err, access.ErrStaleGrant) {
			t.Fatalf("release of a due grant: %v, want ErrStaleGrant", err)
		}
		if g := mustGrant(t, e, req.ID); g.Early.Kind != "" {
			t.Fatalf("a due grant was marked %s", g.Early.Kind)
		}
		if _, err := e.svc.Work(context.Background()); err != nil {
			t.Fatal(err)
		}
		got, err := e.store.GetRequest(context.Background(), req.ID)
		if err != nil {
			t.Fatal(err)
		}
		if rec := access.NewGrantRecord(*got); rec.Outcome != access.OutcomeExpired {
			t.Fatalf("outcome %s, want expired", rec.Outcome)
		}
	})
}

// sameAsUnknown checks that err, the answer to a command naming someone
// else's request id, is the answer to one naming the unknown id
// unknownID (unknown), but for the id: ErrNotFound, the same words, and
// no request in the refusal.
func sameAsUnknown(t *testing.T, what string, err, unknown error, id, unknownID string) {
	t.Helper()
	var r *access.Refusal
	if !errors.Is(err, access.ErrNotFound) || !errors.As(err, &r) || r.Request != nil {
		t.Fatalf("%s: %v (%+v), want ErrNotFound without the request", what, err, r)
	}
	if !errors.Is(unknown, access.ErrNotFound) || strings.ReplaceAll(err.Error(), id, unknownID) != unknown.Error() {
		t.Fatalf("%s: %q; an unknown id is answered %q", what, err, unknown)
	}
}
