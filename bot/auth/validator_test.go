package auth_test

import (
	"context"
	"crypto/rand"
	"crypto/rsa"
	"encoding/base64"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/infracloudio/msbotbuilder-go/schema"

	"github.com/jitbot/jitbot/bot/auth"
	"github.com/jitbot/jitbot/bot/connectortest"
)

const (
	testAppID      = "8f1c0a52-7d0e-4c1e-9b7a-1f2e3d4c5b6a"
	testServiceURL = "https://smba.trafficmanager.net/amer/"
)

// fakeClock is a settable clock shared by the issuer and the validator.
type fakeClock struct {
	mu sync.Mutex
	t  time.Time
}

func newClock() *fakeClock { return &fakeClock{t: time.Now().Truncate(time.Second)} }

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *fakeClock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

type fixture struct {
	clock  *fakeClock
	issuer *connectortest.Issuer
	v      *auth.Validator
}

func newFixture(t *testing.T, mod func(*auth.Config), opts ...connectortest.IssuerOption) *fixture {
	t.Helper()
	clk := newClock()
	iss := connectortest.NewIssuer(t, append([]connectortest.IssuerOption{connectortest.WithIssuerClock(clk.Now)}, opts...)...)
	cfg := auth.Config{
		AppID:              testAppID,
		OpenIDMetadataURL:  iss.MetadataURL(),
		Now:                clk.Now,
		KeyRefetchInterval: time.Minute,
	}
	if mod != nil {
		mod(&cfg)
	}
	v, err := auth.NewValidator(cfg, nil, nil)
	if err != nil {
		t.Fatalf("NewValidator: %v", err)
	}
	return &fixture{clock: clk, issuer: iss, v: v}
}

func teamsActivity() *schema.Activity {
	return &schema.Activity{Type: schema.Message, ServiceURL: testServiceURL, ChannelID: "msteams"}
}

func (f *fixture) auth(t *testing.T, header string, act *schema.Activity) (auth.Claims, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	return f.v.Authenticate(ctx, header, act)
}

func TestAuthenticateCases(t *testing.T) {
	f := newFixture(t, nil)
	now := f.clock.Now()
	otherKey := connectortest.NewRSAKey(t)
	tok := func(opts ...connectortest.TokenOption) string {
		return "Bearer " + f.issuer.Token(testAppID, testServiceURL, opts...)
	}
	type tc struct {
		name   string
		header string
		act    func(*schema.Activity)
		ok     bool
		errIs  error
	}
	cases := []tc{
		{name: "valid", header: tok(), ok: true},
		{name: "lower-case scheme", header: "bearer " + f.issuer.Token(testAppID, testServiceURL), ok: true},
		{name: "wrong signature (other key, same kid)", header: tok(connectortest.WithSigningKey(otherKey)), errIs: auth.ErrInvalidToken},
		{name: "alg none", header: tok(connectortest.WithAlgNone()), errIs: auth.ErrInvalidToken},
		{name: "HS256 keyed with public key DER", header: tok(connectortest.WithHS256(f.issuer.PublicKeyDER())), errIs: auth.ErrInvalidToken},
		{name: "HS256 keyed with modulus", header: tok(connectortest.WithHS256(f.issuer.PublicKey().N.Bytes())), errIs: auth.ErrInvalidToken},
		{name: "RS512", header: tok(connectortest.WithAlg("RS512")), errIs: auth.ErrInvalidToken},
		{name: "PS256", header: tok(connectortest.WithAlg("PS256")), errIs: auth.ErrInvalidToken},
		{name: "expired", header: tok(connectortest.WithExpiresAt(now.Add(-10 * time.Minute))), errIs: auth.ErrInvalidToken},
		{name: "expired within skew", header: tok(connectortest.WithExpiresAt(now.Add(-4 * time.Minute))), ok: true},
		{name: "nbf in future", header: tok(connectortest.WithNotBefore(now.Add(10 * time.Minute))), errIs: auth.ErrInvalidToken},
		{name: "nbf within skew", header: tok(connectortest.WithNotBefore(now.Add(4 * time.Minute))), ok: true},
		{name: "missing exp", header: tok(connectortest.WithoutClaim("exp")), errIs: auth.ErrInvalidToken},
		{name: "exp zero", header: tok(connectortest.WithClaim("exp", 0)), errIs: auth.ErrInvalidToken},
		{name: "exp string", header: tok(connectortest.WithClaim("exp", "tomorrow")), errIs: auth.ErrInvalidToken},
		{name: "nbf string", header: tok(connectortest.WithClaim("nbf", "now")), errIs: auth.ErrInvalidToken},
		{name: "wrong issuer", header: tok(connectortest.WithIssuer("https://sts.windows.net/x/")), errIs: auth.ErrInvalidToken},
		{name: "missing issuer", header: tok(connectortest.WithoutClaim("iss")), errIs: auth.ErrInvalidToken},
		{name: "issuer not a string", header: tok(connectortest.WithClaim("iss", 42)), errIs: auth.ErrInvalidToken},
		{name: "wrong audience", header: tok(connectortest.WithAudience("00000000-0000-0000-0000-000000000000")), errIs: auth.ErrInvalidToken},
		{name: "missing audience", header: tok(connectortest.WithoutClaim("aud")), errIs: auth.ErrInvalidToken},
		{name: "aud array with app", header: tok(connectortest.WithAudience([]string{"other", testAppID})), ok: true},
		{name: "aud array without app", header: tok(connectortest.WithAudience([]string{"other", "more"})), errIs: auth.ErrInvalidToken},
		{name: "aud empty array", header: tok(connectortest.WithAudience([]string{})), errIs: auth.ErrInvalidToken},
		{name: "aud number", header: tok(connectortest.WithAudience(7)), errIs: auth.ErrInvalidToken},
		{name: "aud array of mixed types", header: tok(connectortest.WithAudience([]any{testAppID, 7})), errIs: auth.ErrInvalidToken},
		{name: "aud object", header: tok(connectortest.WithAudience(map[string]any{"id": testAppID})), errIs: auth.ErrInvalidToken},
		{name: "missing serviceurl", header: tok(connectortest.WithoutClaim("serviceurl")), errIs: auth.ErrInvalidToken},
		{name: "serviceurl not a string", header: tok(connectortest.WithClaim("serviceurl", []string{testServiceURL})), errIs: auth.ErrInvalidToken},
		{name: "serviceurl empty", header: tok(connectortest.WithClaim("serviceurl", "")), errIs: auth.ErrInvalidToken},
		{name: "serviceurl mismatch", header: tok(connectortest.WithClaim("serviceurl", "https://evil.example/amer/")), errIs: auth.ErrInvalidToken},
		{name: "serviceurl differs in path", header: tok(connectortest.WithClaim("serviceurl", "https://smba.trafficmanager.net/emea/")), errIs: auth.ErrInvalidToken},
		{name: "serviceurl without trailing slash", header: tok(connectortest.WithClaim("serviceurl", strings.TrimSuffix(testServiceURL, "/"))), ok: true},
		{name: "serviceUrl camel case", header: tok(connectortest.WithoutClaim("serviceurl"), connectortest.WithClaim("serviceUrl", testServiceURL)), ok: true},
		{name: "serviceurl and serviceUrl conflict", header: tok(connectortest.WithClaim("serviceUrl", "https://evil.example/")), errIs: auth.ErrInvalidToken},
		{name: "activity serviceUrl mismatch", header: tok(), act: func(a *schema.Activity) { a.ServiceURL = "https://evil.example/amer/" }, errIs: auth.ErrInvalidToken},
		{name: "activity without serviceUrl", header: tok(), act: func(a *schema.Activity) { a.ServiceURL = "" }, errIs: auth.ErrInvalidToken},
		{name: "channel not endorsed", header: tok(), act: func(a *schema.Activity) { a.ChannelID = "webchat" }, errIs: auth.ErrInvalidToken},
		{name: "channel empty", header: tok(), act: func(a *schema.Activity) { a.ChannelID = "" }, errIs: auth.ErrInvalidToken},
		{name: "no kid", header: tok(connectortest.WithHeader("kid", nil)), errIs: auth.ErrInvalidToken},
		{name: "kid not a string", header: tok(connectortest.WithHeader("kid", 12)), errIs: auth.ErrInvalidToken},
		{name: "empty header", header: "", errIs: auth.ErrNoToken},
		{name: "blank header", header: "   ", errIs: auth.ErrNoToken},
		{name: "bearer without token", header: "Bearer ", errIs: auth.ErrNoToken},
		{name: "basic scheme", header: "Basic dXNlcjpwYXNz", errIs: auth.ErrNoToken},
		{name: "token without scheme", header: f.issuer.Token(testAppID, testServiceURL), errIs: auth.ErrNoToken},
		{name: "garbage", header: "Bearer not-a-jwt", errIs: auth.ErrInvalidToken},
		{name: "garbage three parts", header: "Bearer a.b.c", errIs: auth.ErrInvalidToken},
		{name: "two tokens", header: tok() + " " + f.issuer.Token(testAppID, testServiceURL), errIs: auth.ErrInvalidToken},
		{name: "padded base64", header: tok() + "==", errIs: auth.ErrInvalidToken},
		{name: "huge header", header: "Bearer " + strings.Repeat("A", auth.MaxAuthorizationHeaderBytes), errIs: auth.ErrInvalidToken},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			act := teamsActivity()
			if c.act != nil {
				c.act(act)
			}
			claims, err := f.auth(t, c.header, act)
			if c.ok {
				if err != nil {
					t.Fatalf("Authenticate: unexpected error: %v", err)
				}
				if claims.AppID != testAppID || claims.Issuer != auth.DefaultIssuer || claims.ChannelID != "msteams" ||
					claims.KeyID != f.issuer.KeyID() || claims.ServiceURL == "" || claims.ExpiresAt.IsZero() || claims.Local {
					t.Fatalf("unexpected claims: %+v", claims)
				}
				return
			}
			if err == nil {
				t.Fatalf("Authenticate accepted a bad request; claims %+v", claims)
			}
			t.Logf("%s: %v", c.name, err)
			if c.errIs != nil && !errors.Is(err, c.errIs) {
				t.Fatalf("error %v is not %v", err, c.errIs)
			}
			if claims.AppID != "" || claims.ServiceURL != "" || claims.KeyID != "" {
				t.Fatalf("claims returned with an error: %+v", claims)
			}
		})
	}
	if got := f.issuer.KeysRequests(); got != 1 {
		t.Errorf("keys fetched %d times for one key set, want 1", got)
	}
	if got := f.issuer.MetadataRequests(); got != 1 {
		t.Errorf("metadata fetched %d times, want 1", got)
	}
}

func TestAuthenticateClaimsContent(t *testing.T) {
	f := newFixture(t, nil)
	claims, err := f.auth(t, "Bearer "+f.issuer.Token(testAppID, testServiceURL,
		connectortest.WithAudience([]string{testAppID, "x"})), teamsActivity())
	if err != nil {
		t.Fatal(err)
	}
	if len(claims.Audience) != 2 || claims.Audience[0] != testAppID {
		t.Errorf("Audience = %v", claims.Audience)
	}
	if claims.ServiceURL != testServiceURL {
		t.Errorf("ServiceURL = %q", claims.ServiceURL)
	}
	if !claims.ExpiresAt.Equal(f.clock.Now().Add(time.Hour)) || claims.NotBefore.IsZero() || claims.IssuedAt.IsZero() {
		t.Errorf("times: %+v", claims)
	}
	if claims.Local || claims.Issuer != auth.DefaultIssuer || claims.AppID != testAppID {
		t.Errorf("claims %+v", claims)
	}
}

func TestEndorsementsPerChannel(t *testing.T) {
	f := newFixture(t, nil, connectortest.WithEndorsements("msteams", "webchat"))
	for _, ch := range []string{"msteams", "webchat"} {
		act := teamsActivity()
		act.ChannelID = ch
		if _, err := f.auth(t, "Bearer "+f.issuer.Token(testAppID, testServiceURL), act); err != nil {
			t.Errorf("channel %s: %v", ch, err)
		}
	}
	act := teamsActivity()
	act.ChannelID = "emulator"
	if _, err := f.auth(t, "Bearer "+f.issuer.Token(testAppID, testServiceURL), act); err == nil {
		t.Error("channel emulator accepted without endorsement")
	}
}

func TestKeyWithoutEndorsementsRejected(t *testing.T) {
	f := newFixture(t, nil, connectortest.WithEndorsements())
	if _, err := f.auth(t, "Bearer "+f.issuer.Token(testAppID, testServiceURL), teamsActivity()); err == nil {
		t.Fatal("token accepted although its key endorses no channel")
	}
}

func TestKeyRotationRefetch(t *testing.T) {
	f := newFixture(t, nil)
	if _, err := f.auth(t, "Bearer "+f.issuer.Token(testAppID, testServiceURL), teamsActivity()); err != nil {
		t.Fatal(err)
	}
	f.clock.Advance(2 * time.Minute) // past KeyRefetchInterval
	newKID := f.issuer.RotateKey(t, false)
	claims, err := f.auth(t, "Bearer "+f.issuer.Token(testAppID, testServiceURL), teamsActivity())
	if err != nil {
		t.Fatalf("token signed with rotated key rejected: %v", err)
	}
	if claims.KeyID != newKID {
		t.Errorf("KeyID = %q, want %q", claims.KeyID, newKID)
	}
	if got := f.issuer.KeysRequests(); got != 2 {
		t.Errorf("keys fetched %d times, want 2 (initial + one re-fetch)", got)
	}
	if got := f.issuer.MetadataRequests(); got != 2 {
		t.Errorf("metadata fetched %d times, want 2", got)
	}
}

func TestKeyRotationWithinIntervalIsRateLimited(t *testing.T) {
	f := newFixture(t, nil)
	if _, err := f.auth(t, "Bearer "+f.issuer.Token(testAppID, testServiceURL), teamsActivity()); err != nil {
		t.Fatal(err)
	}
	f.clock.Advance(30 * time.Second) // below KeyRefetchInterval (1 min)
	f.issuer.RotateKey(t, false)
	if _, err := f.auth(t, "Bearer "+f.issuer.Token(testAppID, testServiceURL), teamsActivity()); err == nil {
		t.Fatal("unknown kid accepted without a re-fetch")
	}
	if got := f.issuer.KeysRequests(); got != 1 {
		t.Fatalf("keys fetched %d times within the interval, want 1", got)
	}
	f.clock.Advance(31 * time.Second)
	if _, err := f.auth(t, "Bearer "+f.issuer.Token(testAppID, testServiceURL), teamsActivity()); err != nil {
		t.Fatalf("after the interval the rotated key must be fetched: %v", err)
	}
	if got := f.issuer.KeysRequests(); got != 2 {
		t.Fatalf("keys fetched %d times, want 2", got)
	}
}

func TestUnknownKidFloodIsRateLimited(t *testing.T) {
	f := newFixture(t, nil)
	valid := "Bearer " + f.issuer.Token(testAppID, testServiceURL)
	if _, err := f.auth(t, valid, teamsActivity()); err != nil {
		t.Fatal(err)
	}
	flood := func(round int) {
		var wg sync.WaitGroup
		for i := range 200 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				h := "Bearer " + f.issuer.Token(testAppID, testServiceURL, connectortest.WithKeyID(fmt.Sprintf("kid-%d-%d", round, i)))
				if _, err := f.v.Authenticate(context.Background(), h, teamsActivity()); err == nil {
					t.Errorf("unknown kid accepted")
				}
			}()
		}
		wg.Wait()
	}
	flood(0) // within the interval of the first fetch: no fetch at all
	if got := f.issuer.KeysRequests(); got != 1 {
		t.Fatalf("after flood within interval: %d key fetches, want 1", got)
	}
	for round := 1; round <= 3; round++ {
		f.clock.Advance(time.Minute)
		flood(round)
		if got, want := f.issuer.KeysRequests(), 1+round; got != want {
			t.Fatalf("round %d: %d key fetches, want %d (one per interval)", round, got, want)
		}
	}
	// The genuine key keeps working throughout.
	if _, err := f.auth(t, valid, teamsActivity()); err != nil {
		t.Fatalf("valid token after flood: %v", err)
	}
}

func TestConcurrentFirstUseSharesOneFetch(t *testing.T) {
	f := newFixture(t, nil)
	h := "Bearer " + f.issuer.Token(testAppID, testServiceURL)
	var wg sync.WaitGroup
	for range 50 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if _, err := f.v.Authenticate(context.Background(), h, teamsActivity()); err != nil {
				t.Errorf("Authenticate: %v", err)
			}
		}()
	}
	wg.Wait()
	if got := f.issuer.MetadataRequests(); got != 1 {
		t.Errorf("metadata fetched %d times by 50 concurrent first requests, want 1", got)
	}
}

func TestFetchFailureFailsClosedThenRecovers(t *testing.T) {
	f := newFixture(t, nil)
	f.issuer.FailNext(1)
	h := "Bearer " + f.issuer.Token(testAppID, testServiceURL)
	_, err := f.auth(t, h, teamsActivity())
	if !errors.Is(err, auth.ErrKeysUnavailable) || !errors.Is(err, auth.ErrInvalidToken) {
		t.Fatalf("want ErrKeysUnavailable, got %v", err)
	}
	// Immediately after a failure, no new fetch (back-off)...
	if _, err := f.auth(t, h, teamsActivity()); !errors.Is(err, auth.ErrKeysUnavailable) {
		t.Fatalf("want ErrKeysUnavailable during back-off, got %v", err)
	}
	if got := f.issuer.MetadataRequests(); got != 1 {
		t.Fatalf("metadata requests = %d, want 1", got)
	}
	// ...but the back-off without any keys is short (10 s at most).
	f.clock.Advance(11 * time.Second)
	if _, err := f.auth(t, h, teamsActivity()); err != nil {
		t.Fatalf("after back-off: %v", err)
	}
}

func TestStaleKeysRefreshedAndDroppedAfterTwiceTTL(t *testing.T) {
	f := newFixture(t, func(c *auth.Config) { c.MetadataTTL = time.Hour })
	fresh := func() string { return "Bearer " + f.issuer.Token(testAppID, testServiceURL) }
	if _, err := f.auth(t, fresh(), teamsActivity()); err != nil {
		t.Fatal(err)
	}
	// Past the TTL the issuer is down: the stale keys are still used and a
	// background refresh is attempted.
	f.issuer.FailNext(100)
	f.clock.Advance(61 * time.Minute)
	if _, err := f.auth(t, fresh(), teamsActivity()); err != nil {
		t.Fatalf("stale keys within 2×TTL must still verify: %v", err)
	}
	waitFor(t, func() bool { return f.issuer.MetadataRequests() >= 2 })
	// Past twice the TTL they are dropped: fail closed.
	f.clock.Advance(60 * time.Minute)
	if _, err := f.auth(t, fresh(), teamsActivity()); !errors.Is(err, auth.ErrKeysUnavailable) {
		t.Fatalf("keys older than 2×TTL must not be used, got %v", err)
	}
	// When the issuer is back, authentication recovers.
	f.issuer.FailNext(0)
	f.clock.Advance(2 * time.Minute)
	if _, err := f.auth(t, fresh(), teamsActivity()); err != nil {
		t.Fatalf("after recovery: %v", err)
	}
}

func TestBackgroundRefreshPicksUpNewKeys(t *testing.T) {
	f := newFixture(t, func(c *auth.Config) { c.MetadataTTL = time.Hour })
	if _, err := f.auth(t, "Bearer "+f.issuer.Token(testAppID, testServiceURL), teamsActivity()); err != nil {
		t.Fatal(err)
	}
	f.clock.Advance(61 * time.Minute)
	if _, err := f.auth(t, "Bearer "+f.issuer.Token(testAppID, testServiceURL), teamsActivity()); err != nil {
		t.Fatal(err)
	}
	waitFor(t, func() bool { return f.issuer.KeysRequests() == 2 })
}

func TestUnusableKeysAreSkipped(t *testing.T) {
	weak, err := rsa.GenerateKey(rand.Reader, 1024)
	if err != nil {
		t.Fatal(err)
	}
	f := newFixture(t, nil)
	b64 := base64.RawURLEncoding.EncodeToString
	f.issuer.AddRawKey(map[string]any{"kty": "RSA", "kid": "weak", "n": b64(weak.N.Bytes()), "e": "AQAB", "endorsements": []string{"msteams"}})
	f.issuer.AddRawKey(map[string]any{"kty": "EC", "kid": "ec", "crv": "P-256", "x": "AA", "y": "AA", "endorsements": []string{"msteams"}})
	f.issuer.AddRawKey(map[string]any{"kty": "RSA", "kid": "bad-n", "n": "!!", "e": "AQAB"})
	f.issuer.AddRawKey(map[string]any{"kty": "RSA", "kid": "even-e", "n": b64(f.issuer.PublicKey().N.Bytes()), "e": "Ag"})
	f.issuer.AddRawKey(map[string]any{"kty": "RSA", "kid": "enc", "use": "enc", "n": b64(f.issuer.PublicKey().N.Bytes()), "e": "AQAB"})
	f.issuer.AddRawKey(map[string]any{"kty": 5, "kid": []int{1}})
	h := "Bearer " + f.issuer.Token(testAppID, testServiceURL, connectortest.WithSigningKey(weak), connectortest.WithKeyID("weak"))
	if _, err := f.auth(t, h, teamsActivity()); err == nil {
		t.Fatal("token signed with a 1024-bit key accepted")
	}
	if _, err := f.auth(t, "Bearer "+f.issuer.Token(testAppID, testServiceURL), teamsActivity()); err != nil {
		t.Fatalf("good key must survive bad neighbours: %v", err)
	}
}

func TestMetadataValidation(t *testing.T) {
	cases := map[string]map[string]any{
		"no jwks_uri":         {"issuer": "x"},
		"http jwks_uri":       {"jwks_uri": "http://keys.example.com/keys"},
		"jwks_uri not a URL":  {"jwks_uri": "::::"},
		"jwks_uri wrong type": {"jwks_uri": 5},
		"ftp jwks_uri":        {"jwks_uri": "ftp://127.0.0.1/keys"},
	}
	for name, doc := range cases {
		t.Run(name, func(t *testing.T) {
			f := newFixture(t, nil)
			f.issuer.SetMetadata(doc)
			_, err := f.auth(t, "Bearer "+f.issuer.Token(testAppID, testServiceURL), teamsActivity())
			if !errors.Is(err, auth.ErrKeysUnavailable) {
				t.Fatalf("want ErrKeysUnavailable, got %v", err)
			}
		})
	}
}

func TestAuthenticateHonoursContext(t *testing.T) {
	// A metadata server that never answers until the test ends.
	block := make(chan struct{})
	srv := newBlockingServer(t, block)
	v, err := auth.NewValidator(auth.Config{AppID: testAppID, OpenIDMetadataURL: srv + "/meta"}, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	iss := connectortest.NewIssuer(t)
	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	start := time.Now()
	_, err = v.Authenticate(ctx, "Bearer "+iss.Token(testAppID, testServiceURL), teamsActivity())
	if err == nil || !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("want deadline exceeded, got %v", err)
	}
	if time.Since(start) > 5*time.Second {
		t.Fatal("Authenticate did not return when its context expired")
	}
	close(block)
}

func TestNewValidatorConfig(t *testing.T) {
	bad := map[string]auth.Config{
		"empty app id":        {},
		"blank app id":        {AppID: "  "},
		"http metadata":       {AppID: "a", OpenIDMetadataURL: "http://login.botframework.com/v1/.well-known/openidconfiguration"},
		"relative metadata":   {AppID: "a", OpenIDMetadataURL: "/v1/meta"},
		"negative skew":       {AppID: "a", ClockSkew: -time.Second},
		"negative interval":   {AppID: "a", KeyRefetchInterval: -time.Second},
		"negative ttl":        {AppID: "a", MetadataTTL: -time.Second},
		"unsupported scheme":  {AppID: "a", OpenIDMetadataURL: "file:///etc/passwd"},
		"negative fetch time": {AppID: "a", FetchTimeout: -1},
	}
	for name, cfg := range bad {
		if _, err := auth.NewValidator(cfg, nil, nil); err == nil {
			t.Errorf("%s: NewValidator accepted %+v", name, cfg)
		}
	}
	if _, err := auth.NewValidator(auth.Config{AppID: "a"}, nil, nil); err != nil {
		t.Errorf("defaults: %v", err)
	}
	if _, err := auth.NewValidator(auth.Config{AppID: "a", OpenIDMetadataURL: "http://127.0.0.1:1/x"}, http.DefaultClient, nil); err != nil {
		t.Errorf("loopback http metadata: %v", err)
	}
}

func TestNilActivity(t *testing.T) {
	f := newFixture(t, nil)
	if _, err := f.auth(t, "Bearer "+f.issuer.Token(testAppID, testServiceURL), nil); err == nil {
		t.Fatal("nil activity accepted")
	}
}

// waitFor polls cond for up to five seconds.
func waitFor(t *testing.T, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatal("condition not met within 5s")
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// newBlockingServer serves requests that hang until block is closed.
func newBlockingServer(t *testing.T, block <-chan struct{}) string {
	t.Helper()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-block:
		case <-r.Context().Done():
		}
		http.Error(w, "late", http.StatusServiceUnavailable)
	}))
	t.Cleanup(srv.Close)
	return srv.URL
}

func TestMetadataRedirectToInsecureURLRefused(t *testing.T) {
	redirector := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, "http://keys.example.com/meta", http.StatusFound)
	}))
	defer redirector.Close()
	v, err := auth.NewValidator(auth.Config{AppID: testAppID, OpenIDMetadataURL: redirector.URL + "/meta"}, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	iss := connectortest.NewIssuer(t)
	_, err = v.Authenticate(context.Background(), "Bearer "+iss.Token(testAppID, testServiceURL), teamsActivity())
	if !errors.Is(err, auth.ErrKeysUnavailable) || !strings.Contains(err.Error(), "must use https") {
		t.Fatalf("want refused redirect, got %v", err)
	}
}

// A forged token whose algorithm or claims are wrong is refused before any
// key is looked up or any signature verified: a flood of them costs no key
// fetch and no RSA verification. A genuine token is still checked in full.
func TestWrongClaimsRefusedBeforeTheSignature(t *testing.T) {
	f := newFixture(t, nil)
	now := f.clock.Now()
	forged := map[string]string{
		"another audience": f.issuer.Token("00000000-0000-0000-0000-000000000bad", testServiceURL),
		"another issuer":   f.issuer.Token(testAppID, testServiceURL, connectortest.WithIssuer("https://login.example.com")),
		"expired":          f.issuer.Token(testAppID, testServiceURL, connectortest.WithExpiresAt(now.Add(-time.Hour))),
		"no expiry":        f.issuer.Token(testAppID, testServiceURL, connectortest.WithoutClaim("exp")),
		"not yet valid":    f.issuer.Token(testAppID, testServiceURL, connectortest.WithNotBefore(now.Add(time.Hour))),
		"alg none":         f.issuer.Token(testAppID, testServiceURL, connectortest.WithAlgNone()),
		"HS256":            f.issuer.Token(testAppID, testServiceURL, connectortest.WithHS256(f.issuer.PublicKeyDER())),
		"RS512":            f.issuer.Token(testAppID, testServiceURL, connectortest.WithAlg("RS512")),
	}
	for name, tok := range forged {
		if _, err := f.auth(t, "Bearer "+tok, teamsActivity()); !errors.Is(err, auth.ErrInvalidToken) {
			t.Errorf("%s: err = %v, want ErrInvalidToken", name, err)
		}
	}
	if got := f.issuer.KeysRequests(); got != 0 {
		t.Fatalf("%d key fetches for tokens refused on their claims, want 0 (refused before the key lookup)", got)
	}
	if _, err := f.auth(t, "Bearer "+f.issuer.Token(testAppID, testServiceURL), teamsActivity()); err != nil {
		t.Fatalf("genuine token: %v", err)
	}
	if got := f.issuer.KeysRequests(); got != 1 {
		t.Fatalf("genuine token: %d key fetches, want 1", got)
	}
	// A token with the right claims but a wrong signature still fails on
	// the signature.
	bad := f.issuer.Token(testAppID, testServiceURL, connectortest.WithSigningKey(connectortest.NewRSAKey(t)))
	if _, err := f.auth(t, "Bearer "+bad, teamsActivity()); !errors.Is(err, auth.ErrInvalidToken) {
		t.Fatalf("wrong signature: err = %v, want ErrInvalidToken", err)
	}
}
