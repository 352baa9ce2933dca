package graph_test

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/jitbot/jitbot/access"
	"github.com/jitbot/jitbot/graph"
	"github.com/jitbot/jitbot/graph/graphtest"
)

func TestIsMember(t *testing.T) {
	g := seeded(t)
	g.AddUser("u3")
	g.AddGroup("nested")
	g.AddMember("g1", "u1")
	g.SetNested("g1", "nested")
	g.AddMember("nested", "u3")
	// Every check asks for the group after a 404 (see TestIsMemberGroupSeen).
	d := newDirectory(t, g, graph.Config{GroupSeenFor: -1})
	ctx := context.Background()

	for _, c := range []struct {
		group, user string
		want        bool
		calls       int // GET member + GET group
	}{
		{"g1", "u1", true, 1},
		{"G1", "U1", true, 1},     // ids are case-insensitive
		{"g1", "nested", true, 1}, // a group is a direct member too
		{"g1", "u2", false, 2},
		{"g1", "u3", false, 2}, // member through a nested group only: not direct
		{"g1", "ghost", false, 2},
	} {
		g.ResetCalls()
		got, err := d.IsMember(ctx, c.group, c.user)
		if err != nil || got != c.want {
			t.Errorf("IsMember(%s, %s) = %v, %v; want %v, nil", c.group, c.user, got, err, c.want)
		}
		if n := len(g.Requests()); n != c.calls {
			t.Errorf("IsMember(%s, %s): %d calls, want %d", c.group, c.user, n, c.calls)
		}
		if n := g.Count(graphtest.RouteGetMember); n != 1 {
			t.Errorf("IsMember(%s, %s): %d member calls, want 1", c.group, c.user, n)
		}
	}
	checkWire(t, g)

	// The wire: one GET of the member, only its id selected; after a 404
	// one GET of the group.
	g.ResetCalls()
	if _, err := d.IsMember(ctx, "g1", "u2"); err != nil {
		t.Fatal(err)
	}
	calls := g.Requests()
	if len(calls) != 2 {
		t.Fatalf("%d calls, want 2", len(calls))
	}
	if c := calls[0]; c.Route != graphtest.RouteGetMember || c.Path != "/v1.0/groups/g1/members/u2" ||
		c.Query.Get("$select") != "id" || c.Status != http.StatusNotFound || c.GroupID != "g1" || c.ObjectID != "u2" ||
		!strings.Contains(c.Header.Get("Accept"), "application/json") || len(c.RawBody) != 0 {
		t.Errorf("member call %s %s?%s answered %d, Accept %q", c.Method, c.Path, c.Query.Encode(), c.Status, c.Header.Get("Accept"))
	}
	if c := calls[1]; c.Route != graphtest.RouteGetGroup || c.Path != "/v1.0/groups/g1" ||
		c.Query.Get("$select") != "id" || c.Status != http.StatusOK {
		t.Errorf("group call %s %s?%s answered %d", c.Method, c.Path, c.Query.Encode(), c.Status)
	}
	for _, c := range calls {
		if c.Header.Get("ConsistencyLevel") != "" {
			t.Errorf("%s %s: ConsistencyLevel %q; the check must read the directory, not the index", c.Method, c.Path, c.Header.Get("ConsistencyLevel"))
		}
	}
	checkWire(t, g)

	// It follows changes at once.
	if err := d.RemoveMember(ctx, "g1", "u1"); err != nil {
		t.Fatal(err)
	}
	if got, err := d.IsMember(ctx, "g1", "u1"); err != nil || got {
		t.Errorf("after removal: IsMember = %v, %v", got, err)
	}
	if _, err := d.AddMember(ctx, "g1", "u2"); err != nil {
		t.Fatal(err)
	}
	if got, err := d.IsMember(ctx, "g1", "u2"); err != nil || !got {
		t.Errorf("after add: IsMember = %v, %v", got, err)
	}
}

// TestIsMemberGroupSeen: after Graph showed a group exists, a 404 on one of
// its members is "not a member" without asking for the group again, for
// GroupSeenFor; then the group is asked for again, and a group deleted
// meanwhile is reported missing. A group never seen is always asked for.
func TestIsMemberGroupSeen(t *testing.T) {
	g := seeded(t)
	g.AddMember("g1", "u1")
	now := time.Date(2026, 12, 1, 9, 0, 0, 0, time.UTC)
	d := newDirectory(t, g, graph.Config{GroupSeenFor: time.Minute, Now: func() time.Time { return now }})
	ctx := context.Background()
	check := func(group, user string, want bool, wantCalls int) {
		t.Helper()
		g.ResetCalls()
		got, err := d.IsMember(ctx, group, user)
		if err != nil || got != want {
			t.Errorf("IsMember(%s, %s) = %v, %v; want %v, nil", group, user, got, err, want)
		}
		if n := len(g.Requests()); n != wantCalls {
			t.Errorf("IsMember(%s, %s): %d requests to Graph (each in its batch), want %d", group, user, n, wantCalls)
		}
	}
	check("g1", "u2", false, 2) // not seen yet: the group is asked for
	check("g1", "u2", false, 1)
	check("G1", "u2", false, 1) // ids are case-insensitive
	now = now.Add(time.Minute)
	check("g1", "u2", false, 2) // seen too long ago
	check("g1", "u1", true, 1)  // a member found: the group exists
	check("g1", "u2", false, 1)

	// Deleted while remembered: not a member, which is true; once
	// forgotten, the missing group is an error again.
	g.DeleteGroup("g1")
	check("g1", "u2", false, 1)
	now = now.Add(time.Minute)
	g.ResetCalls()
	if got, err := d.IsMember(ctx, "g1", "u2"); got || !errors.Is(err, access.ErrPermanent) {
		t.Errorf("IsMember on the deleted group = %v, %v; want false, ErrPermanent", got, err)
	}
	if _, err := d.IsMember(ctx, "missing-group", "u1"); !errors.Is(err, access.ErrPermanent) {
		t.Errorf("IsMember on a group never seen = %v; want ErrPermanent", err)
	}

	// An add proves the group exists too.
	g.AddGroup("g2")
	if _, err := d.AddMember(ctx, "g2", "u1"); err != nil {
		t.Fatal(err)
	}
	check("g2", "u2", false, 1)
}

func TestIsMemberMissingGroup(t *testing.T) {
	g := seeded(t)
	d := newDirectory(t, g, graph.Config{})
	ctx := context.Background()

	got, err := d.IsMember(ctx, "missing-group", "u1")
	if got || !errors.Is(err, access.ErrPermanent) {
		t.Fatalf("IsMember on a missing group = %v, %v; want false, ErrPermanent", got, err)
	}
	e := graphError(t, err)
	if e.StatusCode != 404 || e.Code != graphtest.CodeResourceNotFound || !strings.Contains(e.Message, "missing-group") ||
		e.RequestID == "" || e.Attempts != 1 {
		t.Errorf("error fields %+v", e)
	}
	for _, want := range []string{"check membership of u1 in group missing-group", "get group", "404"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q does not mention %q", err, want)
		}
	}
	if n := g.Count(graphtest.RouteGetMember); n != 1 {
		t.Errorf("%d member calls, want 1 (404 is not retried)", n)
	}
	if n := g.Count(graphtest.RouteGetGroup); n != 1 {
		t.Errorf("%d group calls, want 1", n)
	}

	// Ids that cannot name an object fail before any call.
	g.ResetCalls()
	for _, ids := range [][2]string{{"", "u1"}, {"g1", ""}, {"g1", ".."}, {"g1", "u1/$ref"}, {"g1?x", "u1"}} {
		if got, err := d.IsMember(ctx, ids[0], ids[1]); got || !errors.Is(err, access.ErrPermanent) {
			t.Errorf("IsMember(%q, %q) = %v, %v; want false, ErrPermanent", ids[0], ids[1], got, err)
		}
	}
	if n := len(g.Calls()); n != 0 {
		t.Errorf("%d calls for invalid ids", n)
	}
}

func TestIsMemberFaults(t *testing.T) {
	g := seeded(t)
	g.AddMember("g1", "u1")
	ctx := context.Background()

	t.Run("throttled then answered", func(t *testing.T) {
		g.ResetCalls()
		g.InjectFault(graphtest.Fault{Route: graphtest.RouteGetMember, Status: 429, RetryAfter: "1"})
		d := newDirectory(t, g, graph.Config{})
		start := time.Now()
		got, err := d.IsMember(ctx, "g1", "u1")
		if err != nil || !got {
			t.Fatalf("IsMember = %v, %v; want true, nil", got, err)
		}
		if elapsed := time.Since(start); elapsed < time.Second {
			t.Errorf("retried after %v; Retry-After was 1s", elapsed)
		}
		calls := g.CallsTo(graphtest.RouteGetMember)
		if len(calls) != 2 || calls[0].Status != 429 || calls[1].Status != http.StatusOK {
			t.Fatalf("%d calls", len(calls))
		}
		if calls[1].Header.Get("Retry-Attempt") != "1" ||
			calls[0].Header.Get("client-request-id") != calls[1].Header.Get("client-request-id") {
			t.Errorf("retry headers: Retry-Attempt %q", calls[1].Header.Get("Retry-Attempt"))
		}
		checkWire(t, g)
	})

	t.Run("503 storm", func(t *testing.T) {
		g.ResetCalls()
		g.InjectFault(graphtest.Fault{Route: graphtest.RouteGetMember, Status: 503, RetryAfter: "0", Times: 10})
		defer g.ClearFaults()
		d := newDirectory(t, g, graph.Config{MaxRetries: 2})
		got, err := d.IsMember(ctx, "g1", "u1")
		if got || err == nil || errors.Is(err, access.ErrPermanent) {
			t.Fatalf("IsMember through a 503 storm = %v, %v; want false and a transient error", got, err)
		}
		if e := graphError(t, err); e.StatusCode != 503 || e.Attempts != 3 || e.Code != "serviceNotAvailable" {
			t.Errorf("error %+v; want 503 after 3 attempts", e)
		}
		if !strings.Contains(err.Error(), "check membership of u1 in group g1: graph: 503") {
			t.Errorf("error text %q", err)
		}
		if n := g.Count(graphtest.RouteGetGroup); n != 0 {
			t.Errorf("%d group calls after a failed member call", n)
		}
		checkWire(t, g)
	})

	t.Run("group check unavailable", func(t *testing.T) {
		// A non-member whose group cannot be looked at: an error, never
		// false.
		g.ResetCalls()
		g.InjectFault(graphtest.Fault{Route: graphtest.RouteGetGroup, Status: 503, RetryAfter: "0", Times: 10})
		defer g.ClearFaults()
		d := newDirectory(t, g, graph.Config{MaxRetries: 1})
		got, err := d.IsMember(ctx, "g1", "u2")
		if got || err == nil || errors.Is(err, access.ErrPermanent) {
			t.Fatalf("IsMember = %v, %v; want false and a transient error", got, err)
		}
		if e := graphError(t, err); e.StatusCode != 503 || e.Attempts != 2 {
			t.Errorf("error %+v", e)
		}
	})

	t.Run("error answers", func(t *testing.T) {
		d := newDirectory(t, g, graph.Config{})
		for _, c := range []struct {
			fault     graphtest.Fault
			status    int
			permanent bool
		}{
			{graphtest.Fault{Status: 403, Code: "Authorization_RequestDenied", Message: "Insufficient privileges to complete the operation."}, 403, true},
			{graphtest.Fault{Status: 400, Body: `{"error":{"code":"Request_BadRequest"}}`}, 400, true}, // no message
			{graphtest.Fault{Status: 400, Body: `{}`}, 400, true},                                      // no error at all
			{graphtest.Fault{Status: 500}, 500, false},
			{graphtest.Fault{Status: 502, Body: "<html>Bad Gateway</html>", ContentType: "text/html"}, 502, false},
		} {
			c.fault.Route = graphtest.RouteGetMember
			g.InjectFault(c.fault)
			got, err := d.IsMember(ctx, "g1", "u1")
			if got || err == nil || errors.Is(err, access.ErrPermanent) != c.permanent || graphError(t, err).StatusCode != c.status {
				t.Errorf("answer %d: IsMember = %v, %v; want false, permanent %v", c.status, got, err, c.permanent)
			}
		}

		g.SetToken("rotated")
		got, err := d.IsMember(ctx, "g1", "u1")
		g.SetToken(graphtest.DefaultToken)
		if got || errors.Is(err, access.ErrPermanent) || graphError(t, err).StatusCode != 401 {
			t.Errorf("401: IsMember = %v, %v; want a transient error", got, err)
		}
	})

	t.Run("timeout", func(t *testing.T) {
		g.InjectFault(graphtest.Fault{Route: graphtest.RouteGetMember, Delay: time.Minute})
		defer g.ClearFaults()
		d := newDirectory(t, g, graph.Config{Timeout: 200 * time.Millisecond})
		got, err := d.IsMember(ctx, "g1", "u1")
		if got || err == nil || errors.Is(err, access.ErrPermanent) {
			t.Errorf("IsMember = %v, %v; want a transient error", got, err)
		}
	})
}

func TestGroupMembers(t *testing.T) {
	g := graphtest.New(t)
	g.AddGroup("g1", "empty")
	var want []string
	for i := range 250 {
		id := fmt.Sprintf("%08d-0000-0000-0000-000000000000", i)
		if i%50 == 7 {
			g.AddGroup(id) // some members are groups
		} else {
			g.AddUser(id)
		}
		g.AddMember("g1", id)
		want = append(want, id)
	}
	g.SetPageSize(40)
	d := newDirectory(t, g, graph.Config{})
	ctx := context.Background()

	got, err := d.GroupMembers(ctx, "g1")
	if err != nil {
		t.Fatalf("GroupMembers: %v", err)
	}
	if !slices.Equal(got, want) {
		t.Errorf("GroupMembers: %d ids, want %d in order", len(got), len(want))
	}
	calls := g.CallsTo(graphtest.RouteListMembers)
	if len(calls) != 7 {
		t.Errorf("%d pages fetched, want 7 (250 members, 40 a page)", len(calls))
	}
	for i, c := range calls {
		if c.Status != http.StatusOK || c.GroupID != "g1" || c.Query.Get("$select") != "id" {
			t.Errorf("page %d: %s?%s answered %d", i+1, c.Path, c.Query.Encode(), c.Status)
		}
		if i > 0 && c.Query.Get("$skiptoken") == "" {
			t.Errorf("page %d without the next link's skip token: %s", i+1, c.Query.Encode())
		}
	}
	checkWire(t, g)

	if got, err := d.GroupMembers(ctx, "empty"); err != nil || len(got) != 0 {
		t.Errorf("empty group: %v, %v", got, err)
	}
	if _, err := d.GroupMembers(ctx, "missing"); !errors.Is(err, access.ErrPermanent) || graphError(t, err).StatusCode != 404 {
		t.Errorf("missing group: %v; want a permanent 404", err)
	}
	if _, err := d.GroupMembers(ctx, "g1/members"); !errors.Is(err, access.ErrPermanent) {
		t.Errorf("invalid group id: %v; want ErrPermanent", err)
	}

	// A page that keeps failing fails the listing: a partial list is never
	// returned.
	g.ResetCalls()
	d2 := newDirectory(t, g, graph.Config{MaxRetries: 1})
	g.InjectFault(graphtest.Fault{Route: graphtest.RouteListMembers, Times: 1}) // page 1 answered normally
	g.InjectFault(graphtest.Fault{Route: graphtest.RouteListMembers, Status: 503, RetryAfter: "0", Times: 10})
	defer g.ClearFaults()
	got, err = d2.GroupMembers(ctx, "g1")
	if got != nil || err == nil || errors.Is(err, access.ErrPermanent) || !strings.Contains(err.Error(), "page 2") {
		t.Errorf("503 storm on page 2: %d ids, %v; want no ids and a transient error", len(got), err)
	}
	if e := graphError(t, err); e.StatusCode != 503 || e.Attempts != 2 {
		t.Errorf("error %+v", e)
	}
}

func TestStickyMember(t *testing.T) {
	g := seeded(t)
	g.AddMember("g1", "u1")
	g.AddMember("g1", "u2")
	g.StickyMember("g1", "U1")
	d := newDirectory(t, g, graph.Config{})
	ctx := context.Background()

	// Graph says the member is removed, but it stays.
	if err := d.RemoveMember(ctx, "g1", "u1"); err != nil {
		t.Fatalf("RemoveMember: %v", err)
	}
	if c := g.CallsTo(graphtest.RouteRemoveMember); len(c) != 1 || c[0].Status != http.StatusNoContent {
		t.Fatalf("remove calls %v", c)
	}
	if got, err := d.IsMember(ctx, "g1", "u1"); err != nil || !got {
		t.Errorf("IsMember after a silently failed removal = %v, %v; want true", got, err)
	}
	if ids, err := d.GroupMembers(ctx, "g1"); err != nil || !slices.Equal(ids, []string{"u1", "u2"}) {
		t.Errorf("GroupMembers = %v, %v", ids, err)
	}
	// Other memberships are not affected.
	if err := d.RemoveMember(ctx, "g1", "u2"); err != nil || g.IsMember("g1", "u2") {
		t.Errorf("removing u2: %v, member %v", err, g.IsMember("g1", "u2"))
	}

	g.UnstickMember("g1", "u1")
	if err := d.RemoveMember(ctx, "g1", "u1"); err != nil {
		t.Fatal(err)
	}
	if got, err := d.IsMember(ctx, "g1", "u1"); err != nil || got {
		t.Errorf("IsMember after unsticking and removing = %v, %v; want false", got, err)
	}
	checkWire(t, g)
}

func TestGroupMembersPageFaultMidway(t *testing.T) {
	g := graphtest.New(t)
	g.AddGroup("g1")
	for i := range 5 {
		id := fmt.Sprintf("u%d", i)
		g.AddUser(id)
		g.AddMember("g1", id)
	}
	g.SetPageSize(2)
	d := newDirectory(t, g, graph.Config{})

	// Page 1 answered, page 2 throttled once, then the rest.
	g.InjectFault(graphtest.Fault{Route: graphtest.RouteListMembers, Times: 1})
	g.InjectFault(graphtest.Fault{Route: graphtest.RouteListMembers, Status: 429, RetryAfter: "0"})
	got, err := d.GroupMembers(context.Background(), "g1")
	if err != nil || !slices.Equal(got, []string{"u0", "u1", "u2", "u3", "u4"}) {
		t.Fatalf("GroupMembers = %v, %v", got, err)
	}
	calls := g.CallsTo(graphtest.RouteListMembers)
	if len(calls) != 4 || calls[1].Status != 429 || calls[2].Status != http.StatusOK ||
		calls[1].Query.Get("$skiptoken") == "" || calls[1].Query.Get("$skiptoken") != calls[2].Query.Get("$skiptoken") {
		t.Errorf("calls: %d", len(calls))
	}
	checkWire(t, g)
}
