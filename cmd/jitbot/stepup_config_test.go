package main

import (
	"context"
	"io"
	"log/slog"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/jitbot/jitbot/access"
	"github.com/jitbot/jitbot/graph/graphtest"
	"github.com/jitbot/jitbot/internal/entratest"
)

const (
	ssoApp = "0c1d2e3f-4a5b-4c6d-8e7f-901234567890"
	ssoURI = "api://jitbot.example.com/botid-" + ssoApp
)

// withStepUp is validConfig with single sign-on and approvers.step_up on
// prod-db, edited by the replacements (old, new, ...).
func withStepUp(sso, stepUp string) string {
	c := strings.Replace(validConfig, `channel_id: "19:abc@thread.tacv2" }`, `channel_id: "19:abc@thread.tacv2"`+stepUp+` }`, 1)
	return c + sso
}

const ssoSection = "sso:\n  app_id_uri: " + ssoURI + "\n  connection_name: jitbot-sso\n"

func TestStepUpConfig(t *testing.T) {
	cfg, err := ParseConfig([]byte(withStepUp(ssoSection, `, step_up: { auth_context: c1, within: 15m }`)), testEnv)
	if err != nil {
		t.Fatal(err)
	}
	p, err := cfg.Profiles[0].Profile()
	if err != nil || p.StepUp != (access.StepUp{AuthContext: "c1", Within: 15 * time.Minute}) {
		t.Fatalf("step-up %+v (%v)", p.StepUp, err)
	}
	tenant := cfg.TenantID
	if !slices.Equal(cfg.SSO.Audiences, []string{ssoURI, ssoApp}) || cfg.SSO.Scope != DefaultSSOScope ||
		!slices.Equal(cfg.SSO.Issuers, []string{"https://login.microsoftonline.com/" + tenant + "/v2.0", "https://sts.windows.net/" + tenant + "/"}) {
		t.Fatalf("sso defaults %+v", cfg.SSO)
	}
	// within defaults to 10m; a profile without step_up has none.
	cfg, err = ParseConfig([]byte(withStepUp(ssoSection, `, step_up: { auth_context: c7 }`)), testEnv)
	if err != nil {
		t.Fatal(err)
	}
	if p, _ := cfg.Profiles[0].Profile(); p.StepUp != (access.StepUp{AuthContext: "c7", Within: access.DefaultStepUpWithin}) {
		t.Fatalf("default window: %+v", p.StepUp)
	}
	cfg, err = ParseConfig([]byte(withStepUp(ssoSection, "")), testEnv)
	if err != nil {
		t.Fatal(err)
	}
	if p, _ := cfg.Profiles[0].Profile(); p.StepUp.On() {
		t.Fatalf("step-up without approvers.step_up: %+v", p.StepUp)
	}

	for name, c := range map[string]struct{ sso, stepUp, key string }{
		"step_up without sso":  {"", `, step_up: { auth_context: c1, within: 10m }`, "profiles[0] (prod-db).approvers.step_up: needs single sign-on"},
		"no auth context":      {ssoSection, `, step_up: { within: 10m }`, "approvers.step_up.auth_context"},
		"bad auth context":     {ssoSection, `, step_up: { auth_context: mfa }`, "approvers.step_up.auth_context"},
		"window too short":     {ssoSection, `, step_up: { auth_context: c1, within: 5m }`, "approvers.step_up.within"},
		"window too long":      {ssoSection, `, step_up: { auth_context: c1, within: 2h }`, "approvers.step_up.within"},
		"unknown step_up key":  {ssoSection, `, step_up: { auth_context: c1, mfa: true }`, "mfa"},
		"no connection name":   {"sso:\n  app_id_uri: " + ssoURI + "\n", "", "sso.connection_name"},
		"not an api URI":       {"sso:\n  app_id_uri: https://jitbot.example.com\n  connection_name: x\n", "", "sso.app_id_uri"},
		"sso keys without URI": {"sso:\n  connection_name: x\n", "", "sso.app_id_uri"},
		"foreign issuer":       {ssoSection + "  issuers: [\"https://sts.windows.net/99999999-9999-4999-8999-999999999999/\"]\n", "", "sso.issuers[0]"},
		"empty audience":       {ssoSection + "  audiences: [\" \"]\n", "", "sso.audiences[0]"},
		"two scopes":           {ssoSection + "  scope: \"a b\"\n", "", "sso.scope"},
		"token service http":   {ssoSection + "cloud:\n  bot_token_service_url: http://token.botframework.com\n", "", "cloud.bot_token_service_url"},
	} {
		_, err := ParseConfig([]byte(withStepUp(c.sso, c.stepUp)), testEnv)
		if err == nil || !strings.Contains(err.Error(), c.key) {
			t.Errorf("%s: %v, want an error naming %s", name, err, c.key)
		}
	}
}

// TestStepUpValidatorFromConfig: the bot's single sign-on settings built
// from jitbot.yaml accept a user token of the tenant's authority for the
// app and refuse one for another app.
func TestStepUpValidatorFromConfig(t *testing.T) {
	a := entratest.NewAuthority(t)
	raw := withStepUp(ssoSection, `, step_up: { auth_context: c1 }`) + "cloud:\n  authority_host: " + a.URL() + "/\n"
	cfg, err := ParseConfig([]byte(raw), testEnv)
	if err != nil {
		t.Fatal(err)
	}
	sso, err := userTokens(cfg, time.Now, a.Client(), nil, "", slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err != nil || sso == nil {
		t.Fatalf("userTokens: %v, %v", sso, err)
	}
	if sso.Resource != ssoURI || sso.ConnectionName != "jitbot-sso" || sso.SignIns != nil {
		t.Fatalf("sso %+v; want no sign-in button without a bot credential", sso)
	}
	if cfg.Cloud.BotTokenServiceURL != "https://token.botframework.com" {
		t.Fatalf("cloud.bot_token_service_url defaults to %q", cfg.Cloud.BotTokenServiceURL)
	}
	withButton, err := userTokens(cfg, time.Now, a.Client(), graphtest.NewStaticCredential("bot-token"), "99999999-0000-4000-8000-000000000000", slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err != nil || withButton.SignIns == nil {
		t.Fatalf("with the bot's credential: %+v, %v; want the token service's sign-in button", withButton, err)
	}
	api := entratest.API{TenantID: cfg.TenantID, AppID: ssoApp, AppIDURI: ssoURI, TokenVersion: 2}
	c, err := sso.Tokens.Validate(context.Background(), a.UserToken(t, api, "22222222-2222-4222-8222-222222222222", DefaultSSOScope, time.Now(), entratest.WithAuthContexts("c1")))
	if err != nil || c.ObjectID != "22222222-2222-4222-8222-222222222222" || !slices.Equal(c.AuthContexts, []string{"c1"}) {
		t.Fatalf("v2 token: %+v, %v", c, err)
	}
	other := entratest.API{TenantID: cfg.TenantID, AppID: "11111111-0000-4000-8000-000000000000", TokenVersion: 2}
	if _, err := sso.Tokens.Validate(context.Background(), a.UserToken(t, other, "22222222-2222-4222-8222-222222222222", DefaultSSOScope, time.Now())); err == nil {
		t.Fatal("a token for another app was accepted")
	}
	off, err := userTokens(&Config{}, time.Now, nil, nil, "", nil)
	if off != nil || err != nil {
		t.Fatalf("without sso: %v, %v", off, err)
	}
}

// TestStepUpConfigCheck: jitbot config check reports a step_up without
// single sign-on under its key, as serve refuses it.
func TestStepUpConfigCheck(t *testing.T) {
	_, fs := checkOffline([]byte(withStepUp("", `, step_up: { auth_context: c1 }`)), testEnv)
	var keys []string
	for _, f := range fs {
		keys = append(keys, f.Key)
	}
	if !slices.Contains(keys, "profiles[0] (prod-db).approvers.step_up") {
		t.Fatalf("findings %v: want one under profiles[0] (prod-db).approvers.step_up", fs)
	}
	if cfg, fs := checkOffline([]byte(withStepUp(ssoSection, `, step_up: { auth_context: c1 }`)), testEnv); cfg == nil {
		t.Fatalf("a valid step-up configuration: %v", fs)
	}
}
