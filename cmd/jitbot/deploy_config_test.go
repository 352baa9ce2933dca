package main

import (
	"net"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"gopkg.in/yaml.v3"
)

// TestComposeConfigIsValid parses the configuration compose.yaml mounts,
// with the environment compose.yaml passes, as serve would at start.
func TestComposeConfigIsValid(t *testing.T) {
	raw, err := os.ReadFile("../../deploy/compose/jitbot.yaml")
	if err != nil {
		t.Fatal(err)
	}
	env := map[string]string{
		"JITBOT_DATABASE":             "postgres://jitbot:secret@postgres:5432/jitbot?sslmode=disable",
		"JITBOT_TENANT_ID":            "4f3c2b1a-0d9e-4c8b-9a7f-6e5d4c3b2a10",
		"JITBOT_GROUP_ID":             "aaaaaaaa-0000-4000-8000-000000000001",
		"JITBOT_REQUESTER_GROUP_ID":   "aaaaaaaa-0000-4000-8000-000000000002",
		"JITBOT_APPROVER_GROUP_ID":    "aaaaaaaa-0000-4000-8000-000000000003",
		"JITBOT_APPROVERS_CHANNEL_ID": "19:abc@thread.tacv2",
	}
	cfg, err := ParseConfig(raw, envOf(env))
	if err != nil {
		t.Fatalf("deploy/compose/jitbot.yaml: %v", err)
	}
	if cfg.Listen != ":3978" || cfg.Database != env["JITBOT_DATABASE"] || len(cfg.Profiles) != 1 || cfg.ReplicaID != "" {
		t.Fatalf("listen %q, database %q, %d profiles, replica %q", cfg.Listen, cfg.Database, len(cfg.Profiles), cfg.ReplicaID)
	}
	delete(env, "JITBOT_APPROVER_GROUP_ID")
	if _, err := ParseConfig(raw, envOf(env)); err == nil || !strings.Contains(err.Error(), "JITBOT_APPROVER_GROUP_ID") {
		t.Fatalf("without JITBOT_APPROVER_GROUP_ID: %v", err)
	}
}

// TestComposeHealthcheckAsksReadiness: compose.yaml's health check asks
// /readyz at the metrics_listen of the configuration it mounts, through
// the image's jitbot healthcheck (a flag it parses), on loopback inside
// the container, and no port of compose.yaml publishes the metrics.
func TestComposeHealthcheckAsksReadiness(t *testing.T) {
	raw, err := os.ReadFile("../../compose.yaml")
	if err != nil {
		t.Fatal(err)
	}
	var compose struct {
		Jitbot struct {
			Healthcheck struct {
				Test []string `yaml:"test"`
			} `yaml:"healthcheck"`
		} `yaml:"x-jitbot"`
		Services map[string]struct {
			Ports []string `yaml:"ports"`
		} `yaml:"services"`
	}
	if err := yaml.Unmarshal(raw, &compose); err != nil {
		t.Fatal(err)
	}
	test := compose.Jitbot.Healthcheck.Test
	if len(test) != 5 || test[0] != "CMD" || test[1] != "/usr/local/bin/jitbot" || test[2] != "healthcheck" || test[3] != "--url" {
		t.Fatalf("healthcheck test %q, want [CMD /usr/local/bin/jitbot healthcheck --url <readyz>]", test)
	}
	if !commandFlagNames(t, "healthcheck")["url"] {
		t.Fatal("jitbot healthcheck has no --url")
	}
	cfgRaw, err := os.ReadFile("../../deploy/compose/jitbot.yaml")
	if err != nil {
		t.Fatal(err)
	}
	var m struct {
		MetricsListen string `yaml:"metrics_listen"`
	}
	if err := yaml.Unmarshal(cfgRaw, &m); err != nil {
		t.Fatal(err)
	}
	u, err := url.Parse(test[4])
	if err != nil {
		t.Fatal(err)
	}
	host, port, err := net.SplitHostPort(m.MetricsListen)
	if err != nil || u.Port() != port || u.Path != readyzPath || u.Hostname() != "127.0.0.1" || !net.ParseIP(host).IsLoopback() {
		t.Errorf("healthcheck asks %s; deploy/compose/jitbot.yaml's metrics_listen is %q", test[4], m.MetricsListen)
	}
	for name, svc := range compose.Services {
		for _, p := range svc.Ports {
			if strings.HasSuffix(p, ":"+port) {
				t.Errorf("service %s publishes the metrics port: %s", name, p)
			}
		}
	}
}

// TestDockerContextLeavesOutSecrets: the files compose.yaml and the README
// tell an operator to create next to the sources (the audit signing key,
// the .env file) stay out of the image's build context, where `COPY . .`
// would put them into the build stage's layers and the build cache.
func TestDockerContextLeavesOutSecrets(t *testing.T) {
	raw, err := os.ReadFile("../../.dockerignore")
	if err != nil {
		t.Fatal(err)
	}
	var patterns []string
	for line := range strings.SplitSeq(string(raw), "\n") {
		if line = strings.TrimSpace(line); line != "" && !strings.HasPrefix(line, "#") {
			patterns = append(patterns, line)
		}
	}
	// ignored reports whether a pattern leaves out path (relative to the
	// context), as Docker matches them: from the context's root, "**/"
	// for any depth.
	ignored := func(path string) bool {
		for _, p := range patterns {
			p = strings.TrimPrefix(p, "/")
			if ok, _ := filepath.Match(p, path); ok {
				return true
			}
			if rest, any := strings.CutPrefix(p, "**/"); any {
				if ok, _ := filepath.Match(rest, filepath.Base(path)); ok {
					return true
				}
			}
		}
		return false
	}
	for _, f := range []string{"audit-signing.pem", "deploy/compose/audit-signing.pem", "secrets/bot.key", ".env", "jitbot.env"} {
		if !ignored(f) {
			t.Errorf(".dockerignore does not leave out %s", f)
		}
	}
	for _, f := range []string{"go.mod", "cmd/jitbot/main.go", ".git/HEAD"} {
		if ignored(f) {
			t.Errorf(".dockerignore leaves out %s, which the build needs", f)
		}
	}
}
