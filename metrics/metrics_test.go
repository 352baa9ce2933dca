package metrics_test

import (
	"context"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/jitbot/jitbot/access"
	"github.com/jitbot/jitbot/metrics"
)

type fakeGrants struct {
	counts map[string]map[access.GrantState]int
	err    error
}

func (f *fakeGrants) GrantCounts(context.Context) (map[string]map[access.GrantState]int, error) {
	return f.counts, f.err
}

// scrape returns the exposition m serves.
func scrape(t *testing.T, m *metrics.Metrics) (int, string) {
	t.Helper()
	rec := httptest.NewRecorder()
	m.Handler().ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/metrics", nil))
	b, _ := io.ReadAll(rec.Body)
	return rec.Code, string(b)
}

func has(t *testing.T, exposition string, lines ...string) {
	t.Helper()
	for _, l := range lines {
		if !strings.Contains(exposition, "\n"+l+"\n") {
			t.Errorf("missing %q in\n%s", l, grep(exposition, "jitbot_"))
		}
	}
}

func grep(s, sub string) string {
	var out []string
	for _, l := range strings.Split(s, "\n") {
		if strings.Contains(l, sub) && !strings.HasPrefix(l, "#") {
			out = append(out, l)
		}
	}
	return strings.Join(out, "\n")
}

func TestLifecycleCounters(t *testing.T) {
	m := metrics.New(nil)
	for _, a := range []access.Action{
		access.ActionRequested, access.ActionRequested, access.ActionRequestRefused,
		access.ActionApprovalCounted, access.ActionApproved, access.ActionDenied, access.ActionDecisionRefused,
		access.ActionTimedOut, access.ActionIrrevocable, access.ActionDriftFound, access.ActionDriftRemoved,
		access.ActionReportViewed, // not a lifecycle metric
	} {
		m.Audit(access.AuditEvent{Action: a, Profile: "prod-db"})
	}
	m.GrantEnded("prod-db", 1500*time.Millisecond)
	m.GrantEnded("prod-db", 3*time.Minute)
	m.GrantEnded("prod-db", -time.Second) // a clock step: counts as on time
	_, out := scrape(t, m)
	has(t, out,
		`jitbot_requests_total{outcome="created"} 2`,
		`jitbot_requests_total{outcome="refused"} 1`,
		`jitbot_requests_total{outcome="approved"} 1`,
		`jitbot_requests_total{outcome="denied"} 1`,
		`jitbot_requests_total{outcome="timed_out"} 1`,
		`jitbot_decisions_total{decision="approve"} 2`,
		`jitbot_decisions_total{decision="deny"} 1`,
		`jitbot_decisions_total{decision="refused"} 1`,
		`jitbot_grants_irrevocable_total{profile="prod-db"} 1`,
		`jitbot_drift_findings_total{kind="finding",profile="prod-db"} 1`,
		`jitbot_drift_findings_total{kind="removed",profile="prod-db"} 1`,
		`jitbot_revocation_lateness_seconds_bucket{profile="prod-db",le="0.5"} 1`,
		`jitbot_revocation_lateness_seconds_bucket{profile="prod-db",le="2"} 2`,
		`jitbot_revocation_lateness_seconds_bucket{profile="prod-db",le="120"} 2`,
		`jitbot_revocation_lateness_seconds_bucket{profile="prod-db",le="300"} 3`,
		`jitbot_revocation_lateness_seconds_count{profile="prod-db"} 3`,
	)
	if strings.Contains(out, "report_viewed") {
		t.Error("a report view is counted")
	}
}

func TestGrantGaugesReadAtScrape(t *testing.T) {
	g := &fakeGrants{counts: map[string]map[access.GrantState]int{"prod-db": {access.GrantActive: 3, access.GrantIrrevocable: 1}}}
	m := metrics.New(nil)
	m.WatchGrants(g)
	_, out := scrape(t, m)
	has(t, out, `jitbot_grants{profile="prod-db",state="active"} 3`, `jitbot_grants{profile="prod-db",state="irrevocable"} 1`,
		`jitbot_grants{profile="prod-db",state="revoking"} 0`)
	g.counts["prod-db"][access.GrantActive] = 2
	_, out = scrape(t, m)
	has(t, out, `jitbot_grants{profile="prod-db",state="active"} 2`)

	// A database that does not answer fails the scrape of the gauges,
	// not the other metrics.
	g.err = errors.New("connection refused")
	code, out := scrape(t, m)
	if code != http.StatusOK || !strings.Contains(out, "go_goroutines") {
		t.Errorf("scrape without the database: %d\n%s", code, out)
	}
	if strings.Contains(out, `jitbot_grants{`) {
		t.Error("grant gauges reported without the database")
	}
}

func TestOutboundCallsAndActivities(t *testing.T) {
	m := metrics.New(nil)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/throttled" {
			w.WriteHeader(http.StatusTooManyRequests)
		}
	}))
	defer srv.Close()
	c := &http.Client{Transport: m.Transport(metrics.ServiceGraph, http.DefaultTransport)}
	for _, p := range []string{"/ok", "/ok", "/throttled"} {
		resp, err := c.Get(srv.URL + p)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
	}
	if _, err := c.Get("http://127.0.0.1:1/"); err == nil {
		t.Fatal("a closed port answered")
	}
	h := m.Activities(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { w.WriteHeader(http.StatusUnauthorized) }))
	h.ServeHTTP(httptest.NewRecorder(), httptest.NewRequest(http.MethodPost, "/api/messages", nil))
	_, out := scrape(t, m)
	has(t, out,
		`jitbot_outbound_requests_total{code="200",host="127.0.0.1",service="graph"} 2`,
		`jitbot_outbound_requests_total{code="429",host="127.0.0.1",service="graph"} 1`,
		`jitbot_outbound_requests_total{code="error",host="127.0.0.1",service="graph"} 1`,
		`jitbot_activity_duration_seconds_count{code="401"} 1`,
	)
}

// Two processes' metrics do not mix: each has its registry.
func TestRegistryPerProcess(t *testing.T) {
	a, b := metrics.New(nil), metrics.New(nil)
	a.Audit(access.AuditEvent{Action: access.ActionRequested})
	_, out := scrape(t, b)
	if strings.Contains(out, `jitbot_requests_total{outcome="created"}`) {
		t.Error("an event of one Metrics shows in another")
	}
}
