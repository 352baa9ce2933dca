package api_test

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"regexp"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore/policy"
	"github.com/google/uuid"

	"github.com/jitbot/jitbot/access"
	"github.com/jitbot/jitbot/access/accesstest"
	"github.com/jitbot/jitbot/api"
	"github.com/jitbot/jitbot/api/entraauth"
	"github.com/jitbot/jitbot/bot"
	"github.com/jitbot/jitbot/bot/auth"
	"github.com/jitbot/jitbot/bot/connector"
	"github.com/jitbot/jitbot/bot/connectortest"
	"github.com/jitbot/jitbot/graph"
	"github.com/jitbot/jitbot/graph/graphtest"
	"github.com/jitbot/jitbot/internal/entratest"
	"github.com/jitbot/jitbot/storage"
)

// The requests API's world: jitbot (access service, Teams bot, requests
// API) on a SQLite database, behind HTTP, with Entra ID (signed tokens),
// Microsoft Graph and the Bot Connector faked on the wire.
const (
	botSecret     = "bot-secret"
	deployApp     = "7d1f3a2b-0000-4000-8000-00000000c1d0" // the deploy pipeline's workload identity
	deploySecret  = "deploy-secret"
	toolApp       = "8e2a4b3c-0000-4000-8000-00000000c2d0" // another tool, for the same requester
	outsiderApp   = "9f3b5c4d-0000-4000-8000-00000000c3d0" // requests for someone not eligible
	pinnedApp     = "a04c6d5e-0000-4000-8000-00000000c4d0" // configured with another service principal
	strangerApp   = "b15d7e6f-0000-4000-8000-00000000c5d0" // holds the role, not configured
	prodGroup     = "aaaaaaaa-0000-4000-8000-000000000001"
	requesterGrp  = "aaaaaaaa-0000-4000-8000-000000000002"
	approverGroup = "aaaaaaaa-0000-4000-8000-000000000003"
	approvers     = "19:approvers@thread.tacv2"
	rileyID       = "11111111-1111-4111-8111-111111111111"
	alexID        = "22222222-2222-4222-8222-222222222222"
	eveID         = "44444444-4444-4444-8444-444444444444"
)

var apiStart = time.Date(2026, 11, 23, 9, 0, 0, 0, time.UTC)

type reqWorld struct {
	t         *testing.T
	authority *entratest.Authority
	issuer    *connectortest.Issuer
	conn      *connectortest.Connector
	graph     *graphtest.Graph
	db        *storage.DB
	clock     *accesstest.Clock
	svc       *access.Service
	server    *httptest.Server
	// notInstalled makes opening a personal chat fail, as it does for a
	// user who has not installed the bot.
	notInstalled atomic.Bool
}

func newReqWorld(t *testing.T) *reqWorld {
	t.Helper()
	ctx := context.Background()
	logger := slog.New(slog.NewTextHandler(io.Discard, nil))
	w := &reqWorld{t: t, authority: entratest.NewAuthority(t), issuer: connectortest.NewIssuer(t), clock: accesstest.NewClock(apiStart)}
	a := w.authority
	a.AddApp(tenantID, jitbotApp, botSecret)
	a.AddApp(tenantID, deployApp, deploySecret)
	a.AddAPI(jitbotAPI)
	w.conn = connectortest.NewConnector(t, connectortest.WithTLS(), connectortest.WithTokenFrom(a, jitbotApp))

	w.graph = graphtest.New(t)
	w.graph.AddUser(rileyID, alexID, eveID)
	w.graph.AddGroup(prodGroup, requesterGrp, approverGroup)
	w.graph.AddMember(requesterGrp, rileyID)
	w.graph.AddMember(approverGroup, alexID)
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

	client, err := connector.New(a.ClientSecretCredential(t, tenantID, jitbotApp, botSecret),
		connector.Options{HTTPClient: w.conn.Client(), Logger: logger, ServiceHosts: []string{"127.0.0.1"}})
	if err != nil {
		t.Fatal(err)
	}
	notifier := &bot.Notifier{Connector: notInstalledFor{client, &w.notInstalled}, TenantID: tenantID, BotID: "28:" + jitbotApp, BotName: "jitbot", ServiceURL: w.conn.ServiceURL()}
	svc, err := access.New(access.Config{
		TenantID: tenantID, Store: db, Directory: dir, Notifier: notifier, Clock: w.clock, Logger: logger, NewID: uuid.NewString,
		Profiles: []access.Profile{{
			Name: "prod-db", Description: "Read access to the production databases", GroupID: prodGroup,
			MinDuration: 15 * time.Minute, MaxDuration: 4 * time.Hour, RequireTicket: true,
			TicketPattern: regexp.MustCompile(`^CHG-[0-9]+$`), RequesterGroups: []string{requesterGrp},
			ApproverGroups: []string{approverGroup}, ApproverChannelID: approvers,
		}, {
			Name: "db-break-glass", GroupID: prodGroup, MaxDuration: time.Hour,
			RequesterGroups: []string{requesterGrp}, ApproverGroups: []string{approverGroup}, ApproverChannelID: approvers,
			BreakGlass: true,
		}},
		SecurityChannelID: "19:security@thread.tacv2",
	})
	if err != nil {
		t.Fatal(err)
	}
	notifier.Profile = svc.Profile
	w.svc = svc
	botAuth, err := auth.NewValidator(auth.Config{AppID: jitbotApp, OpenIDMetadataURL: w.issuer.MetadataURL()}, nil, logger)
	if err != nil {
		t.Fatal(err)
	}
	teams, err := bot.New(bot.Config{Service: svc, Auth: botAuth, Connector: client, Logger: logger, ServiceHosts: []string{"127.0.0.1"}})
	if err != nil {
		t.Fatal(err)
	}

	v, err := entraauth.New(entraauth.Config{
		TenantID: tenantID, MetadataURL: a.MetadataURL(tenantID),
		Issuers:   []string{a.V2Issuer(tenantID), entratest.V1Issuer(tenantID)},
		Audiences: []string{jitbotApp, "api://" + jitbotApp}, Role: api.RequestCreateRole,
	}, a.Client(), logger)
	if err != nil {
		t.Fatal(err)
	}
	riley := access.Person{ObjectID: rileyID, Name: "Riley Responder"}
	requests, err := api.NewRequests(api.RequestsConfig{
		Service: svc, Auth: v, TenantID: tenantID, Logger: logger,
		Clients: []api.Client{
			{AppID: deployApp, Name: "deploy pipeline", Requester: riley},
			{AppID: toolApp, Name: "release tool", Requester: riley},
			{AppID: outsiderApp, Name: "outsider", Requester: access.Person{ObjectID: eveID, Name: "Eve Outsider"}},
			{AppID: pinnedApp, ObjectID: a.ServicePrincipalID(tenantID, deployApp), Name: "pinned", Requester: riley},
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	mux := http.NewServeMux()
	mux.Handle("POST /api/messages", teams)
	mux.Handle(api.RequestsPath, requests)
	mux.Handle(api.RequestsPath+"/", requests)
	w.server = httptest.NewServer(mux)
	t.Cleanup(w.server.Close)
	return w
}

// token is an access token for jitbot's API, as Entra ID issues it to app
// with the given roles.
func (w *reqWorld) token(app string, roles ...string) string {
	return w.authority.AccessToken(w.t, jitbotAPI, app, roles)
}

// pipelineToken gets the deploy pipeline's token the way a pipeline does:
// client credentials for api://<jitbot app id>/.default, through azidentity.
func (w *reqWorld) pipelineToken() string {
	w.t.Helper()
	cred := w.authority.ClientSecretCredential(w.t, tenantID, deployApp, deploySecret)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	tok, err := cred.GetToken(ctx, policy.TokenRequestOptions{Scopes: []string{"api://" + jitbotApp + "/.default"}})
	if err != nil {
		w.t.Fatal(err)
	}
	return tok.Token
}

type answer struct {
	status int
	header http.Header
	raw    []byte
}

func (a answer) view(t *testing.T) api.RequestView {
	t.Helper()
	var v api.RequestView
	dec := json.NewDecoder(bytes.NewReader(a.raw))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&v); err != nil {
		t.Fatalf("HTTP %d: not a request: %v\n%s", a.status, err, a.raw)
	}
	return v
}

func (a answer) err(t *testing.T) api.ErrorBody {
	t.Helper()
	var e api.ErrorBody
	dec := json.NewDecoder(bytes.NewReader(a.raw))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&e); err != nil || e.Error == "" || e.Message == "" {
		t.Fatalf("HTTP %d: not an error body (%v):\n%s", a.status, err, a.raw)
	}
	return e
}

func (w *reqWorld) call(method, path, token, contentType string, body string) answer {
	w.t.Helper()
	req, _ := http.NewRequest(method, w.server.URL+path, strings.NewReader(body))
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		w.t.Fatal(err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	if ct := resp.Header.Get("Content-Type"); !strings.HasPrefix(ct, "application/json") {
		w.t.Fatalf("%s %s: HTTP %d with Content-Type %q: %s", method, path, resp.StatusCode, ct, raw)
	}
	return answer{status: resp.StatusCode, header: resp.Header, raw: raw}
}

func (w *reqWorld) post(token, body string) answer {
	return w.call(http.MethodPost, api.RequestsPath, token, "application/json", body)
}

func (w *reqWorld) get(token, id string) answer {
	return w.call(http.MethodGet, api.RequestsPath+"/"+id, token, "", "")
}

const goodBody = `{"profile":"prod-db","duration":"2h","ticket":"CHG-1042","justification":"deploy release 4.2 (schema migration)"}`

// state is what a refused call must leave as it was: the stored requests
// and audit events, the directory calls and the Bot Connector calls.
type state struct {
	requests, events, graphCalls, connectorCalls int
	actions                                      []string
}

func (w *reqWorld) state() state {
	w.t.Helper()
	ctx := context.Background()
	var s state
	if err := w.db.EachRequest(ctx, access.RequestQuery{}, func(access.Request) error { s.requests++; return nil }); err != nil {
		w.t.Fatal(err)
	}
	if err := w.db.EachAudit(ctx, access.AuditQuery{}, func(ev access.AuditEvent) error {
		s.events++
		s.actions = append(s.actions, string(ev.Action))
		return nil
	}); err != nil {
		w.t.Fatal(err)
	}
	s.graphCalls, s.connectorCalls = len(w.graph.Calls()), len(w.conn.Requests())
	return s
}

// unchanged fails unless nothing but the given audit actions was added
// since before, and nothing was asked of Graph (beyond graphCalls
// eligibility checks) or the Bot Connector.
func (w *reqWorld) unchanged(before state, graphCalls int, audited ...string) {
	w.t.Helper()
	after := w.state()
	if after.requests != before.requests {
		w.t.Errorf("%d requests stored, want %d", after.requests, before.requests)
	}
	if got := strings.Join(after.actions[len(before.actions):], " "); got != strings.Join(audited, " ") {
		w.t.Errorf("audited %q, want %q", got, strings.Join(audited, " "))
	}
	if n := after.graphCalls - before.graphCalls; n != graphCalls {
		w.t.Errorf("%d Graph calls, want %d", n, graphCalls)
	}
	if n := after.connectorCalls - before.connectorCalls; n != 0 {
		w.t.Errorf("%d Bot Connector calls, want none", n)
	}
}

func TestRequestsAPIRefusesBadTokens(t *testing.T) {
	w := newReqWorld(t)
	a := w.authority
	otherAPIToken := a.AccessToken(t, entratest.API{TenantID: tenantID, AppID: otherAPI}, deployApp, []string{api.RequestCreateRole})
	role := []string{api.RequestCreateRole}
	cases := []struct {
		name, token string
		status      int
		code        string
	}{
		{"no token", "", http.StatusUnauthorized, "invalid_token"},
		{"without the role (the real flow, role not granted)", w.pipelineToken(), http.StatusForbidden, "insufficient_scope"},
		{"with another role", w.token(deployApp, api.AuditFeedRole), http.StatusForbidden, "insufficient_scope"},
		{"for another audience", otherAPIToken, http.StatusUnauthorized, "invalid_token"},
		{"expired", a.AccessToken(t, jitbotAPI, deployApp, role, entratest.WithLifetime(time.Now().Add(-2*time.Hour), time.Now().Add(-6*time.Minute))), http.StatusUnauthorized, "invalid_token"},
		{"badly signed", a.AccessToken(t, jitbotAPI, deployApp, role, entratest.WithForeignKey(t)), http.StatusUnauthorized, "invalid_token"},
		{"from another tenant", a.AccessToken(t, entratest.API{TenantID: otherTenant, AppID: jitbotApp}, deployApp, role), http.StatusUnauthorized, "invalid_token"},
		{"a user's delegated token", a.AccessToken(t, jitbotAPI, deployApp, role, entratest.WithClaim("scp", api.RequestCreateRole)), http.StatusUnauthorized, "invalid_token"},
		{"a client not in api.clients", w.token(strangerApp, api.RequestCreateRole), http.StatusForbidden, "unknown_client"},
		{"a configured client from another service principal", w.token(pinnedApp, api.RequestCreateRole), http.StatusForbidden, "unknown_client"},
	}
	// A request of the deploy pipeline that the others try to read.
	a.GrantAppRole(tenantID, deployApp, jitbotApp, api.RequestCreateRole)
	made := w.post(w.pipelineToken(), goodBody)
	if made.status != http.StatusCreated {
		t.Fatalf("with the role: HTTP %d %s", made.status, made.raw)
	}
	id := made.view(t).ID
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			for _, call := range []func() answer{
				func() answer { return w.post(c.token, goodBody) },
				func() answer { return w.get(c.token, id) },
			} {
				before := w.state()
				got := call()
				if got.status != c.status || got.err(t).Error != c.code {
					t.Fatalf("HTTP %d %s, want %d %s", got.status, got.raw, c.status, c.code)
				}
				if !strings.HasPrefix(got.header.Get("WWW-Authenticate"), "Bearer") {
					t.Errorf("WWW-Authenticate %q", got.header.Get("WWW-Authenticate"))
				}
				if strings.Contains(string(got.raw), id) {
					t.Error("a refused call was shown the request")
				}
				w.unchanged(before, 0)
			}
		})
	}
}

// An API request goes through the policy and the approval card of a Teams
// request; approved on the card in Teams, its GET shows it active, and then
// ended.
func TestRequestsAPIRequestIsApprovedInTeamsAndReadableUntilItEnds(t *testing.T) {
	w := newReqWorld(t)
	w.authority.GrantAppRole(tenantID, deployApp, jitbotApp, api.RequestCreateRole)
	token := w.pipelineToken()

	made := w.post(token, goodBody)
	if made.status != http.StatusCreated {
		t.Fatalf("POST: HTTP %d %s", made.status, made.raw)
	}
	v := made.view(t)
	if v.State != access.RequestPending || v.Final || v.Profile != "prod-db" || v.Duration != "2h" || v.Ticket != "CHG-1042" ||
		v.Requester.ObjectID != rileyID || v.Client != "deploy pipeline" || v.Grant != nil || len(v.Decisions) != 0 ||
		!v.CreatedAt.Equal(apiStart) || v.DecideBy == nil || !v.DecideBy.Equal(apiStart.Add(access.DefaultApprovalTimeout)) {
		t.Fatalf("created %+v", v)
	}
	if loc := made.header.Get("Location"); loc != api.RequestsPath+"/"+v.ID {
		t.Errorf("Location %q", loc)
	}
	if ra := made.header.Get("Retry-After"); ra != "10" {
		t.Errorf("Retry-After %q, want 10", ra)
	}

	// The approvers' channel got the approval card, naming the client.
	var thread string
	var card map[string]any
	for _, r := range w.conn.Requests() {
		if r.Method == http.MethodPost && strings.HasSuffix(r.Path, "/v3/conversations") && strings.HasPrefix(r.ConversationID, approvers) {
			thread, card = r.ConversationID, w.conn.Activities(r.ConversationID)[0].Card()
		}
	}
	if card == nil {
		t.Fatal("no approval card was posted to the approvers' channel")
	}
	c := cardJSON(card)
	for _, want := range []string{`"verb":"approve"`, "Riley Responder", "CHG-1042", "deploy release 4.2", v.ID,
		`"text":"Requested through jitbot's API by "`, `"text":"deploy pipeline"`, `"text":" on behalf of "`} {
		if !strings.Contains(c, want) {
			t.Errorf("approval card lacks %s:\n%s", want, c)
		}
	}
	// The requester was told in a personal chat the bot opened by object id.
	var told string
	for _, conv := range w.conn.Conversations() {
		if strings.HasPrefix(conv, "a:") {
			for _, act := range w.conn.Activities(conv) {
				raw, _ := json.Marshal(act.Fields())
				told += string(raw)
			}
		}
	}
	if !strings.Contains(told, "deploy pipeline asked for prod-db (2h) on your behalf") {
		t.Errorf("the requester was not told of the request made for them:\n%s", told)
	}
	// The audit records where it came from: the client and its token.
	var created access.AuditEvent
	_ = w.db.EachAudit(context.Background(), access.AuditQuery{}, func(ev access.AuditEvent) error {
		if ev.Action == access.ActionRequested {
			created = ev
		}
		return nil
	})
	if created.ConversationID != "api:"+deployApp || created.ActivityID != tokenClaim(t, token, "uti") || created.Actor.ObjectID != rileyID || created.RequestID != v.ID {
		t.Errorf("request.created event %+v", created)
	}

	if got := w.get(token, v.ID); got.status != http.StatusOK || got.view(t).State != access.RequestPending || got.header.Get("Retry-After") != "10" {
		t.Fatalf("GET while pending: HTTP %d %s (Retry-After %q)", got.status, got.raw, got.header.Get("Retry-After"))
	}

	// Alex approves on the card in Teams.
	w.clock.Advance(3 * time.Minute)
	click := w.click(alexID, "Alex Approver", "approve", v.ID)
	if code := w.activity(click); code != http.StatusOK {
		t.Fatalf("approve click: HTTP %d", code)
	}
	if !w.graph.IsMember(prodGroup, rileyID) {
		t.Fatal("riley is not in the group after the approval")
	}
	got := w.get(token, v.ID)
	active := got.view(t)
	approvedAt := apiStart.Add(3 * time.Minute)
	if got.status != http.StatusOK || active.State != access.RequestActive || active.Final || active.DecideBy != nil ||
		len(active.Decisions) != 1 || active.Decisions[0].Verdict != access.Approve || active.Decisions[0].Approver != "Alex Approver" ||
		active.Grant == nil || active.Grant.State != access.GrantActive || !active.Grant.ApprovedAt.Equal(approvedAt) ||
		active.Grant.GrantedAt == nil || !active.Grant.ExpiresAt.Equal(approvedAt.Add(2*time.Hour)) || active.Grant.EndedAt != nil {
		t.Fatalf("GET after approval: HTTP %d %s", got.status, got.raw)
	}
	if ra := got.header.Get("Retry-After"); ra != "60" {
		t.Errorf("Retry-After while active %q, want 60", ra)
	}
	if acts := w.conn.Activities(thread); acts[0].Version < 2 || !strings.Contains(cardJSON(acts[0].Card()), "deploy pipeline") {
		t.Error("the updated approval card lost the client")
	}

	// At expiry the membership is removed; the GET says it ended.
	w.clock.Advance(2 * time.Hour)
	if n, err := w.svc.Work(context.Background()); n != 1 || err != nil {
		t.Fatalf("expiry: %d %v", n, err)
	}
	got = w.get(token, v.ID)
	ended := got.view(t)
	if ended.State != access.RequestExpired || !ended.Final || ended.Grant.State != access.GrantRevoked || ended.Grant.EndedAt == nil ||
		!ended.Grant.EndedAt.Equal(approvedAt.Add(2*time.Hour)) {
		t.Fatalf("GET after expiry: %s", got.raw)
	}
	if ra := got.header.Get("Retry-After"); ra != "" {
		t.Errorf("Retry-After %q on a final request", ra)
	}
	if w.graph.IsMember(prodGroup, rileyID) {
		t.Error("riley is still in the group")
	}
}

// A client reads only its own requests: another client's, a Teams request
// and an unknown id all answer 404 alike.
func TestRequestsAPIShowsOnlyTheClientsOwnRequests(t *testing.T) {
	w := newReqWorld(t)
	made := w.post(w.token(deployApp, api.RequestCreateRole), goodBody)
	if made.status != http.StatusCreated {
		t.Fatalf("POST: HTTP %d %s", made.status, made.raw)
	}
	id := made.view(t).ID
	// A request made in Teams, outside the API.
	teams := &access.Request{Profile: "prod-db", GroupID: prodGroup, Requester: access.Person{ObjectID: eveID, Name: "Eve"},
		Duration: time.Hour, Justification: "typed in Teams", State: access.RequestPending, CreatedAt: apiStart}
	if _, err := w.db.CreateRequest(context.Background(), teams, access.AuditEvent{At: apiStart, Action: access.ActionRequested, Actor: teams.Requester}); err != nil {
		t.Fatal(err)
	}
	tool := w.token(toolApp, api.RequestCreateRole)
	for name, id := range map[string]string{
		"another client's request": id,
		"a Teams request":          teams.ID,
		"an unknown id":            uuid.NewString(),
		"a malformed id":           "..%2f..%2fetc",
		"an id too long":           strings.Repeat("a", 65),
	} {
		t.Run(name, func(t *testing.T) {
			before := w.state()
			got := w.get(tool, id)
			if got.status != http.StatusNotFound || got.err(t).Error != "not_found" || strings.Contains(string(got.raw), "prod-db") {
				t.Fatalf("HTTP %d %s, want 404", got.status, got.raw)
			}
			w.unchanged(before, 0)
		})
	}
	if got := w.get(w.token(deployApp, api.RequestCreateRole), id); got.status != http.StatusOK {
		t.Fatalf("its own request: HTTP %d %s", got.status, got.raw)
	}
}

func TestRequestsAPIRefusesBadBodies(t *testing.T) {
	w := newReqWorld(t)
	token := w.token(deployApp, api.RequestCreateRole)
	cases := []struct {
		name, contentType, body string
		status                  int
		field                   string
	}{
		{"an unknown field", "application/json", `{"profile":"prod-db","duration":"2h","ticket":"CHG-1","justification":"x","approver":"me"}`, 400, "approver"},
		{"a duration as a number", "application/json", `{"profile":"prod-db","duration":7200,"ticket":"CHG-1","justification":"x"}`, 400, "duration"},
		{"a profile as a list", "application/json", `{"profile":["prod-db"],"duration":"2h","justification":"x"}`, 400, "profile"},
		{"no profile", "application/json", `{"duration":"2h","ticket":"CHG-1","justification":"x"}`, 400, "profile"},
		{"no duration", "application/json", `{"profile":"prod-db","ticket":"CHG-1","justification":"x"}`, 400, "duration"},
		{"a blank justification", "application/json", `{"profile":"prod-db","duration":"2h","ticket":"CHG-1","justification":"  "}`, 400, "justification"},
		{"a duration that is not one", "application/json", `{"profile":"prod-db","duration":"two hours","ticket":"CHG-1","justification":"x"}`, 400, "duration"},
		{"a negative duration", "application/json", `{"profile":"prod-db","duration":"-2h","ticket":"CHG-1","justification":"x"}`, 400, "duration"},
		{"not an object", "application/json", `["prod-db"]`, 400, ""},
		{"not JSON", "application/json", `profile=prod-db`, 400, ""},
		{"empty", "application/json", ``, 400, ""},
		{"two objects", "application/json", goodBody + goodBody, 400, ""},
		{"over the size limit", "application/json", `{"profile":"prod-db","duration":"2h","justification":"` + strings.Repeat("x", api.MaxRequestBody) + `"}`, 400, ""},
		{"a form", "application/x-www-form-urlencoded", `profile=prod-db`, 415, ""},
		{"no content type", "", goodBody, 415, ""},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			before := w.state()
			got := w.call(http.MethodPost, api.RequestsPath, token, c.contentType, c.body)
			e := got.err(t)
			if got.status != c.status || e.Field != c.field {
				t.Fatalf("HTTP %d %s, want %d naming field %q", got.status, got.raw, c.status, c.field)
			}
			w.unchanged(before, 0)
		})
	}
	// Wrong methods and paths.
	for _, c := range []struct{ method, path string }{
		{http.MethodGet, api.RequestsPath}, {http.MethodPut, api.RequestsPath}, {http.MethodPost, api.RequestsPath + "/x"}, {http.MethodDelete, api.RequestsPath + "/x"},
	} {
		before := w.state()
		if got := w.call(c.method, c.path, token, "application/json", goodBody); got.status != http.StatusMethodNotAllowed || got.header.Get("Allow") == "" {
			t.Errorf("%s %s: HTTP %d, want 405 with Allow", c.method, c.path, got.status)
		}
		w.unchanged(before, 0)
	}
}

// The policy applies to the mapped requester exactly as in Teams: a
// refusal is 422 with its reason (audited like a Teams refusal when it is
// about who asks), a second pending request 409.
func TestRequestsAPIAppliesThePolicy(t *testing.T) {
	w := newReqWorld(t)
	deploy := w.token(deployApp, api.RequestCreateRole)
	cases := []struct {
		name, token, body, reason string
		graphCalls                int
		audited                   []string
	}{
		{"a requester not in a requester group", w.token(outsiderApp, api.RequestCreateRole), goodBody, "not in a group allowed to request prod-db", 1, []string{string(access.ActionRequestRefused)}},
		{"an unknown profile", deploy, `{"profile":"prod-dba","duration":"2h","ticket":"CHG-1","justification":"x"}`, "no profile called", 0, nil},
		{"a duration over the maximum", deploy, `{"profile":"prod-db","duration":"5h","ticket":"CHG-1","justification":"x"}`, "can be granted for 15m to 4h", 0, nil},
		{"a ticket of another pattern", deploy, `{"profile":"prod-db","duration":"2h","ticket":"INC-1","justification":"x"}`, "does not match", 0, nil},
		{"no ticket", deploy, `{"profile":"prod-db","duration":"2h","justification":"x"}`, "needs a ticket", 0, nil},
		{"a break-glass profile", deploy, `{"profile":"db-break-glass","duration":"30m","justification":"x"}`, "only a person may ask for it, in Teams", 0, nil},
		{"a severity on a profile without severities", deploy, `{"profile":"prod-db","duration":"2h","ticket":"CHG-1","justification":"x","severity":"sev1"}`, "takes no severity", 0, nil},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			before := w.state()
			got := w.post(c.token, c.body)
			e := got.err(t)
			if got.status != http.StatusUnprocessableEntity || e.Error != "refused" || !strings.Contains(e.Message, c.reason) {
				t.Fatalf("HTTP %d %s, want 422 saying %q", got.status, got.raw, c.reason)
			}
			w.unchanged(before, c.graphCalls, c.audited...)
		})
	}
	var refused access.AuditEvent
	_ = w.db.EachAudit(context.Background(), access.AuditQuery{}, func(ev access.AuditEvent) error { refused = ev; return nil })
	if refused.ConversationID != "api:"+outsiderApp || refused.TargetUserID != eveID {
		t.Errorf("the refusal's audit does not name the client: %+v", refused)
	}

	first := w.post(deploy, goodBody)
	if first.status != http.StatusCreated {
		t.Fatalf("POST: HTTP %d %s", first.status, first.raw)
	}
	id := first.view(t).ID
	// The same client again: 409 naming its pending request.
	before := w.state()
	again := w.post(deploy, goodBody)
	if e := again.err(t); again.status != http.StatusConflict || e.Error != "duplicate" || e.RequestID != id || again.header.Get("Location") != api.RequestsPath+"/"+id {
		t.Fatalf("second request: HTTP %d %s", again.status, again.raw)
	}
	w.unchanged(before, 1)
	// Another client for the same requester: 409, without the other
	// client's request id.
	before = w.state()
	other := w.post(w.token(toolApp, api.RequestCreateRole), goodBody)
	if e := other.err(t); other.status != http.StatusConflict || e.RequestID != "" || strings.Contains(string(other.raw), id) {
		t.Fatalf("another client's duplicate: HTTP %d %s", other.status, other.raw)
	}
	w.unchanged(before, 1)
}

// click is an Action.Execute on the approval card by a Teams user.
func (w *reqWorld) click(userID, name, verb, requestID string) map[string]any {
	return map[string]any{
		"type": "invoke", "name": "adaptiveCard/action", "id": "m-" + uuid.NewString()[:8], "channelId": "msteams",
		"serviceUrl":   w.conn.ServiceURL(),
		"from":         map[string]any{"id": "29:" + userID, "name": name, "aadObjectId": userID},
		"recipient":    map[string]any{"id": "28:" + jitbotApp, "name": "jitbot"},
		"conversation": map[string]any{"id": approvers + ";messageid=1", "conversationType": "channel", "isGroup": true, "tenantId": tenantID},
		"channelData":  map[string]any{"tenant": map[string]any{"id": tenantID}},
		"value":        map[string]any{"action": map[string]any{"type": "Action.Execute", "verb": verb, "data": map[string]any{"requestId": requestID}}},
	}
}

// activity posts an activity to /api/messages with the channel's token.
func (w *reqWorld) activity(act map[string]any) int {
	w.t.Helper()
	body, _ := json.Marshal(act)
	req, _ := http.NewRequest(http.MethodPost, w.server.URL+"/api/messages", bytes.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Authorization", "Bearer "+w.issuer.Token(jitbotApp, act["serviceUrl"].(string)))
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		w.t.Fatal(err)
	}
	defer resp.Body.Close()
	_, _ = io.Copy(io.Discard, resp.Body)
	return resp.StatusCode
}

// notInstalledFor refuses to open a personal chat while on is set, as the
// Bot Connector does for a user who has not installed the bot.
type notInstalledFor struct {
	*connector.Client
	on *atomic.Bool
}

func (n notInstalledFor) CreateConversation(ctx context.Context, serviceURL string, p connector.ConversationParameters) (connector.ConversationResource, error) {
	if !p.IsGroup && n.on.Load() {
		return connector.ConversationResource{}, errors.New("403 Forbidden: the bot is not installed for this user")
	}
	return n.Client.CreateConversation(ctx, serviceURL, p)
}

// A requester whom jitbot cannot reach in Teams does not stop the request:
// it is made, its card posted, and its state readable.
func TestRequestsAPIRequestStandsWhenTheRequesterCannotBeTold(t *testing.T) {
	w := newReqWorld(t)
	w.notInstalled.Store(true)
	token := w.token(deployApp, api.RequestCreateRole)
	made := w.post(token, goodBody)
	if made.status != http.StatusCreated {
		t.Fatalf("POST: HTTP %d %s", made.status, made.raw)
	}
	v := made.view(t)
	var cards, personal int
	for _, conv := range w.conn.Conversations() {
		switch {
		case strings.HasPrefix(conv, approvers):
			cards++
		case strings.HasPrefix(conv, "a:"):
			personal++
		}
	}
	if cards != 1 || personal != 0 {
		t.Fatalf("%d approval threads and %d personal chats, want 1 and 0", cards, personal)
	}
	if got := w.get(token, v.ID); got.status != http.StatusOK || got.view(t).State != access.RequestPending {
		t.Fatalf("GET: HTTP %d %s", got.status, got.raw)
	}
}

// tokenClaim reads a string claim of a JWT without checking it.
func tokenClaim(t *testing.T, token, name string) string {
	t.Helper()
	parts := strings.Split(token, ".")
	if len(parts) != 3 {
		t.Fatalf("not a JWT: %q", token)
	}
	raw, err := base64.RawURLEncoding.DecodeString(parts[1])
	if err != nil {
		t.Fatal(err)
	}
	var claims map[string]any
	if err := json.Unmarshal(raw, &claims); err != nil {
		t.Fatal(err)
	}
	s, _ := claims[name].(string)
	if s == "" {
		t.Fatalf("the token has no %s", name)
	}
	return s
}

func cardJSON(v any) string {
	raw, _ := json.Marshal(v)
	return string(raw)
}

// A scheduled request reads as such: its state, and when it starts; an
// ordinary one has no start.
func TestRequestViewOfAScheduledRequest(t *testing.T) {
	at := time.Date(2026, 11, 23, 21, 0, 0, 0, time.UTC)
	v := api.View(&access.Request{ID: "r", State: access.RequestScheduled, StartsAt: at, DecideBy: at.Add(-time.Hour), Duration: 2 * time.Hour})
	raw, _ := json.Marshal(v)
	if v.Final || v.StartsAt == nil || !v.StartsAt.Equal(at) || !strings.Contains(string(raw), `"state":"scheduled"`) || !strings.Contains(string(raw), `"starts_at":"2026-11-23T21:00:00Z"`) {
		t.Fatalf("view of a scheduled request: %s", raw)
	}
	if raw, _ := json.Marshal(api.View(&access.Request{ID: "r", State: access.RequestPending})); strings.Contains(string(raw), "starts_at") {
		t.Fatalf("an ordinary request has a start: %s", raw)
	}
}
