package main

import (
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/jitbot/jitbot/access"
	"github.com/jitbot/jitbot/api"
	"github.com/jitbot/jitbot/api/entraauth"
)

// APIConfig configures the requests API (POST /api/requests, GET
// /api/requests/{id}) for pipelines and tools.
type APIConfig struct {
	// Audiences are the accepted "aud" values of the callers' tokens (the
	// app registration's client id and its application id URI). None: the
	// API is off.
	Audiences []string `yaml:"audiences"`
	// Issuers are the accepted "iss" values; the default is audit.feed's.
	Issuers []string `yaml:"issuers"`
	// Clients are the workload identities allowed to make requests, each
	// for one requester.
	Clients []APIClientSpec `yaml:"clients"`
}

// APIClientSpec is one client of the requests API as written in the file.
type APIClientSpec struct {
	// AppID is the client id of the workload identity (app registration or
	// managed identity): its tokens' azp (v2.0) or appid (v1.0).
	AppID string `yaml:"app_id"`
	// ObjectID, optional, pins the service principal: its tokens' oid must
	// be this too.
	ObjectID string `yaml:"object_id"`
	// Name is what approvers see: "Requested through jitbot's API by
	// <name> on behalf of <requester>".
	Name string `yaml:"name"`
	// Requester is the Entra object id of the user the requests are made
	// as; RequesterName how cards and notices name them (default: the
	// object id).
	Requester     string `yaml:"requester"`
	RequesterName string `yaml:"requester_name"`
}

// maxClientName bounds an API client's name, in characters.
const maxClientName = 100

// defaultIssuers are the token issuers of the tenant: its v2.0 issuer at
// cloud.authority_host and, in the public cloud, its v1.0 issuer.
func (c *Config) defaultIssuers() []string {
	out := []string{strings.TrimRight(c.Cloud.AuthorityHost, "/") + "/" + c.TenantID + "/v2.0"}
	if !c.Cloud.CustomAuthority() {
		out = append(out, "https://sts.windows.net/"+c.TenantID+"/")
	}
	return out
}

// validateAPI checks the api section; bad reports an error naming the key.
func (c *Config) validateAPI(bad func(key, format string, args ...any)) {
	a := c.API
	for i, aud := range a.Audiences {
		if strings.TrimSpace(aud) == "" {
			bad(fmt.Sprintf("api.audiences[%d]", i), "is empty; want the app's client id or application id URI")
		}
	}
	if len(a.Audiences) == 0 {
		if len(a.Issuers) > 0 {
			bad("api.issuers", "set without api.audiences (the requests API is off without audiences)")
		}
		if len(a.Clients) > 0 {
			bad("api.clients", "set without api.audiences (the requests API is off without audiences)")
		}
	}
	for i, iss := range a.Issuers {
		if u, err := url.Parse(iss); err != nil || u.Scheme != "https" || u.Host == "" || !strings.Contains(strings.ToLower(iss), strings.ToLower(c.TenantID)) {
			bad(fmt.Sprintf("api.issuers[%d]", i), "want an https issuer URL of tenant %s, got %q", c.TenantID, iss)
		}
	}
	seen := map[string]bool{}
	for i, cl := range a.Clients {
		key := fmt.Sprintf("api.clients[%d]", i)
		if !access.IsObjectID(cl.AppID) {
			bad(key+".app_id", "want the client id (a GUID) of the pipeline's workload identity, got %q", cl.AppID)
		} else if k := strings.ToLower(cl.AppID); seen[k] {
			bad(key+".app_id", "%s is configured twice", cl.AppID)
		} else {
			seen[k] = true
		}
		if cl.ObjectID != "" && !access.IsObjectID(cl.ObjectID) {
			bad(key+".object_id", "want the service principal's object id (a GUID), got %q", cl.ObjectID)
		}
		switch n := strings.TrimSpace(cl.Name); {
		case n == "":
			bad(key+".name", "is required: approvers see it on the card, e.g. \"deploy pipeline\"")
		case access.Length(n) > maxClientName:
			bad(key+".name", "is %d characters; keep it to %d", access.Length(n), maxClientName)
		}
		if !access.IsObjectID(cl.Requester) {
			bad(key+".requester", "want the Entra object id (a GUID) of the user the requests are made as, got %q", cl.Requester)
		}
		if access.Length(cl.RequesterName) > maxClientName {
			bad(key+".requester_name", "is %d characters; keep it to %d", access.Length(cl.RequesterName), maxClientName)
		}
	}
}

// apiClients converts the configured clients for the API.
func (a APIConfig) apiClients() []api.Client {
	out := make([]api.Client, 0, len(a.Clients))
	for _, c := range a.Clients {
		out = append(out, api.Client{
			AppID: c.AppID, ObjectID: c.ObjectID, Name: strings.TrimSpace(c.Name),
			Requester: access.Person{ObjectID: c.Requester, Name: strings.TrimSpace(c.RequesterName)},
		})
	}
	return out
}

// requestsAPI builds POST /api/requests and GET /api/requests/{id} from
// the api section, or returns nil (and says so) when no audience is
// configured. httpClient fetches the tenant's keys (nil: a client with a
// 15 s timeout).
func requestsAPI(cfg *Config, svc api.RequestService, httpClient *http.Client, logger *slog.Logger) (http.Handler, error) {
	if len(cfg.API.Audiences) == 0 {
		logger.Info("requests API off: no api.audiences configured", "path", api.RequestsPath)
		return nil, nil
	}
	if httpClient == nil {
		httpClient = &http.Client{Timeout: 15 * time.Second}
	}
	v, err := entraauth.New(entraauth.Config{
		TenantID: cfg.TenantID, MetadataURL: cfg.FeedMetadataURL(),
		Issuers: cfg.API.Issuers, Audiences: cfg.API.Audiences, Role: api.RequestCreateRole,
	}, httpClient, logger)
	if err != nil {
		return nil, fmt.Errorf("requests API: %w", err)
	}
	h, err := api.NewRequests(api.RequestsConfig{Service: svc, Auth: v, TenantID: cfg.TenantID, Clients: cfg.API.apiClients(), Logger: logger})
	if err != nil {
		return nil, err
	}
	if len(cfg.API.Clients) == 0 {
		logger.Warn("requests API on, but no api.clients are configured: every call is refused", "path", api.RequestsPath)
	}
	logger.Info("requests API on", "path", api.RequestsPath, "role", api.RequestCreateRole, "audiences", cfg.API.Audiences, "clients", len(cfg.API.Clients))
	return h, nil
}
