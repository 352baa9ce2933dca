package main

import (
	"bufio"
	"bytes"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"math/big"
	"net"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jitbot/jitbot/bot/connectortest"
	"github.com/jitbot/jitbot/graph/graphtest"
	"github.com/jitbot/jitbot/internal/entratest"
)

// testCA issues a certificate for 127.0.0.1 and writes the CA to a PEM file
// that the jitbot process trusts through SSL_CERT_FILE, as it would trust a
// real cloud's certificate.
type testCA struct {
	file string
	cert tls.Certificate
}

func newTestCA(t *testing.T) *testCA {
	t.Helper()
	caKey, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	caTmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "jitbot test CA"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign,
	}
	caDER, err := x509.CreateCertificate(rand.Reader, caTmpl, caTmpl, &caKey.PublicKey, caKey)
	if err != nil {
		t.Fatal(err)
	}
	ca, _ := x509.ParseCertificate(caDER)
	leafKey, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	leafTmpl := &x509.Certificate{
		SerialNumber: big.NewInt(2), Subject: pkix.Name{CommonName: "127.0.0.1"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		IPAddresses: []net.IP{net.IPv4(127, 0, 0, 1)}, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		KeyUsage: x509.KeyUsageDigitalSignature,
	}
	leafDER, err := x509.CreateCertificate(rand.Reader, leafTmpl, ca, &leafKey.PublicKey, caKey)
	if err != nil {
		t.Fatal(err)
	}
	file := filepath.Join(t.TempDir(), "ca.pem")
	if err := os.WriteFile(file, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: caDER}), 0o600); err != nil {
		t.Fatal(err)
	}
	return &testCA{file: file, cert: tls.Certificate{Certificate: [][]byte{leafDER}, PrivateKey: leafKey}}
}

// front serves backend over https with the CA's certificate.
func (ca *testCA) front(t *testing.T, backend string, transport http.RoundTripper) string {
	t.Helper()
	u, _ := url.Parse(backend)
	proxy := httputil.NewSingleHostReverseProxy(u)
	if transport != nil {
		proxy.Transport = transport
	}
	srv := httptest.NewUnstartedServer(proxy)
	srv.TLS = &tls.Config{Certificates: []tls.Certificate{ca.cert}}
	srv.StartTLS()
	t.Cleanup(srv.Close)
	return srv.URL
}

func buildBinary(t *testing.T) string {
	t.Helper()
	bin := filepath.Join(t.TempDir(), "jitbot")
	cmd := exec.Command("go", "build", "-o", bin, ".")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("build: %v\n%s", err, out)
	}
	return bin
}

// process is a running jitbot.
type process struct {
	cmd  *exec.Cmd
	addr string
	mu   sync.Mutex
	log  bytes.Buffer
}

func startJitbot(t *testing.T, bin string, env []string, args ...string) *process {
	t.Helper()
	p := &process{cmd: exec.Command(bin, args...)}
	p.cmd.Env = env
	stderr, _ := p.cmd.StderrPipe()
	if err := p.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	addrs := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(stderr)
		re := regexp.MustCompile(`msg="jitbot listening" addr=(\S+)`)
		for sc.Scan() {
			line := sc.Text()
			p.mu.Lock()
			p.log.WriteString(line + "\n")
			p.mu.Unlock()
			if m := re.FindStringSubmatch(line); m != nil {
				addrs <- m[1]
			}
		}
	}()
	t.Cleanup(func() { p.kill() })
	select {
	case p.addr = <-addrs:
	case <-time.After(20 * time.Second):
		t.Fatalf("jitbot did not start:\n%s", p.output())
	}
	return p
}

func (p *process) output() string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.log.String()
}

func (p *process) kill() {
	if p.cmd.ProcessState == nil {
		_ = p.cmd.Process.Kill()
		_, _ = p.cmd.Process.Wait()
	}
}

// TestServeBinaryRestartRevokesDueGrant runs the real binary in production
// mode against the clouds' fakes: a signed channel token comes in, the bot
// gets its own tokens from Entra ID through azidentity, posts the approval
// card, and adds the member through Graph. The process is then killed
// (SIGKILL) while the grant is active; the grant falls due while nothing
// runs; a new process revokes it at start and tells the requester.
func TestServeBinaryRestartRevokesDueGrant(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the binary")
	}
	const (
		appID    = "9b1c7f5e-2d4a-4e8b-8c6f-1a2b3c4d5e6f"
		tenantID = "4f3c2b1a-0d9e-4c8b-9a7f-6e5d4c3b2a10"
		secret   = "s3cret"
		group    = "aaaaaaaa-0000-4000-8000-000000000001"
		approver = "aaaaaaaa-0000-4000-8000-000000000003"
		riley    = "11111111-1111-4111-8111-111111111111"
		alex     = "22222222-2222-4222-8222-222222222222"
		channel  = "19:approvers@thread.tacv2"
	)
	ca := newTestCA(t)
	authority := entratest.NewAuthority(t)
	authority.AddApp(tenantID, appID, secret)
	g := graphtest.New(t)
	g.AddUser(riley, alex)
	g.AddGroup(group, approver)
	g.AddMember(approver, alex)
	authority.SetToken(g.Token())
	conn := connectortest.NewConnector(t, connectortest.WithRequiredToken(g.Token()))
	issuer := connectortest.NewIssuer(t)

	authorityURL := ca.front(t, authority.URL(), authority.Client().Transport)
	graphURL := ca.front(t, g.URL(), nil)
	connURL := ca.front(t, strings.TrimRight(conn.URL(), "/"), nil)
	serviceURL := connURL + strings.TrimPrefix(conn.ServiceURL(), strings.TrimRight(conn.URL(), "/"))

	dir := t.TempDir()
	config := filepath.Join(dir, "jitbot.yaml")
	if err := os.WriteFile(config, []byte(fmt.Sprintf(`
listen: "127.0.0.1:0"
metrics_listen: "127.0.0.1:0"
database: "sqlite:%s"
tenant_id: "%s"
cloud:
  authority_host: "%s/"
  graph_url: "%s"
  bot_openid_metadata_url: "%s"
  bot_service_url: "%s"
  bot_service_hosts: ["127.0.0.1"]
profiles:
  - name: prod-db
    description: "Read access to the production databases"
    group_id: "%s"
    min_duration: 1s
    max_duration: 4h
    approvers: { groups: ["%s"], channel_id: "%s" }
`, filepath.Join(dir, "jitbot.db"), tenantID, authorityURL, graphURL, issuer.MetadataURL(), serviceURL, group, approver, channel)), 0o600); err != nil {
		t.Fatal(err)
	}
	env := []string{
		"PATH=" + os.Getenv("PATH"), "HOME=" + dir, "SSL_CERT_FILE=" + ca.file,
		"MicrosoftAppId=" + appID, "MicrosoftAppPassword=" + secret, "MicrosoftAppTenantId=" + tenantID, "MicrosoftAppType=SingleTenant",
		"AZURE_TENANT_ID=" + tenantID, "AZURE_CLIENT_ID=" + appID, "AZURE_CLIENT_SECRET=" + secret,
	}
	bin := buildBinary(t)
	p := startJitbot(t, bin, env, "serve", "--config", config)
	// Ready: the database answers, the scheduler runs and the channel's
	// signing keys are loaded.
	m := healthListening.FindStringSubmatch(p.output())
	if m == nil {
		t.Fatalf("no health and metrics address logged:\n%s", p.output())
	}
	if code, body := get(t, m[1], "/readyz"); code != http.StatusOK || !strings.Contains(body, "signing keys: ok") {
		t.Fatalf("/readyz: %d %q", code, body)
	}

	post := func(act map[string]any) int {
		t.Helper()
		body, _ := json.Marshal(act)
		req, _ := http.NewRequest(http.MethodPost, "http://"+p.addr+"/api/messages", bytes.NewReader(body))
		req.Header.Set("Authorization", "Bearer "+issuer.Token(appID, serviceURL))
		req.Header.Set("Content-Type", "application/json")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	activity := func(user, name string) map[string]any {
		return map[string]any{
			"type": "message", "channelId": "msteams", "serviceUrl": serviceURL,
			"from":         map[string]any{"id": "29:" + user, "name": name, "aadObjectId": user},
			"recipient":    map[string]any{"id": "28:" + appID},
			"conversation": map[string]any{"id": "a:" + user, "conversationType": "personal", "tenantId": tenantID},
			"channelData":  map[string]any{"tenant": map[string]any{"id": tenantID}},
		}
	}
	msg := activity(riley, "Riley Responder")
	msg["text"] = "request prod-db 3s checkout latency spike"
	if code := post(msg); code != http.StatusOK {
		t.Fatalf("request: HTTP %d\n%s", code, p.output())
	}
	var requestID string
	for _, c := range conn.Conversations() {
		if !strings.HasPrefix(c, channel) {
			continue
		}
		raw, _ := json.Marshal(conn.Activities(c)[0].Card())
		if m := regexp.MustCompile(`"requestId":"([^"]+)"`).FindSubmatch(raw); m != nil {
			requestID = string(m[1])
		}
	}
	if requestID == "" {
		t.Fatalf("no approval card in the approvers' channel; connector saw %d requests\n%s", len(conn.Requests()), p.output())
	}
	click := activity(alex, "Alex Approver")
	click["type"], click["name"] = "invoke", "adaptiveCard/action"
	click["value"] = map[string]any{"action": map[string]any{"type": "Action.Execute", "verb": "approve", "data": map[string]any{"requestId": requestID}}}
	if code := post(click); code != http.StatusOK {
		t.Fatalf("approve: HTTP %d", code)
	}
	if !g.IsMember(group, riley) {
		t.Fatalf("not a member after approval\n%s", p.output())
	}
	// The bot's tokens: one for the Bot Connector, one for Graph, from the
	// configured tenant.
	scopes := map[string]bool{}
	for _, r := range authority.TokenRequests() {
		if r.Tenant != tenantID {
			t.Errorf("token asked from tenant %q", r.Tenant)
		}
		for _, s := range r.Scopes {
			scopes[s] = true
		}
	}
	if !scopes["https://api.botframework.com/.default"] || !scopes[graphURL+"/.default"] {
		t.Fatalf("scopes asked: %v", scopes)
	}

	p.kill() // SIGKILL, no shutdown
	time.Sleep(4 * time.Second)
	if !g.IsMember(group, riley) {
		t.Fatal("removed while no process ran?")
	}
	p2 := startJitbot(t, bin, env, "serve", "--config", config)
	deadline := time.Now().Add(15 * time.Second)
	for g.IsMember(group, riley) {
		if time.Now().After(deadline) {
			t.Fatalf("due grant not revoked after restart\n%s", p2.output())
		}
		time.Sleep(50 * time.Millisecond)
	}
	if n := g.CountFor(graphtest.RouteRemoveMember, group, riley); n != 1 {
		t.Fatalf("%d DELETE calls, want 1", n)
	}
	deadline = time.Now().Add(5 * time.Second)
	for {
		var texts []string
		for _, a := range conn.Activities("a:" + riley) {
			texts = append(texts, a.Text()+a.Summary())
		}
		if strings.Contains(strings.Join(texts, "\n"), "has ended") {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("requester not told access ended: %q", texts)
		}
		time.Sleep(50 * time.Millisecond)
	}
}
