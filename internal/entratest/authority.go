// Package entratest is a fake Microsoft Entra ID authority (OpenID
// configuration, the published signing keys and the client-credentials token
// grant over HTTPS), faithful enough on the wire for a real
// azidentity.ClientSecretCredential. It is the one fake of Entra ID, shared by
// every test in the module that needs tokens: the bot's for the Bot
// Connector, jitbot's for Microsoft Graph, and a SIEM's for jitbot's own API
// (signed access tokens with app roles, see AddAPI).
//
// The package must only be imported from tests. It must not import jitbot's
// production packages (bot/..., graph), so that their tests can use it.
package entratest

import (
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/cloud"
	"github.com/Azure/azure-sdk-for-go/sdk/azidentity"
)

// TokenRequest is one request to the authority's token endpoint.
type TokenRequest struct {
	Tenant    string
	ClientID  string
	GrantType string
	// Scopes are the requested scopes without the OpenID scopes MSAL adds
	// (openid, offline_access, profile).
	Scopes []string
	// Claims is the claims parameter (client capabilities for continuous
	// access evaluation), if any.
	Claims string
	// Status is the answer's status; Token the access token issued (if any).
	Status int
	Token  string
}

// Authority is a fake Microsoft Entra ID authority for the client-credentials
// flow, served over HTTPS. Point azidentity at it with [Authority.ClientOptions]
// (and DisableInstanceDiscovery: true), or use
// [Authority.ClientSecretCredential].
//
// Apps must be registered with [Authority.AddApp]: a client id unknown in the
// requested tenant is refused with AADSTS700016 (what a single-tenant bot gets
// when it asks the old multi-tenant "botframework.com" authority), a wrong
// secret with AADSTS7000215. Endpoints are named after the host the client
// asked for, as Entra ID does, so the authority also works behind a TLS front
// with another address.
type Authority struct {
	srv *httptest.Server

	mu       sync.Mutex
	apps     map[string]string // tenant + "/" + client id -> secret
	token    string            // issued instead of random tokens, if set
	requests []TokenRequest
	issued   map[string]TokenRequest
	failNext int
	signer   signer
	apis     map[string]API      // tenant + "/" + app id
	roles    map[string][]string // tenant + "/" + client id + "/" + API app id
}

// NewAuthority starts a fake authority that is closed when the test ends. It
// knows no apps and issues a new random token for every grant, except for
// the APIs registered with AddAPI, whose tokens are signed JWTs.
func NewAuthority(t testing.TB) *Authority {
	t.Helper()
	a := &Authority{
		apps: map[string]string{}, issued: map[string]TokenRequest{}, signer: newSigner(t),
		apis: map[string]API{}, roles: map[string][]string{},
	}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /{tenant}/v2.0/.well-known/openid-configuration", a.serveDiscovery)
	mux.HandleFunc("GET /{tenant}/discovery/v2.0/keys", a.serveKeys)
	mux.HandleFunc("POST /{tenant}/oauth2/v2.0/token", a.serveToken)
	a.srv = httptest.NewTLSServer(mux)
	t.Cleanup(a.srv.Close)
	return a
}

// URL is the authority host, "https://127.0.0.1:port" (no trailing slash).
func (a *Authority) URL() string { return a.srv.URL }

// Client returns an *http.Client that trusts the authority's certificate.
func (a *Authority) Client() *http.Client { return a.srv.Client() }

// AddApp registers an application (client id and secret) in a tenant, or
// changes the secret of one already registered.
func (a *Authority) AddApp(tenantID, clientID, secret string) {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.apps[tenantID+"/"+clientID] = secret
}

// SetToken makes the authority issue token for every grant from now on (for
// a fake resource that expects a fixed token); "" goes back to random tokens.
func (a *Authority) SetToken(token string) {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.token = token
}

// FailNext makes the next n token requests fail with 500.
func (a *Authority) FailNext(n int) {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.failNext = n
}

// TokenRequests returns a copy of all token requests so far, in order.
func (a *Authority) TokenRequests() []TokenRequest {
	a.mu.Lock()
	defer a.mu.Unlock()
	out := make([]TokenRequest, len(a.requests))
	for i, r := range a.requests {
		r.Scopes = slices.Clone(r.Scopes)
		out[i] = r
	}
	return out
}

// Lookup tells whether token was issued by this authority, and to whom (the
// latest grant, if a fixed token was issued more than once).
func (a *Authority) Lookup(token string) (TokenRequest, bool) {
	a.mu.Lock()
	defer a.mu.Unlock()
	r, ok := a.issued[token]
	r.Scopes = slices.Clone(r.Scopes)
	return r, ok
}

// ClientOptions points an azidentity credential at the authority (cloud
// authority host and a transport that trusts its certificate). Also set
// DisableInstanceDiscovery: true on the credential options.
func (a *Authority) ClientOptions() azcore.ClientOptions {
	return azcore.ClientOptions{
		Cloud:     cloud.Configuration{ActiveDirectoryAuthorityHost: a.srv.URL + "/"},
		Transport: a.srv.Client(),
	}
}

// ClientSecretCredential returns a real azidentity client-secret credential
// for the app in tenantID that gets its tokens from this authority.
func (a *Authority) ClientSecretCredential(t testing.TB, tenantID, clientID, secret string) *azidentity.ClientSecretCredential {
	t.Helper()
	cred, err := azidentity.NewClientSecretCredential(tenantID, clientID, secret, &azidentity.ClientSecretCredentialOptions{
		ClientOptions:            a.ClientOptions(),
		DisableInstanceDiscovery: true,
	})
	if err != nil {
		t.Fatalf("entratest: NewClientSecretCredential: %v", err)
	}
	return cred
}

func (a *Authority) serveDiscovery(w http.ResponseWriter, r *http.Request) {
	host := "https://" + r.Host
	base := host + "/" + r.PathValue("tenant")
	writeJSON(w, http.StatusOK, map[string]any{
		"issuer":                                base + "/v2.0",
		"authorization_endpoint":                base + "/oauth2/v2.0/authorize",
		"token_endpoint":                        base + "/oauth2/v2.0/token",
		"device_authorization_endpoint":         base + "/oauth2/v2.0/devicecode",
		"end_session_endpoint":                  base + "/oauth2/v2.0/logout",
		"jwks_uri":                              base + "/discovery/v2.0/keys",
		"token_endpoint_auth_methods_supported": []string{"client_secret_post", "private_key_jwt", "client_secret_basic"},
		"response_types_supported":              []string{"code", "id_token", "code id_token", "id_token token"},
		"scopes_supported":                      []string{"openid", "profile", "email", "offline_access"},
		"subject_types_supported":               []string{"pairwise"},
		"id_token_signing_alg_values_supported": []string{"RS256"},
		"tenant_region_scope":                   "WW",
		"cloud_instance_name":                   "microsoftonline.com",
	})
}

func (a *Authority) serveToken(w http.ResponseWriter, r *http.Request) {
	tenant := r.PathValue("tenant")
	if err := r.ParseForm(); err != nil {
		oauthError(w, http.StatusBadRequest, "invalid_request", 900144, "The request body must contain the following parameter: 'grant_type'.")
		return
	}
	req := TokenRequest{
		Tenant:    tenant,
		ClientID:  r.PostForm.Get("client_id"),
		GrantType: r.PostForm.Get("grant_type"),
		Claims:    r.PostForm.Get("claims"),
	}
	for _, s := range strings.Fields(r.PostForm.Get("scope")) {
		switch s {
		case "openid", "offline_access", "profile":
		default:
			req.Scopes = append(req.Scopes, s)
		}
	}
	req.Status, req.Token = a.decide(w, req, r.PostForm.Get("client_secret"), "https://"+r.Host)

	a.mu.Lock()
	a.requests = append(a.requests, req)
	if req.Token != "" {
		a.issued[req.Token] = req
	}
	a.mu.Unlock()
}

// decide writes the answer to a token request and returns its status and
// the token issued.
func (a *Authority) decide(w http.ResponseWriter, req TokenRequest, secret, host string) (int, string) {
	a.mu.Lock()
	fail := a.failNext > 0
	if fail {
		a.failNext--
	}
	want, known := a.apps[req.Tenant+"/"+req.ClientID]
	token := a.token
	var api API
	var resource string
	var isAPI bool
	var roles []string
	if len(req.Scopes) == 1 {
		api, resource, isAPI = a.apiForLocked(req.Tenant, req.Scopes[0])
		roles = slices.Clone(a.roles[req.Tenant+"/"+req.ClientID+"/"+api.AppID])
	}
	a.mu.Unlock()

	switch {
	case fail:
		return oauthError(w, http.StatusInternalServerError, "temporarily_unavailable", 50196, "injected failure")
	case req.GrantType != "client_credentials":
		return oauthError(w, http.StatusBadRequest, "unsupported_grant_type", 70003,
			fmt.Sprintf("The app requested an unsupported grant type '%s'.", req.GrantType))
	case !known:
		return oauthError(w, http.StatusBadRequest, "unauthorized_client", 700016,
			fmt.Sprintf("Application with identifier '%s' was not found in the directory '%s'.", req.ClientID, req.Tenant))
	case secret != want:
		return oauthError(w, http.StatusUnauthorized, "invalid_client", 7000215,
			"Invalid client secret provided. Ensure the secret being sent in the request is the client secret value, not the client secret ID.")
	case len(req.Scopes) != 1 || !strings.HasSuffix(req.Scopes[0], "/.default"):
		return oauthError(w, http.StatusBadRequest, "invalid_scope", 1002012,
			"The provided value for scope is not valid. Client credential flows must have a scope value with /.default suffixed to the resource identifier (application ID URI).")
	}
	switch {
	case isAPI:
		signed, err := a.mint(api, resource, req.ClientID, roles, host, time.Now())
		if err != nil {
			return oauthError(w, http.StatusInternalServerError, "server_error", 50000, err.Error())
		}
		token = signed
	case token == "":
		token = "fake-access-token-" + randomHex(16)
	}
	writeJSON(w, http.StatusOK, map[string]any{
		"token_type":     "Bearer",
		"expires_in":     3599,
		"ext_expires_in": 3599,
		"access_token":   token,
	})
	return http.StatusOK, token
}

// oauthError writes an Entra-style OAuth error and returns its status and no
// token.
func oauthError(w http.ResponseWriter, status int, code string, aadsts int, desc string) (int, string) {
	writeJSON(w, status, map[string]any{
		"error":             code,
		"error_description": fmt.Sprintf("AADSTS%d: %s", aadsts, desc),
		"error_codes":       []int{aadsts},
	})
	return status, ""
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	b, err := json.Marshal(v)
	if err != nil {
		http.Error(w, err.Error(), http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.WriteHeader(status)
	_, _ = w.Write(b)
}

func randomHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}
