package graphtest

import (
	"crypto/rand"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"net/http"
	"slices"
	"strings"
)

// Application permissions (app roles) the fake knows, as Graph names them.
const (
	RoleGroupMemberReadWriteAll          = "GroupMember.ReadWrite.All"
	RoleGroupReadWriteAll                = "Group.ReadWrite.All"
	RoleDirectoryReadWriteAll            = "Directory.ReadWrite.All"
	RoleRoleManagementReadWriteDirectory = "RoleManagement.ReadWrite.Directory"
	RoleGroupMemberReadAll               = "GroupMember.Read.All"
	RoleUserReadAll                      = "User.Read.All"

	// PIM for Groups: making, extending and ending assignments; reading
	// them (the write permission reads too); reading a group's PIM policy.
	RolePrivilegedAssignmentScheduleReadWriteGroup = "PrivilegedAssignmentSchedule.ReadWrite.AzureADGroup"
	RolePrivilegedAssignmentScheduleReadGroup      = "PrivilegedAssignmentSchedule.Read.AzureADGroup"
	RoleRoleManagementPolicyReadGroup              = "RoleManagementPolicy.Read.AzureADGroup"
	RoleRoleManagementPolicyReadWriteGroup         = "RoleManagementPolicy.ReadWrite.AzureADGroup"
)

// CodeAuthorizationDenied and MessageInsufficientPrivileges are what Graph
// answers (403) to a token without the permission a call needs.
const (
	CodeAuthorizationDenied       = "Authorization_RequestDenied"
	MessageInsufficientPrivileges = "Insufficient privileges to complete the operation."
)

// SetRoles makes the fake expect an app-only access token shaped as Entra
// ID issues it for Graph (a JWT whose "roles" claim lists the application
// permissions granted to the app, here roles) instead of the opaque
// default, and enforces the write permissions from then on: adding or
// removing a member needs GroupMember.ReadWrite.All, Group.ReadWrite.All or
// Directory.ReadWrite.All, and, for a role-assignable group,
// RoleManagement.ReadWrite.Directory besides; a PIM assignment request
// needs PrivilegedAssignmentSchedule.ReadWrite.AzureADGroup, listing PIM
// assignments its Read (or ReadWrite) sibling, and reading a group's PIM
// policy RoleManagementPolicy.Read.AzureADGroup (or ReadWrite); without
// them Graph answers 403 Authorization_RequestDenied. It returns the new token (give it to a
// fake authority with SetToken).
func (g *Graph) SetRoles(roles ...string) string {
	header, _ := json.Marshal(map[string]any{"typ": "JWT", "alg": "RS256", "nonce": randomHex(16), "kid": "graphtest"})
	payload, _ := json.Marshal(map[string]any{
		"aud": "https://graph.microsoft.com", "iss": "https://sts.windows.net/graphtest/",
		"roles": append([]string{}, roles...), "ver": "1.0", "idtyp": "app",
	})
	sig := make([]byte, 256)
	_, _ = rand.Read(sig)
	enc := base64.RawURLEncoding.EncodeToString
	token := enc(header) + "." + enc(payload) + "." + enc(sig)
	g.mu.Lock()
	defer g.mu.Unlock()
	g.token = token
	g.roles = slices.Clone(roles)
	g.enforceRoles = true
	return token
}

// SetRoleAssignable marks a group as role-assignable (isAssignableToRole),
// or not.
func (g *Graph) SetRoleAssignable(groupID string, assignable bool) {
	g.t.Helper()
	g.mu.Lock()
	defer g.mu.Unlock()
	gr, ok := g.groups[key(groupID)]
	if !ok {
		g.t.Fatalf("graphtest: SetRoleAssignable: no group %s", groupID)
	}
	gr.roleAssignable = assignable
}

// writeDenied answers 403 when the token lacks what changing the members
// of groupID needs (only once SetRoles was called), and reports whether it
// did.
func (g *Graph) writeDenied(w http.ResponseWriter, req *request, groupID string) bool {
	g.mu.Lock()
	enforce, roles := g.enforceRoles, g.roles
	gr := g.groups[key(groupID)]
	g.mu.Unlock()
	if !enforce {
		return false
	}
	has := func(r string) bool {
		return slices.ContainsFunc(roles, func(x string) bool { return strings.EqualFold(x, r) })
	}
	ok := has(RoleGroupMemberReadWriteAll) || has(RoleGroupReadWriteAll) || has(RoleDirectoryReadWriteAll)
	if ok && gr != nil && gr.roleAssignable {
		ok = has(RoleRoleManagementReadWriteDirectory)
	}
	if !ok {
		writeError(w, req, http.StatusForbidden, CodeAuthorizationDenied, MessageInsufficientPrivileges)
		return true
	}
	return false
}

// roleDenied answers 403 when the token holds none of anyOf (only once
// SetRoles was called), and reports whether it did.
func (g *Graph) roleDenied(w http.ResponseWriter, req *request, anyOf ...string) bool {
	g.mu.Lock()
	enforce, roles := g.enforceRoles, g.roles
	g.mu.Unlock()
	if !enforce {
		return false
	}
	for _, want := range anyOf {
		if slices.ContainsFunc(roles, func(x string) bool { return strings.EqualFold(x, want) }) {
			return false
		}
	}
	writeError(w, req, http.StatusForbidden, CodeAuthorizationDenied, MessageInsufficientPrivileges)
	return true
}

func randomHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}
