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
	"github.com/google/uuid"

	"github.com/jitbot/jitbot/internal/jwks"
)

// MaxUserTokenBytes bounds a user token before it is parsed.
const MaxUserTokenBytes = jwks.MaxAuthorizationHeaderBytes

// UserClaims is what an accepted user token proved.
type UserClaims struct {
	// ObjectID is the signed-in user ("oid").
	ObjectID string
	TenantID string
	Issuer   string
	Audience string
	Version  string
	// AppID is the client the user signed in to (azp or appid): a Teams
	// client for single sign-on.
	AppID string
	// Scopes are the delegated scopes ("scp").
	Scopes []string
	// AuthContexts are the Conditional Access authentication contexts the
	// user satisfied for this token ("acrs").
	AuthContexts []string
	// IssuedAt is the token's issue time ("iat"); ExpiresAt its expiry.
	IssuedAt  time.Time
	ExpiresAt time.Time
	// TokenID is the unique token identifier ("uti").
	TokenID string
	KeyID   string
}

// UserValidator validates users' delegated access tokens for one app (the
// single sign-on app). It is safe for concurrent use.
type UserValidator struct {
	cfg  Config
	keys *jwks.Cache
}

// NewUser returns a validator of user tokens: Config.Scope is required,
// Config.Role must be empty. httpClient and logger are as for New.
func NewUser(cfg Config, httpClient *http.Client, logger *slog.Logger) (*UserValidator, error) {
	switch {
	case strings.TrimSpace(cfg.Scope) == "":
		return nil, errors.New("entraauth: Config.Scope is required")
	case cfg.Role != "":
		return nil, errors.New("entraauth: Config.Role is for app-only tokens (New)")
	}
	cfg, keys, err := prepare(cfg, httpClient, logger)
	if err != nil {
		return nil, err
	}
	return &UserValidator{cfg: cfg, keys: keys}, nil
}

// Validate checks a raw user token (no "Bearer " prefix): the signature by
// a key of the tenant, issuer and version, tenant, audience, exp and nbf,
// an issue time not in the future, a user's object id and the required
// delegated scope. It never panics; its error says what failed, for logs.
func (v *UserValidator) Validate(ctx context.Context, raw string) (UserClaims, error) {
	if raw == "" {
		return UserClaims{}, ErrNoToken
	}
	if len(raw) > MaxUserTokenBytes {
		return UserClaims{}, fmt.Errorf("%w: token longer than %d bytes", ErrInvalidToken, MaxUserTokenBytes)
	}
	claims, kid, err := parse(ctx, v.cfg, v.keys, raw, jwt.WithIssuedAt())
	if err != nil {
		return UserClaims{}, err
	}
	out, err := v.check(claims)
	if err != nil {
		return UserClaims{}, err
	}
	out.KeyID = kid
	return out, nil
}

// check validates the claims of a user token whose signature and times
// were verified.
func (v *UserValidator) check(c jwt.MapClaims) (UserClaims, error) {
	invalid := func(format string, args ...any) (UserClaims, error) {
		return UserClaims{}, fmt.Errorf("%w: %s", ErrInvalidToken, fmt.Sprintf(format, args...))
	}
	iss, ver, aud, err := checkCommon(v.cfg, c)
	if err != nil {
		return UserClaims{}, err
	}
	scp, ok := c["scp"].(string)
	if !ok || strings.TrimSpace(scp) == "" {
		return invalid("not a user's delegated token (no scp)")
	}
	scopes := strings.Fields(scp)
	if !slices.Contains(scopes, v.cfg.Scope) {
		return invalid("scopes %v lack %s", scopes, v.cfg.Scope)
	}
	oid, _ := c["oid"].(string)
	if _, err := uuid.Parse(oid); err != nil || len(oid) != 36 {
		return invalid("object id %q is not a GUID", oid)
	}
	app, _ := c["azp"].(string)
	if ver == "1.0" {
		app, _ = c["appid"].(string)
	}
	if app == "" {
		return invalid("token names no client application")
	}
	acrs, err := stringList(c["acrs"])
	if err != nil {
		return invalid("acrs: %v", err)
	}
	iat, err := c.GetIssuedAt()
	if err != nil || iat == nil {
		return invalid("no issue time (iat)")
	}
	out := UserClaims{
		ObjectID: strings.ToLower(oid), TenantID: v.cfg.TenantID, Issuer: iss, Audience: aud, Version: ver,
		AppID: app, Scopes: scopes, AuthContexts: acrs, IssuedAt: iat.Time,
	}
	out.TokenID, _ = c["uti"].(string)
	if t, err := c.GetExpirationTime(); err == nil && t != nil {
		out.ExpiresAt = t.Time
	}
	return out, nil
}
