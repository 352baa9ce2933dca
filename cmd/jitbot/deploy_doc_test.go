package main

import (
	"bytes"
	"encoding/json"
	"net"
	"os"
	"reflect"
	"regexp"
	"strconv"
	"strings"
	"testing"

	"gopkg.in/yaml.v3"
)

// deployGuide is the deployment guide the tests below keep in step with
// the code.
const deployGuide = "../../docs/deploy.md"

// mdBlock is a fenced block of a Markdown file.
type mdBlock struct {
	lang, text string
	line       int // of the opening fence
}

// fencedBlocks splits Markdown into its fenced blocks (indented fences of
// list items included, their indentation removed) and the text outside
// them.
func fencedBlocks(t *testing.T, md string) (blocks []mdBlock, prose string) {
	t.Helper()
	var out strings.Builder
	var cur *mdBlock
	indent := ""
	var body strings.Builder
	for i, line := range strings.Split(md, "\n") {
		trimmed := strings.TrimLeft(line, " ")
		if cur == nil {
			if rest, ok := strings.CutPrefix(trimmed, "```"); ok {
				cur = &mdBlock{lang: strings.TrimSpace(rest), line: i + 1}
				indent = line[:len(line)-len(trimmed)]
				body.Reset()
				continue
			}
			out.WriteString(line + "\n")
			continue
		}
		if trimmed == "```" {
			cur.text = body.String()
			blocks = append(blocks, *cur)
			cur = nil
			continue
		}
		body.WriteString(strings.TrimPrefix(line, indent) + "\n")
	}
	if cur != nil {
		t.Fatalf("the block opened on line %d is not closed", cur.line)
	}
	return blocks, out.String()
}

// guidePlaceholders are the placeholders the guide's YAML may use, with a
// value of their kind for the configuration loader.
var guidePlaceholders = map[string]string{
	"<tenant id>":   "4f3c2b1a-0d9e-4c8b-9a7f-6e5d4c3b2a10",
	"<bot app id>":  "9b1c7f5e-2d4a-4e8b-8c6f-1a2b3c4d5e6f",
	"<group id>":    "aaaaaaaa-0000-4000-8000-000000000001",
	"<jitbot host>": "jitbot.contoso.example",
}

// guideEnv is the environment the guide's YAML names with ${VAR}.
var guideEnv = map[string]string{
	"JITBOT_DATABASE": "postgres://jitbot:secret@db.example:5432/jitbot?sslmode=verify-full",
}

// guideBase is a whole configuration the guide's fragments are laid over,
// key by top-level key.
const guideBase = `tenant_id: "4f3c2b1a-0d9e-4c8b-9a7f-6e5d4c3b2a10"
database: "sqlite:jitbot.db"
profiles:
  - name: prod-db
    description: "Read access to the production databases"
    group_id: "aaaaaaaa-0000-4000-8000-000000000001"
    max_duration: 4h
    approvers: { groups: ["aaaaaaaa-0000-4000-8000-000000000002"], channel_id: "19:abc@thread.tacv2" }
`

var placeholder = regexp.MustCompile(`<[^<>\n]+>`)

// parseGuideYAML fills in the placeholders of a configuration fragment of
// the guide, lays it over guideBase and loads it as serve does (unknown
// keys and bad values fail).
func parseGuideYAML(t *testing.T, b mdBlock) (*Config, error) {
	t.Helper()
	text := placeholder.ReplaceAllStringFunc(b.text, func(p string) string {
		v, ok := guidePlaceholders[p]
		if !ok {
			t.Errorf("line %d: placeholder %s has no value in guidePlaceholders", b.line, p)
		}
		return v
	})
	var base, frag map[string]any
	if err := yaml.Unmarshal([]byte(guideBase), &base); err != nil {
		t.Fatal(err)
	}
	// Decoded alone first, so that an unknown key is named as in the guide.
	if _, err := decodeConfig([]byte(text)); err != nil {
		return nil, err
	}
	if err := yaml.Unmarshal([]byte(text), &frag); err != nil {
		return nil, err
	}
	for k, v := range frag {
		base[k] = v
	}
	merged, err := yaml.Marshal(base)
	if err != nil {
		t.Fatal(err)
	}
	return ParseConfig(merged, envOf(guideEnv))
}

// TestDeployGuideYAML: every YAML block of docs/deploy.md that is jitbot
// configuration loads with the real loader; the one that is not, the
// Container Apps revision template, probes readiness on the port of the
// guide's metrics_listen and liveness on the messaging port.
func TestDeployGuideYAML(t *testing.T) {
	raw, err := os.ReadFile(deployGuide)
	if err != nil {
		t.Fatal(err)
	}
	blocks, _ := fencedBlocks(t, string(raw))
	var template *mdBlock
	metricsPort, configs := "", 0
	for _, b := range blocks {
		if b.lang != "yaml" {
			continue
		}
		if strings.HasPrefix(b.text, "properties:") {
			template = &b
			continue
		}
		configs++
		cfg, err := parseGuideYAML(t, b)
		if err != nil {
			t.Errorf("the YAML block of line %d does not load: %v\n%s", b.line, err, b.text)
			continue
		}
		if strings.Contains(b.text, "metrics_listen:") {
			host, port, _ := net.SplitHostPort(cfg.metricsListen())
			if ip := net.ParseIP(host); host != "" && (ip == nil || ip.IsLoopback()) {
				t.Errorf("line %d: metrics_listen %q for a platform's probes is loopback", b.line, cfg.metricsListen())
			}
			metricsPort = port
		}
	}
	if configs < 4 {
		t.Fatalf("%d configuration blocks found in %s", configs, deployGuide)
	}
	if template == nil || metricsPort == "" {
		t.Fatalf("the guide has no Container Apps template (%v) or no metrics_listen for it (%q)", template != nil, metricsPort)
	}
	var app struct {
		Properties struct {
			Template struct {
				Containers []struct {
					Probes []struct {
						Type    string `yaml:"type"`
						HTTPGet struct {
							Path string `yaml:"path"`
							Port int    `yaml:"port"`
						} `yaml:"httpGet"`
					} `yaml:"probes"`
				} `yaml:"containers"`
			} `yaml:"template"`
		} `yaml:"properties"`
	}
	if err := yaml.Unmarshal([]byte(template.text), &app); err != nil || len(app.Properties.Template.Containers) != 1 {
		t.Fatalf("the Container Apps template of line %d: %v", template.line, err)
	}
	// The messaging port: the default listen, which the template keeps.
	def, err := ParseConfig([]byte(guideBase), envOf(nil))
	if err != nil {
		t.Fatal(err)
	}
	_, listenPort, _ := net.SplitHostPort(def.Listen)
	want := map[string]struct{ path, port string }{
		"Liveness":  {healthzPath, listenPort},
		"Readiness": {readyzPath, metricsPort},
	}
	for _, p := range app.Properties.Template.Containers[0].Probes {
		w, ok := want[p.Type]
		if !ok {
			t.Errorf("probe type %q", p.Type)
			continue
		}
		delete(want, p.Type)
		if got := p.HTTPGet.Path; got != w.path || strconv.Itoa(p.HTTPGet.Port) != w.port {
			t.Errorf("%s probe GET %s on %d, want %s on %s", p.Type, got, p.HTTPGet.Port, w.path, w.port)
		}
	}
	if len(want) > 0 {
		t.Errorf("the template lacks the probes %v", want)
	}
}

// guideCommands are the jitbot command lines of docs/deploy.md: the lines
// of its sh blocks that start with jitbot or run the image with arguments
// (continuations joined, comments and pipes cut), and its inline code that
// starts with "jitbot " or with a command and a flag (the image's
// arguments, `doctor --config ...`).
func guideCommands(t *testing.T, md string) []string {
	t.Helper()
	blocks, prose := fencedBlocks(t, md)
	var cmds []string
	for _, b := range blocks {
		if b.lang != "sh" {
			continue
		}
		joined := strings.ReplaceAll(b.text, "\\\n", " ")
		for _, line := range strings.Split(joined, "\n") {
			switch _, inImage, ok := strings.Cut(line, "/jitbot:<version> "); {
			case strings.HasPrefix(strings.TrimSpace(line), "jitbot "):
				cmds = append(cmds, line)
			case ok && strings.Contains(line, "docker run "): // ... <registry>/jitbot:<version> doctor ...
				cmds = append(cmds, "jitbot "+inImage)
			}
		}
	}
	for _, m := range regexp.MustCompile("`([^`]+)`").FindAllStringSubmatch(prose, -1) {
		span := strings.Join(strings.Fields(m[1]), " ")
		first, _, _ := strings.Cut(span, " ")
		_, isCommand := lookupCommand(first)
		switch {
		case strings.HasPrefix(span, "jitbot "):
			cmds = append(cmds, span)
		case isCommand && strings.Contains(span, " -"): // the image's arguments: `serve --config ...`
			cmds = append(cmds, "jitbot "+span)
		}
	}
	for i, c := range cmds {
		for _, cut := range []string{" #", "|", ";", "&&", ">"} {
			c, _, _ = strings.Cut(c, cut)
		}
		cmds[i] = strings.TrimSpace(c)
	}
	return cmds
}

// commandFlagNames are the flags command parses, read from its help
// (which its own flag set prints).
func commandFlagNames(t *testing.T, name string) map[string]bool {
	t.Helper()
	var help bytes.Buffer
	if err := commandHelp(name, &help); err != nil {
		t.Fatalf("jitbot %s --help: %v", name, err)
	}
	flags := map[string]bool{"h": true, "help": true}
	for _, m := range regexp.MustCompile(`(?m)^  -(\S+)`).FindAllStringSubmatch(help.String(), -1) {
		flags[m[1]] = true
	}
	return flags
}

// TestDeployGuideCommands: every jitbot command the deployment guide shows
// is in the command table, and every flag it gives is one that command
// parses.
func TestDeployGuideCommands(t *testing.T) {
	raw, err := os.ReadFile(deployGuide)
	if err != nil {
		t.Fatal(err)
	}
	cmds := guideCommands(t, string(raw))
	if len(cmds) < 15 {
		t.Fatalf("%d commands found in %s: %q", len(cmds), deployGuide, cmds)
	}
	seen := map[string]bool{}
	for _, c := range cmds {
		if name := checkCommandLine(t, c); name != "" {
			seen[name] = true
		}
	}
	for _, want := range []string{"doctor", "reconcile", "config check", "audit verify", "manifest", "healthcheck"} {
		if !seen[want] {
			t.Errorf("the guide no longer shows jitbot %s", want)
		}
	}
}

// checkCommandLine reports an error unless the command line c ("jitbot
// config check --online ...") names a command of the table and only flags
// that command parses; it returns the command's name.
func checkCommandLine(t *testing.T, c string) string {
	t.Helper()
	words := strings.Fields(c)[1:]
	if len(words) == 0 {
		return ""
	}
	name := ""
	if len(words) >= 2 {
		if _, ok := lookupCommand(words[0] + " " + words[1]); ok {
			name, words = words[0]+" "+words[1], words[2:]
		}
	}
	if name == "" {
		if _, ok := lookupCommand(words[0]); !ok {
			t.Errorf("%q: no command %q in the command table", c, words[0])
			return ""
		}
		name, words = words[0], words[1:]
	}
	if subcommands(name) != nil && len(words) > 0 && !strings.HasPrefix(words[0], "-") {
		t.Errorf("%q: jitbot %s has no command %q", c, name, words[0])
		return name
	}
	flags := commandFlagNames(t, name)
	for _, w := range words {
		if !strings.HasPrefix(w, "-") {
			continue
		}
		f, _, _ := strings.Cut(strings.TrimLeft(w, "-"), "=")
		if !flags[f] {
			t.Errorf("%q: jitbot %s has no flag %s", c, name, w)
		}
	}
	return name
}

// TestDeployFilesCommands: the commands the Dockerfile runs (CMD,
// HEALTHCHECK), compose.yaml's health check and the jitbot commands the
// comments of compose.yaml and deploy/compose/ show exist, with their
// flags.
func TestDeployFilesCommands(t *testing.T) {
	read := func(p string) string {
		raw, err := os.ReadFile("../../" + p)
		if err != nil {
			t.Fatal(err)
		}
		return string(raw)
	}
	var cmds []string
	dockerfile, compose := read("Dockerfile"), read("compose.yaml")
	// Exec-form argument lists: the image's CMD (the arguments of its
	// ENTRYPOINT, jitbot), and every list that runs the binary.
	execForm := regexp.MustCompile(`(?m)^(CMD|.*?) *(\[".*\])\s*$`)
	for _, text := range []string{dockerfile, compose} {
		for _, m := range execForm.FindAllStringSubmatch(text, -1) {
			var argv []string
			if err := json.Unmarshal([]byte(m[2]), &argv); err != nil {
				continue // not a list of strings
			}
			if len(argv) > 0 && argv[0] == "CMD" {
				argv = argv[1:]
			}
			switch {
			case text == dockerfile && m[1] == "CMD":
			case len(argv) > 0 && argv[0] == "/usr/local/bin/jitbot":
				argv = argv[1:]
			default:
				continue // another program (pg_isready), or not a command
			}
			if len(argv) > 0 {
				cmds = append(cmds, "jitbot "+strings.Join(argv, " "))
			}
		}
	}
	for _, text := range []string{compose, read("deploy/compose/env.example"), read("deploy/compose/jitbot.yaml"), dockerfile} {
		for _, m := range regexp.MustCompile("(?m)(?:^#\\s{2,}|`)(jitbot [a-z][^`\n]*)").FindAllStringSubmatch(text, -1) {
			c, _, _ := strings.Cut(m[1], "`")
			c, _, _ = strings.Cut(c, " #")
			cmds = append(cmds, c)
		}
	}
	seen := map[string]bool{}
	for _, c := range cmds {
		seen[checkCommandLine(t, c)] = true
	}
	for _, want := range []string{"serve", "healthcheck", "audit keygen"} {
		if !seen[want] {
			t.Errorf("jitbot %s not found in the deployment files (found %q)", want, cmds)
		}
	}
}

// TestDeployGuideKeys: every dotted configuration key the guide names in
// its text (`revoke.lease`, `cloud.bot_token_service_url`, ...; a key under
// a profile as `approvers.channel_id`) is a key of the configuration.
func TestDeployGuideKeys(t *testing.T) {
	raw, err := os.ReadFile(deployGuide)
	if err != nil {
		t.Fatal(err)
	}
	_, prose := fencedBlocks(t, string(raw))
	top, profile := reflect.TypeFor[Config](), reflect.TypeFor[ProfileSpec]()
	keyish := regexp.MustCompile(`^([a-z_]+(?:\.[a-z_]+)+)(?::.*)?$`)
	checked := 0
	for _, m := range regexp.MustCompile("`([^`\n]+)`").FindAllStringSubmatch(prose, -1) {
		k := keyish.FindStringSubmatch(m[1])
		if k == nil {
			continue
		}
		path := strings.Split(k[1], ".")
		var root reflect.Type
		switch {
		case yamlField(top, path[0]) != nil:
			root = top
		case yamlField(profile, path[0]) != nil:
			root = profile
		default:
			continue // not a key (an audit action such as reconcile.removed)
		}
		checked++
		if bad := resolveKey(root, path); bad != "" {
			t.Errorf("`%s`: the configuration has no key %s", m[1], bad)
		}
	}
	if checked < 10 {
		t.Fatalf("%d configuration keys found in %s", checked, deployGuide)
	}
}

// yamlField is the type of the field of struct type st whose yaml name is
// name, or nil.
func yamlField(st reflect.Type, name string) reflect.Type {
	for st.Kind() == reflect.Pointer || st.Kind() == reflect.Slice {
		st = st.Elem()
	}
	if st.Kind() != reflect.Struct {
		return nil
	}
	for i := range st.NumField() {
		f := st.Field(i)
		tag, _, _ := strings.Cut(f.Tag.Get("yaml"), ",")
		if tag == name {
			return f.Type
		}
	}
	return nil
}

// resolveKey follows path through the yaml names of root; it returns the
// first part that is no key ("" when all are).
func resolveKey(root reflect.Type, path []string) string {
	t := root
	for i, p := range path {
		for t.Kind() == reflect.Pointer || t.Kind() == reflect.Slice {
			t = t.Elem()
		}
		if t.Kind() == reflect.Map {
			return "" // any name below
		}
		next := yamlField(t, p)
		if next == nil {
			return strings.Join(path[:i+1], ".")
		}
		t = next
	}
	return ""
}

// TestREADMECommands: every jitbot command line of README.md names a
// command of the table and flags it parses (jitbot's own --help and the
// generic `jitbot <command> --help` aside).
func TestREADMECommands(t *testing.T) {
	raw, err := os.ReadFile("../../README.md")
	if err != nil {
		t.Fatal(err)
	}
	// A table cell escapes the alternatives' bar: verify\|checkpoint.
	text := strings.ReplaceAll(string(raw), `\|`, "|")
	n := 0
	for _, c := range guideCommands(t, text) {
		if c == "jitbot --help" || c == "jitbot --version" || strings.HasPrefix(c, "jitbot <command") {
			continue
		}
		checkCommandLine(t, c)
		n++
	}
	if n < 30 {
		t.Fatalf("%d command lines found in README.md", n)
	}
}
