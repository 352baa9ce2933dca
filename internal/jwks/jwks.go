// Package jwks fetches and caches the RSA signing keys an OpenID provider
// publishes (its OpenID metadata's jwks_uri), for validating the tokens it
// signs: the Bot Framework channel's and Microsoft Entra ID's. Keys come only
// over https (http for loopback test servers), only from the metadata's host
// or configured key hosts, are refreshed after a TTL, re-fetched
// (rate-limited) on an unknown key id, and dropped when they cannot be
// refreshed for twice the TTL, so that validation fails closed.
package jwks

import (
	"context"
	"crypto/rsa"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math/big"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/jitbot/jitbot/internal/netutil"
)

// Defaults shared by the token validators.
const (
	// DefaultClockSkew is the leeway on exp and nbf (Microsoft's SDKs
	// allow five minutes).
	DefaultClockSkew = 5 * time.Minute
	// DefaultRefetchInterval, DefaultTTL and DefaultFetchTimeout are
	// [Config]'s usual values.
	DefaultRefetchInterval = 5 * time.Minute
	DefaultTTL             = 24 * time.Hour
	DefaultFetchTimeout    = 10 * time.Second
	// MaxAuthorizationHeaderBytes bounds the Authorization header parsed.
	MaxAuthorizationHeaderBytes = 16 << 10
)

// Errors of token validation, to be tested with errors.Is. Every one means
// "refuse the request".
var (
	// ErrKeysUnavailable: the signing keys could not be fetched, so no
	// token can be verified right now.
	ErrKeysUnavailable = errors.New("signing keys unavailable")
	// ErrNoToken: the Authorization header is missing, empty or not Bearer.
	ErrNoToken = errors.New("missing bearer token")
	// ErrInvalidToken: the token was present but failed a check.
	ErrInvalidToken = errors.New("invalid token")
)

// BearerToken extracts the token from an Authorization header value.
func BearerToken(h string) (string, error) {
	if len(h) > MaxAuthorizationHeaderBytes {
		return "", fmt.Errorf("%w: Authorization header longer than %d bytes", ErrInvalidToken, MaxAuthorizationHeaderBytes)
	}
	h = strings.TrimSpace(h)
	if h == "" {
		return "", fmt.Errorf("%w: no Authorization header", ErrNoToken)
	}
	const scheme = "bearer "
	if strings.EqualFold(h, strings.TrimSpace(scheme)) {
		return "", fmt.Errorf("%w: empty bearer token", ErrNoToken)
	}
	if len(h) < len(scheme) || !strings.EqualFold(h[:len(scheme)], scheme) {
		return "", fmt.Errorf("%w: Authorization scheme is not Bearer", ErrNoToken)
	}
	tok := strings.TrimSpace(h[len(scheme):])
	if tok == "" {
		return "", fmt.Errorf("%w: empty bearer token", ErrNoToken)
	}
	if strings.ContainsAny(tok, " \t\r\n") {
		return "", fmt.Errorf("%w: bearer token contains whitespace", ErrInvalidToken)
	}
	return tok, nil
}

// Config configures a [Cache]. Zero durations are errors; callers apply
// their defaults.
type Config struct {
	// MetadataURL is the OpenID metadata document; its jwks_uri names the
	// keys. It must be https (http only for loopback hosts, for tests).
	MetadataURL string
	// KeyHosts are the hosts the keys may come from besides the metadata's
	// own ("*.example.com" matches the sub-domains of example.com).
	KeyHosts []string
	// Now is the clock; nil means time.Now.
	Now func() time.Time
	// RefetchInterval is the least time between two fetches; TTL is how
	// long fetched keys are used before a refresh (they stay usable up to
	// twice the TTL while refreshing fails); FetchTimeout bounds one fetch.
	RefetchInterval time.Duration
	TTL             time.Duration
	FetchTimeout    time.Duration
	// Name prefixes the cache's log messages ("bot auth", ...).
	Name string
}

// New returns a cache for cfg. httpClient fetches the metadata and keys
// (nil: a client with a 30 s timeout; a copy is used that follows redirects
// only to https or loopback URLs on the allowed hosts); logger nil discards
// logs. Nothing is fetched until the first Lookup.
func New(cfg Config, httpClient *http.Client, logger *slog.Logger) (*Cache, error) {
	if err := CheckFetchURL(cfg.MetadataURL); err != nil {
		return nil, fmt.Errorf("metadata URL: %w", err)
	}
	for _, h := range cfg.KeyHosts {
		if err := netutil.CheckHostPattern(h); err != nil {
			return nil, fmt.Errorf("key hosts: %w", err)
		}
	}
	if cfg.RefetchInterval <= 0 || cfg.TTL <= 0 || cfg.FetchTimeout <= 0 {
		return nil, errors.New("refetch interval, TTL and fetch timeout must be positive")
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.Name == "" {
		cfg.Name = "jwks"
	}
	if httpClient == nil {
		httpClient = &http.Client{Timeout: 30 * time.Second}
	}
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	meta, _ := url.Parse(cfg.MetadataURL) // checked above
	c := &Cache{
		name:            cfg.Name,
		metadataURL:     cfg.MetadataURL,
		keyHosts:        append([]string{meta.Hostname()}, cfg.KeyHosts...),
		logger:          logger,
		now:             cfg.Now,
		refetchInterval: cfg.RefetchInterval,
		ttl:             cfg.TTL,
		fetchTimeout:    cfg.FetchTimeout,
	}
	// Keys must never arrive over a downgraded connection or from another
	// host: redirects are followed only to https (or loopback) URLs on the
	// metadata's host or a key host. (A copy, so the caller's client is
	// unchanged.)
	hc := *httpClient
	hc.CheckRedirect = func(req *http.Request, via []*http.Request) error {
		if len(via) >= 5 {
			return errors.New("too many redirects")
		}
		return c.checkKeysURL(req.URL.String())
	}
	c.client = &hc
	return c, nil
}

const (
	// maxDocumentBytes bounds the metadata and JWKS documents we read.
	maxDocumentBytes = 1 << 20
	// minRSABits and maxRSABits bound the signing keys we accept.
	minRSABits = 2048
	maxRSABits = 8192
	// failureRetryCap bounds the wait before retrying a failed fetch when no
	// usable key set is held (so an outage at start-up heals quickly).
	failureRetryCap = 10 * time.Second
)

// Key is one usable RS256 key from the JWKS.
type Key struct {
	ID     string
	Public *rsa.PublicKey
	// Endorsements are the Bot Framework channels the key signs for (empty
	// for other providers).
	Endorsements []string
}

// Endorses reports whether the key is endorsed for the channel.
func (k *Key) Endorses(channelID string) bool {
	return channelID != "" && slices.Contains(k.Endorsements, channelID)
}

// keySet is one successfully fetched JWKS.
type keySet struct {
	keys    map[string]*Key
	fetched time.Time
}

// fetchCall is one in-flight fetch that concurrent callers wait on.
type fetchCall struct {
	done chan struct{}
	err  error
}

// Cache holds the signing keys and rate-limits re-fetches. It is safe for
// concurrent use.
type Cache struct {
	name        string
	metadataURL string
	// keyHosts are the hosts the metadata and keys may come from: the
	// metadata URL's host and the configured key hosts (see
	// netutil.HostAllowed).
	keyHosts        []string
	client          *http.Client
	logger          *slog.Logger
	now             func() time.Time
	refetchInterval time.Duration
	ttl             time.Duration
	fetchTimeout    time.Duration

	mu          sync.Mutex
	set         *keySet
	lastAttempt time.Time
	inflight    *fetchCall
}

// KeyFunc is the jwt.Keyfunc of a token signed with one of the cache's
// keys: RS256 only, a kid required and known (an unknown one is fetched as
// Lookup does); check, when set, may still refuse the key. The kid of the
// key used is stored in *used.
func (c *Cache) KeyFunc(ctx context.Context, check func(kid string, k *Key) error, used *string) jwt.Keyfunc {
	return func(t *jwt.Token) (any, error) {
		if t.Method == nil || t.Method.Alg() != jwt.SigningMethodRS256.Alg() {
			return nil, errors.New("signing method is not RS256")
		}
		id, ok := t.Header["kid"].(string)
		if !ok || id == "" {
			return nil, errors.New("token has no kid")
		}
		k, err := c.Lookup(ctx, id)
		if err != nil {
			return nil, err
		}
		if check != nil {
			if err := check(id, k); err != nil {
				return nil, err
			}
		}
		*used = id
		return k.Public, nil
	}
}

// Lookup returns the key with the given kid. It fetches the metadata and keys
// when none are held, when they are older than the TTL, or when kid is
// unknown, but starts at most one fetch per refetch interval; concurrent
// callers share the fetch in flight.
func (c *Cache) Lookup(ctx context.Context, kid string) (*Key, error) {
	for waited := false; ; waited = true {
		c.mu.Lock()
		now := c.now()
		set := c.set
		// Keys are used up to twice their TTL when a refresh keeps failing;
		// past that, they are dropped and validation fails closed.
		if set != nil && now.Sub(set.fetched) >= 2*c.ttl {
			set = nil
		}
		if set != nil {
			if k, ok := set.keys[kid]; ok {
				if now.Sub(set.fetched) >= c.ttl && c.inflight == nil && c.mayFetchLocked(now, true) {
					c.startFetchLocked(ctx, now) // refresh in the background
				}
				c.mu.Unlock()
				return k, nil
			}
		}
		if waited {
			c.mu.Unlock()
			if set == nil {
				return nil, fmt.Errorf("%w: no signing keys available", ErrKeysUnavailable)
			}
			return nil, fmt.Errorf("signing key %s not found in the published keys", QuoteKID(kid))
		}
		call := c.inflight
		if call == nil {
			if !c.mayFetchLocked(now, set != nil) {
				c.mu.Unlock()
				if set == nil {
					return nil, fmt.Errorf("%w: fetch failed recently, next attempt after back-off", ErrKeysUnavailable)
				}
				return nil, fmt.Errorf("signing key %s not found and keys were fetched less than %s ago", QuoteKID(kid), c.refetchInterval)
			}
			call = c.startFetchLocked(ctx, now)
		}
		c.mu.Unlock()

		select {
		case <-call.done:
		case <-ctx.Done():
			return nil, fmt.Errorf("waiting for signing keys: %w", ctx.Err())
		}
		if call.err != nil {
			// The key was not in the set held before the fetch (or we would
			// have returned it), so the failure is the answer.
			return nil, fmt.Errorf("%w: %w", ErrKeysUnavailable, call.err)
		}
	}
}

// mayFetchLocked reports whether a new fetch may start now. With a usable
// key set, fetches are spaced by the refetch interval; without one, by the
// smaller of that and failureRetryCap.
func (c *Cache) mayFetchLocked(now time.Time, haveSet bool) bool {
	if c.lastAttempt.IsZero() {
		return true
	}
	wait := c.refetchInterval
	if !haveSet {
		wait = min(wait, failureRetryCap)
	}
	elapsed := now.Sub(c.lastAttempt)
	return elapsed >= wait || elapsed < 0
}

func (c *Cache) startFetchLocked(ctx context.Context, now time.Time) *fetchCall {
	call := &fetchCall{done: make(chan struct{})}
	c.inflight = call
	c.lastAttempt = now
	// The fetch outlives the caller that started it (others may be waiting
	// on it), so it only inherits the caller's values, not its cancellation.
	fctx := context.WithoutCancel(ctx)
	go func() {
		set, err := c.fetchGuarded(fctx)
		c.mu.Lock()
		if err == nil {
			c.set = set
		}
		call.err = err
		c.inflight = nil
		c.mu.Unlock()
		close(call.done)
		if err != nil {
			c.logger.LogAttrs(fctx, slog.LevelWarn, c.name+": fetching signing keys failed",
				slog.String("metadata_url", c.metadataURL), slog.Any("err", err))
		} else {
			c.logger.LogAttrs(fctx, slog.LevelInfo, c.name+": signing keys fetched",
				slog.Int("keys", len(set.keys)))
		}
	}()
	return call
}

// fetchGuarded runs fetch and turns an unexpected panic into an error so a
// bug in parsing can never take the process down or leave waiters hanging.
func (c *Cache) fetchGuarded(ctx context.Context) (set *keySet, err error) {
	defer func() {
		if r := recover(); r != nil {
			set, err = nil, fmt.Errorf("internal error while fetching keys: %v", r)
		}
	}()
	ctx, cancel := context.WithTimeout(ctx, c.fetchTimeout)
	defer cancel()
	return c.fetch(ctx)
}

type openIDMetadata struct {
	JWKSURI string `json:"jwks_uri"`
}

type jwksDocument struct {
	Keys []json.RawMessage `json:"keys"`
}

type jwkEntry struct {
	Kty          string   `json:"kty"`
	Use          string   `json:"use"`
	Alg          string   `json:"alg"`
	Kid          string   `json:"kid"`
	N            string   `json:"n"`
	E            string   `json:"e"`
	Endorsements []string `json:"endorsements"`
}

func (c *Cache) fetch(ctx context.Context) (*keySet, error) {
	var meta openIDMetadata
	if err := c.getJSON(ctx, c.metadataURL, &meta); err != nil {
		return nil, fmt.Errorf("openid metadata: %w", err)
	}
	if meta.JWKSURI == "" {
		return nil, errors.New("openid metadata has no jwks_uri")
	}
	if err := c.checkKeysURL(meta.JWKSURI); err != nil {
		return nil, fmt.Errorf("openid metadata jwks_uri: %w", err)
	}
	var doc jwksDocument
	if err := c.getJSON(ctx, meta.JWKSURI, &doc); err != nil {
		return nil, fmt.Errorf("jwks: %w", err)
	}
	set := &keySet{keys: make(map[string]*Key, len(doc.Keys))}
	for idx, raw := range doc.Keys {
		k, err := parseJWK(raw)
		if err != nil {
			c.logger.LogAttrs(ctx, slog.LevelDebug, c.name+": skipping unusable JWK",
				slog.Int("index", idx), slog.Any("err", err))
			continue
		}
		if _, dup := set.keys[k.ID]; dup {
			c.logger.LogAttrs(ctx, slog.LevelWarn, c.name+": duplicate kid in JWKS, keeping the first",
				slog.String("kid", k.ID))
			continue
		}
		set.keys[k.ID] = k
	}
	if len(set.keys) == 0 {
		return nil, errors.New("jwks contains no usable RS256 keys")
	}
	set.fetched = c.now()
	return set, nil
}

func (c *Cache) getJSON(ctx context.Context, rawURL string, v any) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, rawURL, nil)
	if err != nil {
		return fmt.Errorf("build request: %w", err)
	}
	req.Header.Set("Accept", "application/json")
	resp, err := c.client.Do(req)
	if err != nil {
		return fmt.Errorf("GET %s: %w", rawURL, err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, maxDocumentBytes+1))
	if err != nil {
		return fmt.Errorf("GET %s: read body: %w", rawURL, err)
	}
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("GET %s: unexpected status %d", rawURL, resp.StatusCode)
	}
	if len(body) > maxDocumentBytes {
		return fmt.Errorf("GET %s: document larger than %d bytes", rawURL, maxDocumentBytes)
	}
	if err := json.Unmarshal(body, v); err != nil {
		return fmt.Errorf("GET %s: decode JSON: %w", rawURL, err)
	}
	return nil
}

func parseJWK(raw json.RawMessage) (*Key, error) {
	var e jwkEntry
	if err := json.Unmarshal(raw, &e); err != nil {
		return nil, fmt.Errorf("decode: %w", err)
	}
	if e.Kid == "" {
		return nil, errors.New("no kid")
	}
	if e.Kty != "RSA" {
		return nil, fmt.Errorf("kty %q is not RSA", e.Kty)
	}
	if e.Use != "" && e.Use != "sig" {
		return nil, fmt.Errorf("use %q is not sig", e.Use)
	}
	if e.Alg != "" && e.Alg != "RS256" {
		return nil, fmt.Errorf("alg %q is not RS256", e.Alg)
	}
	nb, err := base64.RawURLEncoding.DecodeString(strings.TrimRight(e.N, "="))
	if err != nil {
		return nil, fmt.Errorf("modulus: %w", err)
	}
	eb, err := base64.RawURLEncoding.DecodeString(strings.TrimRight(e.E, "="))
	if err != nil {
		return nil, fmt.Errorf("exponent: %w", err)
	}
	n := new(big.Int).SetBytes(nb)
	if bits := n.BitLen(); bits < minRSABits || bits > maxRSABits {
		return nil, fmt.Errorf("modulus has %d bits", bits)
	}
	if len(eb) == 0 || len(eb) > 4 {
		return nil, fmt.Errorf("exponent has %d bytes", len(eb))
	}
	exp := 0
	for _, b := range eb {
		exp = exp<<8 | int(b)
	}
	if exp < 3 || exp%2 == 0 || exp > 1<<31-1 {
		return nil, fmt.Errorf("exponent %d is not acceptable", exp)
	}
	return &Key{
		ID:           e.Kid,
		Public:       &rsa.PublicKey{N: n, E: exp},
		Endorsements: e.Endorsements,
	}, nil
}

// CheckFetchURL accepts https URLs, and http URLs only for loopback hosts
// (local test servers).
func CheckFetchURL(raw string) error {
	u, err := url.Parse(raw)
	if err != nil {
		return fmt.Errorf("parse %q: %w", raw, err)
	}
	if u.Host == "" {
		return fmt.Errorf("%q has no host", raw)
	}
	switch u.Scheme {
	case "https":
		return nil
	case "http":
		if netutil.IsLoopback(u.Hostname()) {
			return nil
		}
		return fmt.Errorf("%q must use https", raw)
	default:
		return fmt.Errorf("%q has unsupported scheme %q", raw, u.Scheme)
	}
}

// checkKeysURL accepts what checkFetchURL accepts on the metadata's own
// host or one of keyHosts: keys named by a tampered or misdirected metadata
// document are never fetched from anywhere else.
func (c *Cache) checkKeysURL(raw string) error {
	if err := CheckFetchURL(raw); err != nil {
		return err
	}
	if err := netutil.URLHostAllowed(raw, c.keyHosts, false); err != nil {
		return fmt.Errorf("%w (the OpenID metadata's host and the signing key hosts)", err)
	}
	return nil
}

// QuoteKID renders an untrusted kid for error messages, bounded in length.
func QuoteKID(kid string) string {
	const max = 64
	if len(kid) > max {
		kid = kid[:max] + "..."
	}
	return fmt.Sprintf("%q", kid)
}

// Ready reports whether the cache holds usable keys. Without them it
// fetches them (spaced like Lookup's fetches) and waits for the answer.
func (c *Cache) Ready(ctx context.Context) error {
	if c.usable() {
		return nil
	}
	// No kid is empty: the lookup fetches when no keys are held.
	_, err := c.Lookup(ctx, "")
	if c.usable() {
		return nil
	}
	if err == nil {
		err = fmt.Errorf("%w: no signing keys available", ErrKeysUnavailable)
	}
	return err
}

// usable reports whether the cache holds keys Lookup would still use.
func (c *Cache) usable() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.set != nil && len(c.set.keys) > 0 && c.now().Sub(c.set.fetched) < 2*c.ttl
}
