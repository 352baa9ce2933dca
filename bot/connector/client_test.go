package connector_test

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/policy"
	"github.com/infracloudio/msbotbuilder-go/schema"

	"github.com/jitbot/jitbot/bot/connector"
	"github.com/jitbot/jitbot/bot/connectortest"
	"github.com/jitbot/jitbot/internal/entratest"
)

const (
	tenantID  = "3f0c9a51-2b7e-4d1a-8c6f-0e9d8c7b6a59"
	appID     = "8f1c0a52-7d0e-4c1e-9b7a-1f2e3d4c5b6a"
	appSecret = "s3cr3t~value"
	channelID = "19:d2f0c8e4a1b34e0f9c7a6b5d4e3f2a10@thread.tacv2"
	userID    = "29:1AbCdEfGhIjKlMnOpQrStUvWxYz0123456789"
	// A channel thread id as Teams spells it: ':' '@' ';' '='.
	threadID = channelID + ";messageid=1712345678901"
)

var bot = schema.ChannelAccount{ID: "28:" + appID, Name: "jitbot"}

// fakeHosts lists the test fakes' host: loopback is allowed outside local
// mode only when listed.
var fakeHosts = []string{"127.0.0.1"}

func ctxT(t *testing.T) context.Context {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	t.Cleanup(cancel)
	return ctx
}

func localClient(t *testing.T, opts ...func(*connector.Options)) *connector.Client {
	t.Helper()
	o := connector.Options{LocalMode: true}
	for _, f := range opts {
		f(&o)
	}
	c, err := connector.New(nil, o)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func card(title string) schema.Attachment {
	return schema.Attachment{
		ContentType: "application/vnd.microsoft.card.adaptive",
		Content: map[string]any{
			"type": "AdaptiveCard", "version": "1.5",
			"body":    []any{map[string]any{"type": "TextBlock", "text": title}},
			"actions": []any{map[string]any{"type": "Action.Execute", "title": "Approve", "verb": "approve", "data": map[string]any{}}},
		},
	}
}

func cardTitle(a connectortest.Activity) string {
	c := a.Card()
	body, _ := c["body"].([]any)
	if len(body) == 0 {
		return ""
	}
	tb, _ := body[0].(map[string]any)
	s, _ := tb["text"].(string)
	return s
}

// staticCred is a credential that hands out a fixed token.
type staticCred struct {
	token string
	err   error
	calls int
}

func (s *staticCred) GetToken(_ context.Context, opts policy.TokenRequestOptions) (azcore.AccessToken, error) {
	s.calls++
	if s.err != nil {
		return azcore.AccessToken{}, s.err
	}
	return azcore.AccessToken{Token: s.token, ExpiresOn: time.Now().Add(time.Hour)}, nil
}

func TestNewRequiresCredentialOrLocalMode(t *testing.T) {
	if _, err := connector.New(nil, connector.Options{}); err == nil {
		t.Error("nil credential accepted without LocalMode")
	}
	if _, err := connector.New(&staticCred{token: "x"}, connector.Options{LocalMode: true}); err == nil {
		t.Error("credential accepted together with LocalMode")
	}
	if _, err := connector.New(&staticCred{token: "x"}, connector.Options{MaxRetries: -1}); err == nil {
		t.Error("negative MaxRetries accepted")
	}
}

func TestSendActivityLocalMode(t *testing.T) {
	fake := connectortest.NewConnector(t, connectortest.WithPathPrefix("/_connector"))
	c := localClient(t)
	id, err := c.SendActivity(ctxT(t), fake.ServiceURL(), "a:personal1", &schema.Activity{Text: "hello"})
	if err != nil {
		t.Fatal(err)
	}
	if id == "" {
		t.Fatal("no activity id returned")
	}
	reqs := fake.Requests()
	if len(reqs) != 1 {
		t.Fatalf("%d requests", len(reqs))
	}
	r := reqs[0]
	if r.Method != http.MethodPost || r.Path != "/v3/conversations/a:personal1/activities" || r.Status != http.StatusCreated {
		t.Errorf("request %s %s -> %d", r.Method, r.Path, r.Status)
	}
	if r.EscapedPath != "/_connector/v3/conversations/a:personal1/activities" {
		t.Errorf("escaped path %q", r.EscapedPath)
	}
	if r.Authorization != "" {
		t.Errorf("local mode sent Authorization %q", r.Authorization)
	}
	if !strings.HasPrefix(r.ContentType, "application/json") {
		t.Errorf("Content-Type %q", r.ContentType)
	}
	if r.JSON["type"] != "message" || r.JSON["text"] != "hello" {
		t.Errorf("body %s", r.Body)
	}
	got, ok := fake.Activity("a:personal1", id)
	if !ok || got.Text() != "hello" || got.Version != 1 {
		t.Errorf("stored activity %+v", got)
	}
}

func TestConversationIDIsPathEscaped(t *testing.T) {
	fake := connectortest.NewConnector(t)
	c := localClient(t)
	for _, conv := range []string{threadID, "a:odd/id with space?x#y"} {
		if _, err := c.SendActivity(ctxT(t), fake.ServiceURL(), conv, &schema.Activity{Text: "x"}); err != nil {
			t.Fatalf("%s: %v", conv, err)
		}
	}
	reqs := fake.Requests()
	want := []string{
		"/amer/v3/conversations/" + channelID + "%3Bmessageid=1712345678901/activities",
		"/amer/v3/conversations/a:odd%2Fid%20with%20space%3Fx%23y/activities",
	}
	for i, r := range reqs {
		if r.EscapedPath != want[i] {
			t.Errorf("escaped path %q, want %q", r.EscapedPath, want[i])
		}
	}
	if reqs[0].ConversationID != threadID || reqs[1].ConversationID != "a:odd/id with space?x#y" {
		t.Errorf("decoded ids %q %q", reqs[0].ConversationID, reqs[1].ConversationID)
	}
	if len(fake.Activities(threadID)) != 1 {
		t.Error("activity not stored under the thread id")
	}
}

func TestReplyToActivity(t *testing.T) {
	fake := connectortest.NewConnector(t)
	c := localClient(t)
	id, err := c.ReplyToActivity(ctxT(t), fake.ServiceURL(), threadID, "1712345678901", &schema.Activity{Type: schema.Message, Text: "approved"})
	if err != nil {
		t.Fatal(err)
	}
	r := fake.Requests()[0]
	if r.Method != http.MethodPost || r.ActivityID != "1712345678901" || r.JSON["replyToId"] != "1712345678901" {
		t.Errorf("request %s %s body %s", r.Method, r.Path, r.Body)
	}
	a, ok := fake.Activity(threadID, id)
	if !ok || a.ReplyToID != "1712345678901" {
		t.Errorf("stored %+v", a)
	}
}

func TestUpdateActivityReplacesCard(t *testing.T) {
	fake := connectortest.NewConnector(t)
	c := localClient(t)
	ctx := ctxT(t)
	id, err := c.SendActivity(ctx, fake.ServiceURL(), threadID, &schema.Activity{Attachments: []schema.Attachment{card("pending")}})
	if err != nil {
		t.Fatal(err)
	}
	orig := &schema.Activity{Type: schema.Message, Attachments: []schema.Attachment{card("approved by Ada")}}
	if err := c.UpdateActivity(ctx, fake.ServiceURL(), threadID, id, orig); err != nil {
		t.Fatal(err)
	}
	if orig.ID != "" {
		t.Error("UpdateActivity modified the caller's activity")
	}
	acts := fake.Activities(threadID)
	if len(acts) != 1 {
		t.Fatalf("%d activities after update, want 1", len(acts))
	}
	if got := cardTitle(acts[0]); got != "approved by Ada" || acts[0].Version != 2 {
		t.Errorf("card %q version %d", got, acts[0].Version)
	}
	put := fake.Requests()[1]
	if put.Method != http.MethodPut || put.ActivityID != id || put.JSON["id"] != id {
		t.Errorf("PUT %s body %s", put.Path, put.Body)
	}

	err = c.UpdateActivity(ctx, fake.ServiceURL(), threadID, "999", &schema.Activity{Text: "x"})
	var se *connector.StatusError
	if !errors.As(err, &se) || se.StatusCode != http.StatusNotFound || se.Code != "ActivityNotFound" {
		t.Errorf("update of unknown activity: %v", err)
	}
	if err := c.UpdateActivity(ctx, fake.ServiceURL(), threadID, id, &schema.Activity{ID: "other", Text: "x"}); err == nil {
		t.Error("mismatching activity id accepted")
	}
}

func TestDeleteActivity(t *testing.T) {
	fake := connectortest.NewConnector(t)
	c := localClient(t)
	ctx := ctxT(t)
	id, err := c.SendActivity(ctx, fake.ServiceURL(), "a:1", &schema.Activity{Text: "x"})
	if err != nil {
		t.Fatal(err)
	}
	if err := c.DeleteActivity(ctx, fake.ServiceURL(), "a:1", id); err != nil {
		t.Fatal(err)
	}
	if len(fake.Activities("a:1")) != 0 {
		t.Error("activity not deleted")
	}
	if err := c.DeleteActivity(ctx, fake.ServiceURL(), "a:1", id); connector.StatusCode(err) != http.StatusNotFound {
		t.Errorf("second delete: %v", err)
	}
}

func TestCreateConversationChannelThread(t *testing.T) {
	fake := connectortest.NewConnector(t)
	c := localClient(t)
	ctx := ctxT(t)
	first := &schema.Activity{Type: schema.Message, Summary: "Ada asks for prod-admin", Attachments: []schema.Attachment{card("pending")}}
	res, err := c.CreateConversation(ctx, fake.ServiceURL(), connector.ChannelThread(bot, tenantID, channelID, first))
	if err != nil {
		t.Fatal(err)
	}
	if res.ActivityID == "" || res.ID != channelID+";messageid="+res.ActivityID || res.ServiceURL != fake.ServiceURL() {
		t.Fatalf("resource %+v", res)
	}
	r := fake.Requests()[0]
	if r.Method != http.MethodPost || r.Path != "/v3/conversations" {
		t.Errorf("%s %s", r.Method, r.Path)
	}
	var body struct {
		IsGroup     bool                  `json:"isGroup"`
		Bot         schema.ChannelAccount `json:"bot"`
		TenantID    string                `json:"tenantId"`
		Activity    map[string]any        `json:"activity"`
		ChannelData struct {
			Channel struct{ ID string } `json:"channel"`
			Tenant  struct{ ID string } `json:"tenant"`
		} `json:"channelData"`
		Members []any `json:"members"`
	}
	if err := json.Unmarshal(r.Body, &body); err != nil {
		t.Fatal(err)
	}
	if !body.IsGroup || body.Bot.ID != bot.ID || body.TenantID != tenantID || body.ChannelData.Channel.ID != channelID ||
		body.ChannelData.Tenant.ID != tenantID || body.Activity["type"] != "message" || body.Members != nil {
		t.Errorf("body %s", r.Body)
	}
	if z := connectortest.ZeroValues(r.Body); len(z) != 0 {
		t.Errorf("zero values sent: %v in %s", z, r.Body)
	}
	a, ok := fake.Activity(res.ID, res.ActivityID)
	if !ok || cardTitle(a) != "pending" {
		t.Fatalf("first message not stored: %+v", a)
	}
	// The card in the thread can then be updated, and replies posted.
	if err := c.UpdateActivity(ctx, fake.ServiceURL(), res.ID, res.ActivityID, &schema.Activity{Attachments: []schema.Attachment{card("approved")}}); err != nil {
		t.Fatal(err)
	}
	if a, _ := fake.Activity(res.ID, res.ActivityID); cardTitle(a) != "approved" {
		t.Errorf("card after update %q", cardTitle(a))
	}
	if _, err := c.ReplyToActivity(ctx, fake.ServiceURL(), res.ID, res.ActivityID, &schema.Activity{Text: "done"}); err != nil {
		t.Fatal(err)
	}
}

func TestCreateConversationPersonalChat(t *testing.T) {
	fake := connectortest.NewConnector(t)
	c := localClient(t)
	ctx := ctxT(t)
	res, err := c.CreateConversation(ctx, fake.ServiceURL(), connector.PersonalChat(bot, tenantID, schema.ChannelAccount{ID: userID}))
	if err != nil {
		t.Fatal(err)
	}
	if res.ID == "" || res.ActivityID != "" {
		t.Fatalf("resource %+v", res)
	}
	r := fake.Requests()[0]
	if _, present := r.JSON["isGroup"]; present {
		t.Errorf("isGroup false should be omitted: %s", r.Body)
	}
	members, _ := r.JSON["members"].([]any)
	if len(members) != 1 || members[0].(map[string]any)["id"] != userID || r.JSON["tenantId"] != tenantID {
		t.Errorf("body %s", r.Body)
	}
	if z := connectortest.ZeroValues(r.Body); len(z) != 0 {
		t.Errorf("zero values sent: %v", z)
	}
	// Opening it again yields the same chat (as Teams does).
	again, err := c.CreateConversation(ctx, fake.ServiceURL(), connector.PersonalChat(bot, tenantID, schema.ChannelAccount{ID: userID}))
	if err != nil || again.ID != res.ID {
		t.Fatalf("second create: %+v %v", again, err)
	}
	// By Entra object id instead of Teams user id.
	byAAD, err := c.CreateConversation(ctx, fake.ServiceURL(), connector.PersonalChat(bot, tenantID, schema.ChannelAccount{AadObjectID: "6b1c7e0f-0000-4000-8000-000000000001"}))
	if err != nil || byAAD.ID == res.ID {
		t.Fatalf("create by aadObjectId: %+v %v", byAAD, err)
	}
	if _, err := c.SendActivity(ctx, fake.ServiceURL(), res.ID, &schema.Activity{Text: "your access expires in 1h"}); err != nil {
		t.Fatal(err)
	}
	if acts := fake.Activities(res.ID); len(acts) != 1 || acts[0].Text() != "your access expires in 1h" {
		t.Errorf("activities %+v", acts)
	}
	if _, err := c.CreateConversation(ctx, fake.ServiceURL(), connector.ConversationParameters{TenantID: tenantID}); err == nil {
		t.Error("1:1 conversation without members accepted")
	}
}

func TestNoZeroValuesInJSON(t *testing.T) {
	act := &schema.Activity{
		Type:        schema.Message,
		Text:        "hi",
		RelatesTo:   schema.ConversationReference{ActivityID: "1"},
		Attachments: []schema.Attachment{card("c")},
	}
	naive, _ := json.Marshal(act)
	if len(connectortest.ZeroValues(naive)) == 0 {
		t.Fatal("test is vacuous: schema.Activity marshals without zero values")
	}
	b, err := connector.MarshalActivity(act)
	if err != nil {
		t.Fatal(err)
	}
	if z := connectortest.ZeroValues(b); len(z) != 0 {
		t.Errorf("zero values %v in %s", z, b)
	}
	var m map[string]json.RawMessage
	if err := json.Unmarshal(b, &m); err != nil {
		t.Fatal(err)
	}
	var keys []string
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	if want := []string{"attachments", "relatesTo", "text", "type"}; !slices.Equal(keys, want) {
		t.Errorf("keys %v, want %v (%s)", keys, want, b)
	}
	if string(m["relatesTo"]) != `{"activityId":"1"}` {
		t.Errorf("relatesTo %s", m["relatesTo"])
	}
	// Card content is passed through untouched, empty objects included.
	if !strings.Contains(string(m["attachments"]), `"data":{}`) {
		t.Errorf("card content altered: %s", m["attachments"])
	}
	if b, _ := connector.MarshalActivity(&schema.Activity{Type: schema.Message, Text: "x"}); string(b) != `{"type":"message","text":"x"}` {
		t.Errorf("minimal activity %s", b)
	}
	// Non-zero values survive.
	ts := time.Date(2026, 11, 3, 10, 0, 0, 0, time.UTC)
	full := &schema.Activity{Type: schema.Message, Timestamp: ts, From: schema.ChannelAccount{ID: "28:x"},
		Conversation: schema.ConversationAccount{ID: "a:1", IsGroup: true}, ChannelData: map[string]any{"notification": map[string]any{"alert": true}}}
	b, _ = connector.MarshalActivity(full)
	for _, want := range []string{`"timestamp":"2026-11-03T10:00:00Z"`, `"from":{"id":"28:x"}`, `"conversation":{"isGroup":true,"id":"a:1"}`, `"channelData":{"notification":{"alert":true}}`} {
		if !strings.Contains(string(b), want) {
			t.Errorf("%s missing from %s", want, b)
		}
	}
}

func TestSentBodiesHaveNoZeroValues(t *testing.T) {
	fake := connectortest.NewConnector(t)
	c := localClient(t)
	ctx := ctxT(t)
	id, _ := c.SendActivity(ctx, fake.ServiceURL(), "a:1", &schema.Activity{Text: "x"})
	_, _ = c.ReplyToActivity(ctx, fake.ServiceURL(), "a:1", id, &schema.Activity{Text: "y"})
	_ = c.UpdateActivity(ctx, fake.ServiceURL(), "a:1", id, &schema.Activity{Text: "z"})
	for _, r := range fake.Requests() {
		if z := connectortest.ZeroValues(r.Body); len(z) != 0 {
			t.Errorf("%s %s: zero values %v", r.Method, r.Path, z)
		}
		if strings.Contains(string(r.Body), "0001-01-01") {
			t.Errorf("%s %s: zero timestamp in %s", r.Method, r.Path, r.Body)
		}
	}
}

func TestStatusErrors(t *testing.T) {
	fake := connectortest.NewConnector(t)
	c := localClient(t)
	ctx := ctxT(t)

	fake.FailNext(1, connectortest.TooManyRequests(7*time.Second))
	_, err := c.SendActivity(ctx, fake.ServiceURL(), "a:1", &schema.Activity{Text: "x"})
	var se *connector.StatusError
	if !errors.As(err, &se) || se.StatusCode != http.StatusTooManyRequests || se.RetryAfter != 7*time.Second || !se.Temporary() {
		t.Fatalf("429: %v", err)
	}
	if d, ok := connector.RetryAfter(err); !ok || d != 7*time.Second {
		t.Errorf("RetryAfter(err) = %v %v", d, ok)
	}
	if !strings.Contains(err.Error(), "429") || !strings.Contains(err.Error(), "retry after 7s") {
		t.Errorf("message %q", err)
	}
	if len(fake.Requests()) != 1 {
		t.Errorf("default client retried: %d requests", len(fake.Requests()))
	}

	fake.FailNext(1, connectortest.ServerError())
	_, err = c.SendActivity(ctx, fake.ServiceURL(), "a:1", &schema.Activity{Text: "x"})
	if !errors.As(err, &se) || se.StatusCode != 500 || se.Code != "ServiceError" || se.RetryAfter != 0 || !se.Temporary() || len(se.Body) == 0 {
		t.Fatalf("500: %v", err)
	}

	fake.FailNext(1, connectortest.Failure{Status: http.StatusForbidden, Body: `{"error":{"code":"BotNotInConversationRoster","message":"The bot is not part of the conversation roster."}}`})
	_, err = c.SendActivity(ctx, fake.ServiceURL(), "a:1", &schema.Activity{Text: "x"})
	if !errors.As(err, &se) || se.StatusCode != 403 || se.Code != "BotNotInConversationRoster" || se.Temporary() {
		t.Fatalf("403: %v", err)
	}
	if !strings.Contains(err.Error(), "BotNotInConversationRoster") {
		t.Errorf("message %q", err)
	}

	fake.FailNext(1, connectortest.Failure{Status: http.StatusBadGateway, Body: "<html>bad gateway</html>", RetryAfter: "Wed, 21 Oct 2015 07:28:00 GMT"})
	_, err = c.SendActivity(ctx, fake.ServiceURL(), "a:1", &schema.Activity{Text: "x"})
	if !errors.As(err, &se) || se.StatusCode != 502 || se.RetryAfter != 0 || !strings.Contains(err.Error(), "bad gateway") {
		t.Fatalf("502: %v", err)
	}
}

func TestTransportErrorsDoNotPanic(t *testing.T) {
	fake := connectortest.NewConnector(t)
	svc := fake.ServiceURL()
	fake.Close()
	c := localClient(t)
	ctx := ctxT(t)
	if _, err := c.SendActivity(ctx, svc, "a:1", &schema.Activity{Text: "x"}); err == nil {
		t.Error("send to closed server succeeded")
	}
	if err := c.UpdateActivity(ctx, svc, "a:1", "1", &schema.Activity{Text: "x"}); err == nil {
		t.Error("update to closed server succeeded")
	}
	if _, err := c.CreateConversation(ctx, svc, connector.PersonalChat(bot, tenantID, schema.ChannelAccount{ID: userID})); err == nil {
		t.Error("create on closed server succeeded")
	}
	if _, err := c.SendActivity(ctx, "http://127.0.0.1:1/", "a:1", &schema.Activity{Text: "x"}); err == nil {
		t.Error("send to refused port succeeded")
	}
	for _, bad := range []string{"", "not a url", "ftp://x/", "/relative", "http://h/?q=1", "http://u:p@h/", "http://%zz/"} {
		if _, err := c.SendActivity(ctx, bad, "a:1", &schema.Activity{Text: "x"}); err == nil {
			t.Errorf("service URL %q accepted", bad)
		}
	}
	if _, err := c.SendActivity(ctx, svc, "", &schema.Activity{Text: "x"}); err == nil {
		t.Error("empty conversation id accepted")
	}
	if _, err := c.SendActivity(ctx, svc, "a:1", nil); err == nil {
		t.Error("nil activity accepted")
	}
	if err := c.UpdateActivity(ctx, svc, "a:1", "1", nil); err == nil {
		t.Error("nil activity accepted")
	}
}

func TestContextDeadlineOnSlowConnector(t *testing.T) {
	fake := connectortest.NewConnector(t)
	fake.FailNext(1, connectortest.Slow(5*time.Second))
	c := localClient(t)
	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	start := time.Now()
	_, err := c.SendActivity(ctx, fake.ServiceURL(), "a:1", &schema.Activity{Text: "x"})
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("want deadline exceeded, got %v", err)
	}
	if time.Since(start) > 3*time.Second {
		t.Error("client did not give up at its deadline")
	}
}

func TestResponseBodyLimit(t *testing.T) {
	big := strings.Repeat("x", 4096)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = w.Write([]byte(`{"id":"1","pad":"` + big + `"}`))
	}))
	defer srv.Close()
	c := localClient(t, func(o *connector.Options) { o.MaxResponseBytes = 1024 })
	_, err := c.SendActivity(ctxT(t), srv.URL, "a:1", &schema.Activity{Text: "x"})
	if err == nil || !strings.Contains(err.Error(), "larger than 1024 bytes") {
		t.Fatalf("oversized response: %v", err)
	}
	c = localClient(t)
	if id, err := c.SendActivity(ctxT(t), srv.URL, "a:1", &schema.Activity{Text: "x"}); err != nil || id != "1" {
		t.Fatalf("default limit: %q %v", id, err)
	}
}

func TestOddSuccessBodies(t *testing.T) {
	bodies := map[string]struct {
		body    string
		wantID  string
		wantErr bool
	}{
		"empty":       {"", "", false},
		"no id":       {`{}`, "", false},
		"not json":    {"<html>", "", true},
		"id not text": {`{"id":5}`, "", true},
	}
	for name, tc := range bodies {
		t.Run(name, func(t *testing.T) {
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				_, _ = w.Write([]byte(tc.body))
			}))
			defer srv.Close()
			c := localClient(t)
			id, err := c.SendActivity(ctxT(t), srv.URL, "a:1", &schema.Activity{Text: "x"})
			if (err != nil) != tc.wantErr || id != tc.wantID {
				t.Errorf("id %q err %v", id, err)
			}
			_, err = c.CreateConversation(ctxT(t), srv.URL, connector.PersonalChat(bot, tenantID, schema.ChannelAccount{ID: userID}))
			if err == nil {
				t.Error("create conversation without an id in the answer accepted")
			}
		})
	}
}

func TestTokenSentOnlyWithCredential(t *testing.T) {
	fake := connectortest.NewConnector(t, connectortest.WithTLS(), connectortest.WithRequiredToken("tok-123"))
	ctx := ctxT(t)
	cred := &staticCred{token: "tok-123"}
	c, err := connector.New(cred, connector.Options{HTTPClient: fake.Client(), ServiceHosts: fakeHosts})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.SendActivity(ctx, fake.ServiceURL(), "a:1", &schema.Activity{Text: "x"}); err != nil {
		t.Fatal(err)
	}
	if got := fake.Requests()[0].Authorization; got != "Bearer tok-123" {
		t.Errorf("Authorization %q", got)
	}

	local := localClient(t, func(o *connector.Options) { o.HTTPClient = fake.Client() })
	_, err = local.SendActivity(ctx, fake.ServiceURL(), "a:1", &schema.Activity{Text: "x"})
	if connector.StatusCode(err) != http.StatusUnauthorized {
		t.Errorf("local mode against a token-requiring connector: %v", err)
	}
	if got := fake.Requests()[1].Authorization; got != "" {
		t.Errorf("local mode sent Authorization %q", got)
	}

	// A token is never sent over plain http.
	plain := connectortest.NewConnector(t)
	if _, err := c.SendActivity(ctx, plain.ServiceURL(), "a:1", &schema.Activity{Text: "x"}); err == nil || !strings.Contains(err.Error(), "not https") {
		t.Errorf("http service URL with a credential: %v", err)
	}
	if n := len(plain.Requests()); n != 0 {
		t.Errorf("%d requests reached the http connector", n)
	}

	// Credential failures surface as errors, with no request sent.
	bad, _ := connector.New(&staticCred{err: errors.New("AADSTS700016")}, connector.Options{HTTPClient: fake.Client(), ServiceHosts: fakeHosts})
	before := len(fake.Requests())
	if _, err := bad.SendActivity(ctx, fake.ServiceURL(), "a:1", &schema.Activity{Text: "x"}); err == nil || !strings.Contains(err.Error(), "AADSTS700016") {
		t.Errorf("credential error: %v", err)
	}
	empty, _ := connector.New(&staticCred{}, connector.Options{HTTPClient: fake.Client(), ServiceHosts: fakeHosts})
	if _, err := empty.SendActivity(ctx, fake.ServiceURL(), "a:1", &schema.Activity{Text: "x"}); err == nil {
		t.Error("empty token accepted")
	}
	if len(fake.Requests()) != before {
		t.Error("request sent without a token")
	}
}

func TestTokenFromAzidentitySingleTenant(t *testing.T) {
	authority := entratest.NewAuthority(t)
	authority.AddApp(tenantID, appID, appSecret)
	fake := connectortest.NewConnector(t, connectortest.WithTLS(), connectortest.WithTokenFrom(authority, appID))
	cred := authority.ClientSecretCredential(t, tenantID, appID, appSecret)
	c, err := connector.New(cred, connector.Options{HTTPClient: fake.Client(), ServiceHosts: fakeHosts})
	if err != nil {
		t.Fatal(err)
	}
	ctx := ctxT(t)
	res, err := c.CreateConversation(ctx, fake.ServiceURL(), connector.ChannelThread(bot, tenantID, channelID, &schema.Activity{Attachments: []schema.Attachment{card("pending")}}))
	if err != nil {
		t.Fatal(err)
	}
	if err := c.UpdateActivity(ctx, fake.ServiceURL(), res.ID, res.ActivityID, &schema.Activity{Attachments: []schema.Attachment{card("approved")}}); err != nil {
		t.Fatal(err)
	}
	trs := authority.TokenRequests()
	if len(trs) != 1 {
		t.Fatalf("%d token requests, want 1 (cached by MSAL): %+v", len(trs), trs)
	}
	tr := trs[0]
	if tr.Tenant != tenantID || tr.ClientID != appID || tr.GrantType != "client_credentials" ||
		!slices.Equal(tr.Scopes, []string{connector.DefaultScope}) || tr.Status != http.StatusOK {
		t.Errorf("token request %+v", tr)
	}
	for _, r := range fake.Requests() {
		if r.Authorization != "Bearer "+tr.Token || r.Status >= 300 {
			t.Errorf("%s %s: Authorization %q status %d", r.Method, r.Path, r.Authorization, r.Status)
		}
	}
}

func TestMultiTenantAuthorityFailsForSingleTenantBot(t *testing.T) {
	authority := entratest.NewAuthority(t)
	authority.AddApp(tenantID, appID, appSecret)
	fake := connectortest.NewConnector(t, connectortest.WithTLS(), connectortest.WithTokenFrom(authority, appID))
	cred := authority.ClientSecretCredential(t, "botframework.com", appID, appSecret)
	c, _ := connector.New(cred, connector.Options{HTTPClient: fake.Client(), ServiceHosts: fakeHosts})
	_, err := c.SendActivity(ctxT(t), fake.ServiceURL(), "a:1", &schema.Activity{Text: "x"})
	if err == nil || !strings.Contains(err.Error(), "AADSTS700016") {
		t.Fatalf("want AADSTS700016, got %v", err)
	}
	if len(fake.Requests()) != 0 {
		t.Error("a request reached the connector without a token")
	}
	if trs := authority.TokenRequests(); len(trs) == 0 || trs[0].Tenant != "botframework.com" {
		t.Errorf("token requests %+v", trs)
	}
}

func TestCustomScope(t *testing.T) {
	authority := entratest.NewAuthority(t)
	authority.AddApp(tenantID, appID, appSecret)
	fake := connectortest.NewConnector(t, connectortest.WithTLS())
	cred := authority.ClientSecretCredential(t, tenantID, appID, appSecret)
	const usGov = "https://api.botframework.us/.default"
	c, _ := connector.New(cred, connector.Options{HTTPClient: fake.Client(), ServiceHosts: fakeHosts, Scope: usGov})
	if _, err := c.SendActivity(ctxT(t), fake.ServiceURL(), "a:1", &schema.Activity{Text: "x"}); err != nil {
		t.Fatal(err)
	}
	if trs := authority.TokenRequests(); len(trs) != 1 || !slices.Equal(trs[0].Scopes, []string{usGov}) {
		t.Errorf("token requests %+v", trs)
	}
}

func TestRedirectsAreNotFollowed(t *testing.T) {
	hits := 0
	target := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		hits++
		_, _ = w.Write([]byte(`{"id":"1"}`))
	}))
	defer target.Close()
	redirector := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, target.URL+r.URL.Path, http.StatusTemporaryRedirect)
	}))
	defer redirector.Close()
	own := &http.Client{}
	c := localClient(t, func(o *connector.Options) { o.HTTPClient = own })
	_, err := c.SendActivity(ctxT(t), redirector.URL, "a:1", &schema.Activity{Text: "x"})
	if connector.StatusCode(err) != http.StatusTemporaryRedirect || hits != 0 {
		t.Fatalf("redirect: %v (target hit %d times)", err, hits)
	}
	if own.CheckRedirect != nil {
		t.Error("the caller's http.Client was modified")
	}
}

func TestServiceHosts(t *testing.T) {
	fake := connectortest.NewConnector(t, connectortest.WithTLS())
	ctx := ctxT(t)
	send := func(hosts []string, svc string) error {
		t.Helper()
		cred := &staticCred{token: "tok"}
		c, err := connector.New(cred, connector.Options{HTTPClient: fake.Client(), ServiceHosts: hosts})
		if err != nil {
			t.Fatal(err)
		}
		_, err = c.SendActivity(ctx, svc, "a:1", &schema.Activity{Text: "x"})
		if err != nil && cred.calls != 0 {
			t.Errorf("%s refused after a token was fetched", svc)
		}
		return err
	}
	// The fake's client sends example.com and its sub-domains to the fake.
	if err := send([]string{"*.example.com"}, "https://smba.example.com/amer/"); err != nil {
		t.Errorf("sub-domain of a wildcard entry: %v", err)
	}
	for _, c := range []struct {
		hosts []string
		svc   string
	}{
		{[]string{"*.example.com"}, "https://example.com/amer/"},
		{[]string{"smba.example.com"}, "https://evil.example.com/amer/"},
		{[]string{"*.example.com"}, fake.ServiceURL()}, // loopback only when listed
		{nil, fake.ServiceURL()},                       // the public cloud's hosts
		{nil, "https://smba.example.com/amer/"},
	} {
		if err := send(c.hosts, c.svc); err == nil {
			t.Errorf("hosts %v: sent to %s", c.hosts, c.svc)
		}
	}
	if n := len(fake.Requests()); n != 1 {
		t.Fatalf("%d requests reached the fake, want the 1 allowed", n)
	}
	if _, err := connector.New(&staticCred{token: "x"}, connector.Options{ServiceHosts: []string{"https://smba.trafficmanager.net/"}}); err == nil {
		t.Error("a URL was accepted as a host name")
	}
	// Local mode talks to loopback hosts only.
	local := localClient(t, func(o *connector.Options) { o.HTTPClient = fake.Client(); o.ServiceHosts = []string{"*.example.com"} })
	if _, err := local.SendActivity(ctx, "https://smba.example.com/amer/", "a:1", &schema.Activity{Text: "x"}); err == nil {
		t.Error("local mode sent to a non-loopback host")
	}
}

func TestConversationMembers(t *testing.T) {
	fake := connectortest.NewConnector(t)
	c := localClient(t)
	const channel = "19:approvers@thread.tacv2"
	fake.SetRoster(channel,
		connectortest.Member{ID: "29:1alex", Name: "Alex Approver", AadObjectID: "22222222-2222-4222-8222-222222222222", UserPrincipalName: "alex@example.com"},
		connectortest.Member{ID: "29:1sam", Name: "Sam Second", AadObjectID: "33333333-3333-4333-8333-333333333333"})
	got, err := c.ConversationMembers(ctxT(t), fake.ServiceURL(), channel)
	if err != nil {
		t.Fatal(err)
	}
	want := []schema.ChannelAccount{
		{ID: "29:1alex", Name: "Alex Approver", AadObjectID: "22222222-2222-4222-8222-222222222222"},
		{ID: "29:1sam", Name: "Sam Second", AadObjectID: "33333333-3333-4333-8333-333333333333"},
	}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("members %+v, want %+v", got, want)
	}
	reqs := fake.Requests()
	if len(reqs) != 1 || reqs[0].Method != http.MethodGet || reqs[0].EscapedPath != "/amer/v3/conversations/19:approvers@thread.tacv2/members" {
		t.Fatalf("requests %+v", reqs)
	}
	// Teams' REST reference and the Agents Playground name the object id
	// "objectId".
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		_, _ = io.WriteString(w, `[{"id":"user-id-1","objectId":"22222222-2222-4222-8222-222222222222","name":"Alex Approver","givenName":"Alex","userRole":"user"}]`)
	}))
	defer srv.Close()
	got, err = c.ConversationMembers(ctxT(t), srv.URL+"/_connector", channel)
	if err != nil || len(got) != 1 || got[0].AadObjectID != "22222222-2222-4222-8222-222222222222" || got[0].ID != "user-id-1" {
		t.Fatalf("objectId roster: %+v %v", got, err)
	}
	// A conversation the bot is not in: an error, never an empty roster.
	if _, err := c.ConversationMembers(ctxT(t), fake.ServiceURL(), "19:other@thread.tacv2"); err == nil {
		t.Fatal("unknown conversation: no error")
	}
	fake.FailNext(1, connectortest.ServerError())
	if _, err := c.ConversationMembers(ctxT(t), fake.ServiceURL(), channel); err == nil {
		t.Fatal("server error: no error")
	}
}
