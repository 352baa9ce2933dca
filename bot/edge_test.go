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
	"testing"

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
	h, err := bot.New(bot.Config{Service: w.svc, Auth: v, Connector: w.client, Logger: logger})
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
