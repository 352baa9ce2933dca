package main

import (
	"bytes"
	"errors"
	"fmt"
	"net"
	"net/url"
	"os"
	"regexp"
	"slices"
	"strings"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore/cloud"
	"gopkg.in/yaml.v3"

	"github.com/jitbot/jitbot/access"
	"github.com/jitbot/jitbot/bot/auth"
	"github.com/jitbot/jitbot/bot/connector"
	"github.com/jitbot/jitbot/bot/tokenservice"
	"github.com/jitbot/jitbot/graph"
	"github.com/jitbot/jitbot/internal/netutil"
	"github.com/jitbot/jitbot/storage"
)

// DefaultMetricsListen is where the health and metrics endpoints are
// served by default: loopback only, so that they are not exposed with the
// messaging endpoint.
const DefaultMetricsListen = "127.0.0.1:9464"

// metricsListen is the address of the health and metrics endpoints ("":
// none).
func (c *Config) metricsListen() string {
	if c.MetricsListen == nil {
		return DefaultMetricsListen
	}
	return strings.TrimSpace(*c.MetricsListen)
}

// Config is jitbot.yaml.
type Config struct {
	Listen string `yaml:"listen"`
	// MetricsListen is where /healthz, /readyz and /metrics are served,
	// apart from the messaging endpoint: DefaultMetricsListen when the
	// key is absent, nowhere when it is "".
	MetricsListen *string       `yaml:"metrics_listen"`
	Database      string        `yaml:"database"`
	TenantID      string        `yaml:"tenant_id"`
	Cloud         CloudConfig   `yaml:"cloud"`
	Profiles      []ProfileSpec `yaml:"profiles"`
	// ReplicaID names this process in claims on grants; replicas sharing
	// one PostgreSQL need distinct ids. Default: the host name.
	ReplicaID string         `yaml:"replica_id"`
	Security  SecurityConfig `yaml:"security"`
	Revoke    RevokeConfig   `yaml:"revoke"`
	// WriteQuota paces the writes to Microsoft Graph.
	WriteQuota WriteQuotaConfig `yaml:"write_quota"`
	Drift      DriftConfig      `yaml:"drift"`
	Audit      AuditConfig      `yaml:"audit"`
	// PublicURL is the https address at which people reach this
	// deployment (the messaging endpoint's host), for links the bot hands
	// out (audit downloads).
	PublicURL string `yaml:"public_url"`
	// API configures the requests API for pipelines and tools.
	API APIConfig `yaml:"api"`
	// SSO configures Teams single sign-on for step-up approvals.
	SSO SSOConfig `yaml:"sso"`
}

// AuditConfig configures the audit log: its signed checkpoints, retention,
// who may read reports in Teams, and the feed for SIEMs.
type AuditConfig struct {
	// CheckpointInterval is how often the chain head is signed.
	CheckpointInterval Duration `yaml:"checkpoint_interval"`
	// SigningKeyFile holds the Ed25519 key that signs checkpoints (or
	// JITBOT_AUDIT_SIGNING_KEY); the database never holds it.
	SigningKeyFile string `yaml:"signing_key_file"`
	// CheckpointFile, when set, receives a copy of every checkpoint, one
	// JSON line each, appended.
	CheckpointFile string `yaml:"checkpoint_file"`
	// Retention removes whole segments below a signed checkpoint once
	// they are older than this (0: keep forever).
	Retention Duration `yaml:"retention"`
	// PreviousPublicKeys are the public keys (PEM or base64, as `jitbot
	// audit keygen` prints them) of signing keys replaced by the current
	// one: the checkpoint job and retention accept the stored checkpoints
	// they signed.
	PreviousPublicKeys []string `yaml:"previous_public_keys"`
	// ReaderGroups may ask for audit reports in Teams (transitive
	// members) and download their CSV.
	ReaderGroups []string `yaml:"reader_groups"`
	// DownloadKeyFile holds the HMAC key (hex, at least 32 bytes) that
	// signs report download links (or JITBOT_AUDIT_DOWNLOAD_KEY); without
	// one each process signs with a random key of its own, and a link
	// works only on the replica that made it.
	DownloadKeyFile string `yaml:"download_key_file"`
	// Feed configures GET /api/audit for SIEMs.
	Feed AuditFeedConfig `yaml:"feed"`
}

// AuditFeedConfig says which Entra ID access tokens the SIEM feed accepts.
type AuditFeedConfig struct {
	// Audiences are the accepted "aud" values (the app registration's
	// client id and its application id URI). None: the feed is off.
	Audiences []string `yaml:"audiences"`
	// Issuers are the accepted "iss" values. Default: the tenant's v2.0
	// issuer at cloud.authority_host ("{authority_host}{tenant}/v2.0")
	// and, in the public cloud, its v1.0 issuer
	// ("https://sts.windows.net/{tenant}/").
	Issuers []string `yaml:"issuers"`
}

// FeedMetadataURL is the tenant's OpenID metadata, whose jwks_uri has the
// keys that sign the feed's access tokens.
func (c *Config) FeedMetadataURL() string {
	return strings.TrimRight(c.Cloud.AuthorityHost, "/") + "/" + c.TenantID + "/v2.0/.well-known/openid-configuration"
}

// SecurityConfig is where alerts go and who may act on them.
type SecurityConfig struct {
	ChannelID string   `yaml:"channel_id"`
	Groups    []string `yaml:"groups"`
	// AdminGroups may force-approve any pending request, with a reason
	// (none: nobody may).
	AdminGroups []string `yaml:"admin_groups"`
}

// RevokeConfig tunes retries of failed removals.
type RevokeConfig struct {
	MaxAttempts   int      `yaml:"max_attempts"`
	Backoff       Duration `yaml:"backoff"`
	BackoffMax    Duration `yaml:"backoff_max"`
	SweepInterval Duration `yaml:"sweep_interval"`
	Lease         Duration `yaml:"lease"`
	// Concurrency bounds the grants one replica revokes at once (the
	// number adapts below it to how Graph answers).
	Concurrency int `yaml:"concurrency"`
}

// WriteQuotaConfig is the budget of writes to Microsoft Graph (adds and
// removals of members), shared by every replica through the database:
// Graph's identity and access quota is 3,000 writes per 150 s per
// application and tenant. Removals go first; adds, re-adds and drift
// repairs leave Reserve of the budget to them.
type WriteQuotaConfig struct {
	Writes   int      `yaml:"writes"`
	Window   Duration `yaml:"window"`
	Reserve  float64  `yaml:"reserve"`
	Disabled bool     `yaml:"disabled"`
}

// DriftConfig tunes drift detection.
type DriftConfig struct {
	Interval          Duration `yaml:"interval"`
	RemoveUnexplained bool     `yaml:"remove_unexplained"`
	Disabled          bool     `yaml:"disabled"`
}

// CloudConfig holds the endpoints of the Microsoft cloud the tenant lives in.
type CloudConfig struct {
	AuthorityHost        string `yaml:"authority_host"`
	GraphURL             string `yaml:"graph_url"`
	BotOpenIDMetadataURL string `yaml:"bot_openid_metadata_url"`
	BotTokenIssuer       string `yaml:"bot_token_issuer"`
	BotScope             string `yaml:"bot_scope"`
	BotServiceURL        string `yaml:"bot_service_url"`
	// BotTokenServiceURL is the Bot Framework Token Service behind the
	// sign-in button of step-up approvals (default
	// tokenservice.DefaultURL; GCC High https://tokengcch.botframework.azure.us,
	// DoD https://apiDoD.botframework.azure.us).
	BotTokenServiceURL string `yaml:"bot_token_service_url"`
	// BotServiceHosts are the hosts of the Bot Connector service URLs the
	// bot talks to (and accepts in activities); "*.example.com" matches the
	// sub-domains of example.com.
	BotServiceHosts []string `yaml:"bot_service_hosts"`
	// BotSigningKeyHosts are hosts the channel's signing keys may come
	// from besides the OpenID metadata's own host.
	BotSigningKeyHosts []string `yaml:"bot_signing_key_hosts"`
}

// publicAuthorityHost is the public cloud's Entra ID authority.
func publicAuthorityHost() string { return cloud.AzurePublic.ActiveDirectoryAuthorityHost }

// CustomAuthority reports whether the authority host is not the public
// cloud's (then azidentity's instance discovery is turned off).
func (c CloudConfig) CustomAuthority() bool {
	return strings.TrimRight(c.AuthorityHost, "/") != strings.TrimRight(publicAuthorityHost(), "/")
}

// ProfileSpec is one profile as written in the file.
type ProfileSpec struct {
	Name string `yaml:"name"`
	// Aliases are other names for the profile in plain-language requests;
	// written like names, unique across every profile's name and aliases.
	Aliases     []string `yaml:"aliases"`
	Description string   `yaml:"description"`
	GroupID     string   `yaml:"group_id"`
	// Membership is how the group membership is made: direct (default:
	// jitbot adds and removes the member) or pim (a time-bound PIM for
	// Groups assignment that Entra ends itself; needs Entra ID P2 or ID
	// Governance).
	Membership    string   `yaml:"membership"`
	MinDuration   Duration `yaml:"min_duration"`
	MaxDuration   Duration `yaml:"max_duration"`
	RequireTicket bool     `yaml:"require_ticket"`
	TicketPattern string   `yaml:"ticket_pattern"`
	Requesters    struct {
		Groups []string `yaml:"groups"`
	} `yaml:"requesters"`
	Approvers struct {
		Groups    []string `yaml:"groups"`
		ChannelID string   `yaml:"channel_id"`
		// RequireReason makes Approve need a reason too (Deny always
		// does); default false.
		RequireReason bool `yaml:"require_reason"`
		// EscalateAfter is how long a request waits for a decision
		// before its card is posted to EscalationChannelID too, from
		// when the members of EscalationGroups may decide as well
		// (default: no escalation; shorter than approval_timeout).
		EscalateAfter       *Duration `yaml:"escalate_after"`
		EscalationChannelID string    `yaml:"escalation_channel_id"`
		EscalationGroups    []string  `yaml:"escalation_groups"`
		// StepUp makes Approve count only with a fresh single sign-on
		// that satisfied a Conditional Access authentication context.
		StepUp *StepUpSpec `yaml:"step_up"`
		// Required is how many distinct approvers must approve (default
		// 1); the requester never counts.
		Required *int `yaml:"required"`
	} `yaml:"approvers"`
	// Feedback asks the requester, once a grant ended by expiry, whether
	// the access served them and approval was fast enough (default true).
	Feedback *bool `yaml:"feedback"`
	// ApprovalTimeout is how long a request waits for a decision before
	// it times out (default access.DefaultApprovalTimeout);
	// RemindApprovers the delay of the first reminder to the approvers,
	// doubling for each next one (default access.DefaultRemindApprovers;
	// 0 turns reminders off).
	ApprovalTimeout *Duration `yaml:"approval_timeout"`
	RemindApprovers *Duration `yaml:"remind_approvers"`
	// RemindBefore is how long before a grant ends its requester is
	// reminded, with Extend and I'm done (default
	// access.DefaultRemindBefore; 0 turns the reminder off);
	// SelfExtendMax the longest extension a requester may apply without
	// approval (default 0: every extension is approved);
	// MaxTotalDuration bounds a grant's whole time, extensions included
	// (default max_duration; at least max_duration).
	RemindBefore     *Duration `yaml:"remind_before"`
	SelfExtendMax    *Duration `yaml:"self_extend_max"`
	MaxTotalDuration *Duration `yaml:"max_total_duration"`
	// MaxStartAhead is how far ahead a request may ask its access to
	// start ("request prod-db 2h at 22:00 ..."; default
	// access.DefaultMaxStartAhead; must be positive).
	MaxStartAhead *Duration `yaml:"max_start_ahead"`
	// BreakGlass grants requests at once, without an approver, alerts the
	// security channel and asks the security team for a review within
	// ReviewWithin (default access.DefaultReviewWithin);
	// RevokeIfUnreviewed revokes a grant still unreviewed then (default
	// false: the reminders go on).
	BreakGlass         bool      `yaml:"break_glass"`
	ReviewWithin       *Duration `yaml:"review_within"`
	RevokeIfUnreviewed bool      `yaml:"revoke_if_unreviewed"`
	// Severities are the severities a request may name (the operator's
	// words); SeverityRequired (default true when severities are declared)
	// makes a request name one. SeverityRules override max_duration,
	// approvers.required and auto_approve per severity.
	Severities       []string                    `yaml:"severities"`
	SeverityRequired *bool                       `yaml:"severity_required"`
	SeverityRules    map[string]SeverityRuleSpec `yaml:"severity_rules"`
	// AutoApprove approves requesters in its groups at once (on call).
	AutoApprove *AutoApproveSpec `yaml:"auto_approve"`
}

// SeverityRuleSpec is one entry of a profile's severity_rules.
type SeverityRuleSpec struct {
	MaxDuration Duration `yaml:"max_duration"`
	Approvers   struct {
		Required *int `yaml:"required"`
	} `yaml:"approvers"`
	AutoApprove *AutoApproveSpec `yaml:"auto_approve"`
}

// AutoApproveSpec is an auto_approve block: groups, max_duration and,
// optionally, the severities it applies to.
type AutoApproveSpec struct {
	Groups      []string `yaml:"groups"`
	MaxDuration Duration `yaml:"max_duration"`
	Severities  []string `yaml:"severities"`
}

func (a *AutoApproveSpec) auto() *access.AutoApprove {
	if a == nil {
		return nil
	}
	return &access.AutoApprove{Groups: a.Groups, MaxDuration: time.Duration(a.MaxDuration), Severities: a.Severities}
}

// required reads an approvers.required under key: at least 1 when set (0:
// not set).
func required(key string, n *int) (int, error) {
	if n == nil {
		return 0, nil
	}
	if *n < 1 {
		return 0, fmt.Errorf("%s: must be at least 1, got %d", key, *n)
	}
	return *n, nil
}

// Duration reads Go duration syntax (45m, 2h, 1h30m).
type Duration time.Duration

// UnmarshalYAML parses a duration string.
func (d *Duration) UnmarshalYAML(n *yaml.Node) error {
	// A *yaml.TypeError lets the decoder go on and report every bad value
	// and unknown key of the file, not only the first.
	var s string
	if err := n.Decode(&s); err != nil {
		return &yaml.TypeError{Errors: []string{fmt.Sprintf("line %d: want a duration like 45m or 2h", n.Line)}}
	}
	v, err := time.ParseDuration(s)
	if err != nil {
		return &yaml.TypeError{Errors: []string{fmt.Sprintf("line %d: %q is not a duration (write 45m, 2h, 1h30m)", n.Line, s)}}
	}
	*d = Duration(v)
	return nil
}

var envRef = regexp.MustCompile(`\$\{([A-Za-z_][A-Za-z0-9_]*)\}`)

// expandEnv replaces ${VAR} with the environment's value. An unset variable
// is an error: a silently empty tenant or group id is worse than no start.
func expandEnv(data []byte, getenv func(string) (string, bool)) ([]byte, error) {
	var missing []string
	out := envRef.ReplaceAllFunc(data, func(m []byte) []byte {
		name := string(envRef.FindSubmatch(m)[1])
		v, ok := getenv(name)
		if !ok {
			missing = append(missing, name)
		}
		return []byte(v)
	})
	if len(missing) > 0 {
		return nil, fmt.Errorf("environment variables not set: %s", strings.Join(missing, ", "))
	}
	return out, nil
}

// LoadConfig reads, expands and validates a configuration file.
func LoadConfig(path string, getenv func(string) (string, bool)) (*Config, error) {
	raw, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("read config: %w", err)
	}
	cfg, err := ParseConfig(raw, getenv)
	if err != nil {
		return nil, fmt.Errorf("config %s: %w", path, err)
	}
	return cfg, nil
}

// ParseConfig expands, decodes and validates configuration text.
func ParseConfig(raw []byte, getenv func(string) (string, bool)) (*Config, error) {
	data, err := expandEnv(raw, getenv)
	if err != nil {
		return nil, err
	}
	cfg, err := decodeConfig(data)
	if err != nil {
		return nil, fmt.Errorf("parse: %w", err)
	}
	cfg.applyDefaults()
	if err := cfg.validate(); err != nil {
		return nil, err
	}
	return cfg, nil
}

// decodeConfig decodes expanded configuration text; an unknown key is an
// error. A *yaml.TypeError lists every unknown key and bad value.
func decodeConfig(data []byte) (*Config, error) {
	var cfg Config
	dec := yaml.NewDecoder(bytes.NewReader(data))
	dec.KnownFields(true)
	if err := dec.Decode(&cfg); err != nil {
		return nil, err
	}
	return &cfg, nil
}

func (c *Config) applyDefaults() {
	def := func(s *string, v string) {
		if strings.TrimSpace(*s) == "" {
			*s = v
		}
	}
	def(&c.Listen, ":3978")
	if c.MetricsListen == nil {
		c.MetricsListen = new(DefaultMetricsListen)
	}
	def(&c.Database, "sqlite:jitbot.db")
	// The public cloud's endpoints, as the packages that use them define them.
	def(&c.Cloud.AuthorityHost, publicAuthorityHost())
	def(&c.Cloud.GraphURL, graph.DefaultGraphURL)
	def(&c.Cloud.BotOpenIDMetadataURL, auth.DefaultOpenIDMetadataURL)
	def(&c.Cloud.BotTokenIssuer, auth.DefaultIssuer)
	def(&c.Cloud.BotScope, connector.DefaultScope)
	def(&c.Cloud.BotServiceURL, connector.DefaultServiceURL)
	def(&c.Cloud.BotTokenServiceURL, tokenservice.DefaultURL)
	if len(c.Cloud.BotServiceHosts) == 0 {
		c.Cloud.BotServiceHosts = []string{connector.DefaultServiceHost}
	}
	c.Cloud.GraphURL = strings.TrimRight(c.Cloud.GraphURL, "/")
	defDur := func(d *Duration, v time.Duration) {
		if *d == 0 {
			*d = Duration(v)
		}
	}
	if c.Revoke.MaxAttempts == 0 {
		c.Revoke.MaxAttempts = 8
	}
	defDur(&c.Revoke.Backoff, 30*time.Second)
	defDur(&c.Revoke.BackoffMax, 30*time.Minute)
	defDur(&c.Revoke.SweepInterval, time.Hour)
	defDur(&c.Revoke.Lease, time.Minute)
	if c.Revoke.Concurrency == 0 {
		c.Revoke.Concurrency = access.DefaultRevokeConcurrency
	}
	if c.WriteQuota.Writes == 0 {
		c.WriteQuota.Writes = access.DefaultWriteQuota
	}
	defDur(&c.WriteQuota.Window, access.DefaultWriteQuotaWindow)
	if c.WriteQuota.Reserve == 0 {
		c.WriteQuota.Reserve = access.DefaultWriteReserve
	}
	defDur(&c.Drift.Interval, 15*time.Minute)
	if len(c.Audit.Feed.Audiences) > 0 && len(c.Audit.Feed.Issuers) == 0 {
		c.Audit.Feed.Issuers = c.defaultIssuers()
	}
	if len(c.API.Audiences) > 0 && len(c.API.Issuers) == 0 {
		c.API.Issuers = c.defaultIssuers()
	}
	defDur(&c.Audit.CheckpointInterval, time.Hour)
	c.applySSODefaults()
}

func (c *Config) validate() error {
	var errs []error
	bad := func(key, format string, args ...any) {
		errs = append(errs, &keyError{Key: key, Problem: fmt.Sprintf(format, args...)})
	}
	if !access.IsObjectID(c.TenantID) {
		bad("tenant_id", "want the Entra tenant id (a GUID), got %q", c.TenantID)
	}
	if err := storage.ValidateURL(c.Database); err != nil {
		bad("database", "%v", err)
	}
	if m := c.metricsListen(); m != "" {
		if _, port, err := net.SplitHostPort(m); err != nil || port == "" {
			bad("metrics_listen", "want host:port for /metrics, /healthz and /readyz, e.g. %s (\"\" turns them off), got %q", DefaultMetricsListen, m)
		} else if m == c.Listen && port != "0" {
			bad("metrics_listen", "%q is also listen: serve the metrics apart from the messaging endpoint, e.g. on %s", m, DefaultMetricsListen)
		}
	}
	for key, v := range map[string]string{
		"cloud.authority_host": c.Cloud.AuthorityHost, "cloud.graph_url": c.Cloud.GraphURL,
		"cloud.bot_openid_metadata_url": c.Cloud.BotOpenIDMetadataURL, "cloud.bot_service_url": c.Cloud.BotServiceURL,
		"cloud.bot_token_service_url": c.Cloud.BotTokenServiceURL,
	} {
		if !secureURL(v) {
			bad(key, "want an https URL, got %q", v)
		}
	}
	for key, hosts := range map[string][]string{"cloud.bot_service_hosts": c.Cloud.BotServiceHosts, "cloud.bot_signing_key_hosts": c.Cloud.BotSigningKeyHosts} {
		for i, h := range hosts {
			if err := netutil.CheckHostPattern(h); err != nil {
				bad(fmt.Sprintf("%s[%d]", key, i), "%v", err)
			}
		}
	}
	if u, err := url.Parse(c.Cloud.BotServiceURL); err == nil && !netutil.HostAllowed(u.Hostname(), c.Cloud.BotServiceHosts, false) {
		bad("cloud.bot_service_url", "host %q is not in cloud.bot_service_hosts %v", u.Hostname(), c.Cloud.BotServiceHosts)
	}
	if len(c.Profiles) == 0 {
		bad("profiles", "define at least one profile")
	}
	for i, g := range c.Security.Groups {
		if !access.IsObjectID(g) {
			bad(fmt.Sprintf("security.groups[%d]", i), "want a group object id (a GUID), got %q", g)
		}
	}
	for i, g := range c.Security.AdminGroups {
		if !access.IsObjectID(g) {
			bad(fmt.Sprintf("security.admin_groups[%d]", i), "want a group object id (a GUID), got %q", g)
		}
	}
	for i, g := range c.Audit.ReaderGroups {
		if !access.IsObjectID(g) {
			bad(fmt.Sprintf("audit.reader_groups[%d]", i), "want a group object id (a GUID), got %q", g)
		}
	}
	if c.PublicURL != "" {
		if u, err := url.Parse(c.PublicURL); err != nil || !secureURL(c.PublicURL) || u.RawQuery != "" || u.Fragment != "" {
			bad("public_url", "want the https address people reach jitbot at (no query), e.g. https://jitbot.example.com, got %q", c.PublicURL)
		}
	}
	for i, a := range c.Audit.Feed.Audiences {
		if strings.TrimSpace(a) == "" {
			bad(fmt.Sprintf("audit.feed.audiences[%d]", i), "is empty; want the app's client id or application id URI")
		}
	}
	if len(c.Audit.Feed.Audiences) == 0 && len(c.Audit.Feed.Issuers) > 0 {
		bad("audit.feed.issuers", "set without audit.feed.audiences (the feed is off without audiences)")
	}
	for i, iss := range c.Audit.Feed.Issuers {
		if u, err := url.Parse(iss); err != nil || u.Scheme != "https" || u.Host == "" || !strings.Contains(strings.ToLower(iss), strings.ToLower(c.TenantID)) {
			bad(fmt.Sprintf("audit.feed.issuers[%d]", i), "want an https issuer URL of tenant %s, got %q", c.TenantID, iss)
		}
	}
	c.validateAPI(bad)
	if c.Revoke.MaxAttempts < 1 {
		bad("revoke.max_attempts", "must be at least 1")
	}
	if c.Revoke.Concurrency < 1 || c.Revoke.Concurrency > 256 {
		bad("revoke.concurrency", "must be between 1 and 256")
	}
	if c.WriteQuota.Writes < 1 {
		bad("write_quota.writes", "must be at least 1 (set write_quota.disabled to turn pacing off)")
	}
	if c.WriteQuota.Window < Duration(time.Second) {
		bad("write_quota.window", "must be at least 1s")
	}
	if c.WriteQuota.Reserve <= 0 || c.WriteQuota.Reserve >= 1 {
		bad("write_quota.reserve", "must be a share above 0 and below 1, like 0.2")
	}
	for key, d := range map[string]Duration{"revoke.backoff": c.Revoke.Backoff, "revoke.backoff_max": c.Revoke.BackoffMax,
		"revoke.sweep_interval": c.Revoke.SweepInterval, "revoke.lease": c.Revoke.Lease, "drift.interval": c.Drift.Interval} {
		if d < Duration(time.Second) {
			bad(key, "must be at least 1s")
		}
	}
	if c.Audit.CheckpointInterval < Duration(time.Second) {
		bad("audit.checkpoint_interval", "must be at least 1s")
	}
	switch {
	case c.Audit.Retention < 0:
		bad("audit.retention", "must not be negative (leave it out to keep events forever)")
	case c.Audit.Retention > 0 && c.Audit.Retention < c.Audit.CheckpointInterval:
		bad("audit.retention", "must not be below audit.checkpoint_interval (old events are removed in whole segments between checkpoints)")
	}
	if _, err := previousKeys(c); err != nil {
		bad("audit.previous_public_keys", "%v", err)
	}
	if c.Revoke.BackoffMax < c.Revoke.Backoff {
		bad("revoke.backoff_max", "must not be below revoke.backoff")
	}
	profileKey := func(i int) string {
		if n := c.Profiles[i].Name; n != "" {
			return fmt.Sprintf("profiles[%d] (%s)", i, n)
		}
		return fmt.Sprintf("profiles[%d]", i)
	}
	// owner maps each name, then each alias, to the key of the first
	// profile that has it: a word names one profile only.
	owner := map[string]string{}
	for i, p := range c.Profiles {
		if _, taken := owner[p.Name]; taken {
			bad(profileKey(i)+".name", "defined twice")
		} else if p.Name != "" {
			owner[p.Name] = profileKey(i)
		}
	}
	c.validateSSO(bad, profileKey)
	type modeUse struct {
		key  string
		mode access.MembershipMode
	}
	pimUse := map[string]modeUse{}
	for i, p := range c.Profiles {
		key := profileKey(i)
		for j, a := range p.Aliases {
			akey := fmt.Sprintf("%s.aliases[%d]", key, j)
			if !access.IsProfileName(a) {
				bad(akey, "%q: use lower-case letters, digits and dashes, like a profile name", a)
				continue
			}
			if o, taken := owner[a]; taken {
				bad(akey, "%q is already a name or alias of %s", a, o)
				continue
			}
			owner[a] = key
		}
		if p.GroupID != "" && !access.IsObjectID(p.GroupID) {
			bad(key+".group_id", "want a group object id (a GUID), got %q", p.GroupID)
		}
		if m := access.MembershipMode(p.Membership); p.Membership != "" && !slices.Contains(access.MembershipModes, m) {
			bad(key+".membership", "want direct or pim, got %q", p.Membership)
		} else if p.GroupID != "" {
			if m == "" {
				m = access.MembershipDirect
			}
			k := strings.ToLower(p.GroupID)
			if prev, ok := pimUse[k]; !ok {
				pimUse[k] = modeUse{key, m}
			} else if prev.mode != m {
				bad(key+".membership", "%s, but group %s is also the group of %s with membership %s: a group has one membership mode",
					m, p.GroupID, prev.key, prev.mode)
			}
		}
		for j, g := range append(append([]string{}, p.Requesters.Groups...), p.Approvers.Groups...) {
			if !access.IsObjectID(g) {
				bad(key, "group %d %q is not a group object id (a GUID)", j, g)
			}
		}
		if p.TicketPattern != "" {
			if _, err := regexp.Compile(p.TicketPattern); err != nil {
				bad(key+".ticket_pattern", "invalid regular expression: %v", err)
				continue
			}
		}
		for j, g := range p.Approvers.EscalationGroups {
			if !access.IsObjectID(g) {
				bad(fmt.Sprintf("%s.approvers.escalation_groups[%d]", key, j), "want a group object id (a GUID), got %q", g)
			}
		}
		esc := p.Approvers.EscalateAfter
		timeout := Duration(access.DefaultApprovalTimeout)
		if p.ApprovalTimeout != nil {
			timeout = *p.ApprovalTimeout
		}
		switch {
		case esc != nil && *esc <= 0:
			bad(key+".approvers.escalate_after", "must be positive, got %s", time.Duration(*esc))
		case esc != nil && *esc >= timeout:
			bad(key+".approvers.escalate_after", "must be shorter than approval_timeout (%s), got %s", time.Duration(timeout), time.Duration(*esc))
		case esc != nil && p.Approvers.EscalationChannelID == "":
			bad(key+".approvers.escalation_channel_id", "is empty; approvers.escalate_after posts the card there")
		case esc != nil && len(p.Approvers.EscalationGroups) == 0:
			bad(key+".approvers.escalation_groups", "is empty; approvers.escalate_after lets them decide")
		case esc != nil && p.BreakGlass:
			bad(key+".approvers.escalate_after", "does not apply to a break_glass profile (its requests are never pending)")
		case esc == nil && p.Approvers.EscalationChannelID != "":
			bad(key+".approvers.escalation_channel_id", "set without approvers.escalate_after")
		case esc == nil && len(p.Approvers.EscalationGroups) > 0:
			bad(key+".approvers.escalation_groups", "set without approvers.escalate_after")
		}
		switch {
		case p.BreakGlass && c.Security.ChannelID == "":
			bad(key+".break_glass", "needs security.channel_id: every break-glass grant is posted there for review")
		case !p.BreakGlass && p.ReviewWithin != nil:
			bad(key+".review_within", "set without break_glass: true (only break-glass grants are reviewed)")
		case !p.BreakGlass && p.RevokeIfUnreviewed:
			bad(key+".revoke_if_unreviewed", "set without break_glass: true (only break-glass grants are reviewed)")
		}
		ap, err := p.Profile()
		if err != nil {
			bad(key, "%v", err)
			continue
		}
		ap.Aliases = nil // checked above, each under its own key
		if err := ap.Validate(); err != nil {
			bad(key, "%v", err)
		}
	}
	return errors.Join(errs...)
}

// keyError is one problem of the configuration, under the key it is about
// ("profiles[0] (prod-db).group_id"); validate joins them, and `jitbot
// config check` lists each on its own line.
type keyError struct {
	Key     string
	Problem string
}

func (e *keyError) Error() string { return e.Key + ": " + e.Problem }

// Profile converts the file's form into the domain's.
func (p ProfileSpec) Profile() (access.Profile, error) {
	ap := access.Profile{
		Name: p.Name, Aliases: p.Aliases, Description: p.Description, GroupID: p.GroupID,
		MinDuration: time.Duration(p.MinDuration), MaxDuration: time.Duration(p.MaxDuration),
		RequireTicket: p.RequireTicket, RequesterGroups: p.Requesters.Groups,
		Membership:     access.MembershipMode(p.Membership),
		ApproverGroups: p.Approvers.Groups, ApproverChannelID: p.Approvers.ChannelID,
		RequireReason:   p.Approvers.RequireReason,
		StepUp:          p.Approvers.StepUp.stepUp(),
		NoFeedback:      p.Feedback != nil && !*p.Feedback,
		ApprovalTimeout: access.DefaultApprovalTimeout, RemindApprovers: access.DefaultRemindApprovers,
		RemindBefore: access.DefaultRemindBefore,
	}
	if p.RemindBefore != nil {
		if *p.RemindBefore < 0 {
			return ap, fmt.Errorf("remind_before: must not be negative, got %s (0 turns the expiry reminder off)", time.Duration(*p.RemindBefore))
		}
		ap.RemindBefore = time.Duration(*p.RemindBefore)
	}
	if p.MaxStartAhead != nil {
		if *p.MaxStartAhead <= 0 {
			return ap, fmt.Errorf("max_start_ahead: must be positive, got %s (the default is %s)", time.Duration(*p.MaxStartAhead), access.FormatDuration(access.DefaultMaxStartAhead))
		}
		if p.BreakGlass {
			return ap, fmt.Errorf("max_start_ahead: does not apply to a break_glass profile (break-glass access is for now and cannot be scheduled)")
		}
		ap.MaxStartAhead = time.Duration(*p.MaxStartAhead)
	}
	if p.SelfExtendMax != nil {
		if *p.SelfExtendMax < 0 {
			return ap, fmt.Errorf("self_extend_max: must not be negative, got %s (0: every extension needs approval)", time.Duration(*p.SelfExtendMax))
		}
		ap.SelfExtendMax = time.Duration(*p.SelfExtendMax)
	}
	if p.MaxTotalDuration != nil {
		if d := time.Duration(*p.MaxTotalDuration); d < ap.MaxDuration {
			return ap, fmt.Errorf("max_total_duration: must be at least max_duration (%s), got %s", ap.MaxDuration, d)
		}
		ap.MaxTotalDuration = time.Duration(*p.MaxTotalDuration)
	}
	if p.ApprovalTimeout != nil {
		if *p.ApprovalTimeout <= 0 {
			return ap, fmt.Errorf("approval_timeout: must be positive, got %s", time.Duration(*p.ApprovalTimeout))
		}
		ap.ApprovalTimeout = time.Duration(*p.ApprovalTimeout)
	}
	if p.RemindApprovers != nil {
		if *p.RemindApprovers < 0 {
			return ap, fmt.Errorf("remind_approvers: must not be negative, got %s (0 turns reminders off)", time.Duration(*p.RemindApprovers))
		}
		ap.RemindApprovers = time.Duration(*p.RemindApprovers)
	}
	if esc := p.Approvers.EscalateAfter; esc != nil && *esc > 0 {
		ap.EscalateAfter = time.Duration(*esc)
		ap.EscalationChannelID, ap.EscalationGroups = p.Approvers.EscalationChannelID, p.Approvers.EscalationGroups
	}
	if p.BreakGlass {
		ap.BreakGlass, ap.RevokeIfUnreviewed, ap.ReviewWithin = true, p.RevokeIfUnreviewed, access.DefaultReviewWithin
		if p.ReviewWithin != nil {
			if *p.ReviewWithin <= 0 {
				return ap, fmt.Errorf("review_within: must be positive, got %s", time.Duration(*p.ReviewWithin))
			}
			ap.ReviewWithin = time.Duration(*p.ReviewWithin)
		}
	}
	n, err := required("approvers.required", p.Approvers.Required)
	if err != nil {
		return ap, err
	}
	ap.RequiredApprovals = n
	ap.Severities = p.Severities
	ap.SeverityOptional = p.SeverityRequired != nil && !*p.SeverityRequired
	if p.SeverityRequired != nil && len(p.Severities) == 0 {
		return ap, fmt.Errorf("severity_required: set without severities")
	}
	ap.AutoApprove = p.AutoApprove.auto()
	if len(p.SeverityRules) > 0 {
		ap.SeverityRules = map[string]access.SeverityRule{}
	}
	for name, r := range p.SeverityRules {
		n, err := required("severity_rules."+name+".approvers.required", r.Approvers.Required)
		if err != nil {
			return ap, err
		}
		ap.SeverityRules[name] = access.SeverityRule{MaxDuration: time.Duration(r.MaxDuration), RequiredApprovals: n, AutoApprove: r.AutoApprove.auto()}
	}
	if p.TicketPattern != "" {
		re, err := regexp.Compile(p.TicketPattern)
		if err != nil {
			return ap, fmt.Errorf("ticket_pattern: %w", err)
		}
		ap.TicketPattern = re
	}
	return ap, nil
}

// secureURL accepts https URLs, and http on a loopback host (a local test
// double of the cloud service).
func secureURL(v string) bool {
	u, err := url.Parse(v)
	if err != nil || u.Host == "" {
		return false
	}
	return u.Scheme == "https" || (u.Scheme == "http" && netutil.IsLoopback(u.Hostname()))
}

// autoApproveGroups are the groups the profile's auto_approve blocks name,
// each under its key, for the online check.
func (p ProfileSpec) autoApproveGroups(key string) []groupUse {
	var out []groupUse
	add := func(k string, a *AutoApproveSpec) {
		if a == nil {
			return
		}
		for j, g := range a.Groups {
			out = append(out, groupUse{fmt.Sprintf("%s.%s.groups[%d]", key, k, j), g})
		}
	}
	add("auto_approve", p.AutoApprove)
	for name, r := range p.SeverityRules {
		add("severity_rules."+name+".auto_approve", r.AutoApprove)
	}
	return out
}
