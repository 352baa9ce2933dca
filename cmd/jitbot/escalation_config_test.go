package main

import (
	"strings"
	"testing"
	"time"
)

func TestProfileEscalationKeys(t *testing.T) {
	const approvers = `channel_id: "19:abc@thread.tacv2" }`
	with := func(keys string) string {
		return strings.Replace(validConfig, approvers, `channel_id: "19:abc@thread.tacv2"`+keys+` }`, 1)
	}
	good := `, escalate_after: 20m, escalation_channel_id: "19:esc@thread.tacv2", escalation_groups: ["aaaaaaaa-0000-4000-8000-00000000000e"]`
	cfg, err := ParseConfig([]byte(with(good)), testEnv)
	if err != nil {
		t.Fatal(err)
	}
	p, err := cfg.Profiles[0].Profile()
	if err != nil || p.EscalateAfter != 20*time.Minute || p.EscalationChannelID != "19:esc@thread.tacv2" || len(p.EscalationGroups) != 1 {
		t.Fatalf("escalation %s %q %v (%v)", p.EscalateAfter, p.EscalationChannelID, p.EscalationGroups, err)
	}
	for keys, want := range map[string]string{
		`, escalate_after: 1h, escalation_channel_id: "19:esc@thread.tacv2", escalation_groups: ["aaaaaaaa-0000-4000-8000-00000000000e"]`: "profiles[0] (prod-db).approvers.escalate_after: must be shorter than approval_timeout",
		`, escalate_after: 0s, escalation_channel_id: "19:esc@thread.tacv2", escalation_groups: ["aaaaaaaa-0000-4000-8000-00000000000e"]`: "approvers.escalate_after: must be positive",
		`, escalate_after: 20m, escalation_groups: ["aaaaaaaa-0000-4000-8000-00000000000e"]`:                                              "approvers.escalation_channel_id: is empty",
		`, escalate_after: 20m, escalation_channel_id: "19:esc@thread.tacv2"`:                                                             "approvers.escalation_groups: is empty",
		`, escalate_after: 20m, escalation_channel_id: "19:esc@thread.tacv2", escalation_groups: ["on-call"]`:                             "approvers.escalation_groups[0]: want a group object id",
		`, escalation_channel_id: "19:esc@thread.tacv2"`:                                                                                  "approvers.escalation_channel_id: set without approvers.escalate_after",
		`, escalation_groups: ["aaaaaaaa-0000-4000-8000-00000000000e"]`:                                                                   "approvers.escalation_groups: set without approvers.escalate_after",
	} {
		_, err := ParseConfig([]byte(with(keys)), testEnv)
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%s gave %v, want %q", keys, err, want)
		}
	}
}

func TestSecurityAdminGroups(t *testing.T) {
	cfg, err := ParseConfig([]byte(validConfig+"\nsecurity: { admin_groups: [\"aaaaaaaa-0000-4000-8000-00000000000a\"] }\n"), testEnv)
	if err != nil || len(cfg.Security.AdminGroups) != 1 {
		t.Fatalf("admin groups %v (%v)", cfg, err)
	}
	_, err = ParseConfig([]byte(validConfig+"\nsecurity: { admin_groups: [\"admins\"] }\n"), testEnv)
	if err == nil || !strings.Contains(err.Error(), "security.admin_groups[0]: want a group object id") {
		t.Fatalf("a bad admin group gave %v", err)
	}
}

// `jitbot config check` asks about the escalation and admin groups and the
// escalation channel too, each reported under its key.
func TestConfigCheckEscalationAndAdmins(t *testing.T) {
	w := newCCWorld(t)
	text := strings.Replace(validConfig, `channel_id: "19:abc@thread.tacv2" }`,
		`channel_id: "19:abc@thread.tacv2", escalate_after: 20m, escalation_channel_id: "19:esc@thread.tacv2", escalation_groups: ["aaaaaaaa-0000-4000-8000-0000000000e1"] }`, 1) +
		"security: { admin_groups: [\"aaaaaaaa-0000-4000-8000-0000000000e2\"] }\n"
	code, out := w.check(t, text, onlineEnv)
	if code != 1 {
		t.Errorf("exit %d, want 1", code)
	}
	for _, want := range []struct{ prefix, part string }{
		{"error: profiles[0] (prod-db).approvers.escalation_groups[0]:", "does not exist in the tenant"},
		{"error: security.admin_groups[0]:", "does not exist in the tenant"},
		{"error: profiles[0] (prod-db).approvers.escalation_channel_id:", "cannot reach channel 19:esc@thread.tacv2"},
	} {
		if !lineWith(out, want.prefix, want.part) {
			t.Errorf("no line %q with %q", want.prefix, want.part)
		}
	}
}
