package graph_test

import (
	"context"
	"errors"
	"net/http"
	"slices"
	"testing"

	"github.com/jitbot/jitbot/graph"
	"github.com/jitbot/jitbot/graph/graphtest"
)

func TestAppRolesAndWritePermissions(t *testing.T) {
	ctx := context.Background()
	g := graphtest.New(t)
	const grp, priv = "11111111-0000-4000-8000-000000000001", "11111111-0000-4000-8000-000000000002"
	g.AddGroup(grp, priv)
	g.AddUser("22222222-0000-4000-8000-000000000001")
	g.SetRoleAssignable(priv, true)

	// The default token of the fake is opaque, as no Entra token is.
	if _, err := newDirectory(t, g, graph.Config{}).AppRoles(ctx); !errors.Is(err, graph.ErrUnreadableToken) {
		t.Errorf("AppRoles of an opaque token: %v, want ErrUnreadableToken", err)
	}

	g.SetRoles(graphtest.RoleGroupMemberReadAll, graphtest.RoleUserReadAll)
	d := newDirectory(t, g, graph.Config{})
	roles, err := d.AppRoles(ctx)
	if err != nil || !slices.Equal(roles, []string{graphtest.RoleGroupMemberReadAll, graphtest.RoleUserReadAll}) {
		t.Fatalf("AppRoles = %v, %v", roles, err)
	}
	if got := graph.MissingWritePermissions(roles, false); !slices.Equal(got, []string{graph.PermGroupMemberReadWriteAll}) {
		t.Errorf("missing for a read-only app = %v", got)
	}
	// The fake refuses the write as Graph does.
	_, err = d.AddMember(ctx, grp, "22222222-0000-4000-8000-000000000001")
	var ge *graph.Error
	if !errors.As(err, &ge) || ge.StatusCode != http.StatusForbidden {
		t.Errorf("add without the write permission: %v, want a 403", err)
	}

	info, err := d.Group(ctx, priv)
	if err != nil || !info.RoleAssignable || info.ID != priv {
		t.Fatalf("Group(%s) = %+v, %v", priv, info, err)
	}
	if info, err := d.Group(ctx, grp); err != nil || info.RoleAssignable {
		t.Fatalf("Group(%s) = %+v, %v", grp, info, err)
	}
	if _, err := d.Group(ctx, "11111111-0000-4000-8000-0000000000ff"); !errors.As(err, &ge) || ge.StatusCode != http.StatusNotFound {
		t.Errorf("missing group: %v, want a 404", err)
	}

	g.SetRoles(graphtest.RoleGroupMemberReadWriteAll)
	d = newDirectory(t, g, graph.Config{})
	roles, _ = d.AppRoles(ctx)
	if got := graph.MissingWritePermissions(roles, false); got != nil {
		t.Errorf("missing with GroupMember.ReadWrite.All = %v", got)
	}
	if got := graph.MissingWritePermissions(roles, true); !slices.Equal(got, []string{graph.PermRoleManagementReadWriteDirectory}) {
		t.Errorf("missing for a role-assignable group = %v", got)
	}
	if _, err := d.AddMember(ctx, grp, "22222222-0000-4000-8000-000000000001"); err != nil {
		t.Errorf("add with the write permission: %v", err)
	}
	if _, err := d.AddMember(ctx, priv, "22222222-0000-4000-8000-000000000001"); !errors.As(err, &ge) || ge.StatusCode != http.StatusForbidden {
		t.Errorf("add to a role-assignable group without RoleManagement.ReadWrite.Directory: %v, want a 403", err)
	}
}
