package tokenservice_test

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/jitbot/jitbot/bot/tokenservice"
	"github.com/jitbot/jitbot/bot/tokenservicetest"
	"github.com/jitbot/jitbot/internal/entratest"
)

const (
	tenantID = "72f988bf-86f1-41af-91ab-2d7cd011db47"
	botID    = "7a1b2c3d-0000-4000-8000-00000000bb07"
	otherID  = "7a1b2c3d-0000-4000-8000-0000000000ff"
	secret   = "s3cret"
)

func client(t *testing.T, a *entratest.Authority, ts *tokenservicetest.TokenService, appID string) *tokenservice.Client {
	t.Helper()
	c, err := tokenservice.New(a.ClientSecretCredential(t, tenantID, appID, secret),
		tokenservice.Options{URL: ts.URL(), AppID: appID, HTTPClient: ts.Client()})
	if err != nil {
		t.Fatal(err)
	}
	return c
}

var conv = tokenservice.ConversationReference{
	User: tokenservice.Account{ID: "29:alex"}, Bot: tokenservice.Account{ID: "28:" + botID},
	Conversation: tokenservice.Conversation{ID: "19:approvers@thread.tacv2;messageid=1"}, ChannelID: "msteams",
	ServiceURL: "https://smba.trafficmanager.net/amer/",
}

// TestSignInAndToken: the sign-in link, its magic code for the user who
// signed in (once), and the refusal of another bot's app token.
func TestSignInAndToken(t *testing.T) {
	ctx := context.Background()
	a := entratest.NewAuthority(t)
	a.AddApp(tenantID, botID, secret)
	a.AddApp(tenantID, otherID, secret)
	ts := tokenservicetest.New(t, a, botID)
	ts.AddConnection("jitbot-sso", "api://jitbot.example.com/botid-"+botID)
	c := client(t, a, ts, botID)

	res, err := c.SignInResource(ctx, "jitbot-sso", conv)
	if err != nil || !strings.HasPrefix(res.SignInLink, ts.URL()) || res.TokenExchangeResource == nil {
		t.Fatalf("sign-in resource %+v, %v", res, err)
	}
	if _, err := c.SignInResource(ctx, "other-connection", conv); err == nil {
		t.Fatal("a sign-in link for an unknown connection")
	}
	code := ts.SignIn(t, res.SignInLink, "user-token")
	if _, err := c.UserToken(ctx, "29:sam", "jitbot-sso", "msteams", code); !errors.Is(err, tokenservice.ErrNoToken) {
		t.Fatalf("another user's code: %v, want ErrNoToken", err)
	}
	tr, err := c.UserToken(ctx, "29:alex", "jitbot-sso", "msteams", code)
	if err != nil || tr.Token != "user-token" {
		t.Fatalf("token %+v, %v", tr, err)
	}
	if _, err := c.UserToken(ctx, "29:alex", "jitbot-sso", "msteams", code); !errors.Is(err, tokenservice.ErrNoToken) {
		t.Fatalf("a used code: %v, want ErrNoToken", err)
	}

	// Another bot's app token is refused, and so is a state naming it.
	other := client(t, a, ts, otherID)
	if _, err := other.SignInResource(ctx, "jitbot-sso", conv); err == nil || !strings.Contains(err.Error(), "401") {
		t.Fatalf("another bot's token: %v, want 401", err)
	}
	if _, err := tokenservice.New(nil, tokenservice.Options{AppID: botID}); err == nil {
		t.Fatal("a client without a credential")
	}
	if _, err := tokenservice.New(a.ClientSecretCredential(t, tenantID, botID, secret), tokenservice.Options{AppID: botID, URL: "http://token.example.com"}); err == nil {
		t.Fatal("a client of an http URL")
	}
	ts.Close()
	if _, err := c.UserToken(ctx, "29:alex", "jitbot-sso", "msteams", "123456"); err == nil || errors.Is(err, tokenservice.ErrNoToken) {
		t.Fatalf("token service down: %v, want a transport error", err)
	}
}
