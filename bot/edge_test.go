package bot_test

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/policy"
	"github.com/infracloudio/msbotbuilder-go/schema"

	"github.com/jitbot/jitbot/access"
	"github.com/jitbot/jitbot/bot"
	"github.com/jitbot/jitbot/bot/auth"
	"github.com/jitbot/jitbot/bot/connector"
	"github.com/jitbot/jitbot/bot/connectortest"
)

// edge is one bot in front of a world's access service, with its own log,
// for the refusals at the Bot Framework edge. Each refusal test builds a
// fresh one so that the rate-limited rejection log starts empty.
type edge struct {
	w    *world
	url  string
	logs *lockedBuffer
	// conn is where the bot's replies go: the world's fake connector, or a
	// plain-http one on this machine in local mode.
	conn *connectortest.Connector
	// serviceURL is the service URL activities sent to this bot carry.
	serviceURL string
}

// newEdge builds an authenticated bot that checks tokens with v (nil: the
// world's issuer) and replies through the world's connector client.
func (w *world) newEdge(v auth.Authenticator) *edge {
	w.t.Helper()
	e := &edge{w: w, logs: &lockedBuffer{}, conn: w.conn, serviceURL: w.conn.ServiceURL()}
	logger := slog.New(slog.NewTextHandler(e.logs, nil))
	if v == nil {
		var err error
		v, err = auth.NewValidator(auth.Config{AppID: appID, OpenIDMetadataURL: w.issuer.MetadataURL()}, nil, logger)
		if err != nil {
			w.t.Fatal(err)
		}
	}
	h, err := bot.New(bot.Config{Service: w.svc, Auth: v, Connector: w.client, Logger: logger, ServiceHosts: testServiceHosts})
	if err != nil {
		w.t.Fatal(err)
	}
	e.serve(h)
	return e
}

// newLocalEdge builds a bot in local mode (the Agents Playground's), which
// replies without a token to a fake connector on this machine.
func (w *world) newLocalEdge() *edge {
	w.t.Helper()
	conn := connectortest.NewConnector(w.t)
	e := &edge{w: w, logs: &lockedBuffer{}, conn: conn, serviceURL: conn.ServiceURL()}
	logger := slog.New(slog.NewTextHandler(e.logs, nil))
	client, err := connector.New(nil, connector.Options{LocalMode: true, HTTPClient: conn.Client(), Logger: logger})
	if err != nil {
		w.t.Fatal(err)
	}
	h, err := bot.New(bot.Config{Service: w.svc, Local: true, Connector: client, Logger: logger})
	if err != nil {
		w.t.Fatal(err)
	}
	e.serve(h)
	return e
}

func (e *edge) serve(h http.Handler) {
	srv := httptest.NewServer(h)
	e.w.t.Cleanup(srv.Close)
	e.url = srv.URL
}

// message is a personal-chat message from p to this bot.
func (e *edge) message(p person, text string) map[string]any {
	act := e.w.message(p, text)
	act["serviceUrl"] = e.serviceURL
	return act
}

// send posts act as JSON with the given headers ("Host" sets the Host
// header) and returns the status.
func (e *edge) send(act map[string]any, headers map[string]string) int {
	e.w.t.Helper()
	body, _ := json.Marshal(act)
	req, _ := http.NewRequest(http.MethodPost, e.url, bytes.NewReader(body))
	for k, v := range headers {
		if k == "Host" {
			req.Host = v
			continue
		}
		req.Header.Set(k, v)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		e.w.t.Fatal(err)
	}
	defer resp.Body.Close()
	_, _ = io.Copy(io.Discard, resp.Body)
	return resp.StatusCode
}

// signed is the headers of an activity with a valid channel token for its
// service URL.
func (e *edge) signed(act map[string]any, opts ...connectortest.TokenOption) map[string]string {
	return map[string]string{
		"Content-Type":  "application/json",
		"Authorization": "Bearer " + e.w.issuer.Token(appID, act["serviceUrl"].(string), opts...),
	}
}

// footprint is everything an accepted activity leaves behind.
type footprint struct {
	audit, open, graph, connector int
}

func (e *edge) footprint() footprint {
	e.w.t.Helper()
	ctx := context.Background()
	evs, err := e.w.db.Audit(ctx, access.AuditFilter{})
	if err != nil {
		e.w.t.Fatal(err)
	}
	open := 0
	for _, id := range []string{rileyID, alexID, samID, eveID} {
		reqs, err := e.w.db.OpenRequests(ctx, id)
		if err != nil {
			e.w.t.Fatal(err)
		}
		open += len(reqs)
	}
	return footprint{audit: len(evs), open: open, graph: len(e.w.graph.Calls()), connector: len(e.conn.Requests()) + len(e.w.conn.Requests())}
}

// refused asserts that sending act with headers is answered with want,
// changes nothing (no store write, no Graph call, no connector call) and is
// logged in exactly one line without a stack trace.
func (e *edge) refused(t *testing.T, act map[string]any, headers map[string]string, want int) {
	t.Helper()
	before := e.footprint()
	if code := e.send(act, headers); code != want {
		t.Errorf("HTTP %d, want %d", code, want)
	}
	if after := e.footprint(); after != before {
		t.Errorf("a refused activity left a trace: before %+v, after %+v", before, after)
	}
	var rejected []string
	for _, line := range strings.Split(strings.TrimSpace(e.logs.String()), "\n") {
		if strings.Contains(line, "rejected") {
			rejected = append(rejected, line)
		}
		if strings.Contains(line, "goroutine ") || strings.Contains(line, "panic") {
			t.Errorf("stack trace in the log: %s", line)
		}
	}
	if len(rejected) != 1 {
		t.Errorf("%d log lines for one refusal, want 1:\n%s", len(rejected), e.logs.String())
	}
}

// accepted asserts that act is answered 200 and the bot replied.
func (e *edge) accepted(t *testing.T, act map[string]any, headers map[string]string) {
	t.Helper()
	before := len(e.conn.Requests())
	if code := e.send(act, headers); code != http.StatusOK {
		t.Fatalf("HTTP %d, want 200\n%s", code, e.logs.String())
	}
	if len(e.conn.Requests()) == before {
		t.Fatal("the bot did not reply")
	}
}

func TestOnlyTeamsActivitiesAreAccepted(t *testing.T) {
	for _, channel := range []string{"webchat", "directline", "emulator", "MSTeams", ""} {
		t.Run("channel "+channel, func(t *testing.T) {
			w := newWorld(t)
			e := w.newEdge(nil)
			// A key endorsed for the channel, as Bot Framework's keys are for
			// many channels, and a valid token signed with it.
			key := w.issuer.AddKey(t, "msteams", "webchat", "directline", "emulator", "MSTeams", "")
			act := e.message(riley, "request prod-db 1h INC-1 from another channel")
			act["channelId"] = channel
			e.refused(t, act, e.signed(act, key), http.StatusUnauthorized)
		})
	}
	t.Run("msteams with the same key", func(t *testing.T) {
		w := newWorld(t)
		e := w.newEdge(nil)
		key := w.issuer.AddKey(t, "msteams", "webchat")
		act := e.message(riley, "help")
		e.accepted(t, act, e.signed(act, key))
	})
	t.Run("local mode", func(t *testing.T) {
		w := newWorld(t)
		e := w.newLocalEdge()
		act := e.message(riley, "request prod-db 1h INC-1 from the emulator")
		act["channelId"] = "emulator"
		e.refused(t, act, map[string]string{"Content-Type": "application/json"}, http.StatusUnauthorized)
	})
}

func TestTenantIDsOfAnActivityMustAgree(t *testing.T) {
	t.Run("disagree", func(t *testing.T) {
		w := newWorld(t)
		e := w.newEdge(nil)
		act := e.message(riley, "request prod-db 1h INC-1 two tenants")
		act["conversation"].(map[string]any)["tenantId"] = otherTenant
		e.refused(t, act, e.signed(act), http.StatusUnauthorized)
	})
	t.Run("disagree, other way round", func(t *testing.T) {
		w := newWorld(t)
		e := w.newEdge(nil)
		act := e.message(riley, "request prod-db 1h INC-1 two tenants")
		act["channelData"] = map[string]any{"tenant": map[string]any{"id": otherTenant}}
		e.refused(t, act, e.signed(act), http.StatusUnauthorized)
	})
	t.Run("disagree in local mode", func(t *testing.T) {
		w := newWorld(t)
		e := w.newLocalEdge()
		act := e.message(riley, "request prod-db 1h INC-1 two tenants")
		act["conversation"].(map[string]any)["tenantId"] = otherTenant
		e.refused(t, act, map[string]string{"Content-Type": "application/json"}, http.StatusUnauthorized)
	})
	t.Run("agree ignoring case", func(t *testing.T) {
		w := newWorld(t)
		e := w.newEdge(nil)
		act := e.message(riley, "request prod-db 1h INC-1 upper case tenant")
		act["conversation"].(map[string]any)["tenantId"] = strings.ToUpper(tenantID)
		e.accepted(t, act, e.signed(act))
		if req := w.onlyRequest(); req.State != access.RequestPending {
			t.Fatalf("request %s", req.State)
		}
	})
	t.Run("only one of them", func(t *testing.T) {
		w := newWorld(t)
		e := w.newEdge(nil)
		act := e.message(riley, "request prod-db 1h INC-1 tenant in the conversation only")
		delete(act, "channelData")
		e.accepted(t, act, e.signed(act))
		w.onlyRequest()
	})
}

func TestLocalModeIsNotReachableFromABrowser(t *testing.T) {
	json := map[string]string{"Content-Type": "application/json"}
	with := func(k, v string) map[string]string {
		h := map[string]string{"Content-Type": "application/json"}
		if v == "" {
			delete(h, k)
		} else {
			h[k] = v
		}
		return h
	}
	refusals := []struct {
		name    string
		headers map[string]string
		want    int
	}{
		{"text/plain (a form or fetch without preflight)", with("Content-Type", "text/plain"), http.StatusUnsupportedMediaType},
		{"form-urlencoded", with("Content-Type", "application/x-www-form-urlencoded"), http.StatusUnsupportedMediaType},
		{"multipart", with("Content-Type", "multipart/form-data; boundary=x"), http.StatusUnsupportedMediaType},
		{"json look-alike", with("Content-Type", "application/jsonp"), http.StatusUnsupportedMediaType},
		{"no content type", with("Content-Type", ""), http.StatusUnsupportedMediaType},
		{"origin of a web page", with("Origin", "https://evil.example"), http.StatusForbidden},
		{"origin of this machine", with("Origin", "http://127.0.0.1:3978"), http.StatusForbidden},
		{"opaque origin", with("Origin", "null"), http.StatusForbidden},
		{"rebound DNS name", with("Host", "evil.example:3978"), http.StatusForbidden},
		{"rebound DNS name without port", with("Host", "evil.example"), http.StatusForbidden},
		{"localhost look-alike", with("Host", "localhost.evil.example"), http.StatusForbidden},
		{"private address", with("Host", "10.0.0.5:3978"), http.StatusForbidden},
	}
	for _, c := range refusals {
		t.Run(c.name, func(t *testing.T) {
			w := newWorld(t)
			e := w.newLocalEdge()
			e.refused(t, e.message(riley, "request prod-db 1h INC-1 from a web page"), c.headers, c.want)
		})
	}
	// What the Agents Playground sends, and loopback spellings.
	w := newWorld(t)
	e := w.newLocalEdge()
	for _, h := range []map[string]string{
		json,
		with("Content-Type", "application/json; charset=utf-8"),
		with("Content-Type", "Application/JSON"),
		with("Host", "localhost:3978"),
		with("Host", "127.0.0.5:1"),
		with("Host", "[::1]:3978"),
		with("Host", "LOCALHOST"),
	} {
		e.accepted(t, e.message(riley, "help"), h)
	}
}

func TestInboundServiceURLMustBeAKnownHost(t *testing.T) {
	// The world's client sends requests for example.com and its sub-domains
	// to the fake connector, so a reply to them would be seen there.
	for _, svc := range []string{"https://evil.example.com/amer/", "https://example.com/amer/", "https://127.0.0.1.evil.example.com/amer/"} {
		t.Run(svc, func(t *testing.T) {
			w := newWorld(t)
			e := w.newEdge(nil)
			act := e.message(riley, "request prod-db 1h INC-1 reply elsewhere")
			act["serviceUrl"] = svc
			e.refused(t, act, e.signed(act), http.StatusUnauthorized)
		})
	}
}

func TestOutboundClientSendsTokensToKnownHostsOnly(t *testing.T) {
	w := newWorld(t)
	cred := &countingCredential{}
	// Default hosts: the public cloud's Teams service URLs only.
	client, err := connector.New(cred, connector.Options{HTTPClient: w.conn.Client()})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	for _, svc := range []string{"https://evil.example.com/amer/", w.conn.ServiceURL()} {
		if _, err := client.SendActivity(ctx, svc, "a:1", &schema.Activity{Text: "hi"}); err == nil {
			t.Errorf("sent to %s", svc)
		}
		if _, err := client.CreateConversation(ctx, svc, connector.PersonalChat(schema.ChannelAccount{ID: "28:bot"}, tenantID, schema.ChannelAccount{ID: "29:x"})); err == nil {
			t.Errorf("created a conversation at %s", svc)
		}
		if err := client.UpdateActivity(ctx, svc, "a:1", "1", &schema.Activity{Text: "hi"}); err == nil {
			t.Errorf("updated at %s", svc)
		}
	}
	if n := len(w.conn.Requests()); n != 0 {
		t.Fatalf("%d requests reached hosts outside the list", n)
	}
	if n := cred.n.Load(); n != 0 {
		t.Fatalf("a token was fetched %d times for hosts outside the list", n)
	}
}

func TestSigningKeysComeFromTheMetadataHostOnly(t *testing.T) {
	w := newWorld(t)
	// Same server, another host name: the metadata at 127.0.0.1 names keys
	// at localhost.
	iss := connectortest.NewIssuer(t)
	iss.SetMetadata(map[string]any{
		"issuer":   connectortest.BotFrameworkIssuer,
		"jwks_uri": strings.Replace(iss.KeysURL(), "127.0.0.1", "localhost", 1),
	})
	v, err := auth.NewValidator(auth.Config{AppID: appID, OpenIDMetadataURL: iss.MetadataURL()}, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	e := w.newEdge(v)
	act := e.message(riley, "request prod-db 1h INC-1 keys from elsewhere")
	headers := map[string]string{"Content-Type": "application/json", "Authorization": "Bearer " + iss.Token(appID, e.serviceURL)}
	e.refused(t, act, headers, http.StatusUnauthorized)
	if n := iss.KeysRequests(); n != 0 {
		t.Fatalf("keys fetched %d times from a host the metadata does not live on", n)
	}
	// Listed as a key host, the other host is used.
	v, err = auth.NewValidator(auth.Config{AppID: appID, OpenIDMetadataURL: iss.MetadataURL(), KeyHosts: []string{"localhost"}}, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	e = w.newEdge(v)
	act = e.message(riley, "help")
	e.accepted(t, act, map[string]string{"Content-Type": "application/json", "Authorization": "Bearer " + iss.Token(appID, e.serviceURL)})
}

// countingCredential hands out a fixed token and counts how often it was
// asked for one.
type countingCredential struct{ n atomic.Int32 }

func (c *countingCredential) GetToken(context.Context, policy.TokenRequestOptions) (azcore.AccessToken, error) {
	c.n.Add(1)
	return azcore.AccessToken{Token: "bot-token", ExpiresOn: time.Now().Add(time.Hour)}, nil
}
