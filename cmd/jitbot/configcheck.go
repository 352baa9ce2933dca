package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"reflect"
	"regexp"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/infracloudio/msbotbuilder-go/schema"
	"gopkg.in/yaml.v3"

	"github.com/jitbot/jitbot/access"
	"github.com/jitbot/jitbot/bot/connector"
	"github.com/jitbot/jitbot/graph"
)

// Severities of a finding of `jitbot config check`.
const (
	// sevError: serve would refuse the file, or a group or channel it
	// names does not work.
	sevError = "error"
	// sevWarning: serve runs, but a setting cannot do what it says.
	sevWarning = "warning"
	// sevNote: something the check could not look at, and why.
	sevNote = "note"
)

// onlineTimeout bounds the online part of a check.
const onlineTimeout = 2 * time.Minute

// graphSecretEnv are the environment variables that give serve an explicit
// Graph credential; with any of them set, `config check` looks at the
// tenant unless --offline is given. (Without them serve uses a managed
// identity, which only --online tries.)
var graphSecretEnv = []string{"AZURE_CLIENT_SECRET", "AZURE_CLIENT_CERTIFICATE_PATH", "AZURE_FEDERATED_TOKEN_FILE"}

// teamsChannelID is what a Teams channel's conversation id looks like.
var teamsChannelID = regexp.MustCompile(`^19:[^@\s]+@thread\.(tacv2|skype)$`)

// finding is one line of `jitbot config check`.
type finding struct {
	Severity string
	// Key is the configuration key, as serve's errors name it
	// ("profiles[0] (prod-db).max_duration").
	Key     string
	Problem string
	// Fix says what to change; empty when Problem already does.
	Fix string
}

func (f finding) String() string {
	s := f.Severity + ": " + f.Key + ": " + f.Problem
	if f.Fix != "" {
		s += "; fix: " + f.Fix
	}
	return s
}

// checkDirectory is what the online check asks Graph (graph.Directory).
type checkDirectory interface {
	GroupName(ctx context.Context, groupID string) (string, error)
	TransitiveMembers(ctx context.Context, groupID string) ([]string, error)
}

// checkRoster is what the online check asks the Bot Connector
// (connector.Client).
type checkRoster interface {
	ConversationMembers(ctx context.Context, serviceURL, conversationID string) ([]schema.ChannelAccount, error)
}

// onlineDeps are the clients of the online check. Roster is nil when the
// bot's credential is not in the environment; NoRoster then says why.
type onlineDeps struct {
	Directory  checkDirectory
	Roster     checkRoster
	ServiceURL string
	NoRoster   string
	// NoPIMPolicies leaves the PIM policies of pim profiles unread (doctor
	// reports them on lines of its own, with pimPolicyChecks).
	NoPIMPolicies bool
}

// onlineFactory builds the clients of the online check from the
// configuration and the environment.
type onlineFactory func(cfg *Config, env func(string) string, logger *slog.Logger) (onlineDeps, error)

const configUsage = `Usage:
  jitbot config check [--config jitbot.yaml] [--online | --offline] [--strict]

Checks the configuration without serving: every rule serve applies at start,
settings that contradict each other, and, with the Graph credential of serve
in the environment (or --online), that the groups exist and have members and,
with the bot's credential too, that the bot reaches every channel. One line
per finding. Exit status: 0 when there is no error (warnings allowed unless
--strict), 1 otherwise.
`

// configCmd runs `jitbot config ...`.
func configCmd(ctx context.Context, args []string, stdout io.Writer, logger *slog.Logger, getenv func(string) (string, bool), online onlineFactory) error {
	if len(args) == 0 || args[0] == "help" || args[0] == "-h" || args[0] == "--help" {
		fmt.Fprint(stdout, configUsage)
		if len(args) == 0 {
			return errors.New("config: name a subcommand (check)")
		}
		return nil
	}
	if args[0] != "check" {
		return fmt.Errorf("config: unknown subcommand %q (want check)", args[0])
	}
	fs := commandFlags("config check", stdout)
	configPath := fs.String("config", "jitbot.yaml", "configuration file")
	forceOnline := fs.Bool("online", false, "also check the tenant (groups through Graph, channels through the Bot Connector), with serve's credentials, a managed identity included")
	offline := fs.Bool("offline", false, "check the file only, even with credentials in the environment")
	strict := fs.Bool("strict", false, "exit 1 on warnings too")
	if err := fs.Parse(args[1:]); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("config check: unexpected argument %q", fs.Arg(0))
	}
	if *forceOnline && *offline {
		return errors.New("config check: --online and --offline contradict each other; give one")
	}
	env := func(k string) string { v, _ := getenv(k); return strings.TrimSpace(v) }
	raw, err := os.ReadFile(*configPath)
	if err != nil {
		return fmt.Errorf("read config: %w", err)
	}
	cfg, findings := checkOffline(raw, getenv)
	errorsFound := countSeverity(findings, sevError) > 0
	switch {
	case *offline:
	case errorsFound:
		if *forceOnline || hasGraphSecret(env) {
			findings = append(findings, finding{Severity: sevNote, Key: "online", Problem: "groups and channels not checked: the file has errors", Fix: "fix the errors above and run the check again"})
		}
	case *forceOnline || hasGraphSecret(env):
		deps, err := online(cfg, env, logger)
		if err != nil {
			findings = append(findings, finding{Severity: sevError, Key: "online", Problem: fmt.Sprintf("cannot check the tenant: %v", err),
				Fix: "set the credentials serve uses (see Configuration, Secrets), or run with --offline"})
			break
		}
		octx, cancel := context.WithTimeout(ctx, onlineTimeout)
		findings = append(findings, checkOnline(octx, cfg, deps)...)
		cancel()
	default:
		findings = append(findings, finding{Severity: sevNote, Key: "online", Problem: "groups and channels not checked: no Graph credential in the environment (" + strings.Join(graphSecretEnv, ", ") + ")",
			Fix: "set serve's Graph credential, or give --online to use a managed identity"})
	}
	for _, f := range findings {
		fmt.Fprintln(stdout, f)
	}
	nErr, nWarn := countSeverity(findings, sevError), countSeverity(findings, sevWarning)
	summary := fmt.Sprintf("%s: %s, %s", *configPath, plural(nErr, "error"), plural(nWarn, "warning"))
	if nErr > 0 || (*strict && nWarn > 0) {
		return errors.New(summary)
	}
	fmt.Fprintln(stdout, summary+": valid")
	return nil
}

func hasGraphSecret(env func(string) string) bool {
	return slices.ContainsFunc(graphSecretEnv, func(k string) bool { return env(k) != "" })
}

func countSeverity(fs []finding, sev string) int {
	n := 0
	for _, f := range fs {
		if f.Severity == sev {
			n++
		}
	}
	return n
}

func plural(n int, word string) string {
	if n == 1 {
		return "1 " + word
	}
	return fmt.Sprintf("%d %ss", n, word)
}

// checkOffline applies serve's loader to raw and lists what it refuses, one
// finding per problem, then the contradictions among valid settings. cfg
// is the loaded configuration, nil when the file does not load.
func checkOffline(raw []byte, getenv func(string) (string, bool)) (*Config, []finding) {
	data, err := expandEnv(raw, getenv)
	if err != nil {
		return nil, []finding{{Severity: sevError, Key: "environment", Problem: err.Error(), Fix: "export each variable the file names as ${VAR}, or write the value in the file"}}
	}
	var doc yaml.Node
	if err := yaml.Unmarshal(data, &doc); err != nil {
		return nil, []finding{{Severity: sevError, Key: "file", Problem: fmt.Sprintf("not YAML: %v", err)}}
	}
	idx := indexYAML(&doc)
	// Each step of serve's ParseConfig, so that every rule serve applies
	// is applied here, and defined once.
	cfg, err := decodeConfig(data)
	if err != nil {
		var te *yaml.TypeError
		if !errors.As(err, &te) {
			return nil, []finding{{Severity: sevError, Key: "file", Problem: err.Error()}}
		}
		// Values that do not decode leave zeros behind, which the rules
		// would report again under other words: these come first.
		var out []finding
		for _, msg := range te.Errors {
			out = append(out, idx.typeFinding(msg))
		}
		return nil, out
	}
	cfg.applyDefaults()
	var out []finding
	if err := cfg.validate(); err != nil {
		for _, e := range flatten(err) {
			var ke *keyError
			if errors.As(e, &ke) {
				out = append(out, finding{Severity: sevError, Key: ke.Key, Problem: ke.Problem})
			} else {
				out = append(out, finding{Severity: sevError, Key: "file", Problem: e.Error()})
			}
		}
	}
	out = append(out, contradictions(cfg)...)
	if countSeverity(out, sevError) > 0 {
		return nil, out
	}
	return cfg, out
}

// flatten lists the errors joined in err.
func flatten(err error) []error {
	if j, ok := err.(interface{ Unwrap() []error }); ok {
		var out []error
		for _, e := range j.Unwrap() {
			out = append(out, flatten(e)...)
		}
		return out
	}
	return []error{err}
}

// profileKey names profile i as serve's errors do.
func (c *Config) profileKey(i int) string {
	if n := c.Profiles[i].Name; n != "" {
		return fmt.Sprintf("profiles[%d] (%s)", i, n)
	}
	return fmt.Sprintf("profiles[%d]", i)
}

// contradictions are the warnings about a configuration: settings serve
// accepts that cannot do what they say. Each profile's own come from
// access.Profile.Warnings.
func contradictions(c *Config) []finding {
	var out []finding
	warn := func(key, fix, format string, args ...any) {
		out = append(out, finding{Severity: sevWarning, Key: key, Problem: fmt.Sprintf(format, args...), Fix: fix})
	}
	const channelFix = "copy the channel's id from Teams (the channel's ... menu, Get link to channel: the part after /channel/, URL-decoded), e.g. 19:abc123@thread.tacv2"
	if ch := c.Security.ChannelID; ch != "" && !teamsChannelID.MatchString(ch) {
		warn("security.channel_id", channelFix, "%q does not look like a Teams channel id (19:...@thread.tacv2 or 19:...@thread.skype)", ch)
	}
	// Groups whose members may decide or read: granting one of them
	// hands that right out with the grant.
	type power struct{ key, what string }
	powers := map[string][]power{}
	addPower := func(g, key, what string) {
		powers[strings.ToLower(g)] = append(powers[strings.ToLower(g)], power{key, what})
	}
	for i, p := range c.Profiles {
		for j, g := range p.Approvers.Groups {
			addPower(g, fmt.Sprintf("%s.approvers.groups[%d]", c.profileKey(i), j), "able to approve requests for "+p.Name)
		}
	}
	for j, g := range c.Security.Groups {
		addPower(g, fmt.Sprintf("security.groups[%d]", j), "able to revoke any grant and retry failed removals")
	}
	for j, g := range c.Audit.ReaderGroups {
		addPower(g, fmt.Sprintf("audit.reader_groups[%d]", j), "able to read the audit reports")
	}
	for i, p := range c.Profiles {
		key := c.profileKey(i)
		if ch := p.Approvers.ChannelID; ch != "" && !teamsChannelID.MatchString(ch) {
			warn(key+".approvers.channel_id", channelFix, "%q does not look like a Teams channel id (19:...@thread.tacv2 or 19:...@thread.skype)", ch)
		}
		if p.GroupID != "" {
			for _, pw := range powers[strings.ToLower(p.GroupID)] {
				warn(key+".group_id", "grant a group that confers no right in jitbot, or remove it from "+pw.key,
					"group %s is also %s: a grant of %s makes its holder %s", p.GroupID, pw.key, p.Name, pw.what)
			}
		}
		ap, err := p.Profile()
		if err != nil || ap.Validate() != nil {
			continue // reported by the loader
		}
		for _, w := range ap.Warnings() {
			out = append(out, finding{Severity: sevWarning, Key: key + "." + w.Key, Problem: w.Problem, Fix: w.Fix})
		}
	}
	return out
}

// yamlEntry is a key or value of the file: its line, key name, path as
// serve's errors write keys, and scalar value.
type yamlEntry struct {
	line        int
	name, path  string
	value       string
	hasValue    bool
	keyPosition bool
}

// yamlIndex finds the key a decoder error's line is about.
type yamlIndex struct{ entries []yamlEntry }

func indexYAML(doc *yaml.Node) *yamlIndex {
	idx := &yamlIndex{}
	idx.walk(doc, "")
	return idx
}

func (x *yamlIndex) walk(n *yaml.Node, path string) {
	switch n.Kind {
	case yaml.DocumentNode:
		for _, c := range n.Content {
			x.walk(c, path)
		}
	case yaml.MappingNode:
		for i := 0; i+1 < len(n.Content); i += 2 {
			k, v := n.Content[i], n.Content[i+1]
			p := k.Value
			if path != "" {
				p = path + "." + k.Value
			}
			e := yamlEntry{line: k.Line, name: k.Value, path: p, keyPosition: true}
			if v.Kind == yaml.ScalarNode {
				e.value, e.hasValue = v.Value, true
			}
			x.entries = append(x.entries, e)
			if v.Kind == yaml.ScalarNode && v.Line != k.Line {
				x.entries = append(x.entries, yamlEntry{line: v.Line, name: k.Value, path: p, value: v.Value, hasValue: true})
			}
			x.walk(v, p)
		}
	case yaml.SequenceNode:
		for i, item := range n.Content {
			p := fmt.Sprintf("%s[%d]", path, i)
			if item.Kind == yaml.MappingNode {
				for j := 0; j+1 < len(item.Content); j += 2 {
					if k, v := item.Content[j], item.Content[j+1]; k.Value == "name" && v.Kind == yaml.ScalarNode && v.Value != "" {
						p += " (" + v.Value + ")"
						break
					}
				}
			}
			if item.Kind == yaml.ScalarNode {
				x.entries = append(x.entries, yamlEntry{line: item.Line, path: p, value: item.Value, hasValue: true})
			}
			x.walk(item, p)
		}
	}
}

var (
	typeErrLine  = regexp.MustCompile(`^line (\d+): (.*)$`)
	unknownField = regexp.MustCompile(`^field (\S+) not found in type (.+)$`)
)

// typeFinding turns one of the decoder's messages ("line 7: field x not
// found in type main.ProfileSpec", "line 9: \"forever\" is not a
// duration ...") into a finding under the key it is about.
func (x *yamlIndex) typeFinding(msg string) finding {
	m := typeErrLine.FindStringSubmatch(msg)
	if m == nil {
		return finding{Severity: sevError, Key: "file", Problem: msg}
	}
	line, _ := strconv.Atoi(m[1])
	text := m[2]
	if u := unknownField.FindStringSubmatch(text); u != nil {
		key := fmt.Sprintf("line %d: %s", line, u[1])
		for _, e := range x.entries {
			if e.line == line && e.keyPosition && e.name == u[1] {
				key = e.path
				break
			}
		}
		return finding{Severity: sevError, Key: key, Problem: "unknown key (serve refuses the file)", Fix: unknownKeyFix(u[1], u[2])}
	}
	var at []yamlEntry
	for _, e := range x.entries {
		if e.line == line && e.hasValue {
			at = append(at, e)
		}
	}
	key := fmt.Sprintf("line %d", line)
	switch {
	case len(at) == 1:
		key = at[0].path
	case len(at) > 1:
		key = at[0].path
		// Several values on the line (a flow mapping): the one the
		// message quotes.
		for _, e := range at {
			if strings.Contains(text, strconv.Quote(e.value)) || strings.Contains(text, "`"+e.value+"`") {
				key = e.path
				break
			}
		}
	}
	return finding{Severity: sevError, Key: key, Problem: text}
}

// unknownKeyFix suggests the known key closest to name among the keys of
// the Go type the decoder names, or lists them.
func unknownKeyFix(name, typeName string) string {
	keys := configKeys()[typeName]
	if len(keys) == 0 {
		return "remove it or correct its spelling"
	}
	best, bestDist := "", 3
	for _, k := range keys {
		if d := editDistance(strings.ToLower(name), k); d < bestDist {
			best, bestDist = k, d
		}
	}
	if best != "" {
		return fmt.Sprintf("did you mean %s?", best)
	}
	return "remove it or correct its spelling; the keys here are " + strings.Join(keys, ", ")
}

// configKeys maps each struct type of Config, named as the decoder names
// it, to its keys.
func configKeys() map[string][]string {
	out := map[string][]string{}
	var walk func(t reflect.Type)
	walk = func(t reflect.Type) {
		for t.Kind() == reflect.Pointer || t.Kind() == reflect.Slice || t.Kind() == reflect.Map {
			t = t.Elem()
		}
		if t.Kind() != reflect.Struct {
			return
		}
		if _, done := out[t.String()]; done {
			return
		}
		var keys []string
		out[t.String()] = keys
		for i := range t.NumField() {
			f := t.Field(i)
			name, _, _ := strings.Cut(f.Tag.Get("yaml"), ",")
			if name == "" || name == "-" || !f.IsExported() {
				continue
			}
			keys = append(keys, name)
			walk(f.Type)
		}
		sort.Strings(keys)
		out[t.String()] = keys
	}
	walk(reflect.TypeFor[Config]())
	return out
}

// editDistance is the Levenshtein distance of a and b.
func editDistance(a, b string) int {
	prev := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur := make([]int, len(b)+1)
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
		}
		prev = cur
	}
	return prev[len(b)]
}

// envOnline builds the online check's clients as serve builds them: the
// Graph directory from serve's Graph credential, and the Bot Connector from
// the bot's credential when MicrosoftAppId is set.
func envOnline(cfg *Config, env func(string) string, logger *slog.Logger) (onlineDeps, error) {
	graphCred, err := graphCredential(cfg.Cloud, env)
	if err != nil {
		return onlineDeps{}, fmt.Errorf("graph credential: %w", err)
	}
	dir, err := graph.New(graph.Config{GraphURL: cfg.Cloud.GraphURL}, graphCred, logger)
	if err != nil {
		return onlineDeps{}, fmt.Errorf("graph client: %w", err)
	}
	deps := onlineDeps{Directory: dir, ServiceURL: cfg.Cloud.BotServiceURL}
	appID := env("MicrosoftAppId")
	if appID == "" {
		deps.NoRoster = "MicrosoftAppId is not set (the bot's own credential reads a channel's members)"
		return deps, nil
	}
	botCred, err := botCredential(cfg.Cloud, appID, env)
	if err != nil {
		return onlineDeps{}, fmt.Errorf("bot credential: %w", err)
	}
	conn, err := connector.New(botCred, connector.Options{
		Logger: logger, Scope: cfg.Cloud.BotScope, MaxRetries: 3, ServiceHosts: cfg.Cloud.BotServiceHosts,
		HTTPClient: &http.Client{Timeout: 30 * time.Second},
	})
	if err != nil {
		return onlineDeps{}, fmt.Errorf("connector: %w", err)
	}
	deps.Roster = conn
	return deps, nil
}

// groupUse is one place the configuration names a group.
type groupUse struct{ key, id string }

// checkOnline asks the tenant about each group and channel the
// configuration names: that each group exists, that each profile's
// approvers can decide, and that the bot reaches each channel.
func checkOnline(ctx context.Context, c *Config, d onlineDeps) []finding {
	var out []finding
	add := func(sev, key, fix, format string, args ...any) {
		out = append(out, finding{Severity: sev, Key: key, Problem: fmt.Sprintf(format, args...), Fix: fix})
	}
	var uses []groupUse
	for i, p := range c.Profiles {
		key := c.profileKey(i)
		uses = append(uses, groupUse{key + ".group_id", p.GroupID})
		for j, g := range p.Requesters.Groups {
			uses = append(uses, groupUse{fmt.Sprintf("%s.requesters.groups[%d]", key, j), g})
		}
		for j, g := range p.Approvers.Groups {
			uses = append(uses, groupUse{fmt.Sprintf("%s.approvers.groups[%d]", key, j), g})
		}
		for j, g := range p.Approvers.EscalationGroups {
			uses = append(uses, groupUse{fmt.Sprintf("%s.approvers.escalation_groups[%d]", key, j), g})
		}
		uses = append(uses, p.autoApproveGroups(key)...)
	}
	for j, g := range c.Security.Groups {
		uses = append(uses, groupUse{fmt.Sprintf("security.groups[%d]", j), g})
	}
	for j, g := range c.Security.AdminGroups {
		uses = append(uses, groupUse{fmt.Sprintf("security.admin_groups[%d]", j), g})
	}
	for j, g := range c.Audit.ReaderGroups {
		uses = append(uses, groupUse{fmt.Sprintf("audit.reader_groups[%d]", j), g})
	}
	// Each group is asked about once, however often it is named.
	exists := map[string]error{}
	for _, u := range uses {
		k := strings.ToLower(u.id)
		err, asked := exists[k]
		if !asked {
			_, err = d.Directory.GroupName(ctx, u.id)
			exists[k] = err
		}
		if err != nil {
			problem, fix := groupProblem(u.id, err)
			add(sevError, u.key, fix, "%s", problem)
		}
	}
	out = append(out, checkPIMGroups(ctx, c, d, exists)...)
	members := map[string][]string{}
	membersErr := map[string]error{}
	usersOf := func(key string, groups []string) (map[string]bool, bool) {
		set := map[string]bool{}
		for j, g := range groups {
			k := strings.ToLower(g)
			if exists[k] != nil {
				return nil, false // reported above
			}
			ids, seen := members[k]
			err := membersErr[k]
			if !seen && err == nil {
				ids, err = d.Directory.TransitiveMembers(ctx, g)
				members[k], membersErr[k] = ids, err
			}
			if err != nil {
				add(sevError, fmt.Sprintf("%s[%d]", key, j), "grant jitbot's Graph application GroupMember.Read.All (see Azure setup), then check again",
					"cannot list the members of group %s: %v", g, err)
				return nil, false
			}
			for _, id := range ids {
				set[strings.ToLower(id)] = true
			}
		}
		return set, true
	}
	approversOf := make([]map[string]bool, len(c.Profiles))
	for i, p := range c.Profiles {
		key := c.profileKey(i)
		approvers, ok := usersOf(key+".approvers.groups", p.Approvers.Groups)
		if !ok {
			continue
		}
		approversOf[i] = approvers
		need := approversNeeded(p)
		if len(approvers) < need {
			add(sevError, key+".approvers.groups", "add the people who approve "+p.Name+" to an approver group (directly or through a nested group)",
				"%d users are members of the approver groups, %d needed: no request for %s can be approved", len(approvers), need, p.Name)
			continue
		}
		// A requester never decides their own request: each requester
		// needs enough approvers besides themselves.
		var requesters map[string]bool
		if len(p.Requesters.Groups) > 0 {
			if requesters, ok = usersOf(key+".requesters.groups", p.Requesters.Groups); !ok {
				continue
			}
		}
		var short []string
		for a := range approvers {
			if (requesters == nil || requesters[a]) && len(approvers)-1 < need {
				short = append(short, a)
			}
		}
		sort.Strings(short)
		if len(short) > 0 {
			add(sevWarning, key+".approvers.groups", "add another approver",
				"when %s asks for %s, nobody else can approve it (%d approver(s), %d needed besides the requester)", strings.Join(short, ", "), p.Name, len(approvers), need)
		}
	}
	// Channels: the bot must be in each channel's team to post there.
	type channelUse struct {
		key, id string
		profile int // -1: the security channel
	}
	var channels []channelUse
	for i, p := range c.Profiles {
		channels = append(channels, channelUse{c.profileKey(i) + ".approvers.channel_id", p.Approvers.ChannelID, i})
		if p.Approvers.EscalationChannelID != "" {
			channels = append(channels, channelUse{c.profileKey(i) + ".approvers.escalation_channel_id", p.Approvers.EscalationChannelID, -1})
		}
	}
	if c.Security.ChannelID != "" {
		channels = append(channels, channelUse{"security.channel_id", c.Security.ChannelID, -1})
	}
	if d.Roster == nil {
		add(sevNote, "channels", "set the bot's credential (MicrosoftAppId and the rest, as for serve) and check again",
			"the bot's access to %s not checked: %s", plural(len(channels), "channel"), d.NoRoster)
		return out
	}
	type rosterResult struct {
		ids map[string]bool
		err error
	}
	rosters := map[string]rosterResult{}
	for _, ch := range channels {
		r, asked := rosters[ch.id]
		if !asked {
			accounts, err := d.Roster.ConversationMembers(ctx, d.ServiceURL, ch.id)
			r = rosterResult{ids: map[string]bool{}, err: err}
			for _, a := range accounts {
				if a.AadObjectID != "" {
					r.ids[strings.ToLower(a.AadObjectID)] = true
				}
			}
			rosters[ch.id] = r
		}
		if r.err != nil {
			problem, fix := channelProblem(ch.id, r.err)
			add(sevError, ch.key, fix, "%s", problem)
			continue
		}
		if ch.profile < 0 || approversOf[ch.profile] == nil {
			continue
		}
		inTeam := 0
		for a := range approversOf[ch.profile] {
			if r.ids[a] {
				inTeam++
			}
		}
		if need := approversNeeded(c.Profiles[ch.profile]); inTeam < need {
			add(sevWarning, ch.key, "add the approvers to the channel's team, or post to the channel of the team they are in",
				"%d of the %d approvers of %s are members of the channel's team (%d needed): the others never see its approval cards",
				inTeam, len(approversOf[ch.profile]), c.Profiles[ch.profile].Name, need)
		}
	}
	return out
}

// approversNeeded is how many distinct approvers a request of the profile
// may need: the largest quorum of the profile and its severities
// (approvers.required, default 1).
func approversNeeded(p ProfileSpec) int {
	ap, err := p.Profile()
	if err != nil {
		return 1
	}
	need := ap.Rules("").RequiredApprovals
	for _, s := range ap.Severities {
		need = max(need, ap.Rules(s).RequiredApprovals)
	}
	return need
}

// groupProblem says why a group could not be read, and what to do.
func groupProblem(id string, err error) (problem, fix string) {
	var ge *graph.Error
	if errors.As(err, &ge) {
		switch ge.StatusCode {
		case http.StatusNotFound:
			return fmt.Sprintf("group %s does not exist in the tenant (Graph: 404)", id), "copy the group's Object ID from Entra ID, Groups, or create the group"
		case http.StatusUnauthorized, http.StatusForbidden:
			return fmt.Sprintf("cannot read group %s: %v", id, err), "grant jitbot's Graph application GroupMember.Read.All with admin consent (see Azure setup)"
		}
	}
	if errors.Is(err, access.ErrPermanent) {
		return fmt.Sprintf("cannot read group %s: %v", id, err), "check the group id and the Graph application's permissions"
	}
	return fmt.Sprintf("could not check group %s: %v", id, err), "check the network and cloud.graph_url, then run the check again"
}

// channelProblem says why the bot cannot read a channel's members, and what
// to do.
func channelProblem(id string, err error) (problem, fix string) {
	switch connector.StatusCode(err) {
	case http.StatusNotFound, http.StatusForbidden:
		return fmt.Sprintf("the bot cannot reach channel %s: %v", id, err), "install jitbot in the channel's team (Manage team, Apps) and check the channel id"
	case http.StatusUnauthorized:
		return fmt.Sprintf("the Bot Connector refused the bot's token for channel %s: %v", id, err), "check MicrosoftAppId, MicrosoftAppPassword, MicrosoftAppTenantId and MicrosoftAppType"
	case 0:
		return fmt.Sprintf("could not check channel %s: %v", id, err), "check cloud.bot_service_url, cloud.bot_service_hosts and the bot's credential"
	}
	return fmt.Sprintf("could not check channel %s: %v", id, err), "run the check again later"
}

// pimPolicyReader reads a group's PIM policy (graph.Directory).
type pimPolicyReader interface {
	PIMPolicy(ctx context.Context, groupID string) (access.PIMPolicy, error)
}

// checkPIMGroups reads the PIM policy of the group of every profile with
// membership pim whose group exists and reports what pimPolicyChecks finds
// wrong.
func checkPIMGroups(ctx context.Context, c *Config, d onlineDeps, exists map[string]error) []finding {
	if d.NoPIMPolicies {
		return nil
	}
	var out []finding
	reader, ok := d.Directory.(pimPolicyReader)
	for i, p := range c.Profiles {
		if access.MembershipMode(p.Membership) != access.MembershipPIM || exists[strings.ToLower(p.GroupID)] != nil {
			continue
		}
		if !ok {
			out = append(out, finding{Severity: sevNote, Key: c.profileKey(i) + ".membership", Problem: "the group's PIM policy was not checked (no Graph client)"})
			continue
		}
		for _, r := range pimPolicyChecks(ctx, reader, c, i) {
			if r.Severity != "" {
				out = append(out, r.finding)
			}
		}
	}
	return out
}

// What pimPolicyChecks judges of a group's PIM policy.
const (
	pimAspectPolicy     = "PIM policy"     // the policy can be read
	pimAspectOnboarding = "PIM onboarding" // the group is managed by PIM already
	pimAspectMFA        = "PIM MFA rule"   // no MFA on active assignment
	pimAspectMaximum    = "PIM maximum"    // the policy allows max_duration
)

// pimPolicyCheck is one judgement of a pim profile's group PIM policy: a
// finding, whose Severity is empty when the aspect is as jitbot needs it
// (its Problem then says what was found).
type pimPolicyCheck struct {
	aspect string
	finding
}

// pimPolicyChecks reads the PIM policy of the group of profile i (membership
// pim) and judges it, aspect by aspect: a policy that cannot be read is an
// error (nothing else is judged); a group not onboarded to PIM yet is a
// warning (the first grant onboards it, which cannot be undone; its policy
// has no rules to judge until then); a policy that requires MFA on active
// assignment is an error (every grant would fail); one that caps active
// assignments below the profile's max_duration is a warning (requests
// beyond the cap are refused). Both config check and doctor report these.
func pimPolicyChecks(ctx context.Context, reader pimPolicyReader, c *Config, i int) []pimPolicyCheck {
	p := c.Profiles[i]
	key := c.profileKey(i)
	pol, err := reader.PIMPolicy(ctx, p.GroupID)
	if err != nil {
		return []pimPolicyCheck{{pimAspectPolicy, finding{Severity: sevError, Key: key + ".membership",
			Problem: fmt.Sprintf("cannot %v", err),
			Fix: fmt.Sprintf("grant jitbot's Graph application %s and %s (with admin consent), then check again",
				access.PIMPolicyPermission, access.PIMPermission)}}}
	}
	out := []pimPolicyCheck{{pimAspectPolicy, finding{Key: key + ".membership",
		Problem: fmt.Sprintf("the PIM policy of group %s is readable", p.GroupID)}}}
	if !pol.Onboarded {
		return append(out, pimPolicyCheck{pimAspectOnboarding, finding{Severity: sevWarning, Key: key + ".membership",
			Problem: fmt.Sprintf("group %s is not onboarded to PIM for Groups: the first grant of %s onboards it, which cannot be undone", p.GroupID, p.Name),
			Fix:     "onboard the group yourself (Privileged Identity Management, Groups, Discover groups) to decide when, or accept that the first grant does"}})
	}
	out = append(out, pimPolicyCheck{pimAspectOnboarding, finding{Key: key + ".membership",
		Problem: fmt.Sprintf("group %s is onboarded to PIM for Groups", p.GroupID)}})
	if pol.RequireMFA {
		out = append(out, pimPolicyCheck{pimAspectMFA, finding{Severity: sevError, Key: key + ".membership",
			Problem: fmt.Sprintf("the PIM policy of group %s requires multifactor authentication on active assignment, which jitbot (an application) cannot give: every grant of %s would fail", p.GroupID, p.Name),
			Fix:     "turn off \"Require Azure Multi-Factor Authentication on active assignment\" in the group's PIM settings (Member role)"}})
	} else {
		out = append(out, pimPolicyCheck{pimAspectMFA, finding{Key: key + ".membership",
			Problem: fmt.Sprintf("the PIM policy of group %s does not require multifactor authentication on active assignment", p.GroupID)}})
	}
	if pol.MaxDuration > 0 && time.Duration(p.MaxDuration) > pol.MaxDuration {
		out = append(out, pimPolicyCheck{pimAspectMaximum, finding{Severity: sevWarning, Key: key + ".max_duration",
			Problem: fmt.Sprintf("%s is longer than the %s the PIM policy of group %s allows for an active assignment: requests beyond it are refused",
				time.Duration(p.MaxDuration), access.FormatDuration(pol.MaxDuration), p.GroupID),
			Fix: "lower max_duration, or raise \"Expire active assignment after\" in the group's PIM settings"}})
	} else {
		allows := "assignments without an end"
		if pol.MaxDuration > 0 {
			allows = "active assignments up to " + access.FormatDuration(pol.MaxDuration)
		}
		out = append(out, pimPolicyCheck{pimAspectMaximum, finding{Key: key + ".max_duration",
			Problem: fmt.Sprintf("the PIM policy of group %s allows %s, max_duration %s fits", p.GroupID, allows, time.Duration(p.MaxDuration))}})
	}
	return out
}
