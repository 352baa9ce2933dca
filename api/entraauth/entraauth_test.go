package entraauth_test

import (
	"strings"
	"testing"

	"github.com/jitbot/jitbot/api/entraauth"
)

// TestNewRefusesAnOpenConfiguration: a validator that would accept tokens
// of any audience, issuer, tenant or role cannot be built.
func TestNewRefusesAnOpenConfiguration(t *testing.T) {
	const tenant = "4f3c2b1a-0d9e-4c8b-9a7f-6e5d4c3b2a10"
	good := entraauth.Config{
		TenantID:    tenant,
		MetadataURL: "https://login.microsoftonline.com/" + tenant + "/v2.0/.well-known/openid-configuration",
		Issuers:     []string{"https://login.microsoftonline.com/" + tenant + "/v2.0"},
		Audiences:   []string{"api://jitbot"},
		Role:        "Audit.Read",
	}
	if _, err := entraauth.New(good, nil, nil); err != nil {
		t.Fatalf("good configuration: %v", err)
	}
	for name, c := range map[string]struct {
		edit func(*entraauth.Config)
		want string
	}{
		"no tenant":            {func(c *entraauth.Config) { c.TenantID = "" }, "TenantID"},
		"no audience":          {func(c *entraauth.Config) { c.Audiences = nil }, "Audiences"},
		"an empty audience":    {func(c *entraauth.Config) { c.Audiences = []string{" "} }, "Audiences"},
		"no issuer":            {func(c *entraauth.Config) { c.Issuers = nil }, "Issuers"},
		"another tenant's iss": {func(c *entraauth.Config) { c.Issuers = []string{"https://sts.windows.net/other/"} }, "does not name tenant"},
		"no role":              {func(c *entraauth.Config) { c.Role = "" }, "Role"},
		"http metadata":        {func(c *entraauth.Config) { c.MetadataURL = "http://login.microsoftonline.com/x" }, "https"},
		"negative skew":        {func(c *entraauth.Config) { c.ClockSkew = -1 }, "ClockSkew"},
	} {
		cfg := good
		c.edit(&cfg)
		if _, err := entraauth.New(cfg, nil, nil); err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: %v, want an error naming %s", name, err, c.want)
		}
	}
}
