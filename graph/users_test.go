package graph_test

import (
	"context"
	"errors"
	"testing"

	"github.com/jitbot/jitbot/access"
	"github.com/jitbot/jitbot/graph"
	"github.com/jitbot/jitbot/graph/graphtest"
)

// TestUserID: a user principal name resolves to the user's object id
// through GET /users/{upn}; an object id needs no call; an unknown user is
// a permanent error.
func TestUserID(t *testing.T) {
	g := graphtest.New(t)
	const jane = "5a1b2c3d-0000-4000-8000-000000000a01"
	g.AddUser(jane)
	g.SetUPN(jane, "Jane.Doe@contoso.example")
	d := newDirectory(t, g, graph.Config{})
	ctx := context.Background()

	id, err := d.UserID(ctx, "jane.doe@contoso.example")
	if err != nil || id != jane {
		t.Fatalf("UserID(upn) = %q, %v; want %s", id, err, jane)
	}
	if n := g.Count(graphtest.RouteGetUser); n != 1 {
		t.Errorf("%d GET /users calls, want 1", n)
	}
	if id, err := d.UserID(ctx, jane); err != nil || id != jane || g.Count(graphtest.RouteGetUser) != 1 {
		t.Errorf("UserID(object id) = %q, %v (calls %d)", id, err, g.Count(graphtest.RouteGetUser))
	}
	if _, err := d.UserID(ctx, "nobody@contoso.example"); !errors.Is(err, access.ErrPermanent) {
		t.Errorf("unknown user: %v, want a permanent error", err)
	}
	if _, err := d.UserID(ctx, "../groups/x"); !errors.Is(err, access.ErrPermanent) {
		t.Errorf("a path as a name: %v, want a permanent error", err)
	}
}
