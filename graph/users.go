package graph

import (
	"context"
	"fmt"
	"strings"

	"github.com/microsoftgraph/msgraph-sdk-go/users"

	"github.com/jitbot/jitbot/access"
)

// UserID returns the object id of the user with the given user principal
// name (GET /users/{upn}?$select=id; needs User.Read.All). An object id is
// returned as is, without a call. A user that does not exist is a permanent
// error.
func (d *Directory) UserID(ctx context.Context, upn string) (string, error) {
	upn = strings.TrimSpace(upn)
	if access.IsObjectID(upn) {
		return upn, nil
	}
	if upn == "" || strings.ContainsAny(upn, "/?#") {
		return "", fmt.Errorf("look up user %q: not a user principal name: %w", upn, access.ErrPermanent)
	}
	info, err := d.users().ByUserId(upn).ToGetRequestInformation(ctx, &users.UserItemRequestBuilderGetRequestConfiguration{
		QueryParameters: &users.UserItemRequestBuilderGetQueryParameters{Select: []string{"id"}},
	})
	if err != nil {
		return "", fmt.Errorf("look up user %s: build request: %w", upn, err)
	}
	callCtx, t := withTrace(ctx)
	// Decoded as a bare directory object: the SDK's User model would link
	// every model type.
	res, err := d.adapter.Send(callCtx, info, newMemberRef, errorMapping())
	if err != nil {
		return "", fmt.Errorf("look up user %s: %w", upn, newError(err, t))
	}
	ref, _ := res.(*memberRef)
	if ref == nil || !access.IsObjectID(ref.ID) {
		return "", fmt.Errorf("look up user %s: Graph returned no object id", upn)
	}
	return ref.ID, nil
}
