package graph

import (
	"context"
	"errors"
	"fmt"

	abs "github.com/microsoft/kiota-abstractions-go"
	absser "github.com/microsoft/kiota-abstractions-go/serialization"
	"github.com/microsoftgraph/msgraph-sdk-go/groups"
	"github.com/microsoftgraph/msgraph-sdk-go/users"
)

// GroupName returns the group's display name (GET
// /groups/{id}?$select=id,displayName; needs GroupMember.Read.All or
// Group.Read.All). A group that does not exist is a permanent error; a
// group without a display name answers "".
func (d *Directory) GroupName(ctx context.Context, groupID string) (string, error) {
	if err := checkID("group", groupID); err != nil {
		return "", fmt.Errorf("get the name of group %s: %w", groupID, err)
	}
	info, err := d.groups().ByGroupId(groupID).ToGetRequestInformation(ctx, &groups.GroupItemRequestBuilderGetRequestConfiguration{
		QueryParameters: &groups.GroupItemRequestBuilderGetQueryParameters{Select: []string{"id", "displayName"}},
	})
	if err != nil {
		return "", fmt.Errorf("get the name of group %s: build request: %w", groupID, err)
	}
	return d.displayName(ctx, info, "group", groupID)
}

// UserName returns the user's display name (GET
// /users/{id}?$select=id,displayName; needs User.Read.All). A user that
// does not exist is a permanent error; a user without a display name
// answers "".
func (d *Directory) UserName(ctx context.Context, userID string) (string, error) {
	if err := checkID("user", userID); err != nil {
		return "", fmt.Errorf("get the name of user %s: %w", userID, err)
	}
	info, err := d.users().ByUserId(userID).ToGetRequestInformation(ctx, &users.UserItemRequestBuilderGetRequestConfiguration{
		QueryParameters: &users.UserItemRequestBuilderGetQueryParameters{Select: []string{"id", "displayName"}},
	})
	if err != nil {
		return "", fmt.Errorf("get the name of user %s: build request: %w", userID, err)
	}
	return d.displayName(ctx, info, "user", userID)
}

// displayName sends a GET of one object and reads its display name. The
// object is decoded as a bare named object: the SDK's Group and User
// models would link every model type.
func (d *Directory) displayName(ctx context.Context, info *abs.RequestInformation, kind, id string) (string, error) {
	callCtx, t := withTrace(ctx)
	res, err := d.adapter.Send(callCtx, info, newNamedObject, errorMapping())
	if err != nil {
		return "", fmt.Errorf("get the name of %s %s: %w", kind, id, newError(err, t))
	}
	obj, _ := res.(*namedObject)
	if obj == nil {
		return "", fmt.Errorf("get the name of %s %s: Graph returned no object", kind, id)
	}
	return obj.DisplayName, nil
}

// namedObject is a directory object's id and display name.
type namedObject struct {
	ID          string
	DisplayName string
}

func newNamedObject(absser.ParseNode) (absser.Parsable, error) { return &namedObject{}, nil }

// GetFieldDeserializers implements absser.Parsable.
func (o *namedObject) GetFieldDeserializers() map[string]func(absser.ParseNode) error {
	return nameFields(&o.ID, &o.DisplayName)
}

// nameFields reads a directory object's id and display name into id and
// name.
func nameFields(id, name *string) map[string]func(absser.ParseNode) error {
	return map[string]func(absser.ParseNode) error{
		"id": func(n absser.ParseNode) error {
			v, err := n.GetStringValue()
			*id = deref(v)
			return err
		},
		"displayName": func(n absser.ParseNode) error {
			v, err := n.GetStringValue()
			*name = deref(v)
			return err
		},
	}
}

// Serialize implements absser.Parsable; a named object is never sent.
func (o *namedObject) Serialize(absser.SerializationWriter) error {
	return errors.New("graph: a named object is not serialisable")
}
