package main

import (
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"

	"github.com/jitbot/jitbot/access"
	"github.com/jitbot/jitbot/api/entraauth"
	"github.com/jitbot/jitbot/bot"
	"github.com/jitbot/jitbot/bot/tokenservice"
)

// DefaultSSOScope is the delegated scope a single sign-on token must carry
// when sso.scope is not set: the scope Teams single sign-on is set up with.
const DefaultSSOScope = "access_as_user"

// SSOConfig configures Teams single sign-on for approvers' step-up
// sign-ins (approvers.step_up on a profile needs it).
type SSOConfig struct {
	// AppIDURI is the application id URI of the app registration Teams
	// gets tokens for ("api://<host>/botid-<app id>" or
	// "api://botid-<app id>"; webApplicationInfo.resource in the Teams
	// app manifest). Setting it turns single sign-on on.
	AppIDURI string `yaml:"app_id_uri"`
	// ConnectionName is the OAuth connection setting of the Azure Bot
	// resource for that app, named in the sign-in request.
	ConnectionName string `yaml:"connection_name"`
	// Audiences are the accepted "aud" values. Default: app_id_uri and,
	// when it ends in the app's client id, that id (the audience of v2.0
	// tokens).
	Audiences []string `yaml:"audiences"`
	// Issuers are the accepted "iss" values; the default is audit.feed's.
	Issuers []string `yaml:"issuers"`
	// Scope is the delegated scope the token must carry (default
	// DefaultSSOScope).
	Scope string `yaml:"scope"`
}

// StepUpSpec is approvers.step_up of a profile.
type StepUpSpec struct {
	// AuthContext is the Conditional Access authentication context id
	// (c1 to c99) the approver's sign-in must satisfy.
	AuthContext string `yaml:"auth_context"`
	// Within is how old the sign-in token may be (default
	// access.DefaultStepUpWithin).
	Within *Duration `yaml:"within"`
}

// On reports whether single sign-on is configured.
func (s SSOConfig) On() bool { return s.AppIDURI != "" }

// trailingGUID finds the client id at the end of an application id URI.
var trailingGUID = regexp.MustCompile(`[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$`)

// applySSODefaults fills in the sso defaults when single sign-on is on.
func (c *Config) applySSODefaults() {
	s := &c.SSO
	if !s.On() {
		return
	}
	if len(s.Audiences) == 0 {
		s.Audiences = []string{s.AppIDURI}
		if id := trailingGUID.FindString(s.AppIDURI); id != "" {
			s.Audiences = append(s.Audiences, strings.ToLower(id))
		}
	}
	if len(s.Issuers) == 0 {
		s.Issuers = c.defaultIssuers()
	}
	if strings.TrimSpace(s.Scope) == "" {
		s.Scope = DefaultSSOScope
	}
}

// validateSSO checks the sso section and that every profile with
// approvers.step_up has it; bad reports an error naming the key.
func (c *Config) validateSSO(bad func(key, format string, args ...any), profileKey func(int) string) {
	s := c.SSO
	if !s.On() {
		if s.ConnectionName != "" || len(s.Audiences) > 0 || len(s.Issuers) > 0 || s.Scope != "" {
			bad("sso.app_id_uri", "is required when any sso key is set (single sign-on is off without it)")
		}
	} else {
		if u, err := url.Parse(s.AppIDURI); err != nil || u.Scheme != "api" || u.Host == "" && u.Opaque == "" {
			bad("sso.app_id_uri", "want the application id URI of the single sign-on app, e.g. api://jitbot.example.com/botid-<app id>, got %q", s.AppIDURI)
		}
		if strings.TrimSpace(s.ConnectionName) == "" {
			bad("sso.connection_name", "is required: the OAuth connection setting of the Azure Bot resource for single sign-on")
		}
		for i, a := range s.Audiences {
			if strings.TrimSpace(a) == "" {
				bad(fmt.Sprintf("sso.audiences[%d]", i), "is empty; want the app's client id or application id URI")
			}
		}
		for i, iss := range s.Issuers {
			if u, err := url.Parse(iss); err != nil || u.Scheme != "https" || u.Host == "" || !strings.Contains(strings.ToLower(iss), strings.ToLower(c.TenantID)) {
				bad(fmt.Sprintf("sso.issuers[%d]", i), "want an https issuer URL of tenant %s, got %q", c.TenantID, iss)
			}
		}
		if strings.ContainsAny(strings.TrimSpace(s.Scope), " \t") {
			bad("sso.scope", "want one scope name, e.g. %s, got %q", DefaultSSOScope, s.Scope)
		}
	}
	for i, p := range c.Profiles {
		if p.Approvers.StepUp != nil && !s.On() {
			bad(profileKey(i)+".approvers.step_up", "needs single sign-on: set sso.app_id_uri and sso.connection_name")
		}
	}
}

// userTokens builds the validator of single sign-on tokens and the bot's
// SSO settings, or returns nil when single sign-on is off. With the bot's
// credential (botCred, for app appID) the sign-in request also gets the
// Token Service's sign-in button (cloud.bot_token_service_url); without one
// (local mode) single sign-on is the only way to sign in.
func userTokens(cfg *Config, now func() time.Time, httpClient *http.Client, botCred azcore.TokenCredential, appID string, logger *slog.Logger) (*bot.SSO, error) {
	s := cfg.SSO
	if !s.On() {
		return nil, nil
	}
	if httpClient == nil {
		httpClient = &http.Client{Timeout: 15 * time.Second}
	}
	v, err := entraauth.NewUser(entraauth.Config{
		TenantID: cfg.TenantID, MetadataURL: cfg.FeedMetadataURL(),
		Issuers: s.Issuers, Audiences: s.Audiences, Scope: s.Scope, Now: now,
	}, httpClient, logger)
	if err != nil {
		return nil, fmt.Errorf("single sign-on: %w", err)
	}
	out := &bot.SSO{Tokens: v, Resource: s.AppIDURI, ConnectionName: s.ConnectionName}
	if botCred != nil {
		ts, err := tokenservice.New(botCred, tokenservice.Options{
			URL: cfg.Cloud.BotTokenServiceURL, Scope: cfg.Cloud.BotScope, AppID: appID, HTTPClient: httpClient,
		})
		if err != nil {
			return nil, fmt.Errorf("cloud.bot_token_service_url: %w", err)
		}
		out.SignIns = ts
	} else {
		logger.Warn("no bot credential: step-up sign-in requests offer single sign-on only, without a sign-in button")
	}
	logger.Info("single sign-on for step-up approvals on", "app_id_uri", s.AppIDURI, "audiences", s.Audiences, "scope", s.Scope,
		"token_service", cfg.Cloud.BotTokenServiceURL, "sign_in_button", out.SignIns != nil)
	return out, nil
}

// stepUp converts approvers.step_up for the domain.
func (s *StepUpSpec) stepUp() access.StepUp {
	if s == nil {
		return access.StepUp{}
	}
	out := access.StepUp{AuthContext: s.AuthContext, Within: access.DefaultStepUpWithin}
	if s.Within != nil {
		out.Within = time.Duration(*s.Within)
	}
	return out
}
