package entratest

import (
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha1"
	"encoding/base64"
	"math/big"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
	"github.com/google/uuid"
)

// V1Issuer is the "iss" of a v1.0 access token of a tenant, whatever host
// issued it (as in the public cloud).
func V1Issuer(tenantID string) string { return "https://sts.windows.net/" + tenantID + "/" }

// V2Issuer is the "iss" of a v2.0 access token of a tenant issued by this
// authority: the issuer its OpenID metadata names.
func (a *Authority) V2Issuer(tenantID string) string { return a.srv.URL + "/" + tenantID + "/v2.0" }

// MetadataURL is the OpenID metadata document of a tenant (v2.0).
func (a *Authority) MetadataURL(tenantID string) string {
	return a.srv.URL + "/" + tenantID + "/v2.0/.well-known/openid-configuration"
}

// signer is a signing key the authority publishes in its JWKS.
type signer struct {
	kid string
	key *rsa.PrivateKey
}

func newSigner(t testing.TB) signer {
	t.Helper()
	k, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatalf("entratest: generate signing key: %v", err)
	}
	// Entra ID's key ids are the base64url SHA-1 thumbprint of the key's
	// certificate; a thumbprint of the modulus has the same form.
	sum := sha1.Sum(k.N.Bytes())
	return signer{kid: base64.RawURLEncoding.EncodeToString(sum[:]), key: k}
}

// jwk is the key as Entra ID publishes it (without the x5c certificate
// chain, which validators of RS256 tokens do not need).
func (s signer) jwk(issuer string) map[string]any {
	return map[string]any{
		"kty":    "RSA",
		"use":    "sig",
		"kid":    s.kid,
		"x5t":    s.kid,
		"n":      base64.RawURLEncoding.EncodeToString(s.key.N.Bytes()),
		"e":      base64.RawURLEncoding.EncodeToString(big.NewInt(int64(s.key.E)).Bytes()),
		"issuer": issuer,
	}
}

func (a *Authority) serveKeys(w http.ResponseWriter, r *http.Request) {
	tenant := r.PathValue("tenant")
	issuer := "https://" + r.Host + "/" + tenant + "/v2.0"
	a.mu.Lock()
	keys := []map[string]any{a.signer.jwk(issuer)}
	a.mu.Unlock()
	writeJSON(w, http.StatusOK, map[string]any{"keys": keys})
}

// RotateKey replaces the authority's signing key with a new one (a new
// kid): tokens issued from now on are signed with it, and the JWKS lists
// only it.
func (a *Authority) RotateKey(t testing.TB) {
	s := newSigner(t)
	a.mu.Lock()
	defer a.mu.Unlock()
	a.signer = s
}

// API is an app registration that exposes an API: the tenant it lives in,
// its application (client) id, its application id URI ("api://<app id>"
// unless set) and the version of the access tokens it accepts
// (requestedAccessTokenVersion: 1, Entra ID's default, or 2).
type API struct {
	TenantID     string
	AppID        string
	AppIDURI     string
	TokenVersion int
}

// AddAPI registers an API: from then on a client-credentials grant for
// "<app id URI>/.default" or "<app id>/.default" in its tenant is answered
// with a signed access token for it, carrying in "roles" the app roles
// granted to the client (GrantAppRole).
func (a *Authority) AddAPI(api API) {
	if api.AppIDURI == "" {
		api.AppIDURI = "api://" + api.AppID
	}
	if api.TokenVersion == 0 {
		api.TokenVersion = 1
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	a.apis[api.TenantID+"/"+api.AppID] = api
}

// GrantAppRole assigns an app role of an API to a client app's service
// principal in the tenant (with admin consent, as the portal does).
func (a *Authority) GrantAppRole(tenantID, clientID, apiAppID, role string) {
	a.mu.Lock()
	defer a.mu.Unlock()
	k := tenantID + "/" + clientID + "/" + apiAppID
	a.roles[k] = append(a.roles[k], role)
}

// ServicePrincipalID is the object id ("oid") of a client app's service
// principal in a tenant, as its tokens carry it.
func (a *Authority) ServicePrincipalID(tenantID, clientID string) string {
	return uuid.NewSHA1(uuid.NameSpaceOID, []byte(tenantID+"/"+clientID)).String()
}

// apiFor returns the registered API a scope names in a tenant, and the
// resource identifier the scope used.
func (a *Authority) apiForLocked(tenantID, scope string) (API, string, bool) {
	resource, ok := strings.CutSuffix(scope, "/.default")
	if !ok {
		return API{}, "", false
	}
	for _, api := range a.apis {
		if api.TenantID == tenantID && (resource == api.AppID || resource == api.AppIDURI) {
			return api, resource, true
		}
	}
	return API{}, "", false
}

// TokenOption changes an access token minted by AccessToken.
type TokenOption func(claims jwt.MapClaims, header map[string]any, key **rsa.PrivateKey)

// WithClaim sets (or, with a nil value, removes) a claim.
func WithClaim(name string, value any) TokenOption {
	return func(c jwt.MapClaims, _ map[string]any, _ **rsa.PrivateKey) {
		if value == nil {
			delete(c, name)
			return
		}
		c[name] = value
	}
}

// WithLifetime makes the token valid from nbf to exp (iat = nbf).
func WithLifetime(nbf, exp time.Time) TokenOption {
	return func(c jwt.MapClaims, _ map[string]any, _ **rsa.PrivateKey) {
		c["nbf"], c["iat"], c["exp"] = nbf.Unix(), nbf.Unix(), exp.Unix()
	}
}

// WithForeignKey signs the token with a key the authority does not
// publish, under the published key's kid: a forged signature.
func WithForeignKey(t testing.TB) TokenOption {
	k := newSigner(t).key
	return func(_ jwt.MapClaims, _ map[string]any, key **rsa.PrivateKey) { *key = k }
}

// AccessToken mints an app-only access token as Entra ID issues it to
// client clientID for api, with the given app roles, signed with the
// authority's current key (a v2.0 token names the issuer at URL); opts
// change it for negative tests. Real client-credentials grants (AddAPI)
// issue the same tokens.
func (a *Authority) AccessToken(t testing.TB, api API, clientID string, roles []string, opts ...TokenOption) string {
	t.Helper()
	if api.AppIDURI == "" {
		api.AppIDURI = "api://" + api.AppID
	}
	if api.TokenVersion == 0 {
		api.TokenVersion = 1
	}
	tok, err := a.mint(api, api.AppIDURI, clientID, roles, a.srv.URL, time.Now(), opts...)
	if err != nil {
		t.Fatalf("entratest: sign access token: %v", err)
	}
	return tok
}

// mint signs an access token for api, asked for as resource at the
// authority host (a v2.0 token's issuer is named after it).
func (a *Authority) mint(api API, resource, clientID string, roles []string, host string, now time.Time, opts ...TokenOption) (string, error) {
	a.mu.Lock()
	s := a.signer
	a.mu.Unlock()
	oid := a.ServicePrincipalID(api.TenantID, clientID)
	iat := now.Add(-5 * time.Minute) // Entra ID backdates nbf and iat by 5 minutes
	claims := jwt.MapClaims{
		"iat": iat.Unix(),
		"nbf": iat.Unix(),
		"exp": now.Add(time.Hour).Unix(),
		"aio": randomHex(24),
		"idp": V1Issuer(api.TenantID),
		"oid": oid,
		"rh":  "0.A" + randomHex(20) + ".",
		"sub": oid,
		"tid": api.TenantID,
		"uti": randomHex(11),
	}
	if len(roles) > 0 {
		claims["roles"] = append([]string(nil), roles...)
	}
	header := map[string]any{"typ": "JWT", "alg": "RS256", "kid": s.kid}
	if api.TokenVersion == 2 {
		claims["aud"] = api.AppID // v2.0 tokens always name the API by its client id
		claims["iss"] = host + "/" + api.TenantID + "/v2.0"
		claims["azp"], claims["azpacr"] = clientID, "1"
		claims["ver"] = "2.0"
	} else {
		claims["aud"] = resource // v1.0 tokens name the API as the scope did
		claims["iss"] = V1Issuer(api.TenantID)
		claims["appid"], claims["appidacr"] = clientID, "1"
		claims["ver"] = "1.0"
		header["x5t"] = s.kid
	}
	key := s.key
	for _, o := range opts {
		o(claims, header, &key)
	}
	tok := jwt.NewWithClaims(jwt.SigningMethodRS256, claims)
	for k, v := range header {
		tok.Header[k] = v
	}
	return tok.SignedString(key)
}

// Client ids of the Teams clients that obtain single sign-on tokens for a
// Teams app (the ones an app registration pre-authorizes).
const (
	TeamsDesktopClientID = "1fec8e78-bce4-4aaf-ab1b-5451cc387264" // Teams desktop and mobile
	TeamsWebClientID     = "5e3ce6c0-2b1f-4285-8d4b-75ee78787346" // Teams web
)

// WithAuthContexts sets the Conditional Access authentication contexts the
// user satisfied ("acrs").
func WithAuthContexts(ids ...string) TokenOption {
	return WithClaim("acrs", append([]string{}, ids...))
}

// UserToken mints a user's delegated access token for api with the
// delegated scope (for Teams single sign-on, "access_as_user"), as Entra ID
// issues it to the Teams desktop client when Teams signs the user in: "oid"
// and "sub" name the user, "scp" the scope, no app roles. It is issued at
// now (iat and nbf backdated by 5 minutes, as Entra ID does) and valid for
// an hour; opts change it for negative tests.
func (a *Authority) UserToken(t testing.TB, api API, userObjectID, scope string, now time.Time, opts ...TokenOption) string {
	t.Helper()
	if api.AppIDURI == "" {
		api.AppIDURI = "api://" + api.AppID
	}
	if api.TokenVersion == 0 {
		api.TokenVersion = 1
	}
	user := []TokenOption{
		WithClaim("oid", userObjectID), WithClaim("sub", randomHex(22)), WithClaim("scp", scope),
		WithClaim("name", "Signed-in User"), WithClaim("upn", "user@contoso.example"),
		WithClaim("amr", []string{"pwd", "mfa"}),
	}
	tok, err := a.mint(api, api.AppIDURI, TeamsDesktopClientID, nil, a.srv.URL, now, append(user, opts...)...)
	if err != nil {
		t.Fatalf("entratest: sign user token: %v", err)
	}
	return tok
}
