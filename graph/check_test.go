package graph_test

import (
	"context"
	"errors"
	"net/http"
	"slices"
	"testing"
	"time"

	"github.com/jitbot/jitbot/access"
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

// TestPIMPermissions: a token without the PIM assignment permission is
// named by MissingPIMPermissions, and Graph (the fake) refuses its
// assignment and policy reads with 403 as it does; with the permissions
// both pass.
func TestPIMPermissions(t *testing.T) {
	ctx := context.Background()
	g := graphtest.New(t)
	const grp, user = "11111111-0000-4000-8000-000000000001", "22222222-0000-4000-8000-000000000001"
	g.AddGroup(grp)
	g.AddUser(user)
	g.OnboardPIM(grp)

	g.SetRoles(graphtest.RoleGroupMemberReadWriteAll, graphtest.RoleGroupMemberReadAll)
	d := newDirectory(t, g, graph.Config{})
	roles, err := d.AppRoles(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if got := graph.MissingPIMPermissions(roles); !slices.Equal(got, []string{access.PIMPermission}) {
		t.Errorf("missing for an app without PIM permissions = %v", got)
	}
	now := time.Now()
	a := access.PIMAssignment{GroupID: grp, UserID: user, Start: now, End: now.Add(time.Hour), Justification: "test"}
	var ge *graph.Error
	if err := d.AssignPIM(ctx, a); !errors.As(err, &ge) || ge.StatusCode != http.StatusForbidden {
		t.Errorf("assign without the PIM permission: %v, want a 403", err)
	}
	if _, err := d.PIMPolicy(ctx, grp); !errors.As(err, &ge) || ge.StatusCode != http.StatusForbidden {
		t.Errorf("policy read without the policy permission: %v, want a 403", err)
	}

	g.SetRoles(graphtest.RoleGroupMemberReadAll, graphtest.RolePrivilegedAssignmentScheduleReadWriteGroup, graphtest.RoleRoleManagementPolicyReadGroup)
	d = newDirectory(t, g, graph.Config{})
	if roles, err = d.AppRoles(ctx); err != nil || graph.MissingPIMPermissions(roles) != nil {
		t.Errorf("missing with the PIM permission: %v (%v)", graph.MissingPIMPermissions(roles), err)
	}
	if pol, err := d.PIMPolicy(ctx, grp); err != nil || !pol.Onboarded {
		t.Errorf("policy read with the permission: %+v, %v", pol, err)
	}
	if err := d.AssignPIM(ctx, a); err != nil {
		t.Errorf("assign with the PIM permission: %v", err)
	}
}
