package bot_test

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/jitbot/jitbot/access"
	"github.com/jitbot/jitbot/metrics"
)

// TestScheduledOutcomesInMetrics: /metrics counts what became of requests
// approved ahead, as the operator watching it would look for them: one
// started at its start, one revoked before it, one whose window passed
// while jitbot was not running (nothing was added for the last two). Each
// is counted once.
func TestScheduledOutcomesInMetrics(t *testing.T) {
	w := newWorld(t)
	m := metrics.New(nil)
	w.db.OnAudit(m.Audit)
	ctx := context.Background()

	started := w.scheduled("request prod-db 2h at 22:00 INC-4711 nightly orders migration")
	w.clock.Set(scheduledAt)
	if _, err := w.svc.WorkStarts(ctx); err != nil {
		t.Fatal(err)
	}
	if got, _ := w.db.GetRequest(ctx, started.ID); got.State != access.RequestActive {
		t.Fatalf("at the start: %s", got.State)
	}
	if _, err := w.svc.Release(ctx, access.EndInput{TenantID: tenantID, RequestID: started.ID, Who: access.Person{ObjectID: rileyID, Name: riley.name}}); err != nil {
		t.Fatal(err)
	}
	if _, err := w.svc.Work(ctx); err != nil {
		t.Fatal(err)
	}

	revoked := w.scheduled("request prod-db 1h at 23:30 INC-4712 reindex")
	code, _ := w.post(w.click(alex, "revokeNow", revoked.ID, map[string]any{"revokeReason": "the migration moved to Friday"}))
	if got, _ := w.db.GetRequest(ctx, revoked.ID); code != http.StatusOK || got.State != access.RequestDenied {
		t.Fatalf("revoke before start: HTTP %d, %s", code, got.State)
	}

	missed := w.scheduled("request prod-db 1h at 23:45 INC-4713 cleanup")
	w.clock.Set(missed.StartsAt.Add(time.Hour))
	if _, err := w.svc.WorkStarts(ctx); err != nil {
		t.Fatal(err)
	}
	if got, _ := w.db.GetRequest(ctx, missed.ID); got.State != access.RequestTimedOut {
		t.Fatalf("after the window: %s", got.State)
	}

	rec := httptest.NewRecorder()
	m.Handler().ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/metrics", nil))
	b, _ := io.ReadAll(rec.Body)
	for _, line := range []string{
		`jitbot_requests_total{outcome="approved"} 3`,
		`jitbot_requests_total{outcome="started"} 1`,
		`jitbot_requests_total{outcome="revoked_before_start"} 1`,
		`jitbot_requests_total{outcome="start_missed"} 1`,
	} {
		if !strings.Contains(string(b), "\n"+line+"\n") {
			t.Errorf("/metrics lacks %s:\n%s", line, grepLines(string(b), "jitbot_requests_total"))
		}
	}
}

func grepLines(s, sub string) string {
	var out []string
	for _, l := range strings.Split(s, "\n") {
		if strings.Contains(l, sub) {
			out = append(out, l)
		}
	}
	return strings.Join(out, "\n")
}
