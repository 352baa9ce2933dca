package main

// Harness of the fault-injection tests (faults_test.go): the real binary in
// local mode against graphtest's fake Graph (behind a spy that records every
// membership call, per replica) and connectortest's fake connector, with
// processes that can be killed and restarted.

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"log"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"gorm.io/driver/postgres"
	"gorm.io/gorm"
	gormlogger "gorm.io/gorm/logger"

	"github.com/jitbot/jitbot/access"
	"github.com/jitbot/jitbot/bot/connectortest"
	"github.com/jitbot/jitbot/cards"
	"github.com/jitbot/jitbot/graph/graphtest"
	"github.com/jitbot/jitbot/internal/entratest"
	"github.com/jitbot/jitbot/storage"
)

// The tenant, the bot's Graph application and the fixed people and places of
// the fault tests.
const (
	fTenant        = "4f3c2b1a-0d9e-4c8b-9a7f-6e5d4c3b2a10"
	fClientID      = "9b1c7f5e-2d4a-4e8b-8c6f-1a2b3c4d5e6f"
	fSecret        = "s3cret"
	fApproverGroup = "aaaaaaaa-0000-4000-8000-0000000000a1"
	fSecurityGroup = "aaaaaaaa-0000-4000-8000-0000000000a2"
	fApprover      = "aaaaaaaa-0000-4000-8000-0000000000b1"
	fSecurity      = "aaaaaaaa-0000-4000-8000-0000000000b2"
	fApproversChan = "19:approvers@thread.tacv2"
	fSecurityChan  = "19:security@thread.tacv2"
)

// fGroup is the managed group of profile i, fProfile its name.
func fGroup(i int) string   { return fmt.Sprintf("aaaaaaaa-0000-4000-8000-%012x", 0x100+i) }
func fProfile(i int) string { return fmt.Sprintf("prod-db-%d", i) }

// fUser is the i-th requester.
func fUser(i int) string { return fmt.Sprintf("bbbbbbbb-0000-4000-8000-%012x", i) }

// TestMain removes the binary the fault tests share.
func TestMain(m *testing.M) {
	code := m.Run()
	if sharedBin.dir != "" {
		_ = os.RemoveAll(sharedBin.dir)
	}
	os.Exit(code)
}

var sharedBin struct {
	once     sync.Once
	dir, bin string
	out      []byte
	err      error
}

// faultBinary builds jitbot once for all the fault tests of this run (a
// link takes ~10s).
func faultBinary(t *testing.T) string {
	t.Helper()
	sharedBin.once.Do(func() {
		sharedBin.dir, sharedBin.err = os.MkdirTemp("", "jitbot-faults-")
		if sharedBin.err != nil {
			return
		}
		sharedBin.bin = filepath.Join(sharedBin.dir, "jitbot")
		sharedBin.out, sharedBin.err = exec.Command("go", "build", "-o", sharedBin.bin, ".").CombinedOutput()
	})
	if sharedBin.err != nil {
		t.Fatalf("build: %v\n%s", sharedBin.err, sharedBin.out)
	}
	return sharedBin.bin
}

// rig is one test's world: the fakes, a working directory and the processes.
type rig struct {
	t            *testing.T
	bin          string
	dir          string
	graph        *graphtest.Graph
	authority    *entratest.Authority
	authorityURL string
	conn         *connectortest.Connector
	spy          *graphSpy
	groups       int
	caFile       string
	ca           *testCA

	mu   sync.Mutex
	seen map[string]bool // approval threads already matched to a request
}

func newRig(t *testing.T, bin string, groups int) *rig {
	t.Helper()
	ca := newTestCA(t)
	a := entratest.NewAuthority(t)
	a.AddApp(fTenant, fClientID, fSecret)
	g := graphtest.New(t)
	a.SetToken(g.Token())
	g.AddUser(fApprover, fSecurity)
	g.AddGroup(fApproverGroup, fSecurityGroup)
	g.AddMember(fApproverGroup, fApprover)
	g.AddMember(fSecurityGroup, fSecurity)
	for i := range groups {
		g.AddGroup(fGroup(i))
	}
	r := &rig{
		t: t, bin: bin, dir: t.TempDir(), graph: g, authority: a, groups: groups, caFile: ca.file, ca: ca,
		authorityURL: ca.front(t, a.URL(), a.Client().Transport),
		conn:         connectortest.NewConnector(t),
		seen:         map[string]bool{},
		spy:          newGraphSpy(g),
	}
	return r
}

// botOpts are the settings of one process's configuration.
type botOpts struct {
	database    string
	replica     string
	maxAttempts int
	backoff     string
	backoffMax  string
	sweep       string
	lease       string
	security    bool
	// audit is the body of the configuration's audit block, if any.
	audit string
	// publicURL is the configuration's public_url, if any.
	publicURL string
	// membership is every profile's membership (empty: the default,
	// direct); profileExtra is YAML added to every profile (indented as
	// its keys).
	membership   string
	profileExtra string
	// driftInterval turns drift detection on at that interval (default:
	// off).
	driftInterval string
}

// config writes a configuration file for a process named replica; its Graph
// calls go through the spy, tagged with the replica's name.
func (r *rig) config(o botOpts) string {
	r.t.Helper()
	def := func(s *string, v string) {
		if *s == "" {
			*s = v
		}
	}
	def(&o.backoff, "1s")
	def(&o.backoffMax, "2s")
	def(&o.sweep, "2s")
	def(&o.lease, "5s")
	if o.maxAttempts == 0 {
		o.maxAttempts = 3
	}
	var b strings.Builder
	fmt.Fprintf(&b, `listen: "127.0.0.1:0"
metrics_listen: "127.0.0.1:0"
database: %q
tenant_id: %q
replica_id: %q
cloud:
  authority_host: "%s/"
  graph_url: %q
  bot_service_url: %q
  bot_service_hosts: ["127.0.0.1"]
revoke:
  max_attempts: %d
  backoff: %s
  backoff_max: %s
  sweep_interval: %s
  lease: %s
`, o.database, fTenant, o.replica, r.authorityURL, r.spy.front(r.t, o.replica), r.conn.ServiceURL(),
		o.maxAttempts, o.backoff, o.backoffMax, o.sweep, o.lease)
	if o.driftInterval != "" {
		fmt.Fprintf(&b, "drift:\n  interval: %s\n", o.driftInterval)
	} else {
		b.WriteString("drift:\n  disabled: true\n")
	}
	if o.security {
		fmt.Fprintf(&b, "security:\n  channel_id: %q\n  groups: [%q]\n", fSecurityChan, fSecurityGroup)
	}
	if o.audit != "" {
		b.WriteString("audit:\n" + o.audit)
	}
	if o.publicURL != "" {
		fmt.Fprintf(&b, "public_url: %q\n", o.publicURL)
	}
	b.WriteString("profiles:\n")
	for i := range r.groups {
		fmt.Fprintf(&b, `  - name: %s
    description: "Production database %d"
    group_id: %q
    min_duration: 1s
    max_duration: 4h
    approvers: { groups: [%q], channel_id: %q }
`, fProfile(i), i, fGroup(i), fApproverGroup, fApproversChan)
	}
	if o.membership != "" || o.profileExtra != "" {
		extra := o.profileExtra
		if o.membership != "" {
			extra += "    membership: " + o.membership + "\n"
		}
		s := strings.ReplaceAll(b.String(), "    min_duration: 1s\n", "    min_duration: 1s\n"+extra)
		b.Reset()
		b.WriteString(s)
	}
	file := filepath.Join(r.dir, o.replica+".yaml")
	if err := os.WriteFile(file, []byte(b.String()), 0o600); err != nil {
		r.t.Fatal(err)
	}
	return file
}

// env is the process environment: the Graph credential (azidentity's
// environment credential against the fake authority), no bot app id (local
// mode), the test CA.
func (r *rig) env(extra ...string) []string {
	return append([]string{
		"PATH=" + os.Getenv("PATH"), "HOME=" + r.dir, "SSL_CERT_FILE=" + r.caFile,
		"AZURE_TENANT_ID=" + fTenant, "AZURE_CLIENT_ID=" + fClientID, "AZURE_CLIENT_SECRET=" + fSecret,
	}, extra...)
}

// start runs `jitbot serve --local` and waits until it listens.
func (r *rig) start(name, config string, extraEnv ...string) *proc {
	r.t.Helper()
	return startProc(r.t, name, r.bin, r.env(extraEnv...), "serve", "--config", config, "--local")
}

// proc is a running jitbot process.
type proc struct {
	name string
	cmd  *exec.Cmd
	addr string
	done chan struct{}

	mu  sync.Mutex
	log bytes.Buffer
}

var listeningLine = regexp.MustCompile(`msg="jitbot listening" addr=(\S+)`)

func startProc(t *testing.T, name, bin string, env []string, args ...string) *proc {
	t.Helper()
	p := &proc{name: name, cmd: exec.Command(bin, args...), done: make(chan struct{})}
	p.cmd.Env = env
	addrs := make(chan string, 1)
	lw := &lineWriter{fn: func(line string) {
		p.mu.Lock()
		p.log.WriteString(line)
		p.log.WriteByte('\n')
		p.mu.Unlock()
		if m := listeningLine.FindStringSubmatch(line); m != nil {
			select {
			case addrs <- m[1]:
			default:
			}
		}
	}}
	p.cmd.Stderr = lw
	p.cmd.Stdout = lw
	if err := p.cmd.Start(); err != nil {
		t.Fatalf("start %s: %v", name, err)
	}
	go func() {
		_ = p.cmd.Wait()
		close(p.done)
	}()
	t.Cleanup(func() {
		p.kill()
		if t.Failed() {
			t.Logf("---- log of %s (pid %d) ----\n%s", p.name, p.cmd.Process.Pid, tail(p.output(), 24<<10))
		}
	})
	select {
	case p.addr = <-addrs:
	case <-p.done:
		t.Fatalf("%s exited before listening:\n%s", name, p.output())
	case <-time.After(30 * time.Second):
		t.Fatalf("%s did not start within 30s:\n%s", name, p.output())
	}
	return p
}

func (p *proc) output() string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.log.String()
}

func (p *proc) exited() bool {
	select {
	case <-p.done:
		return true
	default:
		return false
	}
}

// waitExit waits up to d for the process to end by itself.
func (p *proc) waitExit(d time.Duration) bool {
	select {
	case <-p.done:
		return true
	case <-time.After(d):
		return false
	}
}

// kill sends SIGKILL (no shutdown at all) and reaps the process.
func (p *proc) kill() {
	if !p.exited() {
		_ = p.cmd.Process.Signal(syscall.SIGKILL)
	}
	<-p.done
}

// stop asks for a graceful shutdown (SIGTERM) and reports whether the
// process exited by itself with status 0 within d; otherwise it is killed.
func (p *proc) stop(d time.Duration) bool {
	if p.exited() {
		return false
	}
	_ = p.cmd.Process.Signal(syscall.SIGTERM)
	if !p.waitExit(d) {
		p.kill()
		return false
	}
	return p.cmd.ProcessState.Success()
}

// killedBy reports whether the process ended by signal sig.
func (p *proc) killedBy(sig syscall.Signal) bool {
	if !p.exited() {
		return false
	}
	ws, ok := p.cmd.ProcessState.Sys().(syscall.WaitStatus)
	return ok && ws.Signaled() && ws.Signal() == sig
}

// count returns how many log lines contain s.
func (p *proc) count(s string) int { return strings.Count(p.output(), s) }

var logMsg = regexp.MustCompile(`level=(ERROR|WARN) msg=("(?:[^"\\]|\\.)*"|\S+)`)

// problems summarises the process's warnings and errors: each message with
// how often it was logged.
func (p *proc) problems() string {
	counts := map[string]int{}
	for _, m := range logMsg.FindAllStringSubmatch(p.output(), -1) {
		counts[m[1]+" "+m[2]]++
	}
	keys := make([]string, 0, len(counts))
	for k := range counts {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	var b strings.Builder
	for _, k := range keys {
		fmt.Fprintf(&b, "\n    %5d× %s", counts[k], k)
	}
	if b.Len() == 0 {
		return " none"
	}
	return b.String()
}

var uuidLike = regexp.MustCompile(`[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}`)
var timestamp = regexp.MustCompile(`^time=\S+ `)

// distinct returns the log lines containing any of subs, with ids and
// times masked, each once with its count.
func (p *proc) distinct(subs ...string) string {
	counts := map[string]int{}
	var order []string
	for _, l := range strings.Split(p.output(), "\n") {
		for _, sub := range subs {
			if strings.Contains(l, sub) {
				k := tail(uuidLike.ReplaceAllString(timestamp.ReplaceAllString(l, ""), "<id>"), 300)
				if counts[k] == 0 {
					order = append(order, k)
				}
				counts[k]++
				break
			}
		}
	}
	var b strings.Builder
	for _, k := range order {
		fmt.Fprintf(&b, "\n    %5d× %s", counts[k], k)
	}
	if b.Len() == 0 {
		return " none"
	}
	return b.String()
}

// lineWriter calls fn for every complete line written to it.
type lineWriter struct {
	buf []byte
	fn  func(string)
}

func (w *lineWriter) Write(b []byte) (int, error) {
	w.buf = append(w.buf, b...)
	for {
		i := bytes.IndexByte(w.buf, '\n')
		if i < 0 {
			break
		}
		w.fn(string(w.buf[:i]))
		w.buf = w.buf[i+1:]
	}
	return len(b), nil
}

func tail(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return "[...]\n" + s[len(s)-n:]
}

// waitFor polls cond every 20ms until it holds or d passes; then the test
// fails, naming what it waited for.
func waitFor(t *testing.T, d time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(d)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %s waiting for %s", d, what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// Activities.

var activityClient = &http.Client{Timeout: 60 * time.Second}

// personal is a message activity from user in their personal chat with the bot.
func (r *rig) personal(user, name string) map[string]any {
	return map[string]any{
		"type": "message", "channelId": "msteams", "serviceUrl": r.conn.ServiceURL(),
		"id":           fmt.Sprintf("%d", time.Now().UnixNano()),
		"from":         map[string]any{"id": "29:" + user, "name": name, "aadObjectId": user},
		"recipient":    map[string]any{"id": "28:" + fClientID, "name": "jitbot"},
		"conversation": map[string]any{"id": "a:" + user, "conversationType": "personal", "tenantId": fTenant},
		"channelData":  map[string]any{"tenant": map[string]any{"id": fTenant}},
	}
}

// post sends an activity to the process and returns the HTTP status and body.
func (r *rig) post(p *proc, act map[string]any) (int, []byte, error) {
	body, _ := json.Marshal(act)
	req, err := http.NewRequest(http.MethodPost, "http://"+p.addr+"/api/messages", bytes.NewReader(body))
	if err != nil {
		return 0, nil, err
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := activityClient.Do(req)
	if err != nil {
		return 0, nil, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	return resp.StatusCode, b, err
}

var requestIDInCard = regexp.MustCompile(`"requestId":"([^"]+)"`)

// request sends `text` from user and returns the id of the request whose
// approval card reached the approvers' channel. Requests must be sent one
// at a time per rig (the new thread is the one not seen before).
func (r *rig) request(p *proc, user, text string) (string, error) {
	msg := r.personal(user, "User "+user[len(user)-4:])
	msg["text"] = text
	code, _, err := r.post(p, msg)
	if err != nil {
		return "", fmt.Errorf("post request: %w", err)
	}
	if code != http.StatusOK {
		return "", fmt.Errorf("post request: HTTP %d", code)
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, c := range r.conn.Conversations() {
		if !strings.HasPrefix(c, fApproversChan) || r.seen[c] {
			continue
		}
		acts := r.conn.Activities(c)
		if len(acts) == 0 {
			continue
		}
		raw, _ := json.Marshal(acts[0].Card())
		if m := requestIDInCard.FindSubmatch(raw); m != nil {
			r.seen[c] = true
			return string(m[1]), nil
		}
	}
	return "", fmt.Errorf("no approval card posted; the bot answered %q", r.lastText("a:"+user))
}

// lastText is the text of the latest activity in a conversation.
func (r *rig) lastText(conv string) string {
	acts := r.conn.Activities(conv)
	if len(acts) == 0 {
		return ""
	}
	return acts[len(acts)-1].Text()
}

// told reports whether the bot wrote text (or a card's summary) containing
// s in user's chat.
func (r *rig) told(user, s string) bool {
	for _, a := range r.conn.Activities("a:" + user) {
		if strings.Contains(a.Text(), s) || strings.Contains(a.Summary(), s) {
			return true
		}
	}
	return false
}

// invokeAnswer is the body of an invoke response.
type invokeAnswer struct {
	StatusCode int             `json:"statusCode"`
	Type       string          `json:"type"`
	Value      json.RawMessage `json:"value"`
}

func (a invokeAnswer) isCard() bool { return a.Type == cards.ContentType }

func (a invokeAnswer) text() string {
	var s string
	_ = json.Unmarshal(a.Value, &s)
	return s
}

// click presses a card button (Action.Execute) as clicker in conversation conv.
func (r *rig) click(p *proc, clicker, conv, verb string, data map[string]any) (int, invokeAnswer, error) {
	act := r.personal(clicker, "Clicker "+clicker[len(clicker)-4:])
	act["type"], act["name"] = "invoke", "adaptiveCard/action"
	if conv != "" {
		act["conversation"] = map[string]any{"id": conv, "conversationType": "channel", "isGroup": true, "tenantId": fTenant}
	}
	act["value"] = map[string]any{"action": map[string]any{"type": "Action.Execute", "verb": verb, "data": data}}
	code, body, err := r.post(p, act)
	var ans invokeAnswer
	if err == nil && len(body) > 0 {
		if jerr := json.Unmarshal(body, &ans); jerr != nil {
			err = fmt.Errorf("invoke answer %q: %w", body, jerr)
		}
	}
	return code, ans, err
}

// approve presses Approve on a request's card as the approver.
func (r *rig) approve(p *proc, requestID string) (int, invokeAnswer, error) {
	return r.click(p, fApprover, "", "approve", map[string]any{"requestId": requestID})
}

// alertCard is an alert the security channel received, as it now stands.
type alertCard struct {
	conv, activityID, grantID, raw string
	version                        int
}

var grantIDInCard = regexp.MustCompile(`"grantId":"([^"]+)"`)

// alerts returns the irrevocable-grant alerts of the security channel.
func (r *rig) alerts() []alertCard {
	var out []alertCard
	for _, c := range r.conn.Conversations() {
		if !strings.HasPrefix(c, fSecurityChan) {
			continue
		}
		acts := r.conn.Activities(c)
		if len(acts) == 0 {
			continue
		}
		raw, _ := json.Marshal(acts[0].Card())
		a := alertCard{conv: c, activityID: acts[0].ID, raw: string(raw), version: acts[0].Version}
		if m := grantIDInCard.FindStringSubmatch(a.raw); m != nil {
			a.grantID = m[1]
		}
		out = append(out, a)
	}
	return out
}

func (a alertCard) about(user string) bool { return strings.Contains(a.raw, user) }
func (a alertCard) retryButton() bool {
	return strings.Contains(a.raw, `"verb":"retryRevoke"`) && strings.Contains(a.raw, "Retry now")
}
func (a alertCard) resolved() bool  { return strings.Contains(a.raw, "Access removed") }
func (a alertCard) permanent() bool { return strings.Contains(a.raw, cards.AlertPermanentLine) }

// alertFor returns the latest alert about user.
func (r *rig) alertFor(user string) (alertCard, bool) {
	var found alertCard
	ok := false
	for _, a := range r.alerts() {
		if a.about(user) {
			found, ok = a, true
		}
	}
	return found, ok
}

// The Graph spy: a reverse proxy in front of the fake Graph, one listener
// per replica, recording every call with the membership before and after.

type spyCall struct {
	replica             string
	method, kind        string // kind: add, remove, get-member, other
	group, user         string
	status              int // as answered to the bot (502 when the bot went away)
	wasMember, isMember bool
	start, end          time.Time
}

type graphSpy struct {
	g       *graphtest.Graph
	mu      sync.Mutex
	calls   []spyCall
	removed atomic.Int64 // DELETEs answered 204
}

func newGraphSpy(g *graphtest.Graph) *graphSpy { return &graphSpy{g: g} }

func (s *graphSpy) front(t *testing.T, replica string) string {
	target, _ := url.Parse(s.g.URL())
	proxy := httputil.NewSingleHostReverseProxy(target)
	proxy.ErrorLog = log.New(io.Discard, "", 0)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		if req.Method == http.MethodPost && req.URL.EscapedPath() == "/v1.0/$batch" {
			s.batch(w, req, proxy, replica)
			return
		}
		c := spyCall{replica: replica, method: req.Method, start: time.Now()}
		c.kind, c.group, c.user = parseGraphCall(req)
		if c.kind == "add" || c.kind == "remove" {
			c.wasMember = s.g.IsMember(c.group, c.user)
		}
		rec := &statusWriter{ResponseWriter: w}
		proxy.ServeHTTP(rec, req)
		c.end, c.status = time.Now(), rec.status
		if c.kind == "add" || c.kind == "remove" {
			c.isMember = s.g.IsMember(c.group, c.user)
		}
		if c.kind == "remove" && c.succeeded() {
			s.removed.Add(1)
		}
		s.mu.Lock()
		s.calls = append(s.calls, c)
		s.mu.Unlock()
	}))
	t.Cleanup(srv.Close)
	return srv.URL
}

// batch passes a JSON batch on and records each request inside it as a
// call of its own, with the membership before and after the batch and the
// status of its own answer (the batch's status when the batch failed).
func (s *graphSpy) batch(w http.ResponseWriter, req *http.Request, proxy http.Handler, replica string) {
	body, _ := io.ReadAll(req.Body)
	req.Body = io.NopCloser(bytes.NewReader(body))
	var in struct {
		Requests []struct {
			ID     string          `json:"id"`
			Method string          `json:"method"`
			URL    string          `json:"url"`
			Body   json.RawMessage `json:"body"`
		} `json:"requests"`
	}
	_ = json.Unmarshal(body, &in)
	start := time.Now()
	calls := make([]spyCall, len(in.Requests))
	for i, r := range in.Requests {
		inner := httptest.NewRequest(r.Method, "/v1.0"+r.URL, bytes.NewReader(r.Body))
		c := spyCall{replica: replica, method: r.Method, start: start}
		c.kind, c.group, c.user = parseGraphCall(inner)
		if c.kind == "add" || c.kind == "remove" {
			c.wasMember = s.g.IsMember(c.group, c.user)
		}
		calls[i] = c
	}
	rec := &bodyRecorder{statusWriter: statusWriter{ResponseWriter: w}}
	proxy.ServeHTTP(rec, req)
	end := time.Now()
	var out struct {
		Responses []struct {
			ID     string `json:"id"`
			Status int    `json:"status"`
		} `json:"responses"`
	}
	_ = json.Unmarshal(rec.body.Bytes(), &out)
	status := map[string]int{}
	for _, r := range out.Responses {
		status[r.ID] = r.Status
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	for i, r := range in.Requests {
		c := calls[i]
		c.end, c.status = end, rec.status
		if st, ok := status[r.ID]; ok && rec.status == http.StatusOK {
			c.status = st
		}
		if c.kind == "add" || c.kind == "remove" {
			c.isMember = s.g.IsMember(c.group, c.user)
		}
		if _, answered := status[r.ID]; !answered && c.kind == "remove" && c.wasMember && !c.isMember {
			// The batch's answer was lost (the caller gave up waiting, so
			// the proxy answered 502), but Graph carried this removal out:
			// it counts as the removal it was, as a lost 504 of a call of
			// its own would once the member is gone.
			c.status = http.StatusNoContent
		}
		if c.kind == "remove" && c.succeeded() {
			s.removed.Add(1)
		}
		s.calls = append(s.calls, c)
	}
}

// bodyRecorder is a statusWriter that keeps a copy of the body.
type bodyRecorder struct {
	statusWriter
	body bytes.Buffer
}

func (w *bodyRecorder) Write(b []byte) (int, error) {
	w.body.Write(b)
	return w.statusWriter.Write(b)
}

// succeeded reports whether the membership call did what it asked: 204
// for a direct addition or removal, 201 for a PIM assignment request.
func (c spyCall) succeeded() bool {
	return c.status == http.StatusNoContent || c.status == http.StatusCreated
}

// parseGraphCall names a membership call and its group and user. A PIM
// assignment request counts as an add (adminAssign) or a remove
// (adminRemove).
func parseGraphCall(req *http.Request) (kind, group, user string) {
	if req.Method == http.MethodPost && req.URL.Path == "/v1.0/identityGovernance/privilegedAccess/group/assignmentScheduleRequests" {
		body, _ := io.ReadAll(req.Body)
		req.Body = io.NopCloser(bytes.NewReader(body))
		var b struct{ Action, GroupID, PrincipalID string }
		_ = json.Unmarshal(body, &b)
		switch b.Action {
		case "adminAssign":
			return "add", b.GroupID, b.PrincipalID
		case "adminRemove":
			return "remove", b.GroupID, b.PrincipalID
		}
		return "other", b.GroupID, b.PrincipalID
	}
	var segs []string
	for _, s := range strings.Split(strings.Trim(req.URL.EscapedPath(), "/"), "/") {
		u, err := url.PathUnescape(s)
		if err != nil {
			return "other", "", ""
		}
		segs = append(segs, u)
	}
	if len(segs) < 4 || segs[0] != "v1.0" || segs[1] != "groups" || segs[3] != "members" {
		return "other", "", ""
	}
	group = segs[2]
	switch {
	case len(segs) == 6 && segs[5] == "$ref" && req.Method == http.MethodDelete:
		return "remove", group, segs[4]
	case len(segs) == 5 && segs[4] == "$ref" && req.Method == http.MethodPost:
		body, _ := io.ReadAll(req.Body)
		req.Body = io.NopCloser(bytes.NewReader(body))
		var ref struct {
			ID string `json:"@odata.id"`
		}
		_ = json.Unmarshal(body, &ref)
		return "add", group, ref.ID[strings.LastIndex(ref.ID, "/")+1:]
	case len(segs) == 5 && req.Method == http.MethodGet:
		return "get-member", group, segs[4]
	}
	return "other", group, ""
}

type statusWriter struct {
	http.ResponseWriter
	status int
}

func (w *statusWriter) WriteHeader(code int) {
	if w.status == 0 {
		w.status = code
	}
	w.ResponseWriter.WriteHeader(code)
}

func (w *statusWriter) Write(b []byte) (int, error) {
	if w.status == 0 {
		w.status = http.StatusOK
	}
	return w.ResponseWriter.Write(b)
}

func (w *statusWriter) Flush() {
	if f, ok := w.ResponseWriter.(http.Flusher); ok {
		f.Flush()
	}
}

// all returns the calls of a kind (every kind when empty), oldest first.
func (s *graphSpy) all(kind string) []spyCall {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []spyCall
	for _, c := range s.calls {
		if kind == "" || c.kind == kind {
			out = append(out, c)
		}
	}
	slices.SortStableFunc(out, func(a, b spyCall) int { return a.start.Compare(b.start) })
	return out
}

// of returns the calls of a kind for one user.
func (s *graphSpy) of(kind, user string) []spyCall {
	var out []spyCall
	for _, c := range s.all(kind) {
		if strings.EqualFold(c.user, user) {
			out = append(out, c)
		}
	}
	return out
}

// Storage.

// openStore opens the database as the process does, closed at the end of
// the test (or earlier by the caller).
func openStore(t *testing.T, dbURL string) *storage.DB {
	t.Helper()
	db, err := storage.Open(context.Background(), dbURL, nil)
	if err != nil {
		t.Fatalf("open %s: %v", dbURL, err)
	}
	t.Cleanup(func() { _ = db.Close() })
	return db
}

// asStore is the database through the contract the service uses.
func asStore(db *storage.DB) access.Store { return db }

// actions lists the actions of an audit trail.
func actions(evs []access.AuditEvent) []access.Action {
	out := make([]access.Action, len(evs))
	for i, e := range evs {
		out[i] = e.Action
	}
	return out
}

// inOrder reports whether want occurs in got as a subsequence.
func inOrder(got []access.Action, want ...access.Action) bool {
	i := 0
	for _, a := range got {
		if i < len(want) && a == want[i] {
			i++
		}
	}
	return i == len(want)
}

func countAction(got []access.Action, a access.Action) int {
	n := 0
	for _, x := range got {
		if x == a {
			n++
		}
	}
	return n
}

// newPGDatabase creates a schema of its own in JITBOT_TEST_POSTGRES's
// database, dropped at the end, and returns a URL whose search_path selects
// it. The test is skipped when the variable is unset.
func newPGDatabase(t *testing.T) string {
	t.Helper()
	base := os.Getenv("JITBOT_TEST_POSTGRES")
	if base == "" {
		t.Skip("JITBOT_TEST_POSTGRES is not set")
	}
	admin, err := gorm.Open(postgres.Open(base), &gorm.Config{Logger: gormlogger.Discard})
	if err != nil {
		t.Fatalf("connect to PostgreSQL: %v", err)
	}
	sqlDB, err := admin.DB()
	if err != nil {
		t.Fatal(err)
	}
	b := make([]byte, 6)
	_, _ = rand.Read(b)
	schema := "t_faults_" + hex.EncodeToString(b)
	if err := admin.Exec("CREATE SCHEMA " + schema).Error; err != nil {
		t.Fatalf("create schema: %v", err)
	}
	t.Cleanup(func() {
		// Registered first, so it runs after the processes and stores
		// opened later are gone. PostgreSQL may have been restarted: a
		// fresh connection drops the schema.
		_ = sqlDB.Close()
		again, err := gorm.Open(postgres.Open(base), &gorm.Config{Logger: gormlogger.Discard})
		if err != nil {
			t.Errorf("drop schema %s: %v", schema, err)
			return
		}
		if err := again.Exec("DROP SCHEMA " + schema + " CASCADE").Error; err != nil {
			t.Errorf("drop schema %s: %v", schema, err)
		}
		if d, err := again.DB(); err == nil {
			_ = d.Close()
		}
	})
	u, err := url.Parse(base)
	if err != nil || (u.Scheme != "postgres" && u.Scheme != "postgresql") {
		t.Skip("JITBOT_TEST_POSTGRES must be a postgres:// URL")
	}
	q := u.Query()
	q.Set("search_path", schema)
	u.RawQuery = q.Encode()
	return u.String()
}
