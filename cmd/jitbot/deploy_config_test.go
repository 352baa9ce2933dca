package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
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
