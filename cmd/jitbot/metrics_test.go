package main

import (
	"io"
	"net"
	"net/http"
	"net/url"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

var healthListening = regexp.MustCompile(`msg="health and metrics listening" addr=(\S+)`)

// healthAddr is where p serves /healthz, /readyz and /metrics.
func healthAddr(t *testing.T, p *proc) string {
	t.Helper()
	m := healthListening.FindStringSubmatch(p.output())
	if m == nil {
		t.Fatalf("%s logged no health and metrics address:\n%s", p.name, p.output())
	}
	return m[1]
}

// get fetches path from addr and returns the status and body.
func get(t *testing.T, addr, path string) (int, string) {
	t.Helper()
	resp, err := activityClient.Get("http://" + addr + path)
	if err != nil {
		t.Fatalf("GET %s: %v", path, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

// sample is the value of the sample of the Prometheus text exposition
// whose name and labels are exactly series (e.g.
// `jitbot_requests_total{outcome="created"}`); 0 when it is absent.
func sample(exposition, series string) float64 {
	for line := range strings.SplitSeq(exposition, "\n") {
		if v, ok := strings.CutPrefix(line, series+" "); ok {
			f, err := strconv.ParseFloat(strings.TrimSpace(v), 64)
			if err == nil {
				return f
			}
		}
	}
	return 0
}

// TestMetricsOfAGrantCycle runs the binary through request, approval and
// expiry and reads what its /metrics says about them.
func TestMetricsOfAGrantCycle(t *testing.T) {
	if testing.Short() {
		t.Skip("runs the binary")
	}
	r := newRig(t, faultBinary(t), 1)
	user := fUser(1)
	r.graph.AddUser(user)
	p := r.start("bot", r.config(botOpts{database: "sqlite:" + filepath.Join(r.dir, "jitbot.db"), replica: "bot"}))
	addr := healthAddr(t, p)

	if code, body := get(t, addr, "/healthz"); code != http.StatusOK {
		t.Fatalf("/healthz: %d %q", code, body)
	}
	code, body := get(t, addr, "/readyz")
	if code != http.StatusOK || !strings.Contains(body, "database: ok") || !strings.Contains(body, "scheduler: ok") {
		t.Fatalf("/readyz: %d %q", code, body)
	}
	// The messaging endpoint does not serve the metrics.
	if resp, err := activityClient.Get("http://" + p.addr + "/metrics"); err == nil {
		resp.Body.Close()
		if resp.StatusCode == http.StatusOK {
			t.Fatal("/metrics is served on the messaging endpoint")
		}
	}

	id, err := r.request(p, user, "request "+fProfile(0)+" 2s INC-1 metrics")
	if err != nil {
		t.Fatal(err)
	}
	if code, ans, err := r.approve(p, id); err != nil || code != http.StatusOK || !ans.isCard() {
		t.Fatalf("approve: %d %v %v", code, ans, err)
	}
	waitFor(t, 10*time.Second, "the membership", func() bool { return r.graph.IsMember(fGroup(0), user) })
	_, during := get(t, addr, "/metrics")
	active := `jitbot_grants{profile="` + fProfile(0) + `",state="active"}`
	if got := sample(during, active); got != 1 {
		t.Errorf("%s = %v during the grant, want 1", active, got)
	}
	waitFor(t, 20*time.Second, "the removal at expiry", func() bool { return !r.graph.IsMember(fGroup(0), user) })

	var after string
	lateCount := `jitbot_revocation_lateness_seconds_count{profile="` + fProfile(0) + `"}`
	waitFor(t, 10*time.Second, "the lateness to be observed", func() bool {
		_, after = get(t, addr, "/metrics")
		return sample(after, lateCount) == 1
	})
	for series, want := range map[string]float64{
		`jitbot_requests_total{outcome="created"}`:   1,
		`jitbot_requests_total{outcome="approved"}`:  1,
		`jitbot_decisions_total{decision="approve"}`: 1,
		active: 0,
		// The grant ended within a minute of its expiry.
		`jitbot_revocation_lateness_seconds_bucket{profile="` + fProfile(0) + `",le="60"}`: 1,
	} {
		if got := sample(after, series); got != want {
			t.Errorf("%s = %v, want %v", series, got, want)
		}
	}
	graphHost := regexp.MustCompile(`jitbot_outbound_requests_total\{code="20[04]",host="127\.0\.0\.1",service="graph"\} (\d+)`)
	if m := graphHost.FindStringSubmatch(after); m == nil {
		t.Errorf("no successful Graph call counted:\n%s", grepLines(after, "jitbot_outbound"))
	}
	if !strings.Contains(after, `service="connector"`) {
		t.Errorf("no Bot Connector call counted:\n%s", grepLines(after, "jitbot_outbound"))
	}
	if sample(after, `jitbot_activity_duration_seconds_count{code="200"}`) < 2 {
		t.Errorf("the request and the approval are not timed:\n%s", grepLines(after, "jitbot_activity"))
	}
}

func grepLines(s, sub string) string {
	var out []string
	for line := range strings.SplitSeq(s, "\n") {
		if strings.Contains(line, sub) {
			out = append(out, line)
		}
	}
	return strings.Join(out, "\n")
}

// tcpProxy forwards connections from a local address to target until cut,
// and again after restore (on the same address).
type tcpProxy struct {
	t      *testing.T
	target string
	addr   string

	mu    sync.Mutex
	ln    net.Listener
	conns []net.Conn
}

func newTCPProxy(t *testing.T, target string) *tcpProxy {
	p := &tcpProxy{t: t, target: target}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p.addr = ln.Addr().String()
	p.serve(ln)
	t.Cleanup(p.cut)
	return p
}

func (p *tcpProxy) serve(ln net.Listener) {
	p.mu.Lock()
	p.ln = ln
	p.mu.Unlock()
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			up, err := net.Dial("tcp", p.target)
			if err != nil {
				c.Close()
				continue
			}
			p.mu.Lock()
			p.conns = append(p.conns, c, up)
			p.mu.Unlock()
			go func() { _, _ = io.Copy(up, c); up.Close() }()
			go func() { _, _ = io.Copy(c, up); c.Close() }()
		}
	}()
}

// cut refuses new connections and breaks the open ones: the database is
// gone for whoever connects through the proxy.
func (p *tcpProxy) cut() {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.ln != nil {
		p.ln.Close()
		p.ln = nil
	}
	for _, c := range p.conns {
		c.Close()
	}
	p.conns = nil
}

// restore accepts connections again.
func (p *tcpProxy) restore() {
	ln, err := net.Listen("tcp", p.addr)
	if err != nil {
		p.t.Fatalf("listen again on %s: %v", p.addr, err)
	}
	p.serve(ln)
}

// TestReadyzFollowsTheDatabase cuts the binary's PostgreSQL connection (a
// proxy between them) and restores it: /readyz turns unready, naming the
// database, and ready again, while /healthz stays up.
func TestReadyzFollowsTheDatabase(t *testing.T) {
	if testing.Short() {
		t.Skip("runs the binary")
	}
	dsn := newPGDatabase(t)
	u, err := url.Parse(dsn)
	if err != nil {
		t.Fatal(err)
	}
	proxy := newTCPProxy(t, u.Host)
	u.Host = proxy.addr
	r := newRig(t, faultBinary(t), 1)
	p := r.start("bot", r.config(botOpts{database: u.String(), replica: "bot"}))
	addr := healthAddr(t, p)

	if code, body := get(t, addr, "/readyz"); code != http.StatusOK {
		t.Fatalf("/readyz before the cut: %d %q", code, body)
	}
	proxy.cut()
	var body string
	waitFor(t, 15*time.Second, "/readyz to turn unready", func() bool {
		var code int
		code, body = get(t, addr, "/readyz")
		return code == http.StatusServiceUnavailable
	})
	if !strings.Contains(body, "database: not ready") || !strings.Contains(body, "scheduler: ok") {
		t.Errorf("/readyz without the database: %q", body)
	}
	if code, _ := get(t, addr, "/healthz"); code != http.StatusOK {
		t.Errorf("/healthz without the database: %d, want 200 (the process is up)", code)
	}
	proxy.restore()
	waitFor(t, 15*time.Second, "/readyz to be ready again", func() bool {
		code, _ := get(t, addr, "/readyz")
		return code == http.StatusOK
	})
}
