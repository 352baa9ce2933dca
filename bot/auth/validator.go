package auth

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"strings"
	"time"

	"github.com/golang-jwt/jwt/v5"
	"github.com/infracloudio/msbotbuilder-go/schema"

	"github.com/jitbot/jitbot/internal/jwks"
	"github.com/jitbot/jitbot/internal/netutil"
)

// Defaults for [Config].
const (
	// DefaultOpenIDMetadataURL is the Bot Framework channel metadata document
	// in the public cloud.
	DefaultOpenIDMetadataURL = "https://login.botframework.com/v1/.well-known/openidconfiguration"
	// DefaultIssuer is the "iss" of tokens sent by Bot Framework channels.
	DefaultIssuer             = "https://api.botframework.com"
	DefaultClockSkew          = jwks.DefaultClockSkew
	DefaultKeyRefetchInterval = jwks.DefaultRefetchInterval
	DefaultMetadataTTL        = jwks.DefaultTTL
	DefaultFetchTimeout       = jwks.DefaultFetchTimeout

	// MaxAuthorizationHeaderBytes bounds the Authorization header we parse.
	MaxAuthorizationHeaderBytes = jwks.MaxAuthorizationHeaderBytes
)

// Errors callers can test for with errors.Is. Every error returned by
// Authenticate means "reject the request" (HTTP 401); these only classify it.
var (
	// ErrNoToken: the Authorization header is missing, empty or not Bearer.
	ErrNoToken = jwks.ErrNoToken
	// ErrInvalidToken: the token was present but failed a check.
	ErrInvalidToken = jwks.ErrInvalidToken
	// ErrKeysUnavailable: the signing keys could not be fetched, so no token
	// can be verified right now.
	ErrKeysUnavailable = jwks.ErrKeysUnavailable
)

// Config configures a [Validator]. Zero values take the defaults above.
type Config struct {
	// AppID is the bot's Microsoft App ID (the expected "aud"). Required.
	AppID string
	// OpenIDMetadataURL is the channel's OpenID metadata document; its
	// jwks_uri names the signing keys. It must be https (http is allowed for
	// loopback hosts only, for tests).
	OpenIDMetadataURL string
	// KeyHosts are the hosts the signing keys may be fetched from besides
	// the metadata document's own host (default none); an entry
	// "*.example.com" matches the sub-domains of example.com. A jwks_uri, or
	// a redirect while fetching, to any other host fails.
	KeyHosts []string
	// Issuer is the expected "iss".
	Issuer string
	// ClockSkew is the leeway applied to exp and nbf. Must not be negative.
	ClockSkew time.Duration
	// Now is the clock; nil means time.Now. It also drives the key cache.
	Now func() time.Time
	// KeyRefetchInterval is the minimum time between two fetches of the
	// metadata and keys; an unknown kid triggers a fetch only when the last
	// one is at least this old.
	KeyRefetchInterval time.Duration
	// MetadataTTL is how long fetched keys are used before they are
	// refreshed. If refreshing fails, they remain usable up to twice the TTL.
	MetadataTTL time.Duration
	// FetchTimeout bounds one fetch of the metadata and keys.
	FetchTimeout time.Duration
}

// Claims is what an accepted request proved.
type Claims struct {
	// AppID is the audience the token was issued for (the bot's app ID).
	AppID string
	// Audience is the full "aud" claim.
	Audience []string
	// Issuer is the "iss" claim.
	Issuer string
	// ServiceURL is the "serviceurl" claim (equal to the activity's).
	ServiceURL string
	// ChannelID is the activity's channel, endorsed by the signing key.
	ChannelID string
	// KeyID is the "kid" of the key that signed the token.
	KeyID string
	// ExpiresAt, NotBefore and IssuedAt are the time claims (zero if absent).
	ExpiresAt time.Time
	NotBefore time.Time
	IssuedAt  time.Time
	// Local is true when the request was accepted by a LocalValidator
	// without any token; all token fields are then empty.
	Local bool
}

// Authenticator authenticates an inbound activity. *Validator and
// *LocalValidator implement it.
type Authenticator interface {
	Authenticate(ctx context.Context, authHeader string, act *schema.Activity) (Claims, error)
}

// Screener is implemented by an Authenticator that can look at a request's
// Authorization header before its body is read (*Validator).
type Screener interface {
	Known(authHeader, channelID string) bool
	Screen(authHeader string) error
}

// Validator validates Bot Framework channel tokens. It is safe for
// concurrent use.
type Validator struct {
	appID  string
	issuer string
	skew   time.Duration
	now    func() time.Time
	keys   *jwks.Cache
	// parser checks a token in full; claims checks its claims alone
	// (both safe for concurrent use, built once).
	parser *jwt.Parser
	claims *jwt.Validator
	// verified remembers tokens whose signature and claims were checked
	// (see verifiedTokens).
	verified *verifiedTokens
}

// NewValidator returns a validator for cfg. httpClient fetches the metadata
// and keys (nil: a client with a 30 s timeout; a copy is used that follows
// redirects only to https or loopback URLs); logger nil discards logs.
func NewValidator(cfg Config, httpClient *http.Client, logger *slog.Logger) (*Validator, error) {
	if strings.TrimSpace(cfg.AppID) == "" {
		return nil, errors.New("auth: Config.AppID is required (inbound authentication cannot be disabled by leaving it empty)")
	}
	if cfg.OpenIDMetadataURL == "" {
		cfg.OpenIDMetadataURL = DefaultOpenIDMetadataURL
	}
	if cfg.Issuer == "" {
		cfg.Issuer = DefaultIssuer
	}
	if cfg.ClockSkew < 0 {
		return nil, errors.New("auth: Config.ClockSkew must not be negative")
	}
	if cfg.ClockSkew == 0 {
		cfg.ClockSkew = DefaultClockSkew
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.KeyRefetchInterval < 0 || cfg.MetadataTTL < 0 || cfg.FetchTimeout < 0 {
		return nil, errors.New("auth: Config intervals must not be negative")
	}
	if cfg.KeyRefetchInterval == 0 {
		cfg.KeyRefetchInterval = DefaultKeyRefetchInterval
	}
	if cfg.MetadataTTL == 0 {
		cfg.MetadataTTL = DefaultMetadataTTL
	}
	if cfg.FetchTimeout == 0 {
		cfg.FetchTimeout = DefaultFetchTimeout
	}
	if err := jwks.CheckFetchURL(cfg.OpenIDMetadataURL); err != nil {
		return nil, fmt.Errorf("auth: Config.OpenIDMetadataURL: %w", err)
	}
	for _, h := range cfg.KeyHosts {
		if err := netutil.CheckHostPattern(h); err != nil {
			return nil, fmt.Errorf("auth: Config.KeyHosts: %w", err)
		}
	}
	keys, err := jwks.New(jwks.Config{
		MetadataURL: cfg.OpenIDMetadataURL, KeyHosts: cfg.KeyHosts, Now: cfg.Now,
		RefetchInterval: cfg.KeyRefetchInterval, TTL: cfg.MetadataTTL, FetchTimeout: cfg.FetchTimeout,
		Name: "bot auth",
	}, httpClient, logger)
	if err != nil {
		return nil, fmt.Errorf("auth: %w", err)
	}
	claimRules := []jwt.ParserOption{
		jwt.WithIssuer(cfg.Issuer),
		jwt.WithAudience(cfg.AppID),
		jwt.WithExpirationRequired(),
		jwt.WithLeeway(cfg.ClockSkew),
		jwt.WithTimeFunc(cfg.Now),
	}
	return &Validator{
		appID:  cfg.AppID,
		issuer: cfg.Issuer,
		skew:   cfg.ClockSkew,
		now:    cfg.Now,
		keys:   keys,
		parser: jwt.NewParser(append([]jwt.ParserOption{
			jwt.WithValidMethods([]string{jwt.SigningMethodRS256.Alg()}),
			jwt.WithStrictDecoding(),
		}, claimRules...)...),
		claims:   jwt.NewValidator(claimRules...),
		verified: newVerifiedTokens(),
	}, nil
}

// Authenticate checks the Authorization header of a request carrying act.
// It returns an error (never panics) for anything not provably valid; the
// error says what failed, for logs, and must not be sent to the caller.
func (v *Validator) Authenticate(ctx context.Context, authHeader string, act *schema.Activity) (Claims, error) {
	raw, err := jwks.BearerToken(authHeader)
	if err != nil {
		return Claims{}, err
	}
	if act == nil {
		return Claims{}, fmt.Errorf("%w: no activity", ErrInvalidToken)
	}
	if act.ServiceURL == "" {
		return Claims{}, fmt.Errorf("%w: activity has no serviceUrl", ErrInvalidToken)
	}
	if act.ChannelID == "" {
		return Claims{}, fmt.Errorf("%w: activity has no channelId", ErrInvalidToken)
	}

	// The channel sends the same token with many activities: one whose
	// signature and claims were checked for this channel is not checked
	// again while it is valid (see verifiedTokens), as long as its key is
	// still published and endorsed for the channel.
	id := tokenID(raw, act.ChannelID)
	out, ok := v.verified.get(id, v.now(), v.skew)
	if ok {
		if k, err := v.keys.Lookup(ctx, out.KeyID); err != nil || !k.Endorses(act.ChannelID) {
			v.verified.forget(id)
			ok = false // checked in full below, which gives the reason
		}
	}
	if !ok {
		var err error
		if out, err = v.verify(ctx, raw, act.ChannelID); err != nil {
			return Claims{}, err
		}
		v.verified.put(id, out, v.now())
	}
	if !sameServiceURL(out.ServiceURL, act.ServiceURL) {
		return Claims{}, fmt.Errorf("%w: serviceurl claim %q does not match activity serviceUrl %q",
			ErrInvalidToken, out.ServiceURL, act.ServiceURL)
	}
	return out, nil
}

// Known reports whether the token of an Authorization header was checked
// for channelID before and is still valid, so that Authenticate will take
// it without a signature check. It costs a digest and a map lookup.
func (v *Validator) Known(authHeader, channelID string) bool {
	raw, err := jwks.BearerToken(authHeader)
	if err != nil {
		return false
	}
	_, ok := v.verified.get(tokenID(raw, channelID), v.now(), v.skew)
	return ok
}

// Screen checks what can be checked of an Authorization header without the
// key set and the activity: its form, the algorithm, issuer, audience,
// expiry and not-before. An error means Authenticate would refuse the
// token too; nothing is accepted on Screen alone: the activity still goes
// through Authenticate.
func (v *Validator) Screen(authHeader string) error {
	raw, err := jwks.BearerToken(authHeader)
	if err != nil {
		return err
	}
	return v.checkClaims(raw)
}

// checkClaims checks raw's algorithm and registered claims, not its
// signature (decoded into a struct, which costs a forged token less than
// the map the full check uses).
func (v *Validator) checkClaims(raw string) error {
	unverified := &jwt.RegisteredClaims{}
	tok, _, err := v.parser.ParseUnverified(raw, unverified)
	if err != nil {
		return fmt.Errorf("%w: %w", ErrInvalidToken, err)
	}
	if alg := tok.Method.Alg(); alg != jwt.SigningMethodRS256.Alg() {
		return fmt.Errorf("%w: %w: signing method %s is invalid", ErrInvalidToken, jwt.ErrTokenSignatureInvalid, alg)
	}
	if err := v.claims.Validate(unverified); err != nil {
		return fmt.Errorf("%w: %w: %w", ErrInvalidToken, jwt.ErrTokenInvalidClaims, err)
	}
	return nil
}

// verify checks raw in full: signature (RS256, by a published key endorsed
// for channelID), issuer, audience, expiry and not-before with the clock
// skew, and the service URL claim's form. The claims' service URL is not
// compared with an activity's here.
func (v *Validator) verify(ctx context.Context, raw, channelID string) (Claims, error) {
	var kid string
	keyFunc := v.keys.KeyFunc(ctx, func(id string, k *jwks.Key) error {
		if !k.Endorses(channelID) {
			return fmt.Errorf("signing key %s is not endorsed for channel %q", jwks.QuoteKID(id), channelID)
		}
		return nil
	}, &kid)

	// The algorithm and the claims are checked before the signature, so
	// that a token of another algorithm, issuer or audience, or an expired
	// one, is refused without an RSA verification (the cost of a forged
	// token flood). Nothing is accepted on what is not yet verified: a token
	// that passes is then checked in full, signature first.
	if err := v.checkClaims(raw); err != nil {
		return Claims{}, err
	}

	claims := jwt.MapClaims{}
	if _, err := v.parser.ParseWithClaims(raw, claims, keyFunc); err != nil {
		return Claims{}, fmt.Errorf("%w: %w", ErrInvalidToken, err)
	}

	svc, err := serviceURLClaim(claims)
	if err != nil {
		return Claims{}, fmt.Errorf("%w: %w", ErrInvalidToken, err)
	}

	out := Claims{
		AppID:      v.appID,
		Issuer:     v.issuer,
		ServiceURL: svc,
		ChannelID:  channelID,
		KeyID:      kid,
	}
	if aud, err := claims.GetAudience(); err == nil {
		out.Audience = []string(aud)
	}
	if t, err := claims.GetExpirationTime(); err == nil && t != nil {
		out.ExpiresAt = t.Time
	}
	if t, err := claims.GetNotBefore(); err == nil && t != nil {
		out.NotBefore = t.Time
	}
	if t, err := claims.GetIssuedAt(); err == nil && t != nil {
		out.IssuedAt = t.Time
	}
	return out, nil
}

// serviceURLClaim returns the service URL claim. Channels send "serviceurl";
// "serviceUrl" is accepted too, but if both are present they must agree.
func serviceURLClaim(c jwt.MapClaims) (string, error) {
	var found []string
	for _, name := range []string{"serviceurl", "serviceUrl"} {
		raw, ok := c[name]
		if !ok {
			continue
		}
		s, ok := raw.(string)
		if !ok {
			return "", fmt.Errorf("claim %s is not a string", name)
		}
		found = append(found, s)
	}
	switch {
	case len(found) == 0 || found[0] == "":
		return "", errors.New("token has no serviceurl claim")
	case len(found) == 2 && found[0] != found[1]:
		return "", errors.New("token has conflicting serviceurl and serviceUrl claims")
	}
	return found[0], nil
}

// sameServiceURL compares exactly, ignoring one trailing slash on either side.
func sameServiceURL(a, b string) bool {
	return strings.TrimSuffix(a, "/") == strings.TrimSuffix(b, "/")
}

// Ready reports whether the channel's signing keys are loaded, fetching
// them when they are not (for a readiness probe): without them no activity
// can be authenticated.
func (v *Validator) Ready(ctx context.Context) error {
	if err := v.keys.Ready(ctx); err != nil {
		return fmt.Errorf("bot signing keys: %w", err)
	}
	return nil
}
