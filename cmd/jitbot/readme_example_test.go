package main

import (
	"os"
	"slices"
	"strings"
	"testing"
	"time"
)

// readmeExample is the worked policy example of README.md: the YAML block
// after the worked-example marker.
func readmeExample(t *testing.T) string {
	t.Helper()
	raw, err := os.ReadFile("../../README.md")
	if err != nil {
		t.Fatal(err)
	}
	const marker = "<!-- worked-example -->\n```yaml\n"
	_, rest, ok := strings.Cut(string(raw), marker)
	if !ok {
		t.Fatal("README.md has no worked policy example")
	}
	block, _, ok := strings.Cut(rest, "\n```")
	if !ok {
		t.Fatal("the worked example's YAML block is not closed")
	}
	return block + "\n"
}

// TestREADMEPolicyExample: the README's worked example is a whole
// configuration that `jitbot config check --offline --strict` accepts, and
// it says what the README says of it: sev1 auto-approved for the on-call
// rota up to 1h, sev2 one approver, sev3 two, and break-glass for the
// database, revoked unless reviewed within 30m.
func TestREADMEPolicyExample(t *testing.T) {
	text := readmeExample(t)
	code, out := runCmd(t, map[string]string{}, "config", "check", "--config", writeConfig(t, text), "--offline", "--strict")
	if code != 0 || !strings.Contains(out, "0 errors, 0 warnings: valid") {
		t.Fatalf("config check of the README's example: exit %d\n%s", code, out)
	}
	cfg, err := ParseConfig([]byte(text), envOf(nil))
	if err != nil {
		t.Fatal(err)
	}
	if len(cfg.Profiles) != 2 {
		t.Fatalf("%d profiles", len(cfg.Profiles))
	}
	db, err := cfg.Profiles[0].Profile()
	if err != nil {
		t.Fatal(err)
	}
	oncall := "4e5f6a7b-8c9d-4e0f-9a1b-2c3d4e5f6a7b"
	sev1, sev2, sev3 := db.Rules("sev1"), db.Rules("sev2"), db.Rules("sev3")
	if a := sev1.AutoApprove; a == nil || !slices.Equal(a.Groups, []string{oncall}) || a.MaxDuration != time.Hour || sev1.MaxDuration != 2*time.Hour {
		t.Errorf("sev1: %+v", sev1)
	}
	if sev2.RequiredApprovals != 1 || sev2.AutoApprove != nil || sev3.RequiredApprovals != 2 {
		t.Errorf("sev2 %+v, sev3 %+v", sev2, sev3)
	}
	bg, err := cfg.Profiles[1].Profile()
	if err != nil {
		t.Fatal(err)
	}
	if !bg.BreakGlass || bg.ReviewWithin != 30*time.Minute || !bg.RevokeIfUnreviewed || !slices.Equal(bg.RequesterGroups, []string{oncall}) {
		t.Errorf("break-glass profile %+v", bg)
	}
}
