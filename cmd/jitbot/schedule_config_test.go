package main

import (
	"strings"
	"testing"
	"time"

	"github.com/jitbot/jitbot/access"
)

// max_start_ahead bounds how far ahead a request may start: 48h unless
// set, positive, and meaningless for break-glass (which cannot be
// scheduled); a bad value is refused naming the key.
func TestProfileMaxStartAheadKey(t *testing.T) {
	for line, want := range map[string]time.Duration{"": access.DefaultMaxStartAhead, "\n    max_start_ahead: 168h": 7 * 24 * time.Hour} {
		cfg, err := ParseConfig([]byte(strings.Replace(validConfig, `require_ticket: true`, `require_ticket: true`+line, 1)), testEnv)
		if err != nil {
			t.Fatalf("%q: %v", line, err)
		}
		p, err := cfg.Profiles[0].Profile()
		if err != nil || p.StartAhead() != want {
			t.Fatalf("%q: start ahead %s (%v), want %s", line, p.StartAhead(), err, want)
		}
	}
	for _, line := range []string{"\n    max_start_ahead: 0s", "\n    max_start_ahead: -1h", "\n    max_start_ahead: tomorrow", "\n    max_start_ahead: 1h\n    break_glass: true"} {
		_, err := ParseConfig([]byte(strings.Replace(validConfig, `require_ticket: true`, `require_ticket: true`+line, 1)), testEnv)
		if err == nil || !strings.Contains(err.Error(), "max_start_ahead") && !strings.Contains(err.Error(), "tomorrow") {
			t.Errorf("%q gave %v, want an error naming max_start_ahead", line, err)
		}
	}
}
