package connectortest

import (
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
)

// BotFrameworkIssuer is the "iss" claim of tokens the Bot Framework channels
// send to a bot. Tokens minted by [Issuer] carry it unless told otherwise.
const BotFrameworkIssuer = "https://api.botframework.com"

// Paths served by [Issuer].
const (
	IssuerMetadataPath = "/v1/.well-known/openidconfiguration"
	IssuerKeysPath     = "/v1/.well-known/keys"
)

// NewRSAKey returns a fresh 2048-bit RSA key, failing the test on error.
func NewRSAKey(t testing.TB) *rsa.PrivateKey {
	t.Helper()
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatalf("connectortest: generate RSA key: %v", err)
	}
	return key
}

// Issuer is a fake of the Bot Framework channel's token signing side. It
// serves an OpenID metadata document whose jwks_uri points at a JWKS that
// publishes its keys with "endorsements", and it mints tokens signed with
// those keys. It counts the requests made to both documents so tests can
// assert caching and re-fetch limits.
type Issuer struct {
	srv *httptest.Server

	mu         sync.Mutex
	current    issuerKey   // key used by Token by default
	published  []issuerKey // keys listed in the JWKS
	clock      func() time.Time
	failNext   int // metadata/JWKS requests left to answer with 500
	metaHits   int
	keysHits   int
	extraKeys  []map[string]any // raw additional JWKS entries
	customMeta map[string]any   // replaces the metadata document when set
}

type issuerKey struct {
	kid          string
	key          *rsa.PrivateKey
	endorsements []string
}

// IssuerOption configures [NewIssuer].
type IssuerOption func(*issuerConfig)

type issuerConfig struct {
	endorsements []string
	clock        func() time.Time
	key          *rsa.PrivateKey
}

// WithEndorsements sets the channels the issuer's keys are endorsed for
// (default "msteams").
func WithEndorsements(channels ...string) IssuerOption {
	return func(c *issuerConfig) { c.endorsements = append([]string(nil), channels...) }
}

// WithIssuerClock sets the clock used for the default iat/nbf/exp claims.
func WithIssuerClock(now func() time.Time) IssuerOption {
	return func(c *issuerConfig) { c.clock = now }
}

// WithIssuerKey makes the issuer sign with key instead of generating one.
func WithIssuerKey(key *rsa.PrivateKey) IssuerOption {
	return func(c *issuerConfig) { c.key = key }
}

// NewIssuer starts a fake token issuer that is closed when the test ends.
func NewIssuer(t testing.TB, opts ...IssuerOption) *Issuer {
	t.Helper()
	cfg := issuerConfig{endorsements: []string{"msteams"}, clock: time.Now}
	for _, o := range opts {
		o(&cfg)
	}
	if cfg.key == nil {
		cfg.key = NewRSAKey(t)
	}
	k := issuerKey{kid: keyID(&cfg.key.PublicKey), key: cfg.key, endorsements: cfg.endorsements}
	iss := &Issuer{current: k, published: []issuerKey{k}, clock: cfg.clock}
	mux := http.NewServeMux()
	mux.HandleFunc("GET "+IssuerMetadataPath, iss.serveMetadata)
	mux.HandleFunc("GET "+IssuerKeysPath, iss.serveKeys)
	iss.srv = httptest.NewServer(mux)
	t.Cleanup(iss.srv.Close)
	return iss
}

// keyID derives a stable kid from the public key, as real issuers do.
func keyID(pub *rsa.PublicKey) string {
	der, err := x509.MarshalPKIXPublicKey(pub)
	if err != nil {
		panic("connectortest: marshal public key: " + err.Error())
	}
	sum := sha256.Sum256(der)
	return hex.EncodeToString(sum[:12])
}

// URL is the base URL of the issuer's server.
func (i *Issuer) URL() string { return i.srv.URL }

// MetadataURL is the OpenID metadata URL to configure the validator with.
func (i *Issuer) MetadataURL() string { return i.srv.URL + IssuerMetadataPath }

// KeysURL is the JWKS URL announced in the metadata document.
func (i *Issuer) KeysURL() string { return i.srv.URL + IssuerKeysPath }

// KeyID is the kid of the key tokens are signed with by default.
func (i *Issuer) KeyID() string {
	i.mu.Lock()
	defer i.mu.Unlock()
	return i.current.kid
}

// PublicKey is the public half of the current signing key.
func (i *Issuer) PublicKey() *rsa.PublicKey {
	i.mu.Lock()
	defer i.mu.Unlock()
	return &i.current.key.PublicKey
}

// RotateKey generates a new signing key, publishes it and makes it the
// default for Token. The previous keys stay published when keepOld is true.
// It returns the new kid.
func (i *Issuer) RotateKey(t testing.TB, keepOld bool) string {
	t.Helper()
	key := NewRSAKey(t)
	i.mu.Lock()
	defer i.mu.Unlock()
	k := issuerKey{kid: keyID(&key.PublicKey), key: key, endorsements: i.current.endorsements}
	if keepOld {
		i.published = append(i.published, k)
	} else {
		i.published = []issuerKey{k}
	}
	i.current = k
	return k.kid
}

// AddKey generates a new signing key endorsed for channels and publishes it
// next to the others, without making it the default. The returned option
// signs a token with it (its kid in the header).
func (i *Issuer) AddKey(t testing.TB, channels ...string) TokenOption {
	t.Helper()
	key := NewRSAKey(t)
	k := issuerKey{kid: keyID(&key.PublicKey), key: key, endorsements: append([]string(nil), channels...)}
	i.mu.Lock()
	i.published = append(i.published, k)
	i.mu.Unlock()
	return func(s *tokenSpec) {
		s.rsaKey = k.key
		s.header["kid"], s.header["x5t"] = k.kid, k.kid
	}
}

// AddRawKey publishes an additional, arbitrary JWKS entry (for tests of
// malformed or unusual keys).
func (i *Issuer) AddRawKey(jwk map[string]any) {
	i.mu.Lock()
	defer i.mu.Unlock()
	i.extraKeys = append(i.extraKeys, jwk)
}

// SetMetadata replaces the metadata document (nil restores the default).
func (i *Issuer) SetMetadata(doc map[string]any) {
	i.mu.Lock()
	defer i.mu.Unlock()
	i.customMeta = doc
}

// FailNext makes the next n requests to the metadata or JWKS documents fail
// with 500.
func (i *Issuer) FailNext(n int) {
	i.mu.Lock()
	defer i.mu.Unlock()
	i.failNext = n
}

// MetadataRequests is how many times the metadata document was requested.
func (i *Issuer) MetadataRequests() int {
	i.mu.Lock()
	defer i.mu.Unlock()
	return i.metaHits
}

// KeysRequests is how many times the JWKS was requested.
func (i *Issuer) KeysRequests() int {
	i.mu.Lock()
	defer i.mu.Unlock()
	return i.keysHits
}

func (i *Issuer) takeFailure() bool {
	if i.failNext > 0 {
		i.failNext--
		return true
	}
	return false
}

func (i *Issuer) serveMetadata(w http.ResponseWriter, _ *http.Request) {
	i.mu.Lock()
	i.metaHits++
	fail := i.takeFailure()
	doc := i.customMeta
	i.mu.Unlock()
	if fail {
		http.Error(w, `{"error":"injected failure"}`, http.StatusInternalServerError)
		return
	}
	if doc == nil {
		doc = map[string]any{
			"issuer":                                BotFrameworkIssuer,
			"authorization_endpoint":                "https://invalid.botframework.com",
			"jwks_uri":                              i.KeysURL(),
			"id_token_signing_alg_values_supported": []string{"RS256"},
			"token_endpoint_auth_methods_supported": []string{"private_key_jwt"},
		}
	}
	writeJSON(w, http.StatusOK, doc)
}

func (i *Issuer) serveKeys(w http.ResponseWriter, _ *http.Request) {
	i.mu.Lock()
	i.keysHits++
	fail := i.takeFailure()
	keys := make([]any, 0, len(i.published)+len(i.extraKeys))
	for _, k := range i.published {
		keys = append(keys, publicJWK(k))
	}
	for _, k := range i.extraKeys {
		keys = append(keys, k)
	}
	i.mu.Unlock()
	if fail {
		http.Error(w, `{"error":"injected failure"}`, http.StatusInternalServerError)
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"keys": keys})
}

func publicJWK(k issuerKey) map[string]any {
	pub := &k.key.PublicKey
	der, err := x509.MarshalPKIXPublicKey(pub)
	if err != nil {
		panic("connectortest: marshal public key: " + err.Error())
	}
	thumb := sha256.Sum256(der)
	e := big32(pub.E)
	return map[string]any{
		"kty":          "RSA",
		"use":          "sig",
		"kid":          k.kid,
		"x5t":          base64.RawURLEncoding.EncodeToString(thumb[:20]),
		"n":            base64.RawURLEncoding.EncodeToString(pub.N.Bytes()),
		"e":            base64.RawURLEncoding.EncodeToString(e),
		"endorsements": append([]string{}, k.endorsements...),
	}
}

// big32 encodes a public exponent as big-endian bytes without leading zeros.
func big32(e int) []byte {
	var b []byte
	for v := uint32(e); v > 0; v >>= 8 {
		b = append([]byte{byte(v)}, b...)
	}
	return b
}

// TokenOption changes a token minted by [Issuer.Token].
type TokenOption func(*tokenSpec)

type tokenSpec struct {
	claims  map[string]any
	header  map[string]any
	method  string // "RS256" (default), "none", "HS256", or another RSA alg
	rsaKey  *rsa.PrivateKey
	hmacKey []byte
}

// WithClaim sets (or overrides) a claim.
func WithClaim(name string, value any) TokenOption {
	return func(s *tokenSpec) { s.claims[name] = value }
}

// WithoutClaim removes a claim (for example "exp" or "serviceurl").
func WithoutClaim(name string) TokenOption {
	return func(s *tokenSpec) { delete(s.claims, name) }
}

// WithHeader sets (or, with a nil value, removes) a JOSE header field.
func WithHeader(name string, value any) TokenOption {
	return func(s *tokenSpec) {
		if value == nil {
			delete(s.header, name)
			return
		}
		s.header[name] = value
	}
}

// WithKeyID sets the "kid" header.
func WithKeyID(kid string) TokenOption { return WithHeader("kid", kid) }

// WithExpiresAt sets the "exp" claim.
func WithExpiresAt(t time.Time) TokenOption { return WithClaim("exp", t.Unix()) }

// WithNotBefore sets the "nbf" claim.
func WithNotBefore(t time.Time) TokenOption { return WithClaim("nbf", t.Unix()) }

// WithIssuer sets the "iss" claim.
func WithIssuer(iss string) TokenOption { return WithClaim("iss", iss) }

// WithAudience sets the "aud" claim: a string or a []string.
func WithAudience(aud any) TokenOption { return WithClaim("aud", aud) }

// WithSigningKey signs the token with key (keeping the issuer's kid), which
// yields a token whose signature does not verify unless key is published.
func WithSigningKey(key *rsa.PrivateKey) TokenOption {
	return func(s *tokenSpec) { s.rsaKey = key }
}

// WithAlgNone produces an unsigned token with "alg":"none".
func WithAlgNone() TokenOption {
	return func(s *tokenSpec) { s.method = "none" }
}

// WithAlg signs with the issuer's RSA key using another RSA algorithm
// ("RS384", "RS512", "PS256", ...), which a strict RS256-only validator
// must reject.
func WithAlg(alg string) TokenOption {
	return func(s *tokenSpec) { s.method = alg }
}

// WithHS256 signs the token with HMAC-SHA256 keyed with secret (for the
// classic attack: secret = the issuer's public key bytes).
func WithHS256(secret []byte) TokenOption {
	return func(s *tokenSpec) { s.method = "HS256"; s.hmacKey = secret }
}

// Token mints a channel-to-bot token for appID whose "serviceurl" claim is
// serviceURL (omitted when empty). By default it is signed with RS256 by the
// current key, has iss = [BotFrameworkIssuer], nbf/iat a minute in the past
// and exp an hour in the future. Options adjust or break it.
func (i *Issuer) Token(appID, serviceURL string, opts ...TokenOption) string {
	i.mu.Lock()
	now := i.clock()
	cur := i.current
	i.mu.Unlock()

	s := tokenSpec{
		claims: map[string]any{
			"iss": BotFrameworkIssuer,
			"aud": appID,
			"nbf": now.Add(-time.Minute).Unix(),
			"iat": now.Add(-time.Minute).Unix(),
			"exp": now.Add(time.Hour).Unix(),
		},
		header: map[string]any{"kid": cur.kid, "x5t": cur.kid},
		method: "RS256",
		rsaKey: cur.key,
	}
	if serviceURL != "" {
		s.claims["serviceurl"] = serviceURL
	}
	for _, o := range opts {
		o(&s)
	}

	var method jwt.SigningMethod
	var key any
	switch s.method {
	case "none":
		method, key = jwt.SigningMethodNone, jwt.UnsafeAllowNoneSignatureType
	case "HS256":
		method, key = jwt.SigningMethodHS256, s.hmacKey
	default:
		method, key = jwt.GetSigningMethod(s.method), s.rsaKey
		if method == nil {
			panic("connectortest: unknown signing method " + s.method)
		}
	}
	tok := jwt.NewWithClaims(method, jwt.MapClaims(s.claims))
	for k, v := range s.header {
		tok.Header[k] = v
	}
	signed, err := tok.SignedString(key)
	if err != nil {
		panic("connectortest: sign token: " + err.Error())
	}
	return signed
}

// PublicKeyDER is the DER (PKIX) encoding of the current public key, the
// byte string an HS256 key-confusion attack would use as its HMAC secret.
func (i *Issuer) PublicKeyDER() []byte {
	der, err := x509.MarshalPKIXPublicKey(i.PublicKey())
	if err != nil {
		panic("connectortest: marshal public key: " + err.Error())
	}
	return der
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	body, err := json.Marshal(v)
	if err != nil {
		http.Error(w, err.Error(), http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.WriteHeader(status)
	_, _ = w.Write(body)
}
