package main

import (
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/jitbot/jitbot/access"
)

const validConfig = `
listen: ":3978"
database: "sqlite:jitbot.db"
tenant_id: "${TENANT}"
profiles:
  - name: prod-db
    description: "Read access to the production databases"
    group_id: "aaaaaaaa-0000-4000-8000-000000000001"
    min_duration: 15m
    max_duration: 4h
    require_ticket: true
    ticket_pattern: "^INC-[0-9]+$"
    requesters: { groups: ["aaaaaaaa-0000-4000-8000-000000000002"] }
    approvers: { groups: ["aaaaaaaa-0000-4000-8000-000000000003"], channel_id: "19:abc@thread.tacv2" }
`

func envOf(m map[string]string) func(string) (string, bool) {
	return func(k string) (string, bool) { v, ok := m[k]; return v, ok }
}

var testEnv = envOf(map[string]string{"TENANT": "4f3c2b1a-0d9e-4c8b-9a7f-6e5d4c3b2a10"})

func TestParseValidConfig(t *testing.T) {
	cfg, err := ParseConfig([]byte(validConfig), testEnv)
	if err != nil {
		t.Fatal(err)
	}
	if cfg.TenantID != "4f3c2b1a-0d9e-4c8b-9a7f-6e5d4c3b2a10" {
		t.Fatalf("tenant %q: ${TENANT} not expanded", cfg.TenantID)
	}
	if cfg.Cloud.GraphURL != "https://graph.microsoft.com" || cfg.Cloud.BotScope != "https://api.botframework.com/.default" {
		t.Fatalf("public cloud defaults missing: %+v", cfg.Cloud)
	}
	if cfg.Cloud.CustomAuthority() {
		t.Fatal("the default authority counts as custom")
	}
	if !slices.Equal(cfg.Cloud.BotServiceHosts, []string{"smba.trafficmanager.net"}) || len(cfg.Cloud.BotSigningKeyHosts) != 0 {
		t.Fatalf("bot hosts default to %v and %v", cfg.Cloud.BotServiceHosts, cfg.Cloud.BotSigningKeyHosts)
	}
	p, err := cfg.Profiles[0].Profile()
	if err != nil {
		t.Fatal(err)
	}
	if p.MaxDuration != 4*time.Hour || p.MinDuration != 15*time.Minute {
		t.Fatalf("durations %v %v", p.MinDuration, p.MaxDuration)
	}
	// The ticket pattern's "$" is not an environment reference.
	if !p.TicketPattern.MatchString("INC-42") || p.TicketPattern.MatchString("INC-42x") {
		t.Fatalf("ticket pattern %s", p.TicketPattern)
	}
}

func TestProfileFeedbackKey(t *testing.T) {
	for _, c := range []struct {
		line string
		off  bool
	}{{"", false}, {"\n    feedback: true", false}, {"\n    feedback: false", true}} {
		text := strings.Replace(validConfig, `require_ticket: true`, `require_ticket: true`+c.line, 1)
		cfg, err := ParseConfig([]byte(text), testEnv)
		if err != nil {
			t.Fatalf("%q: %v", c.line, err)
		}
		p, err := cfg.Profiles[0].Profile()
		if err != nil || p.NoFeedback != c.off {
			t.Fatalf("%q: NoFeedback %v (%v), want %v", c.line, p.NoFeedback, err, c.off)
		}
	}
	_, err := ParseConfig([]byte(strings.Replace(validConfig, `require_ticket: true`, "require_ticket: true\n    feedback: sometimes", 1)), testEnv)
	if err == nil || !strings.Contains(err.Error(), "sometimes") {
		t.Fatalf("feedback: sometimes gave %v, want an error naming the value", err)
	}
}

func TestAuditFeedIssuers(t *testing.T) {
	cfg, err := ParseConfig([]byte(validConfig+`
audit:
  feed:
    audiences: ["9b1c7f5e-2d4a-4e8b-8c6f-1a2b3c4d5e6f", "api://9b1c7f5e-2d4a-4e8b-8c6f-1a2b3c4d5e6f"]
`), testEnv)
	if err != nil {
		t.Fatal(err)
	}
	tenant := "4f3c2b1a-0d9e-4c8b-9a7f-6e5d4c3b2a10"
	want := []string{"https://login.microsoftonline.com/" + tenant + "/v2.0", "https://sts.windows.net/" + tenant + "/"}
	if !slices.Equal(cfg.Audit.Feed.Issuers, want) {
		t.Fatalf("public cloud issuers %v, want %v", cfg.Audit.Feed.Issuers, want)
	}
	if got := cfg.FeedMetadataURL(); got != "https://login.microsoftonline.com/"+tenant+"/v2.0/.well-known/openid-configuration" {
		t.Fatalf("metadata %s", got)
	}
	gov, err := ParseConfig([]byte(validConfig+`
cloud: { authority_host: "https://login.microsoftonline.us/" }
audit: { feed: { audiences: ["api://jitbot"] } }
`), testEnv)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(gov.Audit.Feed.Issuers, []string{"https://login.microsoftonline.us/" + tenant + "/v2.0"}) {
		t.Fatalf("sovereign cloud issuers %v: only the v2.0 issuer of its authority", gov.Audit.Feed.Issuers)
	}
	off, err := ParseConfig([]byte(validConfig), testEnv)
	if err != nil || len(off.Audit.Feed.Issuers) != 0 {
		t.Fatalf("without audiences: issuers %v (%v)", off.Audit.Feed.Issuers, err)
	}
	for edit, key := range map[string]string{
		`audit: { feed: { audiences: [""] } }`:                                                       "audit.feed.audiences[0]",
		`audit: { feed: { issuers: ["https://sts.windows.net/` + tenant + `/"] } }`:                  "audit.feed.issuers",
		`audit: { feed: { audiences: ["x"], issuers: ["https://sts.windows.net/other/"] } }`:         "audit.feed.issuers[0]",
		`audit: { feed: { audiences: ["x"], issuers: ["http://sts.windows.net/` + tenant + `/"] } }`: "audit.feed.issuers[0]",
	} {
		if _, err := ParseConfig([]byte(validConfig+edit+"\n"), testEnv); err == nil || !strings.Contains(err.Error(), key) {
			t.Errorf("%s: %v, want an error naming %s", edit, err, key)
		}
	}
}

func TestSovereignCloud(t *testing.T) {
	cfg, err := ParseConfig([]byte(validConfig+`
cloud:
  authority_host: "https://login.microsoftonline.us/"
  graph_url: "https://graph.microsoft.us/"
  bot_service_url: "https://smba.infra.gov.teams.microsoft.us/teams"
  bot_service_hosts: ["smba.infra.gov.teams.microsoft.us", "*.gov.teams.microsoft.us"]
  bot_signing_key_hosts: ["keys.botframework.azure.us"]
`), testEnv)
	if err != nil {
		t.Fatal(err)
	}
	if !cfg.Cloud.CustomAuthority() || cfg.Cloud.GraphURL != "https://graph.microsoft.us" {
		t.Fatalf("cloud %+v", cfg.Cloud)
	}
	if len(cfg.Cloud.BotServiceHosts) != 2 || cfg.Cloud.BotSigningKeyHosts[0] != "keys.botframework.azure.us" {
		t.Fatalf("bot hosts %v %v", cfg.Cloud.BotServiceHosts, cfg.Cloud.BotSigningKeyHosts)
	}
}

func TestInvalidConfigNamesTheKey(t *testing.T) {
	cases := []struct {
		name, edit, want string
		env              map[string]string
	}{
		{"unset variable", "", "TENANT", map[string]string{}},
		{"bad tenant", `tenant_id: "${TENANT}"|tenant_id: "contoso"`, "tenant_id", nil},
		{"unknown key", `listen: ":3978"|listen: ":3978"
lisen: ":1"`, "lisen", nil},
		{"bad duration", "max_duration: 4h|max_duration: four hours", "four hours", nil},
		{"min above max", "min_duration: 15m|min_duration: 5h", "min_duration", nil},
		{"ticket without pattern", `ticket_pattern: "^INC-[0-9]+$"|ticket_pattern: ""`, "ticket_pattern", nil},
		{"bad pattern", `ticket_pattern: "^INC-[0-9]+$"|ticket_pattern: "([a-"`, "ticket_pattern", nil},
		{"bad group", `group_id: "aaaaaaaa-0000-4000-8000-000000000001"|group_id: "prod"`, "group_id", nil},
		{"no channel", `channel_id: "19:abc@thread.tacv2"|channel_id: ""`, "channel_id", nil},
		{"no approvers", `approvers: { groups: ["aaaaaaaa-0000-4000-8000-000000000003"]|approvers: { groups: []`, "approvers.groups", nil},
		{"bad database", `database: "sqlite:jitbot.db"|database: "mysql://x"`, "database", nil},
		{"http graph", `listen: ":3978"|listen: ":3978"
cloud: { graph_url: "http://graph.local" }`, "cloud.graph_url", nil},
		{"service url off the default hosts", `listen: ":3978"|listen: ":3978"
cloud: { bot_service_url: "https://smba.infra.gcc.teams.microsoft.com/teams" }`, "cloud.bot_service_url", nil},
		{"service url off the listed hosts", `listen: ":3978"|listen: ":3978"
cloud: { bot_service_hosts: ["*.infra.gcc.teams.microsoft.com"] }`, "cloud.bot_service_url", nil},
		{"loopback service url not listed", `listen: ":3978"|listen: ":3978"
cloud: { bot_service_url: "http://127.0.0.1:56150/_connector" }`, "cloud.bot_service_url", nil},
		{"service host with a scheme", `listen: ":3978"|listen: ":3978"
cloud: { bot_service_hosts: ["https://smba.trafficmanager.net/"] }`, "cloud.bot_service_hosts[0]", nil},
		{"audit reader group not an id", `listen: ":3978"|listen: ":3978"
audit: { reader_groups: ["security-team"] }`, "audit.reader_groups[0]", nil},
		{"public url over http", `listen: ":3978"|listen: ":3978"
public_url: "http://jitbot.example.com"`, "public_url", nil},
		{"public url with a query", `listen: ":3978"|listen: ":3978"
public_url: "https://jitbot.example.com/?x=1"`, "public_url", nil},
		{"bad membership", `max_duration: 4h|max_duration: 4h
    membership: entra`, "profiles[0] (prod-db).membership: want direct or pim", nil},
		{"signing key host with a port", `listen: ":3978"|listen: ":3978"
cloud: { bot_signing_key_hosts: ["login.botframework.com:443"] }`, "cloud.bot_signing_key_hosts[0]", nil},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			text := validConfig
			if c.edit != "" {
				from, to, _ := strings.Cut(c.edit, "|")
				if !strings.Contains(text, from) {
					t.Fatalf("test edit %q does not apply", from)
				}
				text = strings.Replace(text, from, to, 1)
			}
			env := testEnv
			if c.env != nil {
				env = envOf(c.env)
			}
			_, err := ParseConfig([]byte(text), env)
			if err == nil || !strings.Contains(err.Error(), c.want) {
				t.Fatalf("want an error naming %q, got %v", c.want, err)
			}
		})
	}
}

// TestMembershipModes: membership pim reaches the domain's profile; two
// profiles of one group cannot differ in it, and the error names the key.
func TestMembershipModes(t *testing.T) {
	pim := strings.Replace(validConfig, "max_duration: 4h\n", "max_duration: 4h\n    membership: pim\n", 1)
	cfg, err := ParseConfig([]byte(pim), testEnv)
	if err != nil {
		t.Fatal(err)
	}
	p, err := cfg.Profiles[0].Profile()
	if err != nil || p.MembershipMode() != access.MembershipPIM {
		t.Fatalf("profile %+v, %v; want membership pim", p.Membership, err)
	}
	if p, _ := mustParse(t, validConfig).Profiles[0].Profile(); p.MembershipMode() != access.MembershipDirect {
		t.Errorf("default membership %q, want direct", p.MembershipMode())
	}
	same := pim + strings.Replace(secondProfile, `"aaaaaaaa-0000-4000-8000-000000000004"`, `"aaaaaaaa-0000-4000-8000-000000000001"`, 1)
	_, err = ParseConfig([]byte(same), testEnv)
	if err == nil || !strings.Contains(err.Error(), "profiles[1] (prod-db-admin).membership") || !strings.Contains(err.Error(), "a group has one membership mode") {
		t.Errorf("two modes on one group: %v", err)
	}
}

func mustParse(t *testing.T, text string) *Config {
	t.Helper()
	cfg, err := ParseConfig([]byte(text), testEnv)
	if err != nil {
		t.Fatal(err)
	}
	return cfg
}

// secondProfile is a profile appended to validConfig by the alias tests.
const secondProfile = `
  - name: prod-db-admin
    description: "Write access to the production databases"
    group_id: "aaaaaaaa-0000-4000-8000-000000000004"
    max_duration: 1h
    approvers: { groups: ["aaaaaaaa-0000-4000-8000-000000000003"], channel_id: "19:abc@thread.tacv2" }
`

func TestProfileAliases(t *testing.T) {
	withAliases := func(first, second string) string {
		text := strings.Replace(validConfig, `require_ticket: true`, "require_ticket: true\n    aliases: "+first, 1)
		return text + strings.Replace(secondProfile, "max_duration: 1h", "max_duration: 1h\n    aliases: "+second, 1)
	}
	cfg, err := ParseConfig([]byte(withAliases(`[db, database]`, `[dba]`)), testEnv)
	if err != nil {
		t.Fatal(err)
	}
	p, err := cfg.Profiles[0].Profile()
	if err != nil || !slices.Equal(p.Aliases, []string{"db", "database"}) {
		t.Fatalf("aliases %v (%v), want [db database]", p.Aliases, err)
	}
	cases := []struct {
		name, first, second, want string
	}{
		{"upper case", `[DB]`, `[]`, `profiles[0] (prod-db).aliases[0]: "DB": use lower-case letters`},
		{"a space", `[db, "prod db"]`, `[]`, `profiles[0] (prod-db).aliases[1]: "prod db"`},
		{"empty", `[""]`, `[]`, `profiles[0] (prod-db).aliases[0]: ""`},
		{"its own name", `[prod-db]`, `[]`, `profiles[0] (prod-db).aliases[0]: "prod-db" is already a name or alias of profiles[0] (prod-db)`},
		{"twice in one profile", `[db, db]`, `[]`, `profiles[0] (prod-db).aliases[1]: "db" is already a name or alias of profiles[0] (prod-db)`},
		{"another profile's name", `[]`, `[prod-db]`, `profiles[1] (prod-db-admin).aliases[0]: "prod-db" is already a name or alias of profiles[0] (prod-db)`},
		{"another profile's alias", `[db]`, `[db]`, `profiles[1] (prod-db-admin).aliases[0]: "db" is already a name or alias of profiles[0] (prod-db)`},
		{"a later profile's name", `[prod-db-admin]`, `[]`, `profiles[0] (prod-db).aliases[0]: "prod-db-admin" is already a name or alias of profiles[1] (prod-db-admin)`},
		{"not a list", `db`, `[]`, "line 12"}, // the decoder names the line
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			_, err := ParseConfig([]byte(withAliases(c.first, c.second)), testEnv)
			if err == nil || !strings.Contains(err.Error(), c.want) {
				t.Fatalf("want an error containing %q, got %v", c.want, err)
			}
		})
	}
}
