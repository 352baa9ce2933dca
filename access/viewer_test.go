package access_test

import (
	"context"
	"errors"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/jitbot/jitbot/access"
)

const securityGrp = "aaaaaaaa-0000-4000-8000-000000000077"

// withSecurity makes eve a member of the security groups.
func withSecurity(t *testing.T, e *env) {
	t.Helper()
	if err := e.dir.SetMember(context.Background(), securityGrp, eve.ObjectID); err != nil {
		t.Fatal(err)
	}
	e.openWith(func(c *access.Config) { c.SecurityGroups = []string{securityGrp} })
}

func (e *env) viewer(req *access.Request, who access.Person) access.Viewer {
	e.t.Helper()
	v, err := e.svc.Viewer(context.Background(), tenant, req, who)
	if err != nil {
		e.t.Fatalf("viewer %s: %v", who.Name, err)
	}
	return v
}

func TestViewerFollowsTheRulesOfTheActions(t *testing.T) {
	forEachStore(t, func(t *testing.T, store storeKind) {
		e := newEnv(t, store)
		withSecurity(t, e)
		pending := e.submit(riley, time.Hour)
		// riley is in the approver group too: a requester never decides
		// their own request.
		for _, c := range []struct {
			who  access.Person
			want access.Viewer
		}{
			{riley, access.Viewer{Requester: true, May: access.CanCancel}},
			{alex, access.Viewer{Approver: true, May: access.CanApprove | access.CanDeny}},
			{eve, access.Viewer{Security: true}},
			{access.Person{ObjectID: "29:not-an-object-id", Name: "Guest"}, access.Viewer{}},
		} {
			if got := e.viewer(pending, c.who); got != c.want {
				t.Errorf("pending, %s: %+v, want %+v", c.who.Name, got, c.want)
			}
		}
		if !e.viewer(pending, eve).ReadOnly() || e.viewer(pending, alex).ReadOnly() {
			t.Error("ReadOnly disagrees with May")
		}

		// The buttons match the actions: eve's decision is refused.
		if _, err := e.decide(pending.ID, eve, access.Approve, ""); !errors.Is(err, access.ErrNotApprover) {
			t.Fatalf("security member deciding: %v", err)
		}
		active, err := e.decide(pending.ID, alex, access.Approve, "")
		if err != nil || active.State != access.RequestActive {
			t.Fatalf("approve: %v %v", active, err)
		}
		for _, c := range []struct {
			who  access.Person
			want access.Viewer
		}{
			{riley, access.Viewer{Requester: true, May: access.CanRelease | access.CanExtend}},
			{alex, access.Viewer{Approver: true, May: access.CanRevoke}},
			{eve, access.Viewer{Security: true, May: access.CanRevoke}},
			{access.Person{ObjectID: "55555555-5555-4555-8555-555555555555", Name: "Bystander"}, access.Viewer{}},
		} {
			if got := e.viewer(active, c.who); got != c.want {
				t.Errorf("active, %s: %+v, want %+v", c.who.Name, got, c.want)
			}
		}
		if _, err := e.revokeNow(active.ID, riley, "mine"); !errors.Is(err, access.ErrSelfApproval) {
			t.Fatalf("the requester revoking: %v", err)
		}
		if _, err := e.revokeNow(active.ID, eve, "security says so"); err != nil {
			t.Fatalf("security revoking: %v", err)
		}
		ended, _ := e.store.GetRequest(context.Background(), active.ID)
		for _, who := range []access.Person{riley, alex, eve} {
			if v := e.viewer(ended, who); !v.ReadOnly() {
				t.Errorf("ended, %s may still %v", who.Name, v.May)
			}
		}
		if _, err := e.svc.Viewer(context.Background(), "99999999-9999-4999-8999-999999999999", ended, alex); !errors.Is(err, access.ErrWrongTenant) {
			t.Fatalf("another tenant: %v", err)
		}
	})
}

func TestViewerSelfApprovalAndDeadline(t *testing.T) {
	e := newEnv(t, onMemory)
	self := prodProfile()
	self.AllowSelfApproval = true
	self.ApprovalTimeout = 30 * time.Minute
	e.openWith(func(c *access.Config) { c.Profiles = []access.Profile{self} })
	req := e.submit(riley, time.Hour)
	want := access.Viewer{Requester: true, Approver: true, May: access.CanCancel | access.CanApprove | access.CanDeny}
	if got := e.viewer(req, riley); got != want {
		t.Fatalf("self-approving requester: %+v, want %+v", got, want)
	}
	e.clock.Advance(30 * time.Minute)
	for _, who := range []access.Person{riley, alex} {
		if v := e.viewer(req, who); !v.ReadOnly() {
			t.Errorf("past the deadline %s may still %v", who.Name, v.May)
		}
	}
	e.clock.Advance(-20 * time.Minute)
	active, err := e.decide(req.ID, riley, access.Approve, "")
	if err != nil {
		t.Fatal(err)
	}
	if got := e.viewer(active, riley); got.May != access.CanRelease|access.CanRevoke|access.CanExtend {
		t.Fatalf("self-approving requester, active: %+v", got)
	}
}

func TestDenyNeedsAReasonAndApproveWhereRequired(t *testing.T) {
	forEachStore(t, func(t *testing.T, store storeKind) {
		e := newEnv(t, store)
		req := e.submit(riley, time.Hour)
		before := e.audit(req.ID)
		_, err := e.decide(req.ID, alex, access.Deny, "  ")
		var r *access.Refusal
		if !errors.As(err, &r) || !errors.Is(err, access.ErrInvalidInput) || r.Request == nil || !strings.Contains(r.Reason, "Say why you deny") {
			t.Fatalf("deny without a reason: %v", err)
		}
		// An outsider's deny is refused for who they are, and audited.
		if _, err := e.decide(req.ID, eve, access.Deny, ""); !errors.Is(err, access.ErrNotApprover) {
			t.Fatalf("outsider's deny: %v", err)
		}
		cur, _ := e.store.GetRequest(context.Background(), req.ID)
		if cur.State != access.RequestPending || len(cur.Decisions) != 0 {
			t.Fatalf("a refused denial changed the request: %s", cur.State)
		}
		if got := e.audit(req.ID); !slices.Equal(got, append(before, access.ActionDecisionRefused)) {
			t.Fatalf("audit %v, want %v and the outsider's refusal", got, before)
		}

		// Approving needs no reason by default; with require_reason it does.
		required := prodProfile()
		required.RequireReason = true
		e.openWith(func(c *access.Config) { c.Profiles = []access.Profile{required} })
		if _, err := e.decide(req.ID, alex, access.Approve, ""); !errors.As(err, &r) || !errors.Is(err, access.ErrInvalidInput) || !strings.Contains(r.Reason, "needs a reason to approve") {
			t.Fatalf("approve without a required reason: %v", err)
		}
		if e.isMember(riley.ObjectID) {
			t.Fatal("a refused approval granted access")
		}
		got, err := e.decide(req.ID, alex, access.Approve, "INC-4711 is real")
		if err != nil || got.LastDecision().Reason != "INC-4711 is real" {
			t.Fatalf("approve with a reason: %v %v", got, err)
		}
		evs, _ := e.store.Audit(context.Background(), access.AuditFilter{RequestID: req.ID})
		if !slices.ContainsFunc(evs, func(ev access.AuditEvent) bool {
			return ev.Action == access.ActionApproved && ev.Reason == "INC-4711 is real"
		}) {
			t.Fatal("the approval's reason is not audited")
		}
		if texts := strings.Join(e.notes.Texts(req.ID), "\n"); !strings.Contains(texts, "approved by Alex Approver") || !strings.Contains(texts, "Reason: `INC-4711 is real`") {
			t.Fatalf("the requester was not told the reason:\n%s", texts)
		}
	})
}

// Which groups a viewer is in is remembered for the buttons of their
// cards, for Config.ViewerGroupsFor, and never for an action: an approver
// who left the approver groups still sees their buttons for those few
// seconds, but their approval is refused at once.
func TestViewerGroupsAreRememberedForTheCardOnly(t *testing.T) {
	forEachStore(t, func(t *testing.T, store storeKind) {
		e := newEnv(t, store)
		ctx := context.Background()
		pending := e.submit(riley, time.Hour)
		approver := access.Viewer{Approver: true, May: access.CanApprove | access.CanDeny}
		if got := e.viewer(pending, alex); got != approver {
			t.Fatalf("approver's view: %+v, want %+v", got, approver)
		}
		if err := e.dir.RemoveMember(ctx, approverGroup, alex.ObjectID); err != nil {
			t.Fatal(err)
		}
		if got := e.viewer(pending, alex); got != approver {
			t.Errorf("view just after leaving the approver group: %+v, want the remembered %+v", got, approver)
		}
		if _, err := e.decide(pending.ID, alex, access.Approve, ""); !errors.Is(err, access.ErrNotApprover) {
			t.Fatalf("approval by someone who left the approver group: %v, want ErrNotApprover", err)
		}
		if cur, err := e.svc.Request(ctx, tenant, pending.ID); err != nil || cur.State != access.RequestPending {
			t.Fatalf("request after the refused approval: %+v %v, want pending", cur, err)
		}
		e.clock.Advance(access.DefaultViewerGroupsFor - time.Millisecond)
		if got := e.viewer(pending, alex); got != approver {
			t.Errorf("view just before the answer's time ends: %+v, want %+v", got, approver)
		}
		e.clock.Advance(time.Millisecond)
		if got := e.viewer(pending, alex); got != (access.Viewer{}) {
			t.Errorf("view once the answer's time ended: %+v, want read-only", got)
		}

		// A clock set back forgets what was remembered.
		if err := e.dir.SetMember(ctx, approverGroup, alex.ObjectID); err != nil {
			t.Fatal(err)
		}
		e.clock.Advance(-time.Second)
		if got := e.viewer(pending, alex); got != approver {
			t.Errorf("view after the clock went back: %+v, want the directory's answer %+v", got, approver)
		}

		// Turned off, every view asks the directory.
		e.openWith(func(c *access.Config) { c.ViewerGroupsFor = -1 })
		if got := e.viewer(pending, alex); got != approver {
			t.Fatalf("approver's view: %+v, want %+v", got, approver)
		}
		if err := e.dir.RemoveMember(ctx, approverGroup, alex.ObjectID); err != nil {
			t.Fatal(err)
		}
		if got := e.viewer(pending, alex); got != (access.Viewer{}) {
			t.Errorf("view with nothing remembered, after leaving the approver group: %+v, want read-only", got)
		}
	})
}
