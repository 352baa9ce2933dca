package bot_test

import (
	"context"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/jitbot/jitbot/access"
)

// TestUndecidedScheduledRequestEndsWithItsWindow: a scheduled request
// nobody decided times out when its window ends, even though its profile's
// approval_timeout is longer: after that it could never be granted. Until
// then it blocked the requester's next request for the profile and kept
// reminding the approvers.
func TestUndecidedScheduledRequestEndsWithItsWindow(t *testing.T) {
	w := newWorld(t)
	ctx := context.Background()
	w.reconfigure(func(c *access.Config) {
		c.Profiles[0].ApprovalTimeout = 24 * time.Hour
		c.Profiles[0].RemindApprovers = 15 * time.Minute
	})
	if code, _ := w.post(w.inZone("request prod-db 1h at 10:30 INC-4711 short window", "Europe/Berlin")); code != http.StatusOK {
		t.Fatalf("request: HTTP %d", code)
	}
	req := w.onlyRequest() // 09:30 to 10:30 UTC, asked at 09:00 UTC
	end := time.Date(2026, 11, 23, 10, 30, 0, 0, time.UTC)
	if !req.DecideBy.Equal(end) {
		t.Fatalf("deadline %v, want the window's end %v", req.DecideBy, end)
	}
	w.clock.Set(end)
	if _, err := w.svc.WorkPending(ctx); err != nil {
		t.Fatal(err)
	}
	if got, _ := w.db.GetRequest(ctx, req.ID); got.State != access.RequestTimedOut {
		t.Fatalf("at the window's end: %s, want timed out", got.State)
	}
	if code, _ := w.post(w.message(riley, "request prod-db 1h INC-4712 the migration, now")); code != http.StatusOK {
		t.Fatalf("next request: HTTP %d", code)
	}
	if got := w.onlyRequest(); got.ID == req.ID || got.State != access.RequestPending {
		t.Fatalf("the next request: %+v", got)
	}
	if texts := w.texts("a:personal-" + rileyID); strings.Contains(texts, "You already have a pending request") {
		t.Fatalf("the next request was refused as a duplicate:\n%s", texts)
	}
}
