// Package botbuilder adapts the bot's inbound authentication (package
// bot/auth) to msbotbuilder-go's connector/auth.TokenValidator interface, so
// it can replace that library's own validator in core.BotFrameworkAdapter.
//
// It lives apart from bot/auth because importing msbotbuilder-go's
// connector/auth package links that library's JWT and JWKS dependencies;
// code that calls auth.Authenticator directly does not need them. It must
// not use msbotbuilder-go's validator implementation (JwtTokenValidator),
// which is unsafe.
//
// The package is built only with the build tag msbotbuilder
// (go test -tags msbotbuilder ...): msbotbuilder-go's connector/auth package
// needs modules (github.com/lestrrat-go/backoff/v2, blackmagic, httpcc,
// iter) that go.mod does not list yet. Once they are added, the build
// constraint can be removed.
package botbuilder

import (
	"context"
	"errors"

	botauth "github.com/infracloudio/msbotbuilder-go/connector/auth"
	"github.com/infracloudio/msbotbuilder-go/schema"

	"github.com/jitbot/jitbot/bot/auth"
)

// TokenValidator implements msbotbuilder-go's auth.TokenValidator on top of
// an auth.Authenticator (an *auth.Validator, or an *auth.LocalValidator in
// local mode).
type TokenValidator struct {
	auth auth.Authenticator
}

var _ botauth.TokenValidator = (*TokenValidator)(nil)

// NewTokenValidator wraps a. It panics if a is nil: a missing validator is a
// programming error that must not silently disable authentication.
func NewTokenValidator(a auth.Authenticator) *TokenValidator {
	if a == nil {
		panic("botbuilder: NewTokenValidator called with a nil Authenticator")
	}
	return &TokenValidator{auth: a}
}

// AuthenticateRequest implements auth.TokenValidator. The credential
// provider and channel service arguments are ignored: the wrapped
// Authenticator's configuration is authoritative, and a provider that
// reports authentication as disabled cannot turn it off.
func (t *TokenValidator) AuthenticateRequest(ctx context.Context, act schema.Activity, authHeader string, _ botauth.CredentialProvider, _ string) (botauth.ClaimsIdentity, error) {
	if t == nil || t.auth == nil {
		return nil, errors.New("botbuilder: TokenValidator is not initialised")
	}
	c, err := t.auth.Authenticate(ctx, authHeader, &act)
	if err != nil {
		return nil, err
	}
	return auth.Identity{Claims: c}, nil
}
