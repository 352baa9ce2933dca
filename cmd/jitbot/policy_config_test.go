package main

import (
	"strings"
	"testing"
	"time"
)

// policyLines are the worked example of the README's policy reference:
// sev1 auto-approved for the on-call group up to 1h, sev2 one approver,
// sev3 two approvers.
const policyLines = `
    severities: [sev1, sev2, sev3]
    severity_rules:
      sev1:
        max_duration: 2h
        auto_approve: { groups: ["aaaaaaaa-0000-4000-8000-000000000009"], max_duration: 1h }
      sev3:
        approvers: { required: 2 }`

func withPolicy(lines string) []byte {
	return []byte(strings.Replace(validConfig, `require_ticket: true`, `require_ticket: true`+lines, 1))
}

func TestProfilePolicyKeys(t *testing.T) {
	cfg, err := ParseConfig(withPolicy(policyLines), testEnv)
	if err != nil {
		t.Fatal(err)
	}
	p, err := cfg.Profiles[0].Profile()
	if err != nil {
		t.Fatal(err)
	}
	if p.SeverityOptional || len(p.Severities) != 3 {
		t.Fatalf("severities %v optional %v, want three, required", p.Severities, p.SeverityOptional)
	}
	sev1, sev2, sev3 := p.Rules("sev1"), p.Rules("sev2"), p.Rules("sev3")
	if sev1.MaxDuration != 2*time.Hour || sev1.RequiredApprovals != 1 || sev1.AutoApprove == nil || sev1.AutoApprove.MaxDuration != time.Hour {
		t.Fatalf("sev1 rules %+v", sev1)
	}
	if sev2.MaxDuration != 4*time.Hour || sev2.RequiredApprovals != 1 || sev2.AutoApprove != nil {
		t.Fatalf("sev2 rules %+v", sev2)
	}
	if sev3.RequiredApprovals != 2 || sev3.AutoApprove != nil {
		t.Fatalf("sev3 rules %+v", sev3)
	}
	raw := strings.Replace(string(withPolicy("\n    severities: [low]\n    severity_required: false")), `channel_id: "19:abc@thread.tacv2" }`, `channel_id: "19:abc@thread.tacv2", required: 2 }`, 1)
	cfg, err = ParseConfig([]byte(raw), testEnv)
	if err != nil {
		t.Fatal(err)
	}
	if p, _ := cfg.Profiles[0].Profile(); p.RequiredApprovals != 2 || !p.SeverityOptional {
		t.Fatalf("required %d, optional %v", p.RequiredApprovals, p.SeverityOptional)
	}
}

func TestProfilePolicyErrorsNameTheKey(t *testing.T) {
	for lines, key := range map[string]string{
		"\n    severities: [Sev1]":       "severities[0]",
		"\n    severities: [sev1, sev1]": "severities[1]",
		"\n    severity_required: true":  "severity_required",
		"\n    severities: [sev1]\n    severity_rules: { sev9: { max_duration: 1h } }":                                                                                         "severity_rules.sev9",
		"\n    severities: [sev1]\n    severity_rules: { sev1: { max_duration: 9h } }":                                                                                         "severity_rules.sev1.max_duration",
		"\n    severities: [sev1]\n    severity_rules: { sev1: { approvers: { required: 0 } } }":                                                                               "severity_rules.sev1.approvers.required",
		"\n    severities: [sev1]\n    severity_rules: { sev1: { approvers: { required: 9 } } }":                                                                               "severity_rules.sev1.approvers.required",
		"\n    auto_approve: { max_duration: 1h }":                                                                                                                             "auto_approve.groups",
		"\n    auto_approve: { groups: [\"aaaaaaaa-0000-4000-8000-000000000009\"] }":                                                                                           "auto_approve.max_duration",
		"\n    auto_approve: { groups: [\"aaaaaaaa-0000-4000-8000-000000000009\"], max_duration: 5h }":                                                                         "auto_approve.max_duration",
		"\n    auto_approve: { groups: [\"oncall\"], max_duration: 1h }":                                                                                                       "auto_approve.groups[0]",
		"\n    auto_approve: { groups: [\"aaaaaaaa-0000-4000-8000-000000000009\"], max_duration: 1h, severities: [sev1] }":                                                     "auto_approve.severities[0]",
		"\n    auto_approve: { groups: [\"aaaaaaaa-0000-4000-8000-000000000009\"], max_duration: 1h, groupz: [] }":                                                             "groupz",
		"\n    severities: [sev1]\n    severity_rules: { sev1: { max_duration: 1h, auto_approve: { groups: [\"aaaaaaaa-0000-4000-8000-000000000009\"], max_duration: 2h } } }": "severity_rules.sev1.auto_approve.max_duration",
	} {
		_, err := ParseConfig(withPolicy(lines), testEnv)
		if err == nil || !strings.Contains(err.Error(), key) {
			t.Errorf("%q gave %v, want an error naming %s", lines, err, key)
		}
	}
}
