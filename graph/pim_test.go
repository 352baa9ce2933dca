package graph_test

import (
	"context"
	"errors"
	"net/http"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jitbot/jitbot/access"
	"github.com/jitbot/jitbot/graph"
	"github.com/jitbot/jitbot/graph/graphtest"
)

// fakeClock is a settable clock for the fake Graph.
type fakeClock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *fakeClock) Now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.now }
func (c *fakeClock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
}

func TestPIMAssignLifecycle(t *testing.T) {
	g := seeded(t)
	clock := &fakeClock{now: time.Date(2026, 12, 1, 10, 0, 0, 0, time.UTC)}
	g.SetClock(clock.Now)
	d := newDirectory(t, g, graph.Config{})
	ctx := context.Background()

	pol, err := d.PIMPolicy(ctx, "g1")
	if err != nil || pol.Onboarded {
		t.Fatalf("PIMPolicy of a new group = %+v, %v; want not onboarded", pol, err)
	}
	start, end := clock.Now(), clock.Now().Add(time.Hour)
	a := access.PIMAssignment{GroupID: "g1", UserID: "u1", Start: start, End: end, Justification: "jitbot request r1: deploy", Ticket: "INC-1"}
	if err := d.AssignPIM(ctx, a); err != nil {
		t.Fatalf("AssignPIM: %v", err)
	}
	if got := g.PIMOnboardings(); !slices.Equal(got, []string{"g1"}) {
		t.Errorf("onboardings %v, want [g1] (the first assignment onboards the group)", got)
	}
	// The wire: one request, adminAssign, the schedule and the ticket.
	calls := g.CallsTo(graphtest.RoutePIMRequest)
	if len(calls) != 1 || calls[0].Status != http.StatusCreated {
		t.Fatalf("PIM requests %+v, want one answered 201", calls)
	}
	var body map[string]any
	if err := calls[0].JSON(&body); err != nil {
		t.Fatal(err)
	}
	sched, _ := body["scheduleInfo"].(map[string]any)
	exp, _ := sched["expiration"].(map[string]any)
	ticket, _ := body["ticketInfo"].(map[string]any)
	if body["action"] != "adminAssign" || body["accessId"] != "member" || body["principalId"] != "u1" || body["groupId"] != "g1" ||
		body["justification"] != a.Justification || ticket["ticketNumber"] != "INC-1" ||
		sched["startDateTime"] != start.Format(time.RFC3339) || exp["type"] != "afterDateTime" || exp["endDateTime"] != end.Format(time.RFC3339) {
		t.Errorf("adminAssign body %s", calls[0].Body)
	}
	if g.Count(graphtest.RouteAddMember) != 0 {
		t.Error("a direct membership was added as well")
	}
	// The member is in the group (members and transitive members) while
	// the assignment is active.
	if ok, err := d.IsMember(ctx, "g1", "u1"); err != nil || !ok {
		t.Errorf("IsMember during the assignment = %v, %v", ok, err)
	}
	if ok, err := d.PIMActive(ctx, "g1", "u1"); err != nil || !ok {
		t.Errorf("PIMActive during the assignment = %v, %v", ok, err)
	}
	if ids, err := d.TransitiveMembers(ctx, "g1"); err != nil || !slices.Contains(ids, "u1") {
		t.Errorf("TransitiveMembers = %v, %v; want u1", ids, err)
	}
	list, err := d.PIMAssignments(ctx, "g1")
	if err != nil || len(list) != 1 || list[0].UserID != "u1" || !list[0].End.Equal(end) {
		t.Errorf("PIMAssignments = %+v, %v", list, err)
	}
	// A second adminAssign (a retried call) counts as made.
	if err := d.AssignPIM(ctx, a); err != nil {
		t.Errorf("AssignPIM again: %v", err)
	}
	// Extend.
	a.End = end.Add(30 * time.Minute)
	if err := d.ExtendPIM(ctx, a); err != nil {
		t.Fatalf("ExtendPIM: %v", err)
	}
	if list := g.PIMAssignments("g1"); len(list) != 1 || !list[0].End.Equal(a.End) {
		t.Errorf("after ExtendPIM %+v", list)
	}
	// Entra ends it at its end, by its own clock.
	clock.Advance(91 * time.Minute)
	if ok, err := d.IsMember(ctx, "g1", "u1"); err != nil || ok {
		t.Errorf("IsMember after the end = %v, %v; want false", ok, err)
	}
	// Removing an assignment that ended counts as removed.
	if err := d.RemovePIM(ctx, "g1", "u1"); err != nil {
		t.Errorf("RemovePIM after the end: %v", err)
	}
	pol, err = d.PIMPolicy(ctx, "g1")
	if err != nil || !pol.Onboarded || pol.MaxDuration != graphtest.DefaultPIMMaxDuration || pol.RequireMFA {
		t.Errorf("PIMPolicy once onboarded = %+v, %v", pol, err)
	}
	checkWire(t, g)
}

func TestPIMRemove(t *testing.T) {
	g := seeded(t)
	d := newDirectory(t, g, graph.Config{})
	ctx := context.Background()
	now := time.Now().UTC()
	if err := d.AssignPIM(ctx, access.PIMAssignment{GroupID: "g1", UserID: "u1", Start: now, End: now.Add(time.Hour)}); err != nil {
		t.Fatal(err)
	}
	if err := d.RemovePIM(ctx, "g1", "u1"); err != nil {
		t.Fatalf("RemovePIM: %v", err)
	}
	if g.IsMember("g1", "u1") {
		t.Error("still a member after adminRemove")
	}
	var body map[string]any
	calls := g.CallsTo(graphtest.RoutePIMRequest)
	if err := calls[len(calls)-1].JSON(&body); err != nil || body["action"] != "adminRemove" {
		t.Errorf("remove body %s", calls[len(calls)-1].Body)
	}
}

func TestPIMPolicyRefusals(t *testing.T) {
	g := seeded(t)
	g.AddGroup("g2")
	d := newDirectory(t, g, graph.Config{})
	ctx := context.Background()
	now := time.Now().UTC()

	g.OnboardPIM("g1")
	g.SetPIMPolicy("g1", graphtest.PIMPolicy{MaxDuration: 8 * time.Hour})
	pol, err := d.PIMPolicy(ctx, "g1")
	if err != nil || pol.MaxDuration != 8*time.Hour || pol.RequireMFA || !pol.Onboarded {
		t.Errorf("PIMPolicy = %+v, %v; want 8h", pol, err)
	}
	err = d.AssignPIM(ctx, access.PIMAssignment{GroupID: "g1", UserID: "u1", Start: now, End: now.Add(9 * time.Hour)})
	if !errors.Is(err, access.ErrPIMPolicy) || !errors.Is(err, access.ErrPermanent) || !strings.Contains(err.Error(), "ExpirationRule") {
		t.Errorf("AssignPIM beyond the maximum: %v", err)
	}
	if e := graphError(t, err); e.Code != graphtest.CodePolicyValidationFailed {
		t.Errorf("code %q", e.Code)
	}

	g.OnboardPIM("g2")
	g.SetPIMPolicy("g2", graphtest.PIMPolicy{RequireMFA: true})
	if pol, err := d.PIMPolicy(ctx, "g2"); err != nil || !pol.RequireMFA {
		t.Errorf("PIMPolicy with MFA = %+v, %v", pol, err)
	}
	err = d.AssignPIM(ctx, access.PIMAssignment{GroupID: "g2", UserID: "u1", Start: now, End: now.Add(time.Hour)})
	if !errors.Is(err, access.ErrPIMPolicy) || !strings.Contains(err.Error(), "MfaRule") || !strings.Contains(err.Error(), "multifactor") {
		t.Errorf("AssignPIM with MFA required: %v", err)
	}
	if g.IsMember("g1", "u1") || g.IsMember("g2", "u1") {
		t.Error("a refused assignment made a member")
	}

	// Missing permission: 403 names it.
	g.InjectFault(graphtest.Fault{Route: graphtest.RoutePIMRequest, Status: http.StatusForbidden})
	err = d.AssignPIM(ctx, access.PIMAssignment{GroupID: "g1", UserID: "u2", Start: now, End: now.Add(time.Hour)})
	if !errors.Is(err, access.ErrPermanent) || !strings.Contains(err.Error(), access.PIMPermission) {
		t.Errorf("AssignPIM without permission: %v", err)
	}
}

// TestPIMAssignmentsFollowsPaging: a group's active assignments that Graph
// answers over several pages (@odata.nextLink) are all listed: drift
// detection and reconcile look for the assignments no grant explains, and
// one left on a later page would never be found.
func TestPIMAssignmentsFollowsPaging(t *testing.T) {
	g := seeded(t)
	g.SetPageSize(2)
	users := []string{"u1", "u2", "u3", "u4", "u5"}
	g.AddUser(users[2:]...)
	for _, u := range users {
		g.AssignPIM("g1", u, time.Now().Add(time.Hour))
	}
	d := newDirectory(t, g, graph.Config{})
	list, err := d.PIMAssignments(context.Background(), "g1")
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, a := range list {
		got = append(got, a.UserID)
	}
	slices.Sort(got)
	if !slices.Equal(got, users) {
		t.Fatalf("PIMAssignments listed %v, want %v", got, users)
	}
	if n := len(g.CallsTo(graphtest.RoutePIMInstances)); n != 3 {
		t.Errorf("%d pages asked for, want 3", n)
	}
}
