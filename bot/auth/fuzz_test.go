package auth_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/infracloudio/msbotbuilder-go/schema"

	"github.com/jitbot/jitbot/bot/auth"
	"github.com/jitbot/jitbot/bot/connectortest"
)

// FuzzAuthenticate feeds arbitrary headers, service URLs and channel ids to
// the validator. It must never panic, and it may accept a request only when
// every accepted field matches what the request carried.
func FuzzAuthenticate(f *testing.F) {
	iss := connectortest.NewIssuer(f)
	v, err := auth.NewValidator(auth.Config{AppID: testAppID, OpenIDMetadataURL: iss.MetadataURL()}, nil, nil)
	if err != nil {
		f.Fatal(err)
	}
	other := connectortest.NewRSAKey(f)
	valid := iss.Token(testAppID, testServiceURL)
	seeds := []string{
		"Bearer " + valid,
		"bearer " + valid,
		"Bearer " + iss.Token(testAppID, testServiceURL, connectortest.WithAudience([]string{"x", testAppID})),
		"Bearer " + iss.Token(testAppID, testServiceURL, connectortest.WithAudience(12)),
		"Bearer " + iss.Token(testAppID, testServiceURL, connectortest.WithAudience([]any{1, nil, map[string]any{}})),
		"Bearer " + iss.Token(testAppID, testServiceURL, connectortest.WithoutClaim("exp")),
		"Bearer " + iss.Token(testAppID, testServiceURL, connectortest.WithClaim("exp", "x")),
		"Bearer " + iss.Token(testAppID, testServiceURL, connectortest.WithClaim("exp", 1e300)),
		"Bearer " + iss.Token(testAppID, testServiceURL, connectortest.WithClaim("nbf", -1e300)),
		"Bearer " + iss.Token(testAppID, "", connectortest.WithClaim("serviceurl", map[string]any{})),
		"Bearer " + iss.Token(testAppID, testServiceURL, connectortest.WithSigningKey(other)),
		"Bearer " + iss.Token(testAppID, testServiceURL, connectortest.WithAlgNone()),
		"Bearer " + iss.Token(testAppID, testServiceURL, connectortest.WithHS256(iss.PublicKeyDER())),
		"Bearer " + iss.Token(testAppID, testServiceURL, connectortest.WithHeader("kid", []any{1})),
		"Bearer " + iss.Token(testAppID, testServiceURL, connectortest.WithHeader("alg", nil)),
		"Bearer " + strings.Join(strings.Split(valid, ".")[:2], "."),
		"Bearer " + valid + ".",
		"Bearer ..",
		"Bearer e30.e30.",
		"Bearer eyJhbGciOiJSUzI1NiJ9.e30.AAAA",
		"Bearer eyJhbGciOiJub25lIn0.e30.",
		"Bearer ",
		"Basic abc",
		"",
		"\x00\xff",
	}
	for _, s := range seeds {
		f.Add(s, testServiceURL, "msteams")
	}
	f.Add("Bearer "+valid, "", "")
	f.Add("Bearer "+valid, testServiceURL, "webchat")
	f.Add("Bearer "+valid, "https://evil.example/", "msteams")

	f.Fuzz(func(t *testing.T, header, serviceURL, channelID string) {
		act := &schema.Activity{ServiceURL: serviceURL, ChannelID: channelID}
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		claims, err := v.Authenticate(ctx, header, act)
		if err != nil {
			return
		}
		if claims.AppID != testAppID || claims.ChannelID != "msteams" || channelID != "msteams" ||
			strings.TrimSuffix(claims.ServiceURL, "/") != strings.TrimSuffix(serviceURL, "/") ||
			claims.ExpiresAt.IsZero() || claims.KeyID != iss.KeyID() {
			t.Fatalf("accepted inconsistent request: header %q serviceURL %q channel %q claims %+v",
				header, serviceURL, channelID, claims)
		}
	})
}
