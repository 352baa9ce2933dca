// Package entraauth validates Microsoft Entra ID access tokens: the
// app-only tokens other applications (a SIEM) send to jitbot's own API,
// which carry an app role ([New]), and the delegated user tokens Teams
// single sign-on hands the bot with an approver's click ([NewUser]).
//
// A token is accepted only when every check passes: an RS256 signature by a
// key the tenant publishes (the OpenID metadata's jwks_uri, cached and
// re-fetched like the bot's channel keys, see internal/jwks); an issuer of
// the tenant, paired with the token version (v2.0 tokens from
// "{authority}{tenant}/v2.0", v1.0 tokens from "https://sts.windows.net/{tenant}/");
// an audience among the configured ones (the app's client id, its
// application id URI); exp (required) and nbf with five minutes of clock
// skew; the tenant ("tid"); an app-only token (no "scp": no user's delegated
// token is accepted); and the required app role in "roles".
//
// Both token versions are accepted because the version is not the caller's
// choice: Entra ID issues the version the API's app registration asks for
// (requestedAccessTokenVersion, v1.0 unless changed), and both are signed
// by the same tenant keys. Each version is accepted only with its own issuer.
package entraauth

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/jitbot/jitbot/internal/jwks"
)

// Errors callers can test for with errors.Is. Every error of Authenticate
// means "refuse the request"; these only classify it.
var (
	// ErrNoToken: no bearer token (HTTP 401).
	ErrNoToken = jwks.ErrNoToken
	// ErrInvalidToken: the token failed a check of who it is from or for
	// (HTTP 401).
	ErrInvalidToken = jwks.ErrInvalidToken
	// ErrForbidden: a valid token of the tenant for this API that lacks the
	// required app role (HTTP 403).
	ErrForbidden = errors.New("token lacks the required app role")
	// ErrKeysUnavailable: the tenant's signing keys could not be fetched.
	ErrKeysUnavailable = jwks.ErrKeysUnavailable
)

// Config configures a [Validator].
type Config struct {
	// TenantID is the only tenant whose tokens are accepted ("tid").
	TenantID string
	// MetadataURL is the tenant's OpenID metadata,
	// "{authority_host}{tenant}/v2.0/.well-known/openid-configuration".
	MetadataURL string
	// KeyHosts are hosts the keys may come from besides the metadata's.
	KeyHosts []string
	// Issuers are the accepted "iss" values, compared exactly. An issuer
	// ending in "/v2.0" is accepted with "ver" 2.0 only, any other with
	// 1.0 only.
	Issuers []string
	// Audiences are the accepted "aud" values (client id, application id
	// URI). Required.
	Audiences []string
	// Role is the app role an app-only token must carry in "roles".
	// Required by New, refused by NewUser.
	Role string
	// Scope is the delegated scope a user token must carry in "scp"
	// ("access_as_user" for Teams single sign-on). Required by NewUser,
	// refused by New.
	Scope string
	// ClockSkew is the leeway on exp and nbf (default
	// jwks.DefaultClockSkew, 5 minutes).
	ClockSkew time.Duration
	// Now is the clock; nil means time.Now.
	Now func() time.Time
	// KeyRefetchInterval, MetadataTTL and FetchTimeout tune the key cache;
	// zero takes jwks's defaults.
	KeyRefetchInterval time.Duration
	MetadataTTL        time.Duration
	FetchTimeout       time.Duration
}

// Claims is what an accepted token proved.
type Claims struct {
	// AppID is the calling application's client id (azp or appid).
	AppID string
	// ObjectID is its service principal's object id (oid).
	ObjectID string
	TenantID string
	Issuer   string
	Audience string
	Version  string
	Roles    []string
	KeyID    string
	// TokenID is the token's unique identifier ("uti"), which Entra ID's
	// sign-in logs show as the unique token identifier.
	TokenID string
	// ExpiresAt is the token's expiry.
	ExpiresAt time.Time
}

// Validator validates app-only access tokens. It is safe for concurrent use.
type Validator struct {
	cfg  Config
	keys *jwks.Cache
}

// New returns a validator of app-only tokens. httpClient fetches the
// metadata and keys (nil: a client with a 30 s timeout); logger nil
// discards logs.
func New(cfg Config, httpClient *http.Client, logger *slog.Logger) (*Validator, error) {
	switch {
	case strings.TrimSpace(cfg.Role) == "":
		return nil, errors.New("entraauth: Config.Role is required")
	case cfg.Scope != "":
		return nil, errors.New("entraauth: Config.Scope is for user tokens (NewUser)")
	}
	cfg, keys, err := prepare(cfg, httpClient, logger)
	if err != nil {
		return nil, err
	}
	return &Validator{cfg: cfg, keys: keys}, nil
}

// prepare checks what every validator needs, fills in the defaults and
// builds the key cache.
func prepare(cfg Config, httpClient *http.Client, logger *slog.Logger) (Config, *jwks.Cache, error) {
	switch {
	case strings.TrimSpace(cfg.TenantID) == "":
		return cfg, nil, errors.New("entraauth: Config.TenantID is required")
	case len(cfg.Audiences) == 0:
		return cfg, nil, errors.New("entraauth: Config.Audiences is required")
	case len(cfg.Issuers) == 0:
		return cfg, nil, errors.New("entraauth: Config.Issuers is required")
	case cfg.ClockSkew < 0:
		return cfg, nil, errors.New("entraauth: Config.ClockSkew must not be negative")
	}
	for _, a := range cfg.Audiences {
		if strings.TrimSpace(a) == "" {
			return cfg, nil, errors.New("entraauth: Config.Audiences has an empty entry")
		}
	}
	for _, iss := range cfg.Issuers {
		if !strings.Contains(strings.ToLower(iss), strings.ToLower(cfg.TenantID)) {
			return cfg, nil, fmt.Errorf("entraauth: issuer %q does not name tenant %s", iss, cfg.TenantID)
		}
	}
	if cfg.ClockSkew == 0 {
		cfg.ClockSkew = jwks.DefaultClockSkew
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	def := func(d *time.Duration, v time.Duration) {
		if *d <= 0 {
			*d = v
		}
	}
	def(&cfg.KeyRefetchInterval, jwks.DefaultRefetchInterval)
	def(&cfg.MetadataTTL, jwks.DefaultTTL)
	def(&cfg.FetchTimeout, jwks.DefaultFetchTimeout)
	keys, err := jwks.New(jwks.Config{
		MetadataURL: cfg.MetadataURL, KeyHosts: cfg.KeyHosts, Now: cfg.Now,
		RefetchInterval: cfg.KeyRefetchInterval, TTL: cfg.MetadataTTL, FetchTimeout: cfg.FetchTimeout,
		Name: "entra auth",
	}, httpClient, logger)
	if err != nil {
		return cfg, nil, fmt.Errorf("entraauth: %w", err)
	}
	return cfg, keys, nil
}

// Authenticate checks the Authorization header of a request. It never
// panics; its error says what failed, for logs, and must not be sent to the
// caller.
func (v *Validator) Authenticate(ctx context.Context, authHeader string) (Claims, error) {
	raw, err := jwks.BearerToken(authHeader)
	if err != nil {
		return Claims{}, err
	}
	claims, kid, err := parse(ctx, v.cfg, v.keys, raw)
	if err != nil {
		return Claims{}, err
	}
	out, err := v.check(claims)
	if err != nil {
		return Claims{}, err
	}
	out.KeyID = kid
	return out, nil
}

// parse verifies a token's signature (by a key of the tenant) and times,
// and returns its claims and the key id.
func parse(ctx context.Context, cfg Config, keys *jwks.Cache, raw string, opts ...jwt.ParserOption) (jwt.MapClaims, string, error) {
	var kid string
	keyFunc := keys.KeyFunc(ctx, nil, &kid)
	parser := jwt.NewParser(append([]jwt.ParserOption{
		jwt.WithValidMethods([]string{jwt.SigningMethodRS256.Alg()}),
		jwt.WithExpirationRequired(),
		jwt.WithLeeway(cfg.ClockSkew),
		jwt.WithTimeFunc(cfg.Now),
		jwt.WithStrictDecoding(),
	}, opts...)...)
	claims := jwt.MapClaims{}
	if _, err := parser.ParseWithClaims(raw, claims, keyFunc); err != nil {
		return nil, "", fmt.Errorf("%w: %w", ErrInvalidToken, err)
	}
	return claims, kid, nil
}

// checkCommon validates the claims every accepted token has, of a token
// whose signature and times were verified: issuer and version, tenant and
// audience. It returns the issuer, version and audience.
func checkCommon(cfg Config, c jwt.MapClaims) (iss, ver, aud string, err error) {
	invalid := func(format string, args ...any) (string, string, string, error) {
		return "", "", "", fmt.Errorf("%w: %s", ErrInvalidToken, fmt.Sprintf(format, args...))
	}
	iss, _ = c["iss"].(string)
	if !slices.Contains(cfg.Issuers, iss) {
		return invalid("issuer %q is not one of %v", iss, cfg.Issuers)
	}
	ver, _ = c["ver"].(string)
	wantVer := "1.0"
	if strings.HasSuffix(iss, "/v2.0") {
		wantVer = "2.0"
	}
	if ver != wantVer {
		return invalid("token version %q does not go with issuer %q", ver, iss)
	}
	if tid, _ := c["tid"].(string); !strings.EqualFold(tid, cfg.TenantID) {
		return invalid("tenant %q is not %s", tid, cfg.TenantID)
	}
	auds, err := c.GetAudience()
	if err != nil || len(auds) != 1 {
		return invalid("audience %v: want exactly one", c["aud"])
	}
	if !slices.Contains(cfg.Audiences, auds[0]) {
		return invalid("audience %q is not one of %v", auds[0], cfg.Audiences)
	}
	return iss, ver, auds[0], nil
}

// check validates the claims of an app-only token whose signature and
// times were verified.
func (v *Validator) check(c jwt.MapClaims) (Claims, error) {
	invalid := func(format string, args ...any) (Claims, error) {
		return Claims{}, fmt.Errorf("%w: %s", ErrInvalidToken, fmt.Sprintf(format, args...))
	}
	str := func(name string) (string, bool) {
		s, ok := c[name].(string)
		return s, ok && s != ""
	}
	iss, ver, aud, err := checkCommon(v.cfg, c)
	if err != nil {
		return Claims{}, err
	}
	if _, delegated := c["scp"]; delegated {
		return invalid("a delegated (user) token; only app-only tokens are accepted")
	}
	app, ok := str("azp")
	if ver == "1.0" {
		app, ok = str("appid")
	}
	if !ok {
		return invalid("token names no calling application")
	}
	oid, _ := str("oid")
	roles, err := stringList(c["roles"])
	if err != nil {
		return invalid("roles: %v", err)
	}
	out := Claims{AppID: app, ObjectID: oid, TenantID: v.cfg.TenantID, Issuer: iss, Audience: aud, Version: ver, Roles: roles}
	out.TokenID, _ = str("uti")
	if t, err := c.GetExpirationTime(); err == nil && t != nil {
		out.ExpiresAt = t.Time
	}
	if !slices.Contains(roles, v.cfg.Role) {
		return out, fmt.Errorf("%w: app %s has roles %v, not %s", ErrForbidden, app, roles, v.cfg.Role)
	}
	return out, nil
}

// stringList reads a claim that is absent or a JSON array of strings.
func stringList(v any) ([]string, error) {
	if v == nil {
		return nil, nil
	}
	list, ok := v.([]any)
	if !ok {
		return nil, errors.New("not a list")
	}
	out := make([]string, 0, len(list))
	for _, x := range list {
		s, ok := x.(string)
		if !ok {
			return nil, errors.New("not a list of strings")
		}
		out = append(out, s)
	}
	return out, nil
}
