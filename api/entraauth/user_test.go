package entraauth_test

import (
	"context"
	"errors"
	"slices"
	"testing"
	"time"

	"github.com/jitbot/jitbot/api/entraauth"
	"github.com/jitbot/jitbot/internal/entratest"
)

const (
	ssoTenant = "4f3c2b1a-0d9e-4c8b-9a7f-6e5d4c3b2a10"
	ssoApp    = "0c1d2e3f-4a5b-4c6d-8e7f-901234567890"
	approver  = "22222222-2222-4222-8222-222222222222"
)

// TestUserTokens: a delegated token of a user of the tenant for the
// single sign-on app, with its scope, is accepted in both versions, with
// what it proves; each token failing one check is refused.
func TestUserTokens(t *testing.T) {
	a := entratest.NewAuthority(t)
	now := time.Date(2026, 11, 23, 9, 0, 0, 0, time.UTC)
	v1 := entratest.API{TenantID: ssoTenant, AppID: ssoApp, AppIDURI: "api://jitbot.example.com/botid-" + ssoApp}
	v2 := v1
	v2.TokenVersion = 2
	val, err := entraauth.NewUser(entraauth.Config{
		TenantID: ssoTenant, MetadataURL: a.MetadataURL(ssoTenant),
		Issuers:   []string{a.V2Issuer(ssoTenant), entratest.V1Issuer(ssoTenant)},
		Audiences: []string{v1.AppIDURI, ssoApp}, Scope: "access_as_user",
		Now: func() time.Time { return now },
	}, a.Client(), nil)
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	for _, api := range []entratest.API{v1, v2} {
		tok := a.UserToken(t, api, approver, "access_as_user", now.Add(-time.Minute), entratest.WithAuthContexts("c1", "c3"))
		got, err := val.Validate(ctx, tok)
		if err != nil {
			t.Fatalf("v%d token: %v", api.TokenVersion, err)
		}
		if got.ObjectID != approver || !slices.Equal(got.AuthContexts, []string{"c1", "c3"}) ||
			!got.IssuedAt.Equal(now.Add(-6*time.Minute)) || got.AppID != entratest.TeamsDesktopClientID || got.TokenID == "" {
			t.Fatalf("v%d claims %+v", api.TokenVersion, got)
		}
	}
	other := v1
	other.TenantID = "99999999-9999-4999-8999-999999999999"
	for name, tok := range map[string]string{
		"empty":             "",
		"garbage":           "not.a.jwt",
		"forged signature":  a.UserToken(t, v1, approver, "access_as_user", now, entratest.WithForeignKey(t)),
		"expired":           a.UserToken(t, v1, approver, "access_as_user", now.Add(-2*time.Hour)),
		"not yet valid":     a.UserToken(t, v1, approver, "access_as_user", now, entratest.WithLifetime(now.Add(time.Hour), now.Add(2*time.Hour))),
		"issued later":      a.UserToken(t, v1, approver, "access_as_user", now, entratest.WithClaim("iat", now.Add(time.Hour).Unix())),
		"no issue time":     a.UserToken(t, v1, approver, "access_as_user", now, entratest.WithClaim("iat", nil)),
		"another audience":  a.UserToken(t, entratest.API{TenantID: ssoTenant, AppID: "11111111-0000-4000-8000-000000000000"}, approver, "access_as_user", now),
		"another tenant":    a.UserToken(t, other, approver, "access_as_user", now, entratest.WithClaim("iss", entratest.V1Issuer(ssoTenant))),
		"another issuer":    a.UserToken(t, v1, approver, "access_as_user", now, entratest.WithClaim("iss", entratest.V1Issuer(other.TenantID))),
		"app-only token":    a.AccessToken(t, v1, "client", []string{"Audit.Read"}, entratest.WithLifetime(now.Add(-time.Minute), now.Add(time.Hour))),
		"another scope":     a.UserToken(t, v1, approver, "User.Read", now),
		"object id no GUID": a.UserToken(t, v1, approver, "access_as_user", now, entratest.WithClaim("oid", "alex")),
		"acrs not a list":   a.UserToken(t, v1, approver, "access_as_user", now, entratest.WithClaim("acrs", "c1")),
		"v2 with v1 issuer": a.UserToken(t, v2, approver, "access_as_user", now, entratest.WithClaim("iss", entratest.V1Issuer(ssoTenant))),
		"two audiences":     a.UserToken(t, v1, approver, "access_as_user", now, entratest.WithClaim("aud", []string{v1.AppIDURI, ssoApp})),
		"no client app":     a.UserToken(t, v1, approver, "access_as_user", now, entratest.WithClaim("appid", nil)),
	} {
		if got, err := val.Validate(ctx, tok); err == nil {
			t.Errorf("%s: accepted %+v", name, got)
		} else if !errors.Is(err, entraauth.ErrInvalidToken) && !errors.Is(err, entraauth.ErrNoToken) {
			t.Errorf("%s: %v, want an invalid-token error", name, err)
		}
	}
}

func TestNewUserNeedsAScope(t *testing.T) {
	cfg := entraauth.Config{
		TenantID: ssoTenant, MetadataURL: "https://login.microsoftonline.com/" + ssoTenant + "/v2.0/.well-known/openid-configuration",
		Issuers: []string{entratest.V1Issuer(ssoTenant)}, Audiences: []string{"api://botid-" + ssoApp},
	}
	if _, err := entraauth.NewUser(cfg, nil, nil); err == nil {
		t.Error("a user validator without a scope was built")
	}
	cfg.Scope, cfg.Role = "access_as_user", "Audit.Read"
	if _, err := entraauth.NewUser(cfg, nil, nil); err == nil {
		t.Error("a user validator with an app role was built")
	}
	cfg.Role = ""
	if _, err := entraauth.NewUser(cfg, nil, nil); err != nil {
		t.Errorf("good configuration: %v", err)
	}
	cfg.Role = "Audit.Read"
	if _, err := entraauth.New(cfg, nil, nil); err == nil {
		t.Error("an app-only validator with a scope was built")
	}
}
