package graph

import (
	"context"
	"net/url"
	"testing"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/policy"
	abs "github.com/microsoft/kiota-abstractions-go"
)

type countingCredential struct{ calls int }

func (c *countingCredential) GetToken(context.Context, policy.TokenRequestOptions) (azcore.AccessToken, error) {
	c.calls++
	return azcore.AccessToken{Token: "tok", ExpiresOn: time.Now().Add(time.Hour)}, nil
}

// The token goes to the configured Graph host only: a sovereign cloud gets
// it, the public cloud's host (the SDK's default list) and any other host do
// not.
func TestAuthProviderHostsComeFromGraphURL(t *testing.T) {
	for _, graphURL := range []string{"https://graph.microsoft.us", "http://127.0.0.1:8080", "https://dod-graph.microsoft.us:443"} {
		cred := &countingCredential{}
		auth, err := newAuthProvider(cred, graphURL)
		if err != nil {
			t.Fatal(err)
		}
		u, _ := url.Parse(graphURL)
		for _, c := range []struct {
			target string
			want   bool
		}{
			{graphURL + "/v1.0/groups/g1/members/$ref", true},
			{u.Scheme + "://" + u.Hostname() + ":9999/v1.0/groups", true}, // the host decides, not the port
			{"https://graph.microsoft.com/v1.0/groups", false},
			{"https://evil.example/v1.0/groups", false},
			{"https://graph.microsoft.us.evil.example/v1.0/groups", false},
		} {
			info := abs.NewRequestInformation()
			target, _ := url.Parse(c.target)
			info.SetUri(*target)
			before := cred.calls
			if err := auth.AuthenticateRequest(context.Background(), info, nil); err != nil {
				t.Fatalf("%s → %s: %v", graphURL, c.target, err)
			}
			got := info.Headers.ContainsKey("Authorization")
			if got != c.want {
				t.Errorf("GraphURL %s, request to %s: Authorization sent = %v, want %v", graphURL, c.target, got, c.want)
			}
			if asked := cred.calls > before; asked != c.want {
				t.Errorf("GraphURL %s, request to %s: token requested = %v, want %v", graphURL, c.target, asked, c.want)
			}
		}
	}
}

func TestRetryAfter(t *testing.T) {
	now := time.Date(2026, 11, 23, 12, 0, 0, 0, time.UTC)
	for _, c := range []struct {
		v    string
		want time.Duration
		ok   bool
	}{
		{"", 0, false},
		{"7", 7 * time.Second, true},
		{"0", 0, true},
		{"1.5", 1500 * time.Millisecond, true},
		{"-3", 0, false},
		{"Mon, 23 Nov 2026 12:00:30 GMT", 30 * time.Second, true},
		{"soon", 0, false},
	} {
		h := map[string][]string{"Retry-After": {c.v}}
		got, ok := retryAfter(h, now)
		if got != c.want || ok != c.ok {
			t.Errorf("Retry-After %q = %v, %v; want %v, %v", c.v, got, ok, c.want, c.ok)
		}
	}
}

func TestPermanentStatus(t *testing.T) {
	for status, want := range map[int]bool{
		0: false, 200: false, 400: true, 401: false, 403: true, 404: true, 408: false,
		409: false, 412: true, 429: false, 500: false, 503: false, 504: false,
	} {
		if got := isPermanentStatus(status); got != want {
			t.Errorf("isPermanentStatus(%d) = %v, want %v", status, got, want)
		}
	}
}
