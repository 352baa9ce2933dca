package bot_test

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/jitbot/jitbot/access"
	"github.com/jitbot/jitbot/access/accesstest"
	"github.com/jitbot/jitbot/bot"
	"github.com/jitbot/jitbot/bot/auth"
	"github.com/jitbot/jitbot/bot/connector"
	"github.com/jitbot/jitbot/bot/connectortest"
	"github.com/jitbot/jitbot/graph"
	"github.com/jitbot/jitbot/graph/graphtest"
	"github.com/jitbot/jitbot/internal/chatcmd"
	"github.com/jitbot/jitbot/internal/entratest"
	"github.com/jitbot/jitbot/storage"
)

const (
	appID           = "9b1c7f5e-2d4a-4e8b-8c6f-1a2b3c4d5e6f"
	tenantID        = "4f3c2b1a-0d9e-4c8b-9a7f-6e5d4c3b2a10"
	otherTenant     = "99999999-9999-4999-8999-999999999999"
	secret          = "bot-secret"
	prodGroup       = "aaaaaaaa-0000-4000-8000-000000000001"
	requesterGrp    = "aaaaaaaa-0000-4000-8000-000000000002"
	approverGroup   = "aaaaaaaa-0000-4000-8000-000000000003"
	channelID       = "19:approvers@thread.tacv2"
	securityChannel = "19:security@thread.tacv2"
	rileyID         = "11111111-1111-4111-8111-111111111111"
	alexID          = "22222222-2222-4222-8222-222222222222"
	samID           = "33333333-3333-4333-8333-333333333333"
	eveID           = "44444444-4444-4444-8444-444444444444"
)

var start = time.Date(2026, 11, 23, 9, 0, 0, 0, time.UTC)

// testServiceHosts lists the fakes' host: outside local mode a loopback
// service URL is allowed only when listed.
var testServiceHosts = []string{"127.0.0.1"}

// world is the bot behind HTTP with every outside system faked on the wire:
// a channel that signs tokens, a Bot Connector, an Entra token endpoint and
// Microsoft Graph.
type world struct {
	t      *testing.T
	issuer *connectortest.Issuer
	conn   *connectortest.Connector
	graph  *graphtest.Graph
	db     *storage.DB
	clock  *accesstest.Clock
	svc    *access.Service
	server *httptest.Server
	// handler serves the server's requests; reconfigure swaps it.
	handler atomic.Pointer[bot.Bot]
	svcCfg  access.Config
	botCfg  bot.Config
	// client is the bot's Bot Connector client (tokens from the fake Entra ID).
	client *connector.Client
	// names is the cache of display names the notifier and the bot share.
	names *bot.Names
	// authority is the fake Entra ID that issues the bot's app tokens.
	authority *entratest.Authority
}

func newWorld(t *testing.T) *world {
	t.Helper()
	ctx := context.Background()
	logger := slog.New(slog.NewTextHandler(io.Discard, nil))
	w := &world{t: t, clock: accesstest.NewClock(start)}
	w.issuer = connectortest.NewIssuer(t)
	authority := entratest.NewAuthority(t)
	authority.AddApp(tenantID, appID, secret)
	w.authority = authority
	w.conn = connectortest.NewConnector(t, connectortest.WithTLS(), connectortest.WithTokenFrom(authority, appID))

	w.graph = graphtest.New(t)
	w.graph.AddUser(rileyID, alexID, samID, eveID)
	w.graph.AddGroup(prodGroup, requesterGrp, approverGroup)
	w.graph.AddMember(requesterGrp, rileyID)
	w.graph.AddMember(approverGroup, alexID)
	w.graph.AddMember(approverGroup, samID)
	dir, err := graph.New(graph.Config{GraphURL: w.graph.URL(), Transport: w.graph.Transport()}, w.graph.Credential(), logger)
	if err != nil {
		t.Fatal(err)
	}

	db, err := storage.Open(ctx, "sqlite:"+filepath.Join(t.TempDir(), "jitbot.db"), logger)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = db.Close() })
	w.db = db

	client, err := connector.New(authority.ClientSecretCredential(t, tenantID, appID, secret), connector.Options{HTTPClient: w.conn.Client(), Logger: logger, ServiceHosts: testServiceHosts})
	if err != nil {
		t.Fatal(err)
	}
	w.client = client
	// Display names from the fake Graph, cached on the world's clock.
	w.names = bot.NewNames(dir, bot.NamesOptions{Now: w.clock.Now, Logger: logger})
	notifier := &bot.Notifier{Connector: client, TenantID: tenantID, BotID: "28:" + appID, BotName: "jitbot", ServiceURL: w.conn.ServiceURL(), Names: w.names}
	w.svcCfg = access.Config{
		TenantID: tenantID, Store: db, Directory: dir, Notifier: notifier, Clock: w.clock, Logger: logger, NewID: uuid.NewString,
		SecurityChannelID: securityChannel, MaxAttempts: 2, SecurityGroups: []string{approverGroup}, Owner: "replica-1",
		Profiles: []access.Profile{{
			Name: "prod-db", Description: "Read access to the production databases", GroupID: prodGroup,
			MinDuration: 15 * time.Minute, MaxDuration: 4 * time.Hour, RequireTicket: true,
			TicketPattern: regexp.MustCompile(`^INC-[0-9]+$`), RequesterGroups: []string{requesterGrp},
			ApproverGroups: []string{approverGroup}, ApproverChannelID: channelID,
		}},
	}
	validator, err := auth.NewValidator(auth.Config{AppID: appID, OpenIDMetadataURL: w.issuer.MetadataURL()}, nil, logger)
	if err != nil {
		t.Fatal(err)
	}
	w.botCfg = bot.Config{Auth: validator, Connector: client, Logger: logger, ServiceHosts: testServiceHosts, Names: w.names}
	w.reconfigure(nil)
	w.server = httptest.NewServer(http.HandlerFunc(func(rw http.ResponseWriter, r *http.Request) {
		w.handler.Load().ServeHTTP(rw, r)
	}))
	t.Cleanup(w.server.Close)
	return w
}

// reconfigure builds the access service and the bot again, on the same
// database and fakes, from the configuration as edit changes it (nil: as
// it is): the bot restarted with a new jitbot.yaml.
func (w *world) reconfigure(edit func(*access.Config)) {
	w.t.Helper()
	if edit != nil {
		edit(&w.svcCfg)
	}
	svc, err := access.New(w.svcCfg)
	if err != nil {
		w.t.Fatal(err)
	}
	w.svcCfg.Notifier.(*bot.Notifier).Profile = svc.Profile
	cfg := w.botCfg
	cfg.Service = svc
	h, err := bot.New(cfg)
	if err != nil {
		w.t.Fatal(err)
	}
	w.svc = svc
	w.handler.Store(h)
}

type person struct{ id, name string }

var (
	riley = person{rileyID, "Riley Responder"}
	alex  = person{alexID, "Alex Approver"}
	sam   = person{samID, "Sam Second"}
	eve   = person{eveID, "Eve Outsider"}
)

// message is a personal-chat message from p.
func (w *world) message(p person, text string) map[string]any {
	return map[string]any{
		"type": "message", "id": "m-" + uuid.NewString()[:8], "text": text, "channelId": "msteams",
		"serviceUrl":   w.conn.ServiceURL(),
		"from":         map[string]any{"id": "29:" + p.id, "name": p.name, "aadObjectId": p.id},
		"recipient":    map[string]any{"id": "28:" + appID, "name": "jitbot"},
		"conversation": map[string]any{"id": "a:personal-" + p.id, "conversationType": "personal", "tenantId": tenantID},
		"channelData":  map[string]any{"tenant": map[string]any{"id": tenantID}},
	}
}

// click is an Action.Execute on an approval card by p.
func (w *world) click(p person, verb, requestID string, extra map[string]any) map[string]any {
	data := map[string]any{"requestId": requestID}
	for k, v := range extra {
		data[k] = v
	}
	act := w.message(p, "")
	delete(act, "text")
	act["type"] = "invoke"
	act["name"] = "adaptiveCard/action"
	act["value"] = map[string]any{"action": map[string]any{"type": "Action.Execute", "verb": verb, "data": data}}
	act["conversation"] = map[string]any{"id": channelID + ";messageid=1", "conversationType": "channel", "isGroup": true, "tenantId": tenantID}
	return act
}

// post sends an activity with a valid channel token and returns the status
// and body.
func (w *world) post(act map[string]any) (int, map[string]any) {
	return w.postWith(act, "Bearer "+w.issuer.Token(appID, act["serviceUrl"].(string)))
}

func (w *world) postWith(act map[string]any, authHeader string) (int, map[string]any) {
	w.t.Helper()
	body, _ := json.Marshal(act)
	req, _ := http.NewRequest(http.MethodPost, w.server.URL, bytes.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	if authHeader != "" {
		req.Header.Set("Authorization", authHeader)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		w.t.Fatal(err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	var out map[string]any
	_ = json.Unmarshal(raw, &out)
	return resp.StatusCode, out
}

// texts returns every text, summary (what a notification shows) and card
// the bot sent to a conversation.
func (w *world) texts(conversationID string) string {
	var b strings.Builder
	for _, a := range w.conn.Activities(conversationID) {
		b.WriteString(a.Text())
		b.WriteString(" ")
		if s := a.Summary(); s != "" {
			b.WriteString(s)
			b.WriteString(" ")
		}
		if c := a.Card(); c != nil {
			raw, _ := json.Marshal(c)
			b.Write(raw)
		}
		b.WriteString("\n")
	}
	return b.String()
}

// approvalThread returns the approval card thread and its current card.
func (w *world) approvalThread() (conv string, card map[string]any) {
	w.t.Helper()
	for _, r := range w.conn.Requests() {
		if r.Method == http.MethodPost && strings.HasSuffix(r.Path, "/v3/conversations") {
			if ch, _ := r.JSON["channelData"].(map[string]any); ch != nil && ch["channel"] != nil {
				acts := w.conn.Activities(r.ConversationID)
				if len(acts) == 0 {
					w.t.Fatal("approval thread has no activity")
				}
				return r.ConversationID, acts[0].Card()
			}
		}
	}
	w.t.Fatal("no approval thread was created")
	return "", nil
}

func (w *world) onlyRequest() *access.Request {
	w.t.Helper()
	reqs, err := w.db.OpenRequests(context.Background(), rileyID)
	if err != nil || len(reqs) != 1 {
		w.t.Fatalf("open requests of riley: %d, %v", len(reqs), err)
	}
	return &reqs[0]
}

func cardJSON(v any) string {
	raw, _ := json.Marshal(v)
	return string(raw)
}

func TestRequestApproveGrantExpireOverHTTP(t *testing.T) {
	w := newWorld(t)
	personal := "a:personal-" + rileyID
	if code, _ := w.post(w.message(riley, "request prod-db 2h INC-4711 checkout latency spike")); code != http.StatusOK {
		t.Fatalf("request: HTTP %d", code)
	}
	req := w.onlyRequest()
	if req.State != access.RequestPending || req.Ticket != "INC-4711" || req.Justification != "checkout latency spike" || req.Duration != 2*time.Hour {
		t.Fatalf("stored request %+v", req)
	}
	thread, card := w.approvalThread()
	if !strings.HasPrefix(thread, channelID) {
		t.Fatalf("approval card posted to %q, want a thread of %s", thread, channelID)
	}
	c := cardJSON(card)
	for _, want := range []string{`"verb":"approve"`, `"verb":"deny"`, `"title":"Approve"`, `"title":"Deny"`, "Riley Responder", "INC-4711", "checkout latency spike", req.ID} {
		if !strings.Contains(c, want) {
			t.Errorf("approval card lacks %s", want)
		}
	}
	// Every call to the connector carried the bot's token from Entra ID.
	for _, r := range w.conn.Requests() {
		if !strings.HasPrefix(r.Authorization, "Bearer ") || r.Status >= 300 {
			t.Fatalf("%s %s: auth %q status %d", r.Method, r.Path, r.Authorization, r.Status)
		}
	}
	if got := w.texts(personal); !strings.Contains(got, "Request sent to approvers") {
		t.Fatalf("requester was not told the request was received:\n%s", got)
	}

	w.clock.Advance(5 * time.Minute)
	code, resp := w.post(w.click(alex, "approve", req.ID, nil))
	if code != http.StatusOK || resp["type"] != "application/vnd.microsoft.card.adaptive" {
		t.Fatalf("approve: HTTP %d %v", code, resp)
	}
	if c := cardJSON(resp["value"]); strings.Contains(c, `"verb":"approve"`) || !strings.Contains(c, "Alex Approver") {
		t.Fatalf("card after approval still has buttons or lacks the approver: %s", c)
	}
	if !w.graph.IsMember(prodGroup, rileyID) {
		t.Fatal("riley is not a member after approval")
	}
	got, _ := w.db.GetRequest(context.Background(), req.ID)
	if got.State != access.RequestActive || !got.Grant.ExpiresAt.Equal(start.Add(5*time.Minute+2*time.Hour)) {
		t.Fatalf("after approval: %s, expires %v", got.State, got.Grant.ExpiresAt)
	}
	acts := w.conn.Activities(thread)
	if acts[0].Version < 2 {
		t.Fatal("the approval card was not updated in place for other viewers")
	}
	if texts := w.texts(personal); !strings.Contains(texts, "approved by Alex Approver") || !strings.Contains(texts, "Access granted") {
		t.Fatalf("requester not told of approval and grant:\n%s", texts)
	}

	w.clock.Advance(2 * time.Hour)
	if n, err := w.svc.Work(context.Background()); n != 1 || err != nil {
		t.Fatalf("revoke: %d %v", n, err)
	}
	if w.graph.IsMember(prodGroup, rileyID) {
		t.Fatal("still a member after expiry")
	}
	if n := w.graph.CountFor(graphtest.RouteRemoveMember, prodGroup, rileyID); n != 1 {
		t.Fatalf("%d DELETE calls for riley, want 1", n)
	}
	if texts := w.texts(personal); !strings.Contains(texts, "has ended") {
		t.Fatalf("requester not told access ended:\n%s", texts)
	}
	final, _ := w.conn.Activity(thread, acts[0].ID)
	if c := cardJSON(final.Card()); !strings.Contains(strings.ToLower(c), "expired") {
		t.Fatalf("approval card does not show the expiry: %s", c)
	}
}

func TestForgedAndMalformedTokensAreRefused(t *testing.T) {
	w := newWorld(t)
	other := connectortest.NewRSAKey(t)
	act := w.message(riley, "request prod-db 2h INC-1 forged")
	svc := w.conn.ServiceURL()
	cases := map[string]string{
		"no header":          "",
		"not bearer":         "Basic dXNlcjpwYXNz",
		"garbage":            "Bearer not.a.jwt",
		"other key":          "Bearer " + w.issuer.Token(appID, svc, connectortest.WithSigningKey(other)),
		"alg none":           "Bearer " + w.issuer.Token(appID, svc, connectortest.WithAlgNone()),
		"hs256 with pub key": "Bearer " + w.issuer.Token(appID, svc, connectortest.WithHS256(w.issuer.PublicKeyDER())),
		"expired":            "Bearer " + w.issuer.Token(appID, svc, connectortest.WithExpiresAt(time.Now().Add(-time.Hour))),
		"no exp":             "Bearer " + w.issuer.Token(appID, svc, connectortest.WithoutClaim("exp")),
		"other audience":     "Bearer " + w.issuer.Token("00000000-0000-4000-8000-000000000000", svc),
		"other issuer":       "Bearer " + w.issuer.Token(appID, svc, connectortest.WithIssuer("https://evil.example")),
		"other service url":  "Bearer " + w.issuer.Token(appID, "https://evil.example/"),
		"no service url":     "Bearer " + w.issuer.Token(appID, svc, connectortest.WithoutClaim("serviceurl")),
	}
	for name, header := range cases {
		t.Run(name, func(t *testing.T) {
			if code, _ := w.postWith(act, header); code != http.StatusUnauthorized {
				t.Fatalf("HTTP %d, want 401", code)
			}
		})
	}
	if n := len(w.conn.Requests()); n != 0 {
		t.Fatalf("the bot answered %d times to unauthenticated activities", n)
	}
	if reqs, _ := w.db.OpenRequests(context.Background(), rileyID); len(reqs) != 0 {
		t.Fatal("an unauthenticated activity stored a request")
	}
}

func TestEndpointHygiene(t *testing.T) {
	w := newWorld(t)
	// Too large.
	big := w.message(riley, strings.Repeat("x", bot.MaxBody))
	if code, _ := w.post(big); code != http.StatusRequestEntityTooLarge {
		t.Fatalf("oversized body: HTTP %d", code)
	}
	// Malformed JSON: 400 with a valid token, 401 without one (a request
	// without a token is refused before its body is read).
	for header, want := range map[string]int{
		"Bearer " + w.issuer.Token(appID, w.conn.ServiceURL()): http.StatusBadRequest,
		"": http.StatusUnauthorized,
	} {
		req, _ := http.NewRequest(http.MethodPost, w.server.URL, strings.NewReader("{not json"))
		req.Header.Set("Content-Type", "application/json")
		if header != "" {
			req.Header.Set("Authorization", header)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != want {
			t.Fatalf("malformed JSON, token %t: HTTP %d, want %d", header != "", resp.StatusCode, want)
		}
	}
	// GET.
	resp, err := http.Get(w.server.URL)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusMethodNotAllowed {
		t.Fatalf("GET: HTTP %d", resp.StatusCode)
	}
	// Activity types the bot does not handle are acknowledged and ignored.
	for _, typ := range []string{"conversationUpdate", "installationUpdate", "typing", "messageReaction", "somethingNew"} {
		act := w.message(riley, "")
		act["type"] = typ
		if code, _ := w.post(act); code != http.StatusOK {
			t.Fatalf("%s: HTTP %d", typ, code)
		}
	}
	if n := len(w.conn.Requests()); n != 0 {
		t.Fatalf("ignored activities caused %d connector calls", n)
	}
}

func TestRefusalsOverHTTP(t *testing.T) {
	w := newWorld(t)
	personal := "a:personal-" + rileyID
	cases := []struct {
		text, want string
	}{
		{"request nope 1h INC-1 x", "no profile called"},
		{"request prod-db 5h INC-1 too long", "15m to 4h"},
		{"request prod-db 1h INC-1", "Say why"},
		{"request prod-db 1h because", "needs a ticket"},
		{"request prod-db 1h TICKET-9 because", "needs a ticket"},
		{"request prod-db soon INC-1 x", "not a duration"},
	}
	for _, c := range cases {
		w.post(w.message(riley, c.text))
		if got := w.texts(personal); !strings.Contains(got, c.want) {
			t.Errorf("%q: reply lacks %q:\n%s", c.text, c.want, got)
		}
	}
	// Not in a requester group.
	w.post(w.message(eve, "request prod-db 1h INC-1 please"))
	if got := w.texts("a:personal-" + eveID); !strings.Contains(got, "not in a group allowed") {
		t.Errorf("ineligible requester: %s", got)
	}
	// Another tenant.
	foreign := w.message(riley, "request prod-db 1h INC-1 from elsewhere")
	foreign["channelData"] = map[string]any{"tenant": map[string]any{"id": otherTenant}}
	foreign["conversation"].(map[string]any)["tenantId"] = otherTenant
	w.post(foreign)
	if got := w.texts(personal); !strings.Contains(got, "tenant") {
		t.Errorf("foreign tenant not refused: %s", got)
	}
	if reqs, _ := w.db.OpenRequests(context.Background(), rileyID); len(reqs) != 0 {
		t.Fatalf("refused requests were stored: %d", len(reqs))
	}
	// Duplicate pending request shows the existing one.
	w.post(w.message(riley, "request prod-db 1h INC-1 first"))
	w.post(w.message(riley, "request prod-db 2h INC-2 second"))
	if got := w.texts(personal); !strings.Contains(got, "already have a pending request") {
		t.Errorf("duplicate not refused: %s", got)
	}
	req := w.onlyRequest()

	// Decisions by the wrong people change nothing.
	// Each sees their own card, with why.
	for _, c := range []struct {
		who   person
		want  string
		verbs []string
	}{{riley, "own request", []string{"cancelRequest"}}, {eve, "not an approver", nil}} {
		note, verbs := w.viewIn(w.post(w.click(c.who, "approve", req.ID, nil)))
		if !strings.Contains(note, c.want) || !slices.Equal(verbs, c.verbs) {
			t.Errorf("%s approving: note %q, buttons %v", c.who.name, note, verbs)
		}
	}
	foreignClick := w.click(alex, "approve", req.ID, nil)
	foreignClick["channelData"] = map[string]any{"tenant": map[string]any{"id": otherTenant}}
	foreignClick["conversation"].(map[string]any)["tenantId"] = otherTenant
	if _, resp := w.post(foreignClick); !strings.Contains(cardJSON(resp), "tenant") {
		t.Errorf("foreign tenant click: %v", resp)
	}
	if w.graph.Count(graphtest.RouteAddMember) != 0 {
		t.Fatal("a refused decision reached Graph")
	}
	if got, _ := w.db.GetRequest(context.Background(), req.ID); got.State != access.RequestPending {
		t.Fatalf("state %s after refused decisions", got.State)
	}

	// Deny with a reason, then a stale approve shows the denied card.
	_, resp := w.post(w.click(alex, "deny", req.ID, map[string]any{"reason": "use the replica"}))
	if c := cardJSON(resp["value"]); !strings.Contains(c, "use the replica") {
		t.Fatalf("denied card lacks the reason: %s", c)
	}
	_, resp = w.post(w.click(sam, "approve", req.ID, nil))
	if resp["type"] != "application/vnd.microsoft.card.adaptive" || strings.Contains(cardJSON(resp["value"]), `"verb":"approve"`) {
		t.Fatalf("stale click did not get the current card: %v", resp)
	}
	if w.graph.Count(graphtest.RouteAddMember) != 0 {
		t.Fatal("stale click reached Graph")
	}
	if got := w.texts(personal); !strings.Contains(got, "denied by Alex Approver") || !strings.Contains(got, "use the replica") {
		t.Fatalf("requester not told of denial: %s", got)
	}
}

func TestDoubleClickAndTwoApprovers(t *testing.T) {
	w := newWorld(t)
	w.post(w.message(riley, "request prod-db 1h INC-1 double click"))
	req := w.onlyRequest()
	var wg sync.WaitGroup
	for _, p := range []person{alex, alex, sam, sam, alex} {
		wg.Add(1)
		go func(p person) {
			defer wg.Done()
			code, resp := w.post(w.click(p, "approve", req.ID, nil))
			if code != http.StatusOK || resp["type"] != "application/vnd.microsoft.card.adaptive" {
				t.Errorf("%s: %d %v", p.name, code, resp)
			}
		}(p)
	}
	wg.Wait()
	got, _ := w.db.GetRequest(context.Background(), req.ID)
	if len(got.Decisions) != 1 || got.State != access.RequestActive {
		t.Fatalf("%d decisions, state %s: exactly one must win", len(got.Decisions), got.State)
	}
	if n := w.graph.CountFor(graphtest.RouteAddMember, prodGroup, rileyID); n != 1 {
		t.Fatalf("%d add-member calls, want 1", n)
	}
	evs, _ := w.db.Audit(context.Background(), access.AuditFilter{RequestID: req.ID})
	approvals := 0
	for _, ev := range evs {
		if ev.Action == access.ActionApproved {
			approvals++
		}
	}
	if approvals != 1 {
		t.Fatalf("%d approvals audited", approvals)
	}
}

func TestPreExistingMembershipSurvivesExpiry(t *testing.T) {
	w := newWorld(t)
	w.graph.AddMember(prodGroup, rileyID)
	w.post(w.message(riley, "request prod-db 1h INC-1 already in"))
	req := w.onlyRequest()
	w.post(w.click(alex, "approve", req.ID, nil))
	got, _ := w.db.GetRequest(context.Background(), req.ID)
	if !got.Grant.PreExisting {
		t.Fatal("Graph's 400 already-exists was not recorded as a pre-existing membership")
	}
	w.clock.Advance(2 * time.Hour)
	w.svc.Work(context.Background())
	if !w.graph.IsMember(prodGroup, rileyID) || w.graph.Count(graphtest.RouteRemoveMember) != 0 {
		t.Fatal("a pre-existing membership was removed")
	}
}

func TestFormHelpProfilesStatus(t *testing.T) {
	w := newWorld(t)
	personal := "a:personal-" + rileyID
	w.post(w.message(riley, "help"))
	w.post(w.message(riley, "profiles"))
	w.post(w.message(riley, "request"))
	got := w.texts(personal)
	for _, want := range []string{"request <profile> <duration>", "Read access to the production databases", `"verb":"submitRequest"`} {
		if !strings.Contains(got, want) {
			t.Errorf("replies lack %q:\n%s", want, got)
		}
	}

	// A refused form comes back with the reason and the typed values.
	submit := func(data map[string]any) map[string]any {
		act := w.click(riley, "submitRequest", "", data)
		act["conversation"] = map[string]any{"id": personal, "conversationType": "personal", "tenantId": tenantID}
		code, resp := w.post(act)
		if code != http.StatusOK || resp["type"] != "application/vnd.microsoft.card.adaptive" {
			t.Fatalf("submit: %d %v", code, resp)
		}
		return resp
	}
	resp := submit(map[string]any{"profile": "prod-db", "duration": "9h", "ticket": "INC-7", "justification": "too long"})
	if c := cardJSON(resp["value"]); !strings.Contains(c, "15m to 4h") || !strings.Contains(c, "too long") {
		t.Fatalf("refused form: %s", c)
	}
	resp = submit(map[string]any{"profile": "prod-db", "duration": "1h", "ticket": "INC-7", "justification": "from the form"})
	if c := cardJSON(resp["value"]); !strings.Contains(c, "Request sent to approvers") {
		t.Fatalf("accepted form: %s", c)
	}
	req := w.onlyRequest()
	if req.Justification != "from the form" || req.Duration != time.Hour || req.Ticket != "INC-7" {
		t.Fatalf("stored %+v", req)
	}
	w.post(w.message(riley, "status"))
	if got := w.texts(personal); !strings.Contains(got, req.ID) && !strings.Contains(got, "from the form") {
		t.Fatalf("status does not show the pending request:\n%s", got)
	}
}

func TestIrrevocableAlertAndRetryNow(t *testing.T) {
	w := newWorld(t)
	w.post(w.message(riley, "request prod-db 1h INC-1 will not go away"))
	req := w.onlyRequest()
	w.post(w.click(alex, "approve", req.ID, nil))
	w.graph.InjectFault(graphtest.Fault{Route: graphtest.RouteRemoveMember, Times: 2, Status: http.StatusForbidden, Code: "Authorization_RequestDenied", Message: "Insufficient privileges to complete the operation."})
	w.clock.Advance(time.Hour)
	w.svc.Work(context.Background())

	got, _ := w.db.GetRequest(context.Background(), req.ID)
	if got.Grant.State != access.GrantIrrevocable {
		t.Fatalf("after a 403: %s", got.Grant.State)
	}
	var alertConv string
	var alert map[string]any
	for _, c := range w.conn.Conversations() {
		if strings.HasPrefix(c, securityChannel) {
			alertConv, alert = c, w.conn.Activities(c)[0].Card()
		}
	}
	c := cardJSON(alert)
	for _, want := range []string{`"title":"Retry now"`, `"verb":"retryRevoke"`, got.Grant.ID, rileyID, prodGroup, "Insufficient privileges"} {
		if !strings.Contains(c, want) {
			t.Errorf("security alert lacks %s: %s", want, c)
		}
	}
	// Only the security team may retry; the fault is still there for the
	// first retry, then gone.
	retry := func(p person) (int, map[string]any) {
		act := w.click(p, "retryRevoke", "", map[string]any{"grantId": got.Grant.ID})
		act["conversation"] = map[string]any{"id": alertConv, "conversationType": "channel", "isGroup": true, "tenantId": tenantID}
		return w.post(act)
	}
	if _, resp := retry(eve); !strings.Contains(cardJSON(resp), "security team") {
		t.Fatalf("outsider retry: %v", resp)
	}
	if _, resp := retry(alex); !strings.Contains(cardJSON(resp["value"]), "Retry now") {
		t.Fatalf("retry during the fault should still offer a retry: %v", resp)
	}
	if !w.graph.IsMember(prodGroup, rileyID) {
		t.Fatal("member gone while Graph refused")
	}
	_, resp := retry(alex)
	if c := cardJSON(resp["value"]); strings.Contains(c, "Retry now") || !strings.Contains(c, "Access removed") {
		t.Fatalf("retry after the fault cleared: %s", c)
	}
	if w.graph.IsMember(prodGroup, rileyID) {
		t.Fatal("still a member after a successful retry")
	}
}

// lockedBuffer is a log sink safe for concurrent writes.
type lockedBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.buf.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.buf.String()
}

func TestForgedFloodDoesNotFloodTheLog(t *testing.T) {
	w := newWorld(t)
	var logs lockedBuffer
	logger := slog.New(slog.NewTextHandler(&logs, nil))
	validator, err := auth.NewValidator(auth.Config{AppID: appID, OpenIDMetadataURL: w.issuer.MetadataURL()}, nil, logger)
	if err != nil {
		t.Fatal(err)
	}
	client, err := connector.New(nil, connector.Options{LocalMode: true})
	if err != nil {
		t.Fatal(err)
	}
	h, err := bot.New(bot.Config{Service: w.svc, Auth: validator, Connector: client, Logger: logger, ServiceHosts: testServiceHosts})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(h)
	defer srv.Close()
	body, _ := json.Marshal(w.message(riley, "request prod-db 1h INC-1 flood"))
	for i := 0; i < 200; i++ {
		req, _ := http.NewRequest(http.MethodPost, srv.URL, bytes.NewReader(body))
		req.Header.Set("Authorization", "Bearer not.a.jwt")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusUnauthorized {
			t.Fatalf("forged request %d: HTTP %d", i, resp.StatusCode)
		}
	}
	if n := strings.Count(logs.String(), "rejected activity"); n < 1 || n > 5 {
		t.Fatalf("%d log lines for 200 forged requests; want a few, rate-limited:\n%s", n, logs.String())
	}
}

// TestHelpListsEveryCommand: the answer to `help` has a line for every
// command the bot understands, the ones the Teams app suggests (chatcmd).
func TestHelpListsEveryCommand(t *testing.T) {
	w := newWorld(t)
	w.post(w.message(riley, "help"))
	got := w.texts("a:personal-" + rileyID)
	for _, c := range chatcmd.All() {
		for _, f := range c.Forms {
			if !strings.Contains(got, "**"+f.Usage+"**: "+f.Help) {
				t.Errorf("help lacks %s: %s:\n%s", f.Usage, f.Help, got)
			}
		}
	}
	if !strings.Contains(got, "or ask in plain words") {
		t.Errorf("help does not say requests may be written in plain words:\n%s", got)
	}
}
