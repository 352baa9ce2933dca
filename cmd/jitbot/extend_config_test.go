package main

import (
	"strings"
	"testing"
	"time"

	"github.com/jitbot/jitbot/access"
)

func TestProfileExtensionKeys(t *testing.T) {
	for _, c := range []struct {
		line                   string
		remind, selfMax, total time.Duration
		wantTotalIsMaxDuration bool
	}{
		{"", access.DefaultRemindBefore, 0, 0, true},
		{"\n    remind_before: 0s", 0, 0, 0, true},
		{"\n    remind_before: 5m\n    self_extend_max: 30m\n    max_total_duration: 8h", 5 * time.Minute, 30 * time.Minute, 8 * time.Hour, false},
	} {
		cfg, err := ParseConfig([]byte(strings.Replace(validConfig, `require_ticket: true`, `require_ticket: true`+c.line, 1)), testEnv)
		if err != nil {
			t.Fatalf("%q: %v", c.line, err)
		}
		p, err := cfg.Profiles[0].Profile()
		if err != nil || p.RemindBefore != c.remind || p.SelfExtendMax != c.selfMax || p.MaxTotalDuration != c.total {
			t.Fatalf("%q: remind %s, self %s, total %s (%v)", c.line, p.RemindBefore, p.SelfExtendMax, p.MaxTotalDuration, err)
		}
		if c.wantTotalIsMaxDuration && p.MaxTotal() != p.MaxDuration {
			t.Fatalf("%q: total bound %s, want max_duration %s", c.line, p.MaxTotal(), p.MaxDuration)
		}
	}
	for line, key := range map[string]string{
		"\n    remind_before: -1m":      "remind_before",
		"\n    self_extend_max: -1m":    "self_extend_max",
		"\n    max_total_duration: 1h":  "max_total_duration",
		"\n    max_total_duration: -4h": "max_total_duration",
		"\n    remind_before: soon":     "soon",
	} {
		_, err := ParseConfig([]byte(strings.Replace(validConfig, `require_ticket: true`, `require_ticket: true`+line, 1)), testEnv)
		if err == nil || !strings.Contains(err.Error(), key) {
			t.Errorf("%q gave %v, want an error naming %s", line, err, key)
		}
	}
}
