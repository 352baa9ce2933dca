package graph

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore/policy"
	absser "github.com/microsoft/kiota-abstractions-go/serialization"
	"github.com/microsoftgraph/msgraph-sdk-go/groups"

	"github.com/jitbot/jitbot/access"
)

// Microsoft Graph application permissions (app roles) that jitbot's
// membership changes need. Adding and removing members of a group
// (POST /groups/{id}/members/$ref, DELETE .../members/{id}/$ref) needs one
// of WritePermissions; a role-assignable group (isAssignableToRole) needs
// RoleManagement.ReadWrite.Directory besides.
const (
	PermGroupMemberReadWriteAll          = "GroupMember.ReadWrite.All"
	PermGroupReadWriteAll                = "Group.ReadWrite.All"
	PermDirectoryReadWriteAll            = "Directory.ReadWrite.All"
	PermRoleManagementReadWriteDirectory = "RoleManagement.ReadWrite.Directory"
)

// WritePermissions are the application permissions that each allow
// changing a group's members, least privileged first.
var WritePermissions = []string{PermGroupMemberReadWriteAll, PermGroupReadWriteAll, PermDirectoryReadWriteAll}

// MissingWritePermissions names what roles lack to add and remove members
// of a group (roleAssignable: a role-assignable group); nil when nothing
// is missing. Each entry is one permission to grant (the least privileged
// of the alternatives).
func MissingWritePermissions(roles []string, roleAssignable bool) []string {
	var missing []string
	if !slices.ContainsFunc(WritePermissions, func(p string) bool { return hasRole(roles, p) }) {
		missing = append(missing, PermGroupMemberReadWriteAll)
	}
	if roleAssignable && !hasRole(roles, PermRoleManagementReadWriteDirectory) {
		missing = append(missing, PermRoleManagementReadWriteDirectory)
	}
	return missing
}

// MissingPIMPermissions names what roles lack to make, extend and end the
// active member assignments of PIM for Groups
// (POST /identityGovernance/privilegedAccess/group/assignmentScheduleRequests);
// nil when nothing is missing.
func MissingPIMPermissions(roles []string) []string {
	if hasRole(roles, access.PIMPermission) {
		return nil
	}
	return []string{access.PIMPermission}
}

func hasRole(roles []string, want string) bool {
	return slices.ContainsFunc(roles, func(r string) bool { return strings.EqualFold(r, want) })
}

// ErrUnreadableToken is returned by AppRoles for a token it could get but
// whose claims it cannot read (not a JWT).
var ErrUnreadableToken = errors.New("the Graph token's claims cannot be read")

// AppRoles gets an access token for Graph as every call does and returns
// the application permissions it carries (its "roles" claim; none for a
// token without one). The token is read, not verified: it comes straight
// from the token endpoint, and only Graph can verify its signature.
func (d *Directory) AppRoles(ctx context.Context) ([]string, error) {
	tok, err := d.cred.GetToken(ctx, policy.TokenRequestOptions{Scopes: []string{d.graphURL + "/.default"}})
	if err != nil {
		return nil, fmt.Errorf("get a Graph token: %w", err)
	}
	roles, err := tokenRoles(tok.Token)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrUnreadableToken, err)
	}
	return roles, nil
}

// tokenRoles decodes the "roles" claim of a JWT without verifying it.
func tokenRoles(token string) ([]string, error) {
	parts := strings.Split(token, ".")
	if len(parts) != 3 {
		return nil, errors.New("the token is not a JWT")
	}
	payload, err := base64.RawURLEncoding.DecodeString(strings.TrimRight(parts[1], "="))
	if err != nil {
		return nil, fmt.Errorf("the token's payload is not base64url: %w", err)
	}
	var claims struct {
		Roles []string `json:"roles"`
	}
	if err := json.Unmarshal(payload, &claims); err != nil {
		return nil, fmt.Errorf("the token's payload is not JSON: %w", err)
	}
	return claims.Roles, nil
}

// GroupInfo is what a configuration check needs to know of a group.
type GroupInfo struct {
	ID          string
	DisplayName string
	// RoleAssignable: Entra roles can be assigned to the group
	// (isAssignableToRole); changing its members needs
	// RoleManagement.ReadWrite.Directory.
	RoleAssignable bool
}

// Group reads a group (GET /groups/{id}?$select=id,displayName,
// isAssignableToRole; needs GroupMember.Read.All). A missing group is a
// permanent *Error with status 404.
func (d *Directory) Group(ctx context.Context, groupID string) (GroupInfo, error) {
	if err := checkID("group", groupID); err != nil {
		return GroupInfo{}, fmt.Errorf("read group %s: %w", groupID, err)
	}
	info, err := d.groups().ByGroupId(groupID).ToGetRequestInformation(ctx, &groups.GroupItemRequestBuilderGetRequestConfiguration{
		QueryParameters: &groups.GroupItemRequestBuilderGetQueryParameters{Select: []string{"id", "displayName", "isAssignableToRole"}},
	})
	if err != nil {
		return GroupInfo{}, fmt.Errorf("read group %s: build request: %w", groupID, err)
	}
	callCtx, t := withTrace(ctx)
	res, err := d.adapter.Send(callCtx, info, newGroupObject, errorMapping())
	if err != nil {
		return GroupInfo{}, fmt.Errorf("read group %s: %w", groupID, newError(err, t))
	}
	obj, _ := res.(*groupObject)
	if obj == nil {
		return GroupInfo{}, fmt.Errorf("read group %s: empty answer", groupID)
	}
	return GroupInfo(*obj), nil
}

// groupObject is the part of a group Group reads.
type groupObject GroupInfo

func newGroupObject(absser.ParseNode) (absser.Parsable, error) { return &groupObject{}, nil }

// GetFieldDeserializers implements absser.Parsable.
func (o *groupObject) GetFieldDeserializers() map[string]func(absser.ParseNode) error {
	fields := nameFields(&o.ID, &o.DisplayName)
	fields["isAssignableToRole"] = func(n absser.ParseNode) error {
		v, err := n.GetBoolValue()
		if v != nil {
			o.RoleAssignable = *v
		}
		return err
	}
	return fields
}

// Serialize implements absser.Parsable; a group is never sent.
func (o *groupObject) Serialize(absser.SerializationWriter) error {
	return errors.New("graph: a group object is not serialisable")
}
