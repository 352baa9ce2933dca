package graph_test

import (
	"context"
	"errors"
	"net/http"
	"testing"

	"github.com/jitbot/jitbot/access"
	"github.com/jitbot/jitbot/graph"
	"github.com/jitbot/jitbot/graph/graphtest"
)

// TestDisplayNames: a group's and a user's display name come from GET
// /groups/{id} and GET /users/{id} with $select=id,displayName; an object
// without a name answers ""; an unknown object is a permanent error, a
// throttled call a transient one.
func TestDisplayNames(t *testing.T) {
	g := graphtest.New(t)
	const (
		group = "6f1d2c3b-8a4e-4c1f-9b7d-2e5a0c9d1f11"
		user  = "5a1b2c3d-0000-4000-8000-000000000a01"
		bare  = "5a1b2c3d-0000-4000-8000-000000000a02"
	)
	g.AddGroup(group)
	g.AddUser(user, bare)
	g.SetDisplayName(group, "Prod DB readers")
	g.SetDisplayName(user, "Jane Doe")
	g.SetDisplayName(bare, "")
	d := newDirectory(t, g, graph.Config{MaxRetries: -1})
	ctx := context.Background()

	if name, err := d.GroupName(ctx, group); err != nil || name != "Prod DB readers" {
		t.Errorf("GroupName = %q, %v", name, err)
	}
	if name, err := d.UserName(ctx, user); err != nil || name != "Jane Doe" {
		t.Errorf("UserName = %q, %v", name, err)
	}
	if name, err := d.UserName(ctx, bare); err != nil || name != "" {
		t.Errorf("UserName(no name) = %q, %v", name, err)
	}
	calls := g.Calls()
	if len(calls) != 3 {
		t.Fatalf("%d calls, want 3", len(calls))
	}
	for i, want := range []struct {
		route graphtest.Route
		path  string
	}{{graphtest.RouteGetGroup, "/v1.0/groups/" + group}, {graphtest.RouteGetUser, "/v1.0/users/" + user}, {graphtest.RouteGetUser, "/v1.0/users/" + bare}} {
		c := calls[i]
		if c.Method != http.MethodGet || c.Route != want.route || c.Path != want.path || c.Query.Get("$select") != "id,displayName" || c.Status != http.StatusOK {
			t.Errorf("call %d: %s %s?%s answered %d, want %s?$select=id,displayName", i, c.Method, c.Path, c.Query.Encode(), c.Status, want.path)
		}
	}

	const missing = "5a1b2c3d-0000-4000-8000-00000000dead"
	if _, err := d.GroupName(ctx, missing); !errors.Is(err, access.ErrPermanent) {
		t.Errorf("unknown group: %v, want a permanent error", err)
	}
	if _, err := d.UserName(ctx, missing); !errors.Is(err, access.ErrPermanent) {
		t.Errorf("unknown user: %v, want a permanent error", err)
	}
	if _, err := d.GroupName(ctx, ""); !errors.Is(err, access.ErrPermanent) {
		t.Errorf("empty id: %v, want a permanent error", err)
	}
	g.InjectFault(graphtest.Fault{Route: graphtest.RouteGetUser, Status: http.StatusTooManyRequests, RetryAfter: "0"})
	if _, err := d.UserName(ctx, user); err == nil || errors.Is(err, access.ErrPermanent) {
		t.Errorf("throttled: %v, want a transient error", err)
	}
}
