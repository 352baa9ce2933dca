package graphtest

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/cloud"
	"github.com/Azure/azure-sdk-for-go/sdk/azidentity"
)

// Default client credentials a new Authority accepts.
const (
	DefaultClientID     = "00000000-0000-0000-0000-00000000c11e"
	DefaultClientSecret = "graphtest-secret"
)

// TokenRequest is one token request the Authority received.
type TokenRequest struct {
	Tenant    string
	GrantType string
	ClientID  string
	// Scopes are the scopes asked for, without the OpenID scopes MSAL adds
	// (openid, offline_access, profile).
	Scopes []string
	// Claims is the claims parameter (client capabilities for continuous
	// access evaluation), if any.
	Claims string
}

// Authority is a fake Microsoft Entra ID authority over https: OpenID
// configuration and the client-credentials token grant, enough for
// azidentity.ClientSecretCredential with instance discovery turned off.
type Authority struct {
	srv *httptest.Server

	mu           sync.Mutex
	token        string
	clientID     string
	clientSecret string
	requests     []TokenRequest
}

// NewAuthority starts a fake authority; it stops when the test ends. It
// accepts DefaultClientID with DefaultClientSecret, in any tenant, and
// issues DefaultToken.
func NewAuthority(t testing.TB) *Authority {
	t.Helper()
	a := &Authority{token: DefaultToken, clientID: DefaultClientID, clientSecret: DefaultClientSecret}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /{tenant}/v2.0/.well-known/openid-configuration", a.openIDConfiguration)
	mux.HandleFunc("POST /{tenant}/oauth2/v2.0/token", a.tokenGrant)
	a.srv = httptest.NewTLSServer(mux)
	t.Cleanup(a.srv.Close)
	return a
}

// URL returns the authority host, for
// cloud.Configuration.ActiveDirectoryAuthorityHost: "https://127.0.0.1:port/".
func (a *Authority) URL() string { return a.srv.URL + "/" }

// Client returns an *http.Client that trusts the authority's certificate.
func (a *Authority) Client() *http.Client { return a.srv.Client() }

// SetToken sets the access token issued.
func (a *Authority) SetToken(token string) {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.token = token
}

// SetClient sets the client id and secret accepted.
func (a *Authority) SetClient(id, secret string) {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.clientID, a.clientSecret = id, secret
}

// TokenRequests returns the token requests received, oldest first.
func (a *Authority) TokenRequests() []TokenRequest {
	a.mu.Lock()
	defer a.mu.Unlock()
	return slices.Clone(a.requests)
}

// Credential returns a real azidentity.ClientSecretCredential for tenantID
// that gets its tokens from this authority with the accepted client
// credentials.
func (a *Authority) Credential(t testing.TB, tenantID string) *azidentity.ClientSecretCredential {
	t.Helper()
	a.mu.Lock()
	id, secret := a.clientID, a.clientSecret
	a.mu.Unlock()
	cred, err := azidentity.NewClientSecretCredential(tenantID, id, secret, &azidentity.ClientSecretCredentialOptions{
		ClientOptions: azcore.ClientOptions{
			Cloud:     cloud.Configuration{ActiveDirectoryAuthorityHost: a.URL()},
			Transport: a.srv.Client(),
		},
		DisableInstanceDiscovery: true,
	})
	if err != nil {
		t.Fatalf("graphtest: client secret credential: %v", err)
	}
	return cred
}

func (a *Authority) openIDConfiguration(w http.ResponseWriter, r *http.Request) {
	tenant := r.PathValue("tenant")
	// Name endpoints after the host the client asked for, as Entra ID does,
	// so the authority also works behind a TLS front with another address.
	host := "https://" + r.Host
	base := host + "/" + tenant
	writePlainJSON(w, http.StatusOK, map[string]any{
		"issuer":                                base + "/v2.0",
		"authorization_endpoint":                base + "/oauth2/v2.0/authorize",
		"token_endpoint":                        base + "/oauth2/v2.0/token",
		"device_authorization_endpoint":         base + "/oauth2/v2.0/devicecode",
		"end_session_endpoint":                  base + "/oauth2/v2.0/logout",
		"jwks_uri":                              host + "/" + tenant + "/discovery/v2.0/keys",
		"token_endpoint_auth_methods_supported": []string{"client_secret_post", "private_key_jwt", "client_secret_basic"},
		"response_types_supported":              []string{"code", "id_token", "code id_token", "id_token token"},
		"scopes_supported":                      []string{"openid", "profile", "email", "offline_access"},
		"subject_types_supported":               []string{"pairwise"},
		"id_token_signing_alg_values_supported": []string{"RS256"},
		"tenant_region_scope":                   "WW",
		"cloud_instance_name":                   "microsoftonline.com",
	})
}

func (a *Authority) tokenGrant(w http.ResponseWriter, r *http.Request) {
	if err := r.ParseForm(); err != nil {
		oauthError(w, http.StatusBadRequest, "invalid_request", 900144, "AADSTS900144: The request body must contain the following parameter: 'grant_type'.")
		return
	}
	req := TokenRequest{
		Tenant:    r.PathValue("tenant"),
		GrantType: r.PostForm.Get("grant_type"),
		ClientID:  r.PostForm.Get("client_id"),
		Claims:    r.PostForm.Get("claims"),
	}
	for _, s := range strings.Fields(r.PostForm.Get("scope")) {
		switch s {
		case "openid", "offline_access", "profile":
		default:
			req.Scopes = append(req.Scopes, s)
		}
	}
	a.mu.Lock()
	a.requests = append(a.requests, req)
	token, clientID, secret := a.token, a.clientID, a.clientSecret
	a.mu.Unlock()

	switch {
	case req.GrantType != "client_credentials":
		oauthError(w, http.StatusBadRequest, "unsupported_grant_type", 70003,
			fmt.Sprintf("AADSTS70003: The app requested an unsupported grant type '%s'.", req.GrantType))
	case req.ClientID != clientID:
		oauthError(w, http.StatusBadRequest, "unauthorized_client", 700016,
			fmt.Sprintf("AADSTS700016: Application with identifier '%s' was not found in the directory '%s'.", req.ClientID, req.Tenant))
	case r.PostForm.Get("client_secret") != secret:
		oauthError(w, http.StatusUnauthorized, "invalid_client", 7000215,
			"AADSTS7000215: Invalid client secret provided. Ensure the secret being sent in the request is the client secret value, not the client secret ID.")
	case len(req.Scopes) != 1 || !strings.HasSuffix(req.Scopes[0], "/.default"):
		oauthError(w, http.StatusBadRequest, "invalid_scope", 1002012,
			"AADSTS1002012: The provided value for scope is not valid. Client credential flows must have a scope value with /.default suffixed to the resource identifier (application ID URI).")
	default:
		writePlainJSON(w, http.StatusOK, map[string]any{
			"token_type":     "Bearer",
			"expires_in":     3599,
			"ext_expires_in": 3599,
			"access_token":   token,
		})
	}
}

func oauthError(w http.ResponseWriter, status int, code string, aadsts int, description string) {
	writePlainJSON(w, status, map[string]any{
		"error":             code,
		"error_description": description,
		"error_codes":       []int{aadsts},
	})
}

func writePlainJSON(w http.ResponseWriter, status int, v any) {
	b, err := json.Marshal(v)
	if err != nil {
		http.Error(w, err.Error(), http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.WriteHeader(status)
	_, _ = w.Write(b)
}
