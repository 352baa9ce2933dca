package main

import (
	"strings"
	"testing"
	"time"

	"github.com/jitbot/jitbot/access"
)

func TestProfileBreakGlassKeys(t *testing.T) {
	withSecurity := validConfig + "\nsecurity: { channel_id: \"19:security@thread.tacv2\" }\n"
	for _, c := range []struct {
		line   string
		within time.Duration
		revoke bool
	}{
		{"\n    break_glass: true", access.DefaultReviewWithin, false},
		{"\n    break_glass: true\n    review_within: 30m\n    revoke_if_unreviewed: true", 30 * time.Minute, true},
	} {
		cfg, err := ParseConfig([]byte(strings.Replace(withSecurity, `require_ticket: true`, `require_ticket: true`+c.line, 1)), testEnv)
		if err != nil {
			t.Fatalf("%q: %v", c.line, err)
		}
		p, err := cfg.Profiles[0].Profile()
		if err != nil || !p.BreakGlass || p.ReviewWithin != c.within || p.RevokeIfUnreviewed != c.revoke {
			t.Fatalf("%q: break-glass %v within %s revoke %v (%v)", c.line, p.BreakGlass, p.ReviewWithin, p.RevokeIfUnreviewed, err)
		}
	}
	for _, c := range []struct{ base, line, key string }{
		{validConfig, "\n    break_glass: true", "profiles[0] (prod-db).break_glass: needs security.channel_id"},
		{withSecurity, "\n    review_within: 1h", "profiles[0] (prod-db).review_within: set without break_glass"},
		{withSecurity, "\n    revoke_if_unreviewed: true", "profiles[0] (prod-db).revoke_if_unreviewed: set without break_glass"},
		{withSecurity, "\n    break_glass: true\n    review_within: 0s", "review_within: must be positive"},
		{withSecurity, "\n    break_glass: true\n    review_within: -1m", "review_within: must be positive"},
	} {
		_, err := ParseConfig([]byte(strings.Replace(c.base, `require_ticket: true`, `require_ticket: true`+c.line, 1)), testEnv)
		if err == nil || !strings.Contains(err.Error(), c.key) {
			t.Errorf("%q gave %v, want an error naming %s", c.line, err, c.key)
		}
	}
}
