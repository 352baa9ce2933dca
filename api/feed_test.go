package api_test

import (
	"bufio"
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore/policy"

	"github.com/jitbot/jitbot/access"
	"github.com/jitbot/jitbot/access/accesstest"
	"github.com/jitbot/jitbot/api"
	"github.com/jitbot/jitbot/api/entraauth"
	"github.com/jitbot/jitbot/audit"
	"github.com/jitbot/jitbot/internal/entratest"
	"github.com/jitbot/jitbot/storage"
)

const (
	tenantID    = "4f3c2b1a-0d9e-4c8b-9a7f-6e5d4c3b2a10"
	otherTenant = "99999999-9999-4999-8999-999999999999"
	jitbotApp   = "9b1c7f5e-2d4a-4e8b-8c6f-1a2b3c4d5e6f" // jitbot's app registration
	siemApp     = "5e6f7a8b-1111-4222-8333-944455556666" // the SIEM's own app registration
	siemSecret  = "siem-secret"
	otherAPI    = "0a0b0c0d-0000-4000-8000-000000000abc"
)

var jitbotAPI = entratest.API{TenantID: tenantID, AppID: jitbotApp}

type feedWorld struct {
	t         testing.TB
	authority *entratest.Authority
	store     *accesstest.Store
	server    *httptest.Server
	validator *entraauth.Validator
}

func newFeedWorld(t testing.TB, log api.AuditLog) *feedWorld {
	t.Helper()
	w := &feedWorld{t: t, authority: entratest.NewAuthority(t), store: accesstest.NewStore()}
	if log == nil {
		log = w.store
	}
	v, err := entraauth.New(entraauth.Config{
		TenantID:    tenantID,
		MetadataURL: w.authority.MetadataURL(tenantID),
		Issuers:     []string{w.authority.V2Issuer(tenantID), entratest.V1Issuer(tenantID)},
		Audiences:   []string{jitbotApp, "api://" + jitbotApp},
		Role:        api.AuditFeedRole,
		// An unknown key id may trigger a fetch at once (the default
		// waits 5 minutes between fetches).
		KeyRefetchInterval: time.Millisecond,
	}, w.authority.Client(), nil)
	if err != nil {
		t.Fatal(err)
	}
	w.validator = v
	feed, err := api.NewAuditFeed(log, v, slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err != nil {
		t.Fatal(err)
	}
	mux := http.NewServeMux()
	mux.Handle(api.AuditFeedPath, feed)
	w.server = httptest.NewServer(mux)
	t.Cleanup(w.server.Close)
	return w
}

// get calls the feed with a bearer token ("" for none).
func (w *feedWorld) get(query, token string) (*http.Response, []byte) {
	w.t.Helper()
	req, _ := http.NewRequest(http.MethodGet, w.server.URL+api.AuditFeedPath+query, nil)
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		w.t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	return resp, body
}

// siemToken gets a token the way a SIEM does: client credentials for
// api://<jitbot app id>/.default, through azidentity.
func (w *feedWorld) siemToken(tenant string) string {
	w.t.Helper()
	cred := w.authority.ClientSecretCredential(w.t, tenant, siemApp, siemSecret)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	tok, err := cred.GetToken(ctx, policy.TokenRequestOptions{Scopes: []string{"api://" + jitbotApp + "/.default"}})
	if err != nil {
		w.t.Fatal(err)
	}
	return tok.Token
}

// appendEvents appends n events, a minute apart from at.
func (w *feedWorld) appendEvents(n int, at time.Time) {
	w.t.Helper()
	for i := range n {
		ev := access.AuditEvent{At: at.Add(time.Duration(i) * time.Minute), Actor: access.Person{ObjectID: "jitbot", Name: "jitbot"},
			Action: access.ActionRequested, RequestID: fmt.Sprintf("req-%03d", i), Profile: "prod-db", Reason: fmt.Sprintf("event %d", i)}
		if err := w.store.AppendAudit(context.Background(), ev); err != nil {
			w.t.Fatal(err)
		}
	}
}

type line struct {
	Type      string    `json:"type"`
	Seq       int64     `json:"seq"`
	PrevHash  string    `json:"prev_hash"`
	Hash      string    `json:"hash"`
	At        time.Time `json:"at"`
	Action    string    `json:"action"`
	RequestID string    `json:"request_id"`
	Reason    string    `json:"reason"`
	Signature string    `json:"signature"`
	KeyID     string    `json:"key_id"`
}

func parseLines(t *testing.T, body []byte) []line {
	t.Helper()
	var out []line
	for i, raw := range strings.Split(strings.TrimSuffix(string(body), "\n"), "\n") {
		if raw == "" {
			continue
		}
		var l line
		dec := json.NewDecoder(strings.NewReader(raw))
		dec.DisallowUnknownFields()
		var generic map[string]any
		if err := json.Unmarshal([]byte(raw), &generic); err != nil {
			t.Fatalf("line %d is not JSON: %v\n%s", i+1, err, raw)
		}
		if err := json.Unmarshal([]byte(raw), &l); err != nil {
			t.Fatalf("line %d: %v", i+1, err)
		}
		out = append(out, l)
	}
	return out
}

func TestFeedRefusesBadTokens(t *testing.T) {
	w := newFeedWorld(t, nil)
	w.appendEvents(3, time.Date(2026, 11, 1, 9, 0, 0, 0, time.UTC))
	a := w.authority
	a.AddApp(tenantID, siemApp, siemSecret)
	a.AddApp(otherTenant, siemApp, siemSecret)
	a.AddAPI(jitbotAPI)
	a.AddAPI(entratest.API{TenantID: otherTenant, AppID: jitbotApp})
	a.AddAPI(entratest.API{TenantID: tenantID, AppID: otherAPI})
	a.GrantAppRole(tenantID, siemApp, otherAPI, api.AuditFeedRole)
	a.GrantAppRole(otherTenant, siemApp, jitbotApp, api.AuditFeedRole)
	role := []string{api.AuditFeedRole}

	cases := []struct {
		name, token string
		want        int
	}{
		{"no token", "", http.StatusUnauthorized},
		{"without the role", w.siemToken(tenantID), http.StatusForbidden}, // the role is not granted yet
		{"with another role", a.AccessToken(t, jitbotAPI, siemApp, []string{"Audit.Write"}), http.StatusForbidden},
		{"for another audience", a.AccessToken(t, entratest.API{TenantID: tenantID, AppID: otherAPI}, siemApp, role), http.StatusUnauthorized},
		{"expired", a.AccessToken(t, jitbotAPI, siemApp, role, entratest.WithLifetime(time.Now().Add(-2*time.Hour), time.Now().Add(-6*time.Minute))), http.StatusUnauthorized},
		{"not yet valid", a.AccessToken(t, jitbotAPI, siemApp, role, entratest.WithLifetime(time.Now().Add(6*time.Minute), time.Now().Add(time.Hour))), http.StatusUnauthorized},
		{"without exp", a.AccessToken(t, jitbotAPI, siemApp, role, entratest.WithClaim("exp", nil)), http.StatusUnauthorized},
		{"badly signed", a.AccessToken(t, jitbotAPI, siemApp, role, entratest.WithForeignKey(t)), http.StatusUnauthorized},
		{"from another tenant", a.AccessToken(t, entratest.API{TenantID: otherTenant, AppID: jitbotApp}, siemApp, role), http.StatusUnauthorized},
		{"another tenant's token by the real flow", "", http.StatusUnauthorized}, // filled below
		{"another tenant's tid", a.AccessToken(t, jitbotAPI, siemApp, role, entratest.WithClaim("tid", otherTenant)), http.StatusUnauthorized},
		{"another issuer", a.AccessToken(t, jitbotAPI, siemApp, role, entratest.WithClaim("iss", "https://sts.evil.example/"+tenantID+"/")), http.StatusUnauthorized},
		{"v1 issuer with a v2 version", a.AccessToken(t, jitbotAPI, siemApp, role, entratest.WithClaim("ver", "2.0")), http.StatusUnauthorized},
		{"a user's delegated token", a.AccessToken(t, jitbotAPI, siemApp, role, entratest.WithClaim("scp", "Audit.Read")), http.StatusUnauthorized},
		{"not a JWT", "not-a-jwt", http.StatusUnauthorized},
	}
	cases[9].token = w.siemToken(otherTenant)
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			resp, body := w.get("?since=0", c.token)
			if resp.StatusCode != c.want {
				t.Fatalf("HTTP %d, want %d: %s", resp.StatusCode, c.want, body)
			}
			if strings.Contains(string(body), `"type":"event"`) {
				t.Fatal("a refused request got events")
			}
			if resp.Header.Get("WWW-Authenticate") == "" {
				t.Error("no WWW-Authenticate header on a refusal")
			}
		})
	}

	// Once the role is granted (admin consent), the same flow gets through,
	// with v1.0 tokens (the app registration's default) and v2.0 tokens.
	a.GrantAppRole(tenantID, siemApp, jitbotApp, api.AuditFeedRole)
	if resp, body := w.get("?since=0", w.siemToken(tenantID)); resp.StatusCode != http.StatusOK || len(parseLines(t, body)) != 3 {
		t.Fatalf("v1.0 token with the role: HTTP %d %s", resp.StatusCode, body)
	}
	v2 := jitbotAPI
	v2.TokenVersion = 2
	if resp, body := w.get("?since=0", a.AccessToken(t, v2, siemApp, role)); resp.StatusCode != http.StatusOK || len(parseLines(t, body)) != 3 {
		t.Fatalf("v2.0 token with the role: HTTP %d %s", resp.StatusCode, body)
	}
	// A rotated signing key is fetched anew.
	a.RotateKey(t)
	time.Sleep(2 * time.Millisecond)
	if resp, body := w.get("?since=0", a.AccessToken(t, jitbotAPI, siemApp, role)); resp.StatusCode != http.StatusOK {
		t.Fatalf("token signed with a rotated key: HTTP %d %s", resp.StatusCode, body)
	}
}

func TestFeedStreamsEventsAndCheckpointsInOrder(t *testing.T) {
	w := newFeedWorld(t, nil)
	start := time.Date(2026, 11, 1, 9, 0, 0, 0, time.UTC)
	w.appendEvents(25, start)
	_, key, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	var stored []access.AuditEvent
	if err := w.store.EachAudit(ctx, access.AuditQuery{}, func(ev access.AuditEvent) error { stored = append(stored, ev); return nil }); err != nil {
		t.Fatal(err)
	}
	cp10 := audit.Sign(key, audit.Head(stored[9]), start.Add(time.Hour))
	cp20 := audit.Sign(key, audit.Head(stored[19]), start.Add(2*time.Hour))
	for _, c := range []access.Checkpoint{cp10, cp20} {
		if err := w.store.AppendCheckpoint(ctx, c); err != nil {
			t.Fatal(err)
		}
	}
	token := w.authority.AccessToken(t, jitbotAPI, siemApp, []string{api.AuditFeedRole})

	resp, body := w.get("?since=0&limit=10", token)
	if resp.StatusCode != http.StatusOK || resp.Header.Get("Content-Type") != api.FeedContentType {
		t.Fatalf("HTTP %d %s: %s", resp.StatusCode, resp.Header.Get("Content-Type"), body)
	}
	lines := parseLines(t, body)
	if len(lines) != 11 {
		t.Fatalf("%d lines, want 10 events and the checkpoint of seq 10:\n%s", len(lines), body)
	}
	prev := ""
	for i, l := range lines[:10] {
		ev := stored[i]
		if l.Type != "event" || l.Seq != int64(i+1) || l.Hash != ev.Hash || l.PrevHash != prev || l.RequestID != ev.RequestID || !l.At.Equal(ev.At) || l.Action != string(ev.Action) {
			t.Fatalf("line %d = %+v, want event %+v", i+1, l, ev)
		}
		if got := audit.HashEvent(ev); got != l.Hash {
			t.Fatalf("line %d: hash %s does not recompute (%s)", i+1, l.Hash, got)
		}
		prev = l.Hash
	}
	if c := lines[10]; c.Type != "checkpoint" || c.Seq != 10 || c.Hash != stored[9].Hash || c.Signature != cp10.Signature || c.KeyID != cp10.KeyID {
		t.Fatalf("checkpoint line %+v, want %+v", c, cp10)
	}

	// The next poll starts after the last seq received; the checkpoint of
	// that seq comes first (it may have been signed since).
	_, body = w.get("?since=10&limit=10", token)
	lines = parseLines(t, body)
	if len(lines) != 12 || lines[0].Type != "checkpoint" || lines[0].Seq != 10 || lines[1].Seq != 11 || lines[10].Seq != 20 || lines[11].Type != "checkpoint" || lines[11].Seq != 20 {
		t.Fatalf("since=10&limit=10: %+v", lines)
	}
	_, body = w.get("?since=20", token)
	lines = parseLines(t, body)
	if len(lines) != 6 || lines[0].Seq != 20 || lines[0].Type != "checkpoint" || lines[1].Seq != 21 || lines[5].Seq != 25 {
		t.Fatalf("since=20: %+v", lines)
	}
	// Caught up: nothing new.
	if _, body = w.get("?since=25", token); len(parseLines(t, body)) != 0 {
		t.Fatalf("since=25: %s", body)
	}
	// An RFC 3339 since: the events at and after that time.
	_, body = w.get("?since="+start.Add(22*time.Minute).Format(time.RFC3339), token)
	lines = parseLines(t, body)
	if len(lines) != 3 || lines[0].Seq != 23 || lines[2].Seq != 25 {
		t.Fatalf("since=time: %+v", lines)
	}

	// The same as one JSON array, for pollers that read JSON only.
	resp, body = w.get("?since=10&limit=10&format=json", token)
	var array []line
	if err := json.Unmarshal(body, &array); err != nil || resp.Header.Get("Content-Type") != api.FeedArrayContentType {
		t.Fatalf("format=json: %v (%s): %s", err, resp.Header.Get("Content-Type"), body)
	}
	if len(array) != 12 || array[0].Type != "checkpoint" || array[1].Seq != 11 || array[11].Seq != 20 {
		t.Fatalf("format=json: %+v", array)
	}
	if _, body = w.get("?since=25&format=json", token); strings.TrimSpace(string(body)) != "[]" {
		t.Fatalf("format=json caught up: %s", body)
	}

	for _, q := range []string{"?format=xml", "?limit=0", "?limit=10001", "?limit=ten", "?since=-1", "?since=yesterday", "?since=1&since=2", "?from=1"} {
		if resp, body := w.get(q, token); resp.StatusCode != http.StatusBadRequest {
			t.Errorf("%s: HTTP %d %s, want 400", q, resp.StatusCode, body)
		}
	}
	req, _ := http.NewRequest(http.MethodPost, w.server.URL+api.AuditFeedPath, nil)
	req.Header.Set("Authorization", "Bearer "+token)
	if resp, err := http.DefaultClient.Do(req); err != nil || resp.StatusCode != http.StatusMethodNotAllowed {
		t.Fatalf("POST: %v %v", resp, err)
	}
}

// generated is an audit log of n events made up as they are read, one page
// at a time, that can stop (pause) after a given event until released.
type generated struct {
	n       int
	pauseAt int
	paused  chan struct{} // closed when reading paused
	release chan struct{}
}

func (g *generated) EachAudit(ctx context.Context, q access.AuditQuery, fn func(access.AuditEvent) error) error {
	at := time.Date(2026, 11, 1, 0, 0, 0, 0, time.UTC)
	head := access.ChainHead{}
	for i := 1; i <= g.n && (q.Limit == 0 || i <= q.Limit); i++ {
		ev := audit.Link(head, access.AuditEvent{At: at.Add(time.Duration(i) * time.Second), Actor: access.Person{ObjectID: "jitbot", Name: "jitbot"},
			Action: access.ActionRevoked, RequestID: fmt.Sprintf("req-%07d", i), Reason: "expired"})
		head = audit.Head(ev)
		if err := fn(ev); err != nil {
			return err
		}
		if i == g.pauseAt {
			close(g.paused)
			select {
			case <-g.release:
			case <-ctx.Done():
				return ctx.Err()
			}
		}
	}
	return nil
}

func (g *generated) EachCheckpoint(context.Context, func(access.Checkpoint) error) error { return nil }

// TestFeedStreamsInFlatMemory: the first lines reach the client while the
// log is still being read, and reading many more events does not grow the
// heap: nothing is loaded whole.
func TestFeedStreamsInFlatMemory(t *testing.T) {
	const total = api.MaxFeedLimit
	g := &generated{n: total, pauseAt: total / 2, paused: make(chan struct{}), release: make(chan struct{})}
	w := newFeedWorld(t, g)
	token := w.authority.AccessToken(t, jitbotAPI, siemApp, []string{api.AuditFeedRole})
	req, _ := http.NewRequest(http.MethodGet, w.server.URL+api.AuditFeedPath+"?limit="+fmt.Sprint(total), nil)
	req.Header.Set("Authorization", "Bearer "+token)
	// A feed that collected the events before writing would never answer
	// while the log is paused: the client gives up.
	client := &http.Client{Timeout: 60 * time.Second}
	resp, err := client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	r := bufio.NewReader(resp.Body)
	read := 0
	// Half the events arrive while the log is paused mid-way: they were
	// written as read, not collected first.
	select {
	case <-g.paused:
	case <-time.After(20 * time.Second):
		t.Fatal("the feed never got half-way through the log")
	}
	var before runtime.MemStats
	// (What the feed has not flushed yet, at most a few hundred lines, is
	// left for after the pause.)
	for read < total/2-1024 {
		if _, err := r.ReadBytes('\n'); err != nil {
			t.Fatalf("after %d lines: %v", read, err)
		}
		read++
	}
	runtime.GC()
	runtime.ReadMemStats(&before)
	close(g.release)
	for {
		if _, err := r.ReadBytes('\n'); err == io.EOF {
			break
		} else if err != nil {
			t.Fatal(err)
		}
		read++
	}
	var after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&after)
	if read != total {
		t.Fatalf("%d lines, want %d", read, total)
	}
	if grew := int64(after.HeapAlloc) - int64(before.HeapAlloc); grew > 4<<20 {
		t.Fatalf("the heap grew by %d bytes over the second half of the stream", grew)
	}
}

// BenchmarkFeedMillionEvents polls 1,000,000 events through the feed, a
// full page (MaxFeedLimit) at a time, from an audit log that makes them up
// as they are read, and reports the peak heap seen while streaming:
//
//	go test ./api -run '^$' -bench FeedMillionEvents -benchtime 1x
func BenchmarkFeedMillionEvents(b *testing.B) {
	const total = 1_000_000
	g := &paged{n: total}
	w := newFeedWorld(b, g)
	token := w.authority.AccessToken(b, jitbotAPI, siemApp, []string{api.AuditFeedRole})
	var peak uint64
	stop := make(chan struct{})
	sampled := make(chan struct{})
	go func() {
		defer close(sampled)
		var m runtime.MemStats
		for {
			select {
			case <-stop:
				return
			case <-time.After(5 * time.Millisecond):
				runtime.ReadMemStats(&m)
				peak = max(peak, m.HeapInuse)
			}
		}
	}()
	b.ResetTimer()
	for range b.N {
		since, got := int64(0), 0
		for got < total {
			req, _ := http.NewRequest(http.MethodGet, fmt.Sprintf("%s%s?since=%d&limit=%d", w.server.URL, api.AuditFeedPath, since, api.MaxFeedLimit), nil)
			req.Header.Set("Authorization", "Bearer "+token)
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				b.Fatal(err)
			}
			sc := bufio.NewScanner(resp.Body)
			n := 0
			for sc.Scan() {
				var l line
				if err := json.Unmarshal(sc.Bytes(), &l); err != nil {
					b.Fatal(err)
				}
				since = l.Seq
				n++
			}
			resp.Body.Close()
			if n == 0 {
				b.Fatalf("no events after seq %d", since)
			}
			got += n
		}
	}
	b.StopTimer()
	close(stop)
	<-sampled
	b.ReportMetric(float64(peak)/(1<<20), "peak-heap-MiB")
}

// paged is an audit log of n made-up events that honours AfterSeq and
// Limit, as the stores do.
type paged struct{ n int }

func (p *paged) EachAudit(_ context.Context, q access.AuditQuery, fn func(access.AuditEvent) error) error {
	at := time.Date(2026, 11, 1, 0, 0, 0, 0, time.UTC)
	for i, sent := q.AfterSeq+1, 0; i <= int64(p.n) && (q.Limit == 0 || sent < q.Limit); i, sent = i+1, sent+1 {
		ev := access.AuditEvent{Seq: i, PrevHash: "p", Hash: "h", At: at.Add(time.Duration(i) * time.Second),
			Actor: access.Person{ObjectID: "jitbot", Name: "jitbot"}, Action: access.ActionRevoked, RequestID: fmt.Sprintf("req-%07d", i), Reason: "expired"}
		if err := fn(ev); err != nil {
			return err
		}
	}
	return nil
}

func (p *paged) EachCheckpoint(context.Context, func(access.Checkpoint) error) error { return nil }

// TestFeedOverTheDatabase streams from the database store (SQLite; the
// storage package's tests run its reads on PostgreSQL too): the chain as
// stored, with its signed checkpoint, a page at a time.
func TestFeedOverTheDatabase(t *testing.T) {
	urls := map[string]string{"sqlite": "sqlite:" + filepath.Join(t.TempDir(), "jitbot.db")}
	for name, dbURL := range urls {
		t.Run(name, func(t *testing.T) {
			ctx := context.Background()
			db, err := storage.Open(ctx, dbURL, slog.New(slog.NewTextHandler(io.Discard, nil)))
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { _ = db.Close() })
			head, err := db.ChainHead(ctx)
			if err != nil {
				t.Fatal(err)
			}
			w := newFeedWorld(t, db)
			start := time.Now().UTC().Truncate(time.Second)
			for i := range 30 {
				ev := access.AuditEvent{At: start.Add(time.Duration(i) * time.Second), Actor: access.Person{ObjectID: "jitbot", Name: "jitbot"},
					Action: access.ActionRequested, RequestID: fmt.Sprintf("feed-%s-%d", name, i), Reason: "feed test"}
				if err := db.AppendAudit(ctx, ev); err != nil {
					t.Fatal(err)
				}
			}
			mid, err := db.ChainHead(ctx)
			if err != nil || mid.Seq != head.Seq+30 {
				t.Fatalf("head %+v after 30 events from %+v (%v)", mid, head, err)
			}
			_, key, _ := ed25519.GenerateKey(rand.Reader)
			cp := audit.Sign(key, mid, start.Add(time.Minute))
			if err := db.AppendCheckpoint(ctx, cp); err != nil {
				t.Fatal(err)
			}
			token := w.authority.AccessToken(t, jitbotAPI, siemApp, []string{api.AuditFeedRole})
			_, body := w.get(fmt.Sprintf("?since=%d&limit=20", head.Seq), token)
			first := parseLines(t, body)
			_, body = w.get(fmt.Sprintf("?since=%d", head.Seq+20), token)
			rest := parseLines(t, body)
			if len(first) != 20 || len(rest) != 11 {
				t.Fatalf("%d and %d lines, want 20 events, then 10 events and the checkpoint", len(first), len(rest))
			}
			prev := ""
			for i, l := range append(first, rest[:10]...) {
				if l.Type != "event" || l.Seq != head.Seq+int64(i)+1 || (i > 0 && l.PrevHash != prev) || l.RequestID != fmt.Sprintf("feed-%s-%d", name, i) {
					t.Fatalf("event %d: %+v", i, l)
				}
				prev = l.Hash
			}
			if c := rest[10]; c.Type != "checkpoint" || c.Seq != mid.Seq || c.Hash != mid.Hash || c.Hash != prev || c.Signature != cp.Signature {
				t.Fatalf("checkpoint %+v, want %+v", c, cp)
			}
		})
	}
}
