package bot_test

import (
	"net/http"
	"testing"
	"time"

	"github.com/jitbot/jitbot/access"
)

// TestSeverityAndStartInEitherOrder: on a profile with severities, the
// one-liner's severity and start may come in either order after the
// duration; both are read, and the request waits for its start. Before,
// `2h sev3 at 22:00 ...` lost the start (`at 22:00` went into the
// justification), which on a profile without a ticket rule asked for
// access at once instead of at 22:00.
func TestSeverityAndStartInEitherOrder(t *testing.T) {
	for _, c := range []struct {
		text          string
		requireTicket bool
	}{
		{"request prod-db 2h sev3 at 22:00 INC-7 schema migration", true},
		{"request prod-db 2h at 22:00 sev3 INC-7 schema migration", true},
		{"request prod-db 2h sev3 at 22:00 INC-7 schema migration", false},
		{"request prod-db 2h sev3 tomorrow at 9:00 INC-7 schema migration", true},
	} {
		t.Run(c.text, func(t *testing.T) {
			w := newWorld(t)
			w.withPolicy()
			w.reconfigure(func(cfg *access.Config) { cfg.Profiles[0].RequireTicket = c.requireTicket })
			if code, _ := w.post(w.inZone(c.text, "Europe/Berlin")); code != http.StatusOK {
				t.Fatalf("request: HTTP %d", code)
			}
			req := w.onlyRequest()
			want := scheduledAt
			if c.text == "request prod-db 2h sev3 tomorrow at 9:00 INC-7 schema migration" {
				want = time.Date(2026, 11, 24, 8, 0, 0, 0, time.UTC)
			}
			if !req.StartsAt.Equal(want) || req.Severity != "sev3" || req.Ticket != "INC-7" || req.Justification != "schema migration" {
				t.Fatalf("stored start %v (want %v), severity %q, ticket %q, justification %q", req.StartsAt, want, req.Severity, req.Ticket, req.Justification)
			}
		})
	}
}
