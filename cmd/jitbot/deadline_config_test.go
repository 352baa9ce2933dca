package main

import (
	"strings"
	"testing"
	"time"

	"github.com/jitbot/jitbot/access"
)

func TestProfileDeadlineKeys(t *testing.T) {
	for _, c := range []struct {
		line            string
		timeout, remind time.Duration
	}{
		{"", access.DefaultApprovalTimeout, access.DefaultRemindApprovers},
		{"\n    approval_timeout: 2h\n    remind_approvers: 10m", 2 * time.Hour, 10 * time.Minute},
		{"\n    remind_approvers: 0s", access.DefaultApprovalTimeout, 0},
	} {
		cfg, err := ParseConfig([]byte(strings.Replace(validConfig, `require_ticket: true`, `require_ticket: true`+c.line, 1)), testEnv)
		if err != nil {
			t.Fatalf("%q: %v", c.line, err)
		}
		p, err := cfg.Profiles[0].Profile()
		if err != nil || p.ApprovalTimeout != c.timeout || p.RemindApprovers != c.remind {
			t.Fatalf("%q: timeout %s, remind %s (%v), want %s and %s", c.line, p.ApprovalTimeout, p.RemindApprovers, err, c.timeout, c.remind)
		}
	}
	for line, key := range map[string]string{
		"\n    approval_timeout: 0s":    "approval_timeout",
		"\n    approval_timeout: -1h":   "approval_timeout",
		"\n    remind_approvers: -5m":   "remind_approvers",
		"\n    approval_timeout: never": "never",
	} {
		_, err := ParseConfig([]byte(strings.Replace(validConfig, `require_ticket: true`, `require_ticket: true`+line, 1)), testEnv)
		if err == nil || !strings.Contains(err.Error(), key) {
			t.Errorf("%q gave %v, want an error naming %s", line, err, key)
		}
	}
}

func TestProfileRequireReasonKey(t *testing.T) {
	const key = `channel_id: "19:abc@thread.tacv2"`
	for line, want := range map[string]bool{"": false, ", require_reason: true": true, ", require_reason: false": false} {
		cfg, err := ParseConfig([]byte(strings.Replace(validConfig, key, key+line, 1)), testEnv)
		if err != nil {
			t.Fatalf("%q: %v", line, err)
		}
		p, err := cfg.Profiles[0].Profile()
		if err != nil || p.RequireReason != want {
			t.Fatalf("%q: require_reason %v (%v), want %v", line, p.RequireReason, err, want)
		}
	}
	// Not a boolean: refused (like every boolean key, with the line).
	for line, want := range map[string]string{", require_reason: sometimes": "sometimes", ", require_reason: 1": "into bool", ", require_reasons: true": "require_reasons"} {
		if _, err := ParseConfig([]byte(strings.Replace(validConfig, key, key+line, 1)), testEnv); err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%q gave %v, want an error saying %s", line, err, want)
		}
	}
}
