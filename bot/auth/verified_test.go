package auth_test

import (
	"context"
	"crypto/rand"
	"crypto/rsa"
	"testing"
	"time"

	"github.com/jitbot/jitbot/bot/auth"
	"github.com/jitbot/jitbot/bot/connectortest"
)

// TestCheckedTokenStillExpires: a token accepted before is accepted again
// with the same claims, and refused once it has expired (past the clock
// skew), although its signature was checked already.
func TestCheckedTokenStillExpires(t *testing.T) {
	// A small skew, so that the token expires well within the time a
	// checked token is remembered.
	f := newFixture(t, func(c *auth.Config) { c.ClockSkew = time.Second })
	now := f.clock.Now()
	header := "Bearer " + f.issuer.Token(testAppID, testServiceURL, connectortest.WithExpiresAt(now.Add(2*time.Minute)))
	first, err := f.auth(t, header, teamsActivity())
	if err != nil {
		t.Fatal(err)
	}
	again, err := f.auth(t, header, teamsActivity())
	if err != nil || again.KeyID != first.KeyID || !again.ExpiresAt.Equal(first.ExpiresAt) || again.ServiceURL != first.ServiceURL {
		t.Fatalf("second use: %+v, %v; first %+v", again, err, first)
	}
	f.clock.Advance(2*time.Minute - 2*time.Second)
	if _, err := f.auth(t, header, teamsActivity()); err != nil {
		t.Fatalf("third use, before expiry: %v", err)
	}
	f.clock.Advance(4 * time.Second)
	if _, err := f.auth(t, header, teamsActivity()); err == nil {
		t.Fatal("expired token accepted on its second use")
	}
}

// TestCheckedTokenNotYetValid: a token refused because it is not valid yet
// is not remembered: refused again, and accepted once it is valid.
func TestCheckedTokenNotYetValid(t *testing.T) {
	f := newFixture(t, nil)
	now := f.clock.Now()
	header := "Bearer " + f.issuer.Token(testAppID, testServiceURL, connectortest.WithNotBefore(now.Add(time.Hour)))
	for range 2 {
		if _, err := f.auth(t, header, teamsActivity()); err == nil {
			t.Fatal("token accepted before its not-before time")
		}
	}
	f.clock.Advance(time.Hour)
	if _, err := f.auth(t, header, teamsActivity()); err != nil {
		t.Fatalf("token refused once valid: %v", err)
	}
}

// TestCheckedTokenActivityChecks: what depends on the activity is checked
// on every use: the service URL must match the token's, and the key must
// be endorsed for the activity's channel.
func TestCheckedTokenActivityChecks(t *testing.T) {
	f := newFixture(t, nil, connectortest.WithEndorsements("msteams"))
	header := "Bearer " + f.issuer.Token(testAppID, testServiceURL)
	if _, err := f.auth(t, header, teamsActivity()); err != nil {
		t.Fatal(err)
	}
	other := teamsActivity()
	other.ServiceURL = "https://attacker.example.com/"
	if _, err := f.auth(t, header, other); err == nil {
		t.Error("a checked token accepted with another activity's service URL")
	}
	webchat := teamsActivity()
	webchat.ChannelID = "webchat"
	if _, err := f.auth(t, header, webchat); err == nil {
		t.Error("a checked token accepted for a channel its key is not endorsed for")
	}
	if _, err := f.auth(t, header, teamsActivity()); err != nil {
		t.Errorf("the same token on its own activity: %v", err)
	}
}

// TestCheckedTokenKeyWithdrawn: a token whose key is no longer published
// (the keys were fetched again since) is refused, although it was accepted
// a minute before.
func TestCheckedTokenKeyWithdrawn(t *testing.T) {
	f := newFixture(t, nil)
	old := "Bearer " + f.issuer.Token(testAppID, testServiceURL)
	if _, err := f.auth(t, old, teamsActivity()); err != nil {
		t.Fatal(err)
	}
	f.issuer.RotateKey(t, false)
	f.clock.Advance(2 * time.Minute) // past KeyRefetchInterval
	// A token of the new key makes the validator fetch the keys again.
	if _, err := f.auth(t, "Bearer "+f.issuer.Token(testAppID, testServiceURL), teamsActivity()); err != nil {
		t.Fatal(err)
	}
	if _, err := f.auth(t, old, teamsActivity()); err == nil {
		t.Fatal("a token of a withdrawn key accepted on its second use")
	}
}

// BenchmarkAuthenticate is the check of one activity with the token the
// channel sends with every activity (checked once in full, then
// remembered), against a new token each time.
func BenchmarkAuthenticate(b *testing.B) {
	clk := newClock()
	iss := connectortest.NewIssuer(b, connectortest.WithIssuerClock(clk.Now))
	v, err := auth.NewValidator(auth.Config{AppID: testAppID, OpenIDMetadataURL: iss.MetadataURL(), Now: clk.Now}, nil, nil)
	if err != nil {
		b.Fatal(err)
	}
	ctx := context.Background()
	b.Run("same token", func(b *testing.B) {
		header := "Bearer " + iss.Token(testAppID, testServiceURL)
		for b.Loop() {
			if _, err := v.Authenticate(ctx, header, teamsActivity()); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("new token", func(b *testing.B) {
		headers := make([]string, 2000)
		for i := range headers {
			headers[i] = "Bearer " + iss.Token(testAppID, testServiceURL, connectortest.WithClaim("jti", i))
		}
		i := 0
		for b.Loop() {
			if _, err := v.Authenticate(ctx, headers[i%len(headers)], teamsActivity()); err != nil {
				b.Fatal(err)
			}
			i++
		}
	})
}

// TestScreen: Known knows a token only once Authenticate has accepted it
// for the channel; Screen refuses the claims Authenticate would refuse, and
// lets a token with good claims but an unknown signature through to
// Authenticate, which refuses it (and it does not become known).
func TestScreen(t *testing.T) {
	f := newFixture(t, nil)
	header := "Bearer " + f.issuer.Token(testAppID, testServiceURL)
	if f.v.Known(header, "msteams") {
		t.Fatal("a token never checked is known")
	}
	if err := f.v.Screen(header); err != nil {
		t.Fatalf("a valid token screened out: %v", err)
	}
	if _, err := f.auth(t, header, teamsActivity()); err != nil {
		t.Fatal(err)
	}
	if !f.v.Known(header, "msteams") {
		t.Fatal("a checked token is not known")
	}
	if f.v.Known(header, "webchat") {
		t.Fatal("a token checked for msteams is known for another channel")
	}

	for name, opt := range map[string]connectortest.TokenOption{
		"expired":        connectortest.WithExpiresAt(f.clock.Now().Add(-time.Hour)),
		"other audience": connectortest.WithAudience("00000000-0000-4000-8000-000000000bad"),
		"other issuer":   connectortest.WithIssuer("https://forged.example.com"),
		"alg none":       connectortest.WithAlgNone(),
	} {
		if err := f.v.Screen("Bearer " + f.issuer.Token(testAppID, testServiceURL, opt)); err == nil {
			t.Errorf("%s: screened in", name)
		}
	}
	if err := f.v.Screen("Basic abc"); err == nil {
		t.Error("a header without a bearer token screened in")
	}
	if f.v.Known("Basic abc", "msteams") {
		t.Error("a header without a bearer token is known")
	}

	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	forged := "Bearer " + f.issuer.Token(testAppID, testServiceURL, connectortest.WithSigningKey(key), connectortest.WithKeyID(f.issuer.KeyID()))
	if err := f.v.Screen(forged); err != nil {
		t.Fatalf("good claims, unknown signature: %v; want it left to Authenticate", err)
	}
	if _, err := f.auth(t, forged, teamsActivity()); err == nil {
		t.Fatal("a token signed by an unpublished key was accepted")
	}
	if f.v.Known(forged, "msteams") {
		t.Fatal("a refused token became known")
	}
}

// BenchmarkScreenExpired is the cost of refusing an expired token before
// the activity's body is read (go test -run '^$' -bench BenchmarkScreen ./bot/auth/).
func BenchmarkScreenExpired(b *testing.B) {
	clk := newClock()
	iss := connectortest.NewIssuer(b, connectortest.WithIssuerClock(clk.Now))
	v, err := auth.NewValidator(auth.Config{AppID: testAppID, OpenIDMetadataURL: iss.MetadataURL(), Now: clk.Now}, nil, nil)
	if err != nil {
		b.Fatal(err)
	}
	header := "Bearer " + iss.Token(testAppID, testServiceURL, connectortest.WithExpiresAt(clk.Now().Add(-time.Hour)))
	for b.Loop() {
		if err := v.Screen(header); err == nil {
			b.Fatal("expired token screened in")
		}
	}
}
