// Package metrics is jitbot's monitoring in the Prometheus format, with the
// official Go client: what the access lifecycle did (requests by outcome,
// decisions, irrevocable grants, drift findings, how late expired grants
// ended), the grants live right now by profile and state (read from the
// database at each scrape), the calls to Microsoft Graph and the Bot
// Connector by status, and how long the bot takes to handle an activity.
//
// It is the only package of jitbot that imports the Prometheus client.
// Nothing registers globally: each process builds one *Metrics with a
// registry of its own and serves it with Handler. The lifecycle's counters
// come from the audit events this process stored (storage's OnAudit), so
// they count what actually happened, once; in a deployment of several
// replicas each counts its own and the sum is the deployment's. The grant
// gauges are the deployment's (every replica reports the same numbers).
package metrics

import (
	"context"
	"log/slog"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/jitbot/jitbot/access"
)

// Namespace prefixes every metric name.
const Namespace = "jitbot"

// Services of the outbound call counter's "service" label.
const (
	ServiceGraph     = "graph"
	ServiceConnector = "connector"
)

// scrapeTimeout bounds the database read of one scrape.
const scrapeTimeout = 5 * time.Second

// GrantCounter counts the live grants by profile and state
// (storage.DB.GrantCounts).
type GrantCounter interface {
	GrantCounts(ctx context.Context) (map[string]map[access.GrantState]int, error)
}

// requestOutcomes maps the audit actions that end or advance a request to
// the "outcome" label of jitbot_requests_total.
var requestOutcomes = map[access.Action]string{
	access.ActionRequested:      "created",
	access.ActionBreakGlass:     "break_glass",
	access.ActionRequestRefused: "refused",
	access.ActionApproved:       "approved",
	access.ActionAutoApproved:   "auto_approved",
	access.ActionForceApproved:  "force_approved",
	access.ActionDenied:         "denied",
	access.ActionTimedOut:       "timed_out",
	access.ActionCancelled:      "cancelled",
	access.ActionInvalidated:    "closed_no_longer_valid",
	access.ActionGrantFailed:    "grant_failed",
	// A request approved ahead of its start: started at it, revoked
	// before it, or its window passed with jitbot not running.
	access.ActionStarted:            "started",
	access.ActionRevokedBeforeStart: "revoked_before_start",
	access.ActionStartMissed:        "start_missed",
}

// decisions maps the audit actions of an approver's click to the
// "decision" label of jitbot_decisions_total.
var decisions = map[access.Action]string{
	access.ActionApprovalCounted: "approve",
	access.ActionApproved:        "approve",
	access.ActionDenied:          "deny",
	access.ActionForceApproved:   "force_approve",
	access.ActionDecisionRefused: "refused",
	access.ActionForceRefused:    "refused",
}

// LatenessBuckets are the buckets, in seconds, of the revocation lateness
// histogram: from a second to a day (the scheduler wakes at expiry; minutes
// mean a backlog or downtime, hours an outage).
var LatenessBuckets = []float64{0.5, 1, 2, 5, 10, 30, 60, 120, 300, 600, 1800, 3600, 4 * 3600, 24 * 3600}

// Metrics holds one process's metrics. Its methods are safe for concurrent
// use.
type Metrics struct {
	reg         *prometheus.Registry
	logger      *slog.Logger
	requests    *prometheus.CounterVec
	decisions   *prometheus.CounterVec
	irrevocable *prometheus.CounterVec
	drift       *prometheus.CounterVec
	lateness    *prometheus.HistogramVec
	calls       *prometheus.CounterVec
	activities  *prometheus.HistogramVec
}

var _ access.Monitor = (*Metrics)(nil)

// New returns the metrics of one process, registered in a registry of their
// own together with the Go runtime's and the process's collectors; logger
// receives scrape errors (nil discards them).
func New(logger *slog.Logger) *Metrics {
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	m := &Metrics{
		reg:    prometheus.NewRegistry(),
		logger: logger,
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: Namespace, Name: "requests_total",
			Help: "Access requests by outcome (created, break_glass, refused, approved, auto_approved, force_approved, denied, timed_out, cancelled, closed_no_longer_valid, grant_failed, started, revoked_before_start, start_missed), as this replica recorded them.",
		}, []string{"outcome"}),
		decisions: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: Namespace, Name: "decisions_total",
			Help: "Approvers' decisions by kind (approve, deny, force_approve, refused: a click jitbot turned down).",
		}, []string{"decision"}),
		irrevocable: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: Namespace, Name: "grants_irrevocable_total",
			Help: "Grants whose removal kept failing and that were reported to the security team, by profile.",
		}, []string{"profile"}),
		drift: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: Namespace, Name: "drift_findings_total",
			Help: "Members of a managed group that no grant explains, by profile (finding) and whether jitbot removed them (removed).",
		}, []string{"profile", "kind"}),
		lateness: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Namespace: Namespace, Name: "revocation_lateness_seconds",
			Help:    "How long after its expiry an expired grant ended (revoked_at - expires_at), by profile.",
			Buckets: LatenessBuckets,
		}, []string{"profile"}),
		calls: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: Namespace, Name: "outbound_requests_total",
			Help: "HTTP requests to Microsoft Graph and the Bot Connector, each attempt counted, by service, host and status code (\"error\": no answer).",
		}, []string{"service", "host", "code"}),
		activities: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Namespace: Namespace, Name: "activity_duration_seconds",
			Help:    "Time to handle an activity posted to /api/messages, by status code.",
			Buckets: prometheus.DefBuckets,
		}, []string{"code"}),
	}
	m.reg.MustRegister(m.requests, m.decisions, m.irrevocable, m.drift, m.lateness, m.calls, m.activities,
		collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	return m
}

// WatchGrants adds the gauges of the live grants, read from grants at each
// scrape. Call it once.
func (m *Metrics) WatchGrants(grants GrantCounter) {
	m.reg.MustRegister(&grantCollector{grants: grants, logger: m.logger})
}

// Registry is the registry the metrics live in.
func (m *Metrics) Registry() *prometheus.Registry { return m.reg }

// Handler serves the metrics in the Prometheus text format.
func (m *Metrics) Handler() http.Handler {
	return promhttp.HandlerFor(m.reg, promhttp.HandlerOpts{ErrorHandling: promhttp.ContinueOnError})
}

// Audit counts one stored audit event (give it to storage.DB.OnAudit).
func (m *Metrics) Audit(ev access.AuditEvent) {
	if o, ok := requestOutcomes[ev.Action]; ok {
		m.requests.WithLabelValues(o).Inc()
	}
	if d, ok := decisions[ev.Action]; ok {
		m.decisions.WithLabelValues(d).Inc()
	}
	switch ev.Action {
	case access.ActionIrrevocable:
		m.irrevocable.WithLabelValues(ev.Profile).Inc()
	case access.ActionDriftFound:
		m.drift.WithLabelValues(ev.Profile, "finding").Inc()
	case access.ActionDriftRemoved:
		m.drift.WithLabelValues(ev.Profile, "removed").Inc()
	}
}

// GrantEnded implements access.Monitor: it observes how late an expired
// grant ended (a negative lateness counts as zero).
func (m *Metrics) GrantEnded(profile string, late time.Duration) {
	m.lateness.WithLabelValues(profile).Observe(max(late, 0).Seconds())
}

// Transport counts every request next carries for service, by host and
// status code.
func (m *Metrics) Transport(service string, next http.RoundTripper) http.RoundTripper {
	return roundTripper(func(req *http.Request) (*http.Response, error) {
		resp, err := next.RoundTrip(req)
		code := "error"
		if err == nil {
			code = strconv.Itoa(resp.StatusCode)
		}
		m.calls.WithLabelValues(service, strings.ToLower(req.URL.Hostname()), code).Inc()
		return resp, err
	})
}

// Activities times every request next handles, by status code.
func (m *Metrics) Activities(next http.Handler) http.Handler {
	return promhttp.InstrumentHandlerDuration(m.activities, next)
}

type roundTripper func(*http.Request) (*http.Response, error)

func (f roundTripper) RoundTrip(r *http.Request) (*http.Response, error) { return f(r) }

// grantCollector reports the live grants, read from the database at each
// scrape.
type grantCollector struct {
	grants GrantCounter
	logger *slog.Logger
}

var grantsDesc = prometheus.NewDesc(Namespace+"_grants",
	"Grants whose membership is not finished, by profile and state (granting, active, revoking, irrevocable), across the deployment.",
	[]string{"profile", "state"}, nil)

var liveStates = []access.GrantState{access.GrantGranting, access.GrantActive, access.GrantRevoking, access.GrantIrrevocable}

func (c *grantCollector) Describe(ch chan<- *prometheus.Desc) { ch <- grantsDesc }

func (c *grantCollector) Collect(ch chan<- prometheus.Metric) {
	ctx, cancel := context.WithTimeout(context.Background(), scrapeTimeout)
	defer cancel()
	counts, err := c.grants.GrantCounts(ctx)
	if err != nil {
		c.logger.Warn("metrics: count grants", "err", err)
		ch <- prometheus.NewInvalidMetric(grantsDesc, err)
		return
	}
	for profile, byState := range counts {
		for _, s := range liveStates {
			ch <- prometheus.MustNewConstMetric(grantsDesc, prometheus.GaugeValue, float64(byState[s]), profile, string(s))
		}
	}
}
