package main

import (
	"context"
	"crypto/tls"
	"encoding/pem"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jitbot/jitbot/bot/connectortest"
	"github.com/jitbot/jitbot/graph/graphtest"
	"github.com/jitbot/jitbot/internal/entratest"
)

// The identities of the benchmark's tenant. They are fixed so that a run can
// be repeated exactly.
const (
	appID       = "9b1c7f5e-2d4a-4e8b-8c6f-1a2b3c4d5e6f"
	tenantID    = "4f3c2b1a-0d9e-4c8b-9a7f-6e5d4c3b2a10"
	appSecret   = "bench-secret"
	profileName = "bench"
	groupID     = "bbbbbbbb-0000-4000-8000-000000000001"
	requesterG  = "bbbbbbbb-0000-4000-8000-000000000002"
	approverG   = "bbbbbbbb-0000-4000-8000-000000000003"
	approverID  = "bbbbbbbb-0000-4000-8000-0000000000a1"
	channelID   = "19:bench-approvers@thread.tacv2"
)

// fakeTB lets the tool use the repository's fakes, which are written for
// tests and take a testing.TB: it runs their cleanups when the tool closes
// them and turns a fatal error into a panic (a fake that cannot start is a
// bug of the tool's set-up, not a measurement). Only the methods the fakes
// call are implemented; any other would panic on the nil embedded TB.
type fakeTB struct {
	testing.TB
	mu       sync.Mutex
	cleanups []func()
}

func (t *fakeTB) Helper() {}

func (t *fakeTB) Cleanup(f func()) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.cleanups = append(t.cleanups, f)
}

func (t *fakeTB) Fatalf(format string, args ...any) { panic(fmt.Sprintf(format, args...)) }
func (t *fakeTB) Fatal(args ...any)                 { panic(fmt.Sprint(args...)) }
func (t *fakeTB) Errorf(format string, args ...any) { panic(fmt.Sprintf(format, args...)) }
func (t *fakeTB) Logf(format string, args ...any)   { slog.Debug(fmt.Sprintf(format, args...)) }

// close runs the cleanups, last registered first.
func (t *fakeTB) close() {
	t.mu.Lock()
	cs := t.cleanups
	t.cleanups = nil
	t.mu.Unlock()
	for i := len(cs) - 1; i >= 0; i-- {
		cs[i]()
	}
}

// graphOptions shape the fake Graph's answers.
type graphOptions struct {
	// latency holds back every Graph answer.
	latency time.Duration
	// limit is the calls per second Graph serves before it throttles (0: no
	// throttling). Like Graph's own throttling, once the calls served in the
	// last second (a sliding window, looked at every 100 ms) reach the
	// limit, every call is answered 429 with Retry-After until the window is
	// under the limit again.
	limit      int
	retryAfter time.Duration
	// throttleEvery answers 429 to every n-th member call (0: never);
	// writeQuota enforces a write quota per writeWindow (0: none).
	throttleEvery int
	writeQuota    int
	writeWindow   time.Duration
}

// fakes are the Microsoft endpoints the bot talks to, all over TLS with the
// same test certificate, which the bot process trusts through SSL_CERT_FILE.
type fakes struct {
	tb        *fakeTB
	issuer    *connectortest.Issuer
	issuerURL string // the TLS front of the issuer
	authority *entratest.Authority
	graph     *graphtest.Graph
	conn      *connectortest.Connector
	// serviceURL is the connector's service URL, the activities' serviceUrl.
	serviceURL string
	certFile   string
	dir        string

	stopThrottle context.CancelFunc
	throttleDone chan struct{}
}

// startFakes starts the fakes, writes the certificate they share to dir and
// seeds the directory with the benchmark's groups and approver.
func startFakes(dir string, gopt graphOptions) (f *fakes, err error) {
	tb := &fakeTB{}
	defer func() {
		if r := recover(); r != nil {
			tb.close()
			f, err = nil, fmt.Errorf("start the fakes: %v", r)
		}
	}()
	f = &fakes{tb: tb, dir: dir}
	f.issuer = connectortest.NewIssuer(tb)
	// The real OpenID metadata and keys are served over https: put the
	// issuer behind a TLS front and make its metadata name the front's keys.
	u, err := url.Parse(f.issuer.URL())
	if err != nil {
		tb.close()
		return nil, fmt.Errorf("issuer URL: %w", err)
	}
	front := httptest.NewTLSServer(httputil.NewSingleHostReverseProxy(u))
	tb.Cleanup(front.Close)
	f.issuerURL = front.URL
	f.issuer.SetMetadata(map[string]any{
		"issuer":                                connectortest.BotFrameworkIssuer,
		"authorization_endpoint":                "https://invalid.botframework.com",
		"jwks_uri":                              front.URL + connectortest.IssuerKeysPath,
		"id_token_signing_alg_values_supported": []string{"RS256"},
		"token_endpoint_auth_methods_supported": []string{"private_key_jwt"},
	})

	f.authority = entratest.NewAuthority(tb)
	f.authority.AddApp(tenantID, appID, appSecret)
	f.graph = graphtest.NewTLS(tb)
	f.graph.AddUser(approverID)
	f.graph.AddGroup(groupID, requesterG, approverG)
	f.graph.AddMember(approverG, approverID)
	// Graph and the connector expect the token Entra issues to the bot.
	f.authority.SetToken(f.graph.Token())
	f.conn = connectortest.NewConnector(tb, connectortest.WithTLS(), connectortest.WithRequiredToken(f.graph.Token()))
	f.serviceURL = f.conn.ServiceURL()
	// The approvers' team, so that approval cards get their refresh list.
	f.conn.SetRoster(channelID, connectortest.Member{
		ID: "29:" + approverID, Name: "Bench Approver", AadObjectID: approverID, TenantID: tenantID,
	})

	f.certFile = filepath.Join(dir, "fakes-ca.pem")
	if err := writePeerCert(front.URL, f.certFile); err != nil {
		tb.close()
		return nil, err
	}
	f.startGraphFaults(gopt)
	if gopt.throttleEvery > 0 {
		f.graph.ThrottleEvery(gopt.throttleEvery, strconv.Itoa(max(1, int(gopt.retryAfter.Round(time.Second)/time.Second))))
	}
	if gopt.writeQuota > 0 {
		f.graph.SetWriteQuota(gopt.writeQuota, gopt.writeWindow)
	}
	return f, nil
}

// writePeerCert saves the certificate a TLS server presents (httptest's,
// which is its own CA) as a PEM file.
func writePeerCert(serverURL, file string) error {
	c, err := tls.Dial("tcp", strings.TrimPrefix(serverURL, "https://"), &tls.Config{InsecureSkipVerify: true}) // #nosec G402 -- reading the fake's own certificate
	if err != nil {
		return fmt.Errorf("read the fakes' certificate: %w", err)
	}
	defer c.Close()
	certs := c.ConnectionState().PeerCertificates
	if len(certs) == 0 {
		return fmt.Errorf("read the fakes' certificate: none presented")
	}
	if err := os.WriteFile(file, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: certs[0].Raw}), 0o600); err != nil {
		return fmt.Errorf("write the fakes' certificate: %w", err)
	}
	return nil
}

// startGraphFaults applies the latency and, with a limit, throttles Graph
// while the calls it served in the last second reach the limit.
func (f *fakes) startGraphFaults(o graphOptions) {
	latency := func() {
		if o.latency > 0 {
			f.graph.InjectFault(graphtest.Fault{Delay: o.latency, Times: 1 << 40})
		}
	}
	latency()
	if o.limit <= 0 {
		return
	}
	ctx, cancel := context.WithCancel(context.Background())
	f.stopThrottle, f.throttleDone = cancel, make(chan struct{})
	retry := strconv.Itoa(max(1, int(o.retryAfter.Round(time.Second)/time.Second)))
	go func() {
		defer close(f.throttleDone)
		const slots = 10 // a sliding second in steps of 100 ms
		tick := time.NewTicker(time.Second / slots)
		defer tick.Stop()
		var window [slots]int
		last, throttling := 0, false
		for k := 0; ; k++ {
			select {
			case <-ctx.Done():
				return
			case <-tick.C:
			}
			calls := f.graph.Calls()
			served := 0
			for _, c := range calls[last:] {
				if c.Status != http.StatusTooManyRequests {
					served++
				}
			}
			last = len(calls)
			window[k%slots] = served
			sum := 0
			for _, n := range window {
				sum += n
			}
			if over := sum >= o.limit; over != throttling {
				f.graph.ClearFaults()
				if over {
					f.graph.InjectFault(graphtest.Fault{Status: http.StatusTooManyRequests, RetryAfter: retry, Times: 1 << 40})
				}
				latency()
				throttling = over
			}
		}
	}()
}

// config is the bot's jitbot.yaml for these fakes, listening on listen.
func (f *fakes) config(listen, database string) string {
	return fmt.Sprintf(`listen: %q
metrics_listen: "127.0.0.1:0"
database: %q
tenant_id: %q
cloud:
  authority_host: "%s/"
  graph_url: %q
  bot_openid_metadata_url: %q
  bot_service_url: %q
  bot_service_hosts: ["127.0.0.1"]
profiles:
  - name: %s
    description: "Load test profile"
    group_id: %q
    min_duration: 1m
    max_duration: 4h
    requesters: { groups: [%q] }
    approvers: { groups: [%q], channel_id: %q }
`, listen, database, tenantID, f.authority.URL(), f.graph.URL(), f.issuerURL+connectortest.IssuerMetadataPath,
		f.serviceURL, profileName, groupID, requesterG, approverG, channelID)
}

// env is the bot process's environment: its credentials and the trust of
// the fakes' certificate.
func (f *fakes) env(home string) []string {
	env := []string{
		"PATH=" + os.Getenv("PATH"), "HOME=" + home, "SSL_CERT_FILE=" + f.certFile,
		"MicrosoftAppId=" + appID, "MicrosoftAppPassword=" + appSecret, "MicrosoftAppTenantId=" + tenantID, "MicrosoftAppType=SingleTenant",
		"AZURE_TENANT_ID=" + tenantID, "AZURE_CLIENT_ID=" + appID, "AZURE_CLIENT_SECRET=" + appSecret,
	}
	// The Go runtime's own settings pass through, for runs that tune or
	// trace the bot's memory.
	for _, k := range runtimeEnv {
		if v, ok := os.LookupEnv(k); ok {
			env = append(env, k+"="+v)
		}
	}
	return env
}

// runtimeEnv are the Go runtime's environment variables a started bot
// inherits from the tool.
var runtimeEnv = []string{"GOGC", "GOMEMLIMIT", "GODEBUG", "GOMAXPROCS"}

// close stops the fakes.
func (f *fakes) close() {
	if f.stopThrottle != nil {
		f.stopThrottle()
		<-f.throttleDone
	}
	f.tb.close()
}
