package access

import (
	"context"
	"errors"
	"fmt"
	"strings"
)

// APIClient is a program (a CI/CD pipeline, a tool) that makes requests
// through jitbot's HTTP API on behalf of the requester configured for it.
// It is identified by the client id of its Entra ID workload identity.
type APIClient struct {
	// AppID is the client (application) id of the workload identity: the
	// "azp" (v2.0) or "appid" (v1.0) claim of its access tokens.
	AppID string
	// Name is what approvers and the requester are shown, e.g. "deploy
	// pipeline".
	Name string
}

// IsZero reports whether no client is named: the request was made in Teams.
func (c APIClient) IsZero() bool { return c.AppID == "" }

// APIConversationPrefix starts the ConversationID of the audit events of
// requests made through the API: "api:<client app id>".
const APIConversationPrefix = "api:"

// AuditConversation is the ConversationID the audit records for what the
// client did: APIConversationPrefix and its app id.
func (c APIClient) AuditConversation() string { return APIConversationPrefix + c.AppID }

// Made reports whether req was made through the API by this client.
func (c APIClient) Made(req *Request) bool {
	return req != nil && !c.IsZero() && strings.EqualFold(req.Client.AppID, c.AppID)
}

// ClientRequest returns a request the client made through the API. A
// request that does not exist and one that another client (or a person in
// Teams) made are refused alike with ErrNotFound, so that a client learns
// nothing of requests that are not its own.
func (s *Service) ClientRequest(ctx context.Context, tenantID string, client APIClient, id string) (*Request, error) {
	if err := s.checkTenant(tenantID); err != nil {
		return nil, err
	}
	notFound := refuse(ErrNotFound, "No request %s was made by this client.", Quote(id))
	if client.IsZero() {
		return nil, notFound
	}
	req, err := s.cfg.Store.GetRequest(ctx, id)
	if errors.Is(err, ErrNotFound) {
		return nil, notFound
	}
	if err != nil {
		return nil, fmt.Errorf("load request %s: %w", id, err)
	}
	if !client.Made(req) {
		return nil, notFound
	}
	return req, nil
}
