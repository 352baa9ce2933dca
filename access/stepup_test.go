package access_test

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/jitbot/jitbot/access"
)

// stepUpProfile is prodProfile asking approvers for authentication context
// c1 within 10 minutes.
func stepUpProfile() access.Profile {
	p := prodProfile()
	p.StepUp = access.StepUp{AuthContext: "c1", Within: 10 * time.Minute}
	return p
}

func TestStepUpApprovalNeedsAFittingProof(t *testing.T) {
	forEachStore(t, func(t *testing.T, store storeKind) {
		e := newEnv(t, store)
		e.openWith(func(c *access.Config) { c.Profiles = []access.Profile{stepUpProfile()} })
		req := e.submit(riley, time.Hour)
		now := e.clock.Now()
		fresh := func(mod func(p *access.StepUpProof)) *access.StepUpProof {
			p := &access.StepUpProof{ObjectID: alex.ObjectID, AuthContexts: []string{"c1"}, IssuedAt: now.Add(-access.TokenBackdating), TokenID: "uti-1"}
			if mod != nil {
				mod(p)
			}
			return p
		}
		before, audits := e.changeCount(), e.auditCount()
		cases := []struct {
			name  string
			proof *access.StepUpProof
			audit string
		}{
			{"no token", nil, "step-up: no valid single sign-on token"},
			{"token of another user", fresh(func(p *access.StepUpProof) { p.ObjectID = sam.ObjectID }), "not of the approver"},
			{"token without c1", fresh(func(p *access.StepUpProof) { p.AuthContexts = []string{"c2"} }), "lacks authentication context c1"},
			{"token without any context", fresh(func(p *access.StepUpProof) { p.AuthContexts = nil }), "lacks authentication context c1"},
			{"token too old", fresh(func(p *access.StepUpProof) { p.IssuedAt = now.Add(-10*time.Minute - time.Second) }), "more than 10m"},
			{"token without issue time", fresh(func(p *access.StepUpProof) { p.IssuedAt = time.Time{} }), "no issue time"},
		}
		for i, c := range cases {
			t.Run(c.name, func(t *testing.T) {
				_, err := e.svc.Decide(context.Background(), access.DecisionInput{
					TenantID: tenant, RequestID: req.ID, Approver: alex, Verdict: access.Approve, StepUp: c.proof,
				})
				var r *access.Refusal
				if !errors.As(err, &r) || !errors.Is(err, access.ErrStepUpRequired) {
					t.Fatalf("want a step-up refusal, got %v", err)
				}
				if r.Request == nil || r.Request.ID != req.ID || !strings.Contains(r.Reason, "fresh sign-in") {
					t.Fatalf("refusal %+v: want the request and the sign-in reason", r)
				}
				if e.changeCount() != before || e.auditCount() != audits+i+1 || e.isMember(riley.ObjectID) {
					t.Fatal("a step-up refusal changed something besides its own audit event")
				}
				evs := e.auditEvents(req.ID)
				last := evs[len(evs)-1]
				if last.Action != access.ActionDecisionRefused || last.Actor.ObjectID != alex.ObjectID || !strings.Contains(last.Reason, c.audit) {
					t.Fatalf("last audit event %s by %s %q: want a decision refusal by alex saying %q", last.Action, last.Actor.ObjectID, last.Reason, c.audit)
				}
			})
		}
		cur, err := e.store.GetRequest(context.Background(), req.ID)
		if err != nil || cur.State != access.RequestPending {
			t.Fatalf("request after refusals: %v, %v", cur, err)
		}

		// A token issued exactly at the window's edge counts.
		got, err := e.svc.Decide(context.Background(), access.DecisionInput{
			TenantID: tenant, RequestID: req.ID, Approver: alex, Verdict: access.Approve,
			StepUp: fresh(func(p *access.StepUpProof) {
				p.IssuedAt = now.Add(-10 * time.Minute)
				p.ObjectID = strings.ToUpper(alex.ObjectID)
			}),
		})
		if err != nil {
			t.Fatalf("approve with a fitting proof: %v", err)
		}
		if got.State != access.RequestActive || !e.isMember(riley.ObjectID) {
			t.Fatalf("state %s, member %v: want active and granted", got.State, e.isMember(riley.ObjectID))
		}
	})
}

func TestStepUpDenyNeedsNoProof(t *testing.T) {
	e := newEnv(t, onMemory)
	e.openWith(func(c *access.Config) { c.Profiles = []access.Profile{stepUpProfile()} })
	req := e.submit(riley, time.Hour)
	got, err := e.decide(req.ID, alex, access.Deny, "not during the freeze")
	if err != nil || got.State != access.RequestDenied {
		t.Fatalf("deny without a proof: %v, %v", got, err)
	}
}

func TestStepUpOffNeedsNoProof(t *testing.T) {
	e := newEnv(t, onMemory)
	req := e.submit(riley, time.Hour)
	if got, err := e.decide(req.ID, alex, access.Approve, ""); err != nil || got.State != access.RequestActive {
		t.Fatalf("approve without step-up: %v, %v", got, err)
	}
}

func TestStepUpValidate(t *testing.T) {
	for _, c := range []struct {
		rule access.StepUp
		want string
	}{
		{access.StepUp{}, ""},
		{access.StepUp{AuthContext: "c1", Within: 10 * time.Minute}, ""},
		{access.StepUp{AuthContext: "c99", Within: time.Hour}, ""},
		{access.StepUp{Within: 10 * time.Minute}, "approvers.step_up.auth_context is required"},
		{access.StepUp{AuthContext: "c0", Within: 10 * time.Minute}, "approvers.step_up.auth_context"},
		{access.StepUp{AuthContext: "c100", Within: 10 * time.Minute}, "approvers.step_up.auth_context"},
		{access.StepUp{AuthContext: "mfa", Within: 10 * time.Minute}, "approvers.step_up.auth_context"},
		{access.StepUp{AuthContext: "c1"}, "approvers.step_up.within"},
		{access.StepUp{AuthContext: "c1", Within: 5 * time.Minute}, "approvers.step_up.within"},
		{access.StepUp{AuthContext: "c1", Within: 61 * time.Minute}, "approvers.step_up.within"},
	} {
		err := c.rule.Validate()
		if (c.want == "") != (err == nil) || (err != nil && !strings.Contains(err.Error(), c.want)) {
			t.Errorf("%+v: got %v, want %q", c.rule, err, c.want)
		}
	}
}

// TestStepUpExtensionApproval: approving an extension of a step-up profile
// gives more access, so it needs the proof like the first approval.
func TestStepUpExtensionApproval(t *testing.T) {
	e := newEnv(t, onMemory)
	e.withExtensions(10*time.Minute, 0, 2*time.Hour)
	req := activeGrant(t, e)
	e.openWith(func(c *access.Config) {
		c.Profiles[0].MaxDuration, c.Profiles[0].MaxTotalDuration = time.Hour, 2*time.Hour
		c.Profiles[0].StepUp = access.StepUp{AuthContext: "c1", Within: 10 * time.Minute}
	})
	res, err := e.extend(req.ID, riley, 30*time.Minute, "one more migration")
	if err != nil || res.Pending == nil {
		t.Fatalf("extension request: %v %+v", err, res)
	}
	before := e.changeCount()
	if _, err := e.decide(res.Pending.ID, alex, access.Approve, ""); !errors.Is(err, access.ErrStepUpRequired) {
		t.Fatalf("extension approved without a proof: %v", err)
	}
	if e.changeCount() != before {
		t.Fatal("a refused extension approval changed something")
	}
	got, err := e.svc.Decide(context.Background(), access.DecisionInput{
		TenantID: tenant, RequestID: res.Pending.ID, Approver: alex, Verdict: access.Approve,
		StepUp: &access.StepUpProof{ObjectID: alex.ObjectID, AuthContexts: []string{"c1"}, IssuedAt: e.clock.Now().Add(-access.TokenBackdating)},
	})
	if err != nil || got.State != access.RequestExtended {
		t.Fatalf("extension with a proof: %v %+v", err, got)
	}
}
