package main

import (
	"bytes"
	"context"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/jitbot/jitbot/bot/connector"
	"github.com/jitbot/jitbot/bot/connectortest"
	"github.com/jitbot/jitbot/graph"
	"github.com/jitbot/jitbot/graph/graphtest"
)

// The groups of validConfig's profile.
const (
	ccGroup     = "aaaaaaaa-0000-4000-8000-000000000001"
	ccRequester = "aaaaaaaa-0000-4000-8000-000000000002"
	ccApprover  = "aaaaaaaa-0000-4000-8000-000000000003"
	ccChannel   = "19:abc@thread.tacv2"
	ccTenant    = "4f3c2b1a-0d9e-4c8b-9a7f-6e5d4c3b2a10"
)

// edit returns validConfig with each old text replaced by its new one.
func edit(t *testing.T, pairs ...string) string {
	t.Helper()
	text := validConfig
	for i := 0; i+1 < len(pairs); i += 2 {
		if !strings.Contains(text, pairs[i]) {
			t.Fatalf("validConfig has no %q", pairs[i])
		}
		text = strings.Replace(text, pairs[i], pairs[i+1], 1)
	}
	return text
}

// lineWith reports whether out has a line starting with prefix that
// contains every one of parts.
func lineWith(out, prefix string, parts ...string) bool {
	for _, l := range strings.Split(out, "\n") {
		if !strings.HasPrefix(l, prefix) {
			continue
		}
		ok := true
		for _, p := range parts {
			ok = ok && strings.Contains(l, p)
		}
		if ok {
			return true
		}
	}
	return false
}

func TestConfigCheckOffline(t *testing.T) {
	tenantEnv := map[string]string{"TENANT": ccTenant}
	profileLine := "    require_ticket: true\n"
	withKeys := func(t *testing.T, keys string) string { return edit(t, profileLine, profileLine+keys) }
	type want struct {
		prefix string // "error: <key>" or "warning: <key>"
		parts  []string
	}
	cases := []struct {
		name  string
		text  func(t *testing.T) string
		env   map[string]string
		flags []string
		exit  int
		want  []want
		// none are prefixes no line may start with.
		none []string
	}{
		{name: "valid", text: func(*testing.T) string { return validConfig }, exit: 0,
			want: []want{{"note: online", []string{"no Graph credential"}}, {"", []string{"0 errors, 0 warnings: valid"}}},
			none: []string{"error:", "warning:"}},
		{name: "unknown profile key, with the key it resembles", exit: 1,
			text: func(t *testing.T) string { return withKeys(t, "    max_duraton: 2h\n") },
			want: []want{{"error: profiles[0] (prod-db).max_duraton:", []string{"unknown key", "did you mean max_duration?"}}}},
		{name: "unknown key in a flow mapping", exit: 1,
			text: func(t *testing.T) string {
				return edit(t, `channel_id: "19:abc@thread.tacv2" }`, `channel_id: "19:abc@thread.tacv2", require_reasons: true }`)
			},
			want: []want{{"error: profiles[0] (prod-db).approvers.require_reasons:", []string{"did you mean require_reason?"}}}},
		{name: "unknown top-level key without a near one lists the keys", exit: 1,
			text: func(*testing.T) string { return validConfig + "telemetry: on\n" },
			want: []want{{"error: telemetry:", []string{"unknown key", "the keys here are", "profiles", "tenant_id"}}}},
		{name: "every bad duration at once", exit: 1,
			text: func(t *testing.T) string {
				return edit(t, "max_duration: 4h", "max_duration: forever") + "revoke: { backoff: soon, lease: 1m }\n"
			},
			want: []want{
				{"error: profiles[0] (prod-db).max_duration:", []string{`"forever" is not a duration`}},
				{"error: revoke.backoff:", []string{`"soon" is not a duration`}},
			},
			// The zero left by the bad value is not reported again.
			none: []string{"error: profiles[0] (prod-db): "}},
		{name: "the loader's rules, each under its key", exit: 1,
			text: func(t *testing.T) string {
				return edit(t, `tenant_id: "${TENANT}"`, `tenant_id: "contoso"`, "min_duration: 15m", "min_duration: 5h",
					`group_id: "aaaaaaaa-0000-4000-8000-000000000001"`, `group_id: "prod"`)
			},
			want: []want{
				{"error: tenant_id:", []string{`"contoso"`}},
				{"error: profiles[0] (prod-db).group_id:", []string{`"prod"`}},
				{"error: profiles[0] (prod-db):", []string{"min_duration must be between 0 and max_duration"}},
			}},
		{name: "a rule of the profile conversion", exit: 1,
			text: func(t *testing.T) string { return withKeys(t, "    max_total_duration: 2h\n") },
			want: []want{{"error: profiles[0] (prod-db):", []string{"max_total_duration: must be at least max_duration (4h"}}}},
		{name: "unset environment variable", exit: 1, env: map[string]string{},
			text: func(*testing.T) string { return validConfig },
			want: []want{{"error: environment:", []string{"TENANT", "fix: export"}}}},
		{name: "contradictions are warnings", exit: 0,
			text: func(t *testing.T) string {
				return withKeys(t, "    self_extend_max: 3h45m\n    remind_before: 4h\n    approval_timeout: 30m\n    remind_approvers: 30m\n")
			},
			want: []want{
				{"warning: profiles[0] (prod-db).self_extend_max:", []string{"3h45m covers every extension", "max_total_duration 4h minus min_duration 15m", "fix:"}},
				{"warning: profiles[0] (prod-db).remind_before:", []string{"4h is not shorter than max_duration (4h)", "fix:"}},
				{"warning: profiles[0] (prod-db).remind_approvers:", []string{"30m is not before approval_timeout (30m)", "fix:"}},
				{"", []string{"0 errors, 3 warnings: valid"}},
			}},
		{name: "just short of a contradiction is fine", exit: 0,
			text: func(t *testing.T) string {
				return withKeys(t, "    self_extend_max: 3h44m\n    remind_before: 3h59m\n    approval_timeout: 30m\n    remind_approvers: 29m\n")
			},
			none: []string{"warning:", "error:"}},
		{name: "--strict fails on warnings", exit: 1, flags: []string{"--strict"},
			text: func(t *testing.T) string { return withKeys(t, "    remind_before: 5h\n") },
			want: []want{{"warning: profiles[0] (prod-db).remind_before:", nil}, {"jitbot:", []string{"0 errors, 1 warning"}}}},
		{name: "channel ids that are not Teams channels", exit: 0,
			text: func(t *testing.T) string {
				return edit(t, `channel_id: "19:abc@thread.tacv2"`, `channel_id: "General"`) + "security: { channel_id: \"19:abc@thread.v2\" }\n"
			},
			want: []want{
				{"warning: profiles[0] (prod-db).approvers.channel_id:", []string{`"General" does not look like a Teams channel id`, "Get link to channel"}},
				{"warning: security.channel_id:", []string{`"19:abc@thread.v2"`}},
			}},
		{name: "a group both requester and approver group", exit: 0,
			text: func(t *testing.T) string {
				return edit(t, `requesters: { groups: ["aaaaaaaa-0000-4000-8000-000000000002"] }`, `requesters: { groups: ["AAAAAAAA-0000-4000-8000-000000000003"] }`)
			},
			want: []want{{"warning: profiles[0] (prod-db).approvers.groups:", []string{"both a requester and an approver group"}}}},
		{name: "a granted group that confers a right", exit: 0,
			text: func(*testing.T) string {
				return validConfig + "security: { groups: [\"" + ccGroup + "\"] }\naudit: { reader_groups: [\"" + ccGroup + "\"] }\n"
			},
			want: []want{
				{"warning: profiles[0] (prod-db).group_id:", []string{"security.groups[0]", "revoke any grant"}},
				{"warning: profiles[0] (prod-db).group_id:", []string{"audit.reader_groups[0]", "read the audit reports"}},
			}},
		{name: "--online and --offline together", exit: 1, flags: []string{"--online", "--offline"},
			text: func(*testing.T) string { return validConfig },
			want: []want{{"jitbot: config check: --online and --offline contradict", nil}}},
		{name: "credentials but errors: the tenant is not asked", exit: 1,
			env:  map[string]string{"TENANT": ccTenant, "AZURE_CLIENT_SECRET": "s"},
			text: func(t *testing.T) string { return edit(t, "max_duration: 4h", "max_duration: 0s") },
			want: []want{{"note: online:", []string{"the file has errors"}}}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			env := c.env
			if env == nil {
				env = tenantEnv
			}
			path := writeConfig(t, c.text(t))
			code, out := runCmd(t, env, append([]string{"config", "check", "--config", path}, c.flags...)...)
			if code != c.exit {
				t.Errorf("exit %d, want %d", code, c.exit)
			}
			for _, w := range c.want {
				if !lineWith(out, w.prefix, w.parts...) {
					t.Errorf("no line %q with %q", w.prefix, w.parts)
				}
			}
			for _, n := range c.none {
				if lineWith(out, n) {
					t.Errorf("a line starts with %q", n)
				}
			}
			if t.Failed() {
				t.Logf("output:\n%s", out)
			}
		})
	}
}

// ccWorld is a tenant for the online check: the fake Graph and Bot
// Connector, reached by the real clients.
type ccWorld struct {
	graph *graphtest.Graph
	conn  *connectortest.Connector
	// noBot leaves the connector out (no bot credential).
	noBot bool
}

const ccBotToken = "bot-token"

func newCCWorld(t *testing.T) *ccWorld {
	g := graphtest.New(t)
	g.AddGroup(ccGroup, ccRequester, ccApprover)
	g.AddUser("bbbbbbbb-0000-4000-8000-000000000001", "bbbbbbbb-0000-4000-8000-000000000002", "bbbbbbbb-0000-4000-8000-000000000003")
	g.AddMember(ccApprover, "bbbbbbbb-0000-4000-8000-000000000001")
	g.AddMember(ccApprover, "bbbbbbbb-0000-4000-8000-000000000002")
	g.AddMember(ccRequester, "bbbbbbbb-0000-4000-8000-000000000003")
	conn := connectortest.NewConnector(t, connectortest.WithTLS(), connectortest.WithRequiredToken(ccBotToken))
	conn.SetRoster(ccChannel,
		connectortest.Member{ID: "29:1", AadObjectID: "bbbbbbbb-0000-4000-8000-000000000001"},
		connectortest.Member{ID: "29:3", AadObjectID: "bbbbbbbb-0000-4000-8000-000000000003"})
	return &ccWorld{graph: g, conn: conn}
}

// factory builds the real Graph directory and connector client on the fakes.
func (w *ccWorld) factory(t *testing.T) onlineFactory {
	return func(cfg *Config, _ func(string) string, logger *slog.Logger) (onlineDeps, error) {
		dir, err := graph.New(graph.Config{GraphURL: w.graph.URL(), MaxRetries: -1}, w.graph.Credential(), logger)
		if err != nil {
			return onlineDeps{}, err
		}
		if w.noBot {
			return onlineDeps{Directory: dir, NoRoster: "MicrosoftAppId is not set"}, nil
		}
		c, err := connector.New(graphtest.NewStaticCredential(ccBotToken), connector.Options{
			HTTPClient: w.conn.Client(), ServiceHosts: []string{"127.0.0.1"}, Logger: logger,
		})
		if err != nil {
			return onlineDeps{}, err
		}
		return onlineDeps{Directory: dir, Roster: c, ServiceURL: w.conn.ServiceURL()}, nil
	}
}

func (w *ccWorld) check(t *testing.T, text string, env map[string]string, flags ...string) (int, string) {
	t.Helper()
	path := writeConfig(t, text)
	var out bytes.Buffer
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	err := configCmd(ctx, append([]string{"check", "--config", path}, flags...), &out, slog.New(slog.DiscardHandler), envOf(env), w.factory(t))
	code := 0
	if err != nil {
		code = 1
		fmt.Fprintln(&out, "jitbot:", err)
	}
	t.Logf("output:\n%s", out.String())
	return code, out.String()
}

var onlineEnv = map[string]string{"TENANT": ccTenant, "AZURE_CLIENT_SECRET": "s"}

func TestConfigCheckOnlineAllWell(t *testing.T) {
	w := newCCWorld(t)
	code, out := w.check(t, validConfig, onlineEnv)
	if code != 0 || lineWith(out, "error:") || lineWith(out, "warning:") || lineWith(out, "note:") || !lineWith(out, "", "0 errors, 0 warnings: valid") {
		t.Fatalf("exit %d", code)
	}
	for _, g := range []string{ccGroup, ccRequester, ccApprover} {
		if n := w.graph.CountFor(graphtest.RouteGetGroup, g, ""); n != 1 {
			t.Errorf("GET /groups/%s: %d calls, want 1", g, n)
		}
	}
	var rosterCalls int
	for _, r := range w.conn.Requests() {
		if r.Method == "GET" && r.ConversationID == ccChannel && strings.HasSuffix(r.Path, "/members") && r.Authorization == "Bearer "+ccBotToken {
			rosterCalls++
		}
	}
	if rosterCalls != 1 {
		t.Errorf("%d authenticated roster reads of %s, want 1: %+v", rosterCalls, ccChannel, w.conn.Requests())
	}
}

func TestConfigCheckOnlineFindings(t *testing.T) {
	for _, c := range []struct {
		name   string
		setup  func(w *ccWorld)
		text   string
		exit   int
		prefix string
		parts  []string
	}{
		{name: "managed group missing", setup: func(w *ccWorld) {
			w.graph = graphtest.New(t)
			w.graph.AddGroup(ccRequester, ccApprover)
			w.graph.AddUser("bbbbbbbb-0000-4000-8000-000000000001")
			w.graph.AddMember(ccApprover, "bbbbbbbb-0000-4000-8000-000000000001")
		}, exit: 1, prefix: "error: profiles[0] (prod-db).group_id:", parts: []string{ccGroup + " does not exist in the tenant", "fix: copy the group's Object ID"}},
		{name: "approver group without members", setup: func(w *ccWorld) {
			w.graph.RemoveMember(ccApprover, "bbbbbbbb-0000-4000-8000-000000000001")
			w.graph.RemoveMember(ccApprover, "bbbbbbbb-0000-4000-8000-000000000002")
		}, exit: 1, prefix: "error: profiles[0] (prod-db).approvers.groups:", parts: []string{"0 users are members of the approver groups, 1 needed", "no request for prod-db can be approved"}},
		{name: "the only approver may request", setup: func(w *ccWorld) {
			w.graph.RemoveMember(ccApprover, "bbbbbbbb-0000-4000-8000-000000000002")
			w.graph.AddMember(ccRequester, "bbbbbbbb-0000-4000-8000-000000000001")
		}, exit: 0, prefix: "warning: profiles[0] (prod-db).approvers.groups:", parts: []string{"when bbbbbbbb-0000-4000-8000-000000000001 asks for prod-db, nobody else can approve it"}},
		{name: "a severity's quorum above the approvers", setup: func(w *ccWorld) {
			w.graph.RemoveMember(ccApprover, "bbbbbbbb-0000-4000-8000-000000000002")
		}, text: string(withPolicy("\n    severities: [sev1, sev3]\n    severity_rules: { sev3: { approvers: { required: 2 } } }")),
			exit: 1, prefix: "error: profiles[0] (prod-db).approvers.groups:", parts: []string{"1 users are members of the approver groups, 2 needed"}},
		{name: "auto-approval group missing", text: string(withPolicy(policyLines)),
			exit: 1, prefix: "error: profiles[0] (prod-db).severity_rules.sev1.auto_approve.groups[0]:", parts: []string{"does not exist in the tenant"}},
		{name: "channel the bot is not in", setup: func(w *ccWorld) {
			w.conn = connectortest.NewConnector(t, connectortest.WithTLS(), connectortest.WithRequiredToken(ccBotToken))
		}, exit: 1, prefix: "error: profiles[0] (prod-db).approvers.channel_id:", parts: []string{"the bot cannot reach channel " + ccChannel, "404", "fix: install jitbot in the channel's team"}},
		{name: "token refused", setup: func(w *ccWorld) { w.conn.RequireToken("another") },
			exit: 1, prefix: "error: profiles[0] (prod-db).approvers.channel_id:", parts: []string{"refused the bot's token", "MicrosoftAppPassword"}},
		{name: "approvers not in the channel's team", setup: func(w *ccWorld) {
			w.conn.SetRoster(ccChannel, connectortest.Member{ID: "29:3", AadObjectID: "bbbbbbbb-0000-4000-8000-000000000003"})
		}, exit: 0, prefix: "warning: profiles[0] (prod-db).approvers.channel_id:", parts: []string{"0 of the 2 approvers of prod-db are members of the channel's team"}},
		{name: "no bot credential", setup: func(w *ccWorld) { w.noBot = true },
			exit: 0, prefix: "note: channels:", parts: []string{"1 channel not checked: MicrosoftAppId is not set"}},
		{name: "Graph permission missing", setup: func(w *ccWorld) {
			w.graph.InjectFault(graphtest.Fault{Route: graphtest.RouteGetGroup, Status: 403, Code: "Authorization_RequestDenied", Times: 10})
		}, exit: 1, prefix: "error: profiles[0] (prod-db).group_id:", parts: []string{"cannot read group", "GroupMember.Read.All"}},
		{name: "security channel and groups too",
			text: validConfig + "security: { channel_id: \"19:security@thread.tacv2\", groups: [\"aaaaaaaa-0000-4000-8000-0000000000ff\"] }\n",
			exit: 1, prefix: "error: security.", parts: nil},
	} {
		t.Run(c.name, func(t *testing.T) {
			w := newCCWorld(t)
			if c.setup != nil {
				c.setup(w)
			}
			text := c.text
			if text == "" {
				text = validConfig
			}
			code, out := w.check(t, text, onlineEnv)
			if code != c.exit {
				t.Errorf("exit %d, want %d", code, c.exit)
			}
			if !lineWith(out, c.prefix, c.parts...) {
				t.Errorf("no line %q with %q", c.prefix, c.parts)
			}
			if c.name == "security channel and groups too" {
				if !lineWith(out, "error: security.groups[0]:", "does not exist in the tenant") || !lineWith(out, "error: security.channel_id:", "cannot reach channel 19:security@thread.tacv2") {
					t.Errorf("security group and channel not both reported")
				}
			}
		})
	}
}

func TestConfigCheckAsksTheTenantOnlyWhenItShould(t *testing.T) {
	for _, c := range []struct {
		name  string
		env   map[string]string
		flags []string
		asked bool
	}{
		{"no credential", map[string]string{"TENANT": ccTenant}, nil, false},
		{"credential in the environment", onlineEnv, nil, true},
		{"--offline despite a credential", onlineEnv, []string{"--offline"}, false},
		{"--online without one (managed identity)", map[string]string{"TENANT": ccTenant}, []string{"--online"}, true},
	} {
		t.Run(c.name, func(t *testing.T) {
			w := newCCWorld(t)
			code, out := w.check(t, validConfig, c.env, c.flags...)
			if code != 0 {
				t.Fatalf("exit %d", code)
			}
			if asked := len(w.graph.Calls()) > 0; asked != c.asked {
				t.Errorf("Graph asked: %v, want %v", asked, c.asked)
			}
			if asked := len(w.conn.Requests()) > 0; asked != c.asked {
				t.Errorf("connector asked: %v, want %v", asked, c.asked)
			}
			if !c.asked && !slices.Contains(c.flags, "--offline") && !lineWith(out, "note: online:", "no Graph credential", "--online") {
				t.Errorf("no note saying the tenant was not checked and how to")
			}
		})
	}
}

func TestConfigCommandUsage(t *testing.T) {
	for _, c := range []struct {
		args []string
		exit int
		want string
	}{
		{[]string{"config"}, 2, "config: name a command"},
		{[]string{"config", "lint"}, 2, `unknown command "config lint"`},
		{[]string{"config", "help"}, 0, "config check  check jitbot.yaml"},
		{[]string{"config", "check", "--help"}, 0, "Exit status: 0 when there is no error"},
		{[]string{"config", "check", "--strickt"}, 2, "flag provided but not defined: -strickt"},
		{[]string{"config", "check", "--config", "/nonexistent/jitbot.yaml"}, 1, "read config"},
		{[]string{"config", "check", "extra"}, 1, `unexpected argument "extra"`},
		{[]string{"help"}, 0, "check the configuration (and the tenant's groups and channels)"},
	} {
		code, out := runCmd(t, map[string]string{}, c.args...)
		if code != c.exit || !strings.Contains(out, c.want) {
			t.Errorf("%v: exit %d, want %d with %q:\n%s", c.args, code, c.exit, c.want, out)
		}
	}
}

// The credentials are built from the environment as serve builds them; one
// that cannot be built is an error of the check, before any call.
func TestConfigCheckCredentialsFromTheEnvironment(t *testing.T) {
	path := writeConfig(t, validConfig)
	t.Setenv("AZURE_TENANT_ID", "")
	t.Setenv("AZURE_CLIENT_ID", "")
	code, out := runCmd(t, map[string]string{"TENANT": ccTenant, "AZURE_CLIENT_SECRET": "s"}, "config", "check", "--config", path)
	if code != 1 || !lineWith(out, "error: online: cannot check the tenant: graph credential:", "fix: set the credentials serve uses") {
		t.Errorf("a Graph secret without AZURE_TENANT_ID and AZURE_CLIENT_ID: exit %d:\n%s", code, out)
	}
	// azidentity reads the process environment itself.
	t.Setenv("AZURE_TENANT_ID", ccTenant)
	t.Setenv("AZURE_CLIENT_ID", "9b1c7f5e-2d4a-4e8b-8c6f-1a2b3c4d5e6f")
	t.Setenv("AZURE_CLIENT_SECRET", "s")
	code, out = runCmd(t, map[string]string{"TENANT": ccTenant, "AZURE_CLIENT_SECRET": "s", "AZURE_TENANT_ID": ccTenant,
		"AZURE_CLIENT_ID": "9b1c7f5e-2d4a-4e8b-8c6f-1a2b3c4d5e6f", "MicrosoftAppId": "9b1c7f5e-2d4a-4e8b-8c6f-1a2b3c4d5e6f"}, "config", "check", "--config", path)
	if code != 1 || !lineWith(out, "error: online: cannot check the tenant: bot credential:", "MicrosoftAppPassword") {
		t.Errorf("a bot without its secret: exit %d:\n%s", code, out)
	}
}
