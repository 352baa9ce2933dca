package entratest_test

import (
	"context"
	"io"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore/policy"

	"github.com/jitbot/jitbot/internal/entratest"
)

const botFrameworkScope = "https://api.botframework.com/.default"

func TestAuthorityErrors(t *testing.T) {
	a := entratest.NewAuthority(t)
	a.AddApp("tenant-a", "app", "secret")
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	scope := policy.TokenRequestOptions{Scopes: []string{botFrameworkScope}}

	if _, err := a.ClientSecretCredential(t, "tenant-a", "app", "wrong").GetToken(ctx, scope); err == nil || !strings.Contains(err.Error(), "AADSTS7000215") {
		t.Errorf("wrong secret: %v", err)
	}
	if _, err := a.ClientSecretCredential(t, "tenant-b", "app", "secret").GetToken(ctx, scope); err == nil || !strings.Contains(err.Error(), "AADSTS700016") {
		t.Errorf("other tenant: %v", err)
	}
	if _, err := a.ClientSecretCredential(t, "tenant-a", "app", "secret").GetToken(ctx, policy.TokenRequestOptions{Scopes: []string{"https://api.botframework.com/user.read"}}); err == nil {
		t.Error("scope without /.default accepted")
	}
	// azidentity retries a 500 by itself.
	a.FailNext(1)
	if _, err := a.ClientSecretCredential(t, "tenant-a", "app", "secret").GetToken(ctx, scope); err != nil {
		t.Errorf("after one injected failure: %v", err)
	}
	tok, err := a.ClientSecretCredential(t, "tenant-a", "app", "secret").GetToken(ctx, scope)
	if err != nil {
		t.Fatal(err)
	}
	tr, ok := a.Lookup(tok.Token)
	if !ok || tr.Tenant != "tenant-a" || tr.ClientID != "app" || !slices.Equal(tr.Scopes, []string{botFrameworkScope}) {
		t.Errorf("Lookup: %+v %v", tr, ok)
	}
	if _, ok := a.Lookup("made-up"); ok {
		t.Error("Lookup of a made-up token succeeded")
	}
	// Direct requests: unsupported grant.
	resp, err := a.Client().Post(a.URL()+"/tenant-a/oauth2/v2.0/token", "", nil)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 400 || !strings.Contains(string(body), "unsupported_grant_type") {
		t.Errorf("empty form: %d %s", resp.StatusCode, body)
	}
	var statuses []int
	for _, r := range a.TokenRequests() {
		statuses = append(statuses, r.Status)
	}
	if !slices.Equal(statuses, []int{401, 400, 400, 500, 200, 200, 400}) {
		t.Errorf("statuses %v", statuses)
	}
}

func TestAuthorityIssuesFixedToken(t *testing.T) {
	const clientID, secret = "graph-app", "s3cret"
	a := entratest.NewAuthority(t)
	a.AddApp("tenant-1", clientID, secret)
	a.AddApp("tenant-2", clientID, secret)
	a.SetToken("entra-token")
	cred := a.ClientSecretCredential(t, "tenant-1", clientID, secret)
	tok, err := cred.GetToken(context.Background(), policy.TokenRequestOptions{Scopes: []string{"https://graph.example/.default"}})
	if err != nil {
		t.Fatal(err)
	}
	if tok.Token != "entra-token" {
		t.Errorf("token %q", tok.Token)
	}
	reqs := a.TokenRequests()
	if len(reqs) != 1 || reqs[0].Tenant != "tenant-1" || reqs[0].ClientID != clientID ||
		reqs[0].GrantType != "client_credentials" || !slices.Equal(reqs[0].Scopes, []string{"https://graph.example/.default"}) {
		t.Errorf("token requests %+v", reqs)
	}

	// A credential whose secret the authority no longer accepts.
	stale := a.ClientSecretCredential(t, "tenant-2", clientID, secret)
	a.AddApp("tenant-2", clientID, "rotated")
	if _, err := stale.GetToken(context.Background(), policy.TokenRequestOptions{Scopes: []string{"https://graph.example/.default"}}); err == nil ||
		!strings.Contains(err.Error(), "AADSTS7000215") {
		t.Errorf("stale secret: %v", err)
	}
}
