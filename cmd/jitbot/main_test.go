package main

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/jitbot/jitbot/storage"
)

func runCmd(t *testing.T, env map[string]string, args ...string) (int, string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	var out, errOut bytes.Buffer
	code := run(ctx, args, &out, &errOut, envOf(env))
	return code, out.String() + errOut.String()
}

func writeConfig(t *testing.T, text string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "jitbot.yaml")
	if err := os.WriteFile(p, []byte(text), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

func TestServeRefusesWithoutAppID(t *testing.T) {
	cfg := writeConfig(t, validConfig)
	code, out := runCmd(t, map[string]string{"TENANT": "4f3c2b1a-0d9e-4c8b-9a7f-6e5d4c3b2a10"}, "serve", "--config", cfg)
	if code == 0 || !strings.Contains(out, "MicrosoftAppId is not set") || !strings.Contains(out, "--local") {
		t.Fatalf("exit %d: %s", code, out)
	}
}

func TestServeRefusesInvalidConfig(t *testing.T) {
	cfg := writeConfig(t, strings.Replace(validConfig, "max_duration: 4h", "max_duration: forever", 1))
	code, out := runCmd(t, map[string]string{"TENANT": "4f3c2b1a-0d9e-4c8b-9a7f-6e5d4c3b2a10", "MicrosoftAppId": "x"}, "serve", "--config", cfg)
	if code == 0 || !strings.Contains(out, "forever") {
		t.Fatalf("exit %d: %s", code, out)
	}
}

func TestBotCredentialNeedsItsSecrets(t *testing.T) {
	c := CloudConfig{AuthorityHost: publicAuthorityHost()}
	env := func(m map[string]string) func(string) string { return func(k string) string { return m[k] } }
	if _, err := botCredential(c, "app", env(map[string]string{})); err == nil || !strings.Contains(err.Error(), "MicrosoftAppTenantId") {
		t.Fatalf("single-tenant without tenant: %v", err)
	}
	if _, err := botCredential(c, "app", env(map[string]string{"MicrosoftAppType": "Federated"})); err == nil || !strings.Contains(err.Error(), "SingleTenant") {
		t.Fatalf("unknown app type: %v", err)
	}
	if _, err := botCredential(c, "app", env(map[string]string{"MicrosoftAppType": "MultiTenant", "MicrosoftAppPassword": "s"})); err != nil {
		t.Fatalf("multi-tenant: %v", err)
	}
	if _, err := botCredential(c, "app", env(map[string]string{"MicrosoftAppType": "UserAssignedMSI"})); err != nil {
		t.Fatalf("managed identity: %v", err)
	}
}

func TestLocalModeListensOnLoopbackOnly(t *testing.T) {
	if got, err := loopbackOf(":3978"); err != nil || got != "127.0.0.1:3978" {
		t.Fatalf("loopbackOf(:3978) = %q, %v", got, err)
	}
	if got, _ := loopbackOf("0.0.0.0:8080"); got != "127.0.0.1:8080" {
		t.Fatalf("loopbackOf(0.0.0.0:8080) = %q", got)
	}
	for _, bad := range []string{"0.0.0.0:3978", ":3978", "10.0.0.5:3978"} {
		if err := requireLoopback(bad); err == nil {
			t.Errorf("demo accepted listen address %s", bad)
		}
	}
	for _, ok := range []string{"127.0.0.1:3978", "localhost:1", "[::1]:3978"} {
		if err := requireLoopback(ok); err != nil {
			t.Errorf("demo refused %s: %v", ok, err)
		}
	}
}

func TestDemoRefusesPublicListen(t *testing.T) {
	code, out := runCmd(t, nil, "demo", "--listen", "0.0.0.0:0", "--database", "sqlite:"+filepath.Join(t.TempDir(), "d.db"))
	if code == 0 || !strings.Contains(out, "loopback") {
		t.Fatalf("exit %d: %s", code, out)
	}
}

func TestLocalModeRefusesAServiceURLOffThisMachine(t *testing.T) {
	code, out := runCmd(t, nil, "demo", "--listen", "127.0.0.1:0", "--service-url", "https://smba.trafficmanager.net/teams/",
		"--database", "sqlite:"+filepath.Join(t.TempDir(), "d.db"))
	if code == 0 || !strings.Contains(out, "--service-url") || !strings.Contains(out, "loopback") {
		t.Fatalf("demo: exit %d: %s", code, out)
	}
	cfg := writeConfig(t, validConfig)
	code, out = runCmd(t, map[string]string{"TENANT": "4f3c2b1a-0d9e-4c8b-9a7f-6e5d4c3b2a10"}, "serve", "--config", cfg, "--local")
	if code == 0 || !strings.Contains(out, "cloud.bot_service_url") || !strings.Contains(out, "loopback") {
		t.Fatalf("serve --local: exit %d: %s", code, out)
	}
}

func TestUnknownCommand(t *testing.T) {
	if code, out := runCmd(t, nil, "frobnicate"); code != 2 || !strings.Contains(out, `unknown command "frobnicate"`) || !strings.Contains(out, "jitbot --help") {
		t.Fatalf("exit %d: %s", code, out)
	}
}

func TestDemoAndServeNeverShareADatabase(t *testing.T) {
	env := map[string]string{"TENANT": "4f3c2b1a-0d9e-4c8b-9a7f-6e5d4c3b2a10"}
	// The demo refuses PostgreSQL outright.
	code, out := runCmd(t, nil, "demo", "--listen", "127.0.0.1:0", "--database", "postgres://jitbot:secret@127.0.0.1:5432/prod")
	if code == 0 || !strings.Contains(out, "SQLite file of its own") || strings.Contains(out, "secret") {
		t.Fatalf("demo on PostgreSQL: exit %d: %s", code, out)
	}

	openAs := func(path string, mode storage.Mode) {
		t.Helper()
		db, err := storage.Open(context.Background(), "sqlite:"+path, nil)
		if err != nil {
			t.Fatal(err)
		}
		defer db.Close()
		if got, err := db.Mode(context.Background(), mode); err != nil || got != mode {
			t.Fatalf("mode %q, %v", got, err)
		}
	}
	serveWith := func(path string) (int, string) {
		text := strings.Replace(strings.Replace(validConfig, `sqlite:jitbot.db`, "sqlite:"+path, 1), `":3978"`, `"127.0.0.1:0"`, 1)
		cfg := writeConfig(t, text+"cloud: { bot_service_url: \"http://127.0.0.1:1/\", bot_service_hosts: [\"127.0.0.1\"] }\n")
		return runCmd(t, env, "serve", "--local", "--config", cfg)
	}

	// serve refuses a demo database, and says what to do.
	demoDB := filepath.Join(t.TempDir(), "jitbot-demo.db")
	openAs(demoDB, storage.ModeDemo)
	code, out = serveWith(demoDB)
	if code == 0 || !strings.Contains(out, "created by `jitbot demo`") || !strings.Contains(out, "set `database` to a new database") {
		t.Fatalf("serve on a demo database: exit %d: %s", code, out)
	}

	// demo refuses a serve database, and says what to do.
	serveDB := filepath.Join(t.TempDir(), "jitbot.db")
	openAs(serveDB, storage.ModeServe)
	code, out = runCmd(t, nil, "demo", "--listen", "127.0.0.1:0", "--database", "sqlite:"+serveDB)
	if code == 0 || !strings.Contains(out, "belongs to `jitbot serve`") || !strings.Contains(out, "--database sqlite:jitbot-demo.db") {
		t.Fatalf("demo on a serve database: exit %d: %s", code, out)
	}
}

// TestServeLocalRefusesARemoteServiceURLWithAnAppID: serve --local writes
// only to this machine, whether or not a bot credential is set.
func TestServeLocalRefusesARemoteServiceURLWithAnAppID(t *testing.T) {
	text := strings.Replace(strings.Replace(validConfig, `sqlite:jitbot.db`, "sqlite:"+filepath.Join(t.TempDir(), "x.db"), 1), `":3978"`, `"127.0.0.1:0"`, 1)
	cfg := writeConfig(t, text)
	tenant := "4f3c2b1a-0d9e-4c8b-9a7f-6e5d4c3b2a10"
	env := map[string]string{"TENANT": tenant,
		"MicrosoftAppId": "11111111-2222-4333-8444-555555555555", "MicrosoftAppTenantId": tenant, "MicrosoftAppPassword": "x",
		"AZURE_TENANT_ID": tenant, "AZURE_CLIENT_ID": "11111111-2222-4333-8444-555555555555"}
	code, out := runCmd(t, env, "serve", "--config", cfg, "--local")
	if code == 0 || !strings.Contains(out, "cloud.bot_service_url") {
		t.Fatalf("serve --local with an app id and the public service URL: exit %d: %s", code, out)
	}
}
