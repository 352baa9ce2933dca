package connectortest

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jitbot/jitbot/internal/entratest"
)

// DefaultPathPrefix is the path of the fake's service URL, shaped like a
// real Teams one (https://smba.trafficmanager.net/amer/).
const DefaultPathPrefix = "/amer/"

// BotFrameworkScope is the scope a bot requests to call the Bot Connector.
const BotFrameworkScope = "https://api.botframework.com/.default"

// maxRequestBody bounds the request bodies the fake accepts (the real
// service rejects large activities too).
const maxRequestBody = 1 << 20

// Request is one request the fake connector received.
type Request struct {
	Method string
	// Path is the decoded path without the service URL prefix;
	// EscapedPath is the full path exactly as sent.
	Path        string
	EscapedPath string
	// Authorization is the Authorization header as sent ("" if none).
	Authorization string
	ContentType   string
	// ConversationID and ActivityID are the decoded path parameters (for a
	// create-conversation call, ConversationID is the conversation created).
	ConversationID string
	ActivityID     string
	// NewActivityID is the id given to the activity this request created.
	NewActivityID string
	// Body is the raw body; JSON is Body decoded (nil when absent/invalid).
	Body []byte
	JSON map[string]any
	// Status is the status code the fake answered with.
	Status int
}

// Activity is the current version of an activity the bot posted.
type Activity struct {
	ID             string
	ConversationID string
	// ReplyToID is the activity it replied to, if posted as a reply.
	ReplyToID string
	// Raw is the body of the latest POST or PUT for this activity.
	Raw json.RawMessage
	// Version is 1 after the POST and grows by one with every PUT.
	Version int
}

// Fields decodes Raw into a generic map.
func (a Activity) Fields() map[string]any {
	var m map[string]any
	_ = json.Unmarshal(a.Raw, &m)
	return m
}

// Decode decodes Raw into v (for example a *schema.Activity).
func (a Activity) Decode(v any) error { return json.Unmarshal(a.Raw, v) }

// Text is the activity's "text".
func (a Activity) Text() string {
	s, _ := a.Fields()["text"].(string)
	return s
}

// Summary is the activity's "summary": what a notification, and a client
// that shows no card, say of a card.
func (a Activity) Summary() string {
	s, _ := a.Fields()["summary"].(string)
	return s
}

// Card returns the content of the activity's first Adaptive Card
// attachment, or nil.
func (a Activity) Card() map[string]any {
	atts, _ := a.Fields()["attachments"].([]any)
	for _, at := range atts {
		m, _ := at.(map[string]any)
		if m["contentType"] == "application/vnd.microsoft.card.adaptive" {
			c, _ := m["content"].(map[string]any)
			return c
		}
	}
	return nil
}

// Failure is an injected failure (see [Connector.FailNext]).
type Failure struct {
	// Status is the status to answer with; 0 means answer normally after
	// Delay.
	Status int
	// RetryAfter is sent as the Retry-After header when not empty.
	RetryAfter string
	// Delay is waited before answering (bounded by the request's context).
	Delay time.Duration
	// Body is the response body (a Bot Connector error body by default).
	Body string
}

// TooManyRequests is a 429 with Retry-After in whole seconds.
func TooManyRequests(retryAfter time.Duration) Failure {
	return Failure{Status: http.StatusTooManyRequests, RetryAfter: strconv.Itoa(int(retryAfter / time.Second))}
}

// ServerError is a 500.
func ServerError() Failure { return Failure{Status: http.StatusInternalServerError} }

// Unavailable is a 503 with Retry-After in whole seconds.
func Unavailable(retryAfter time.Duration) Failure {
	return Failure{Status: http.StatusServiceUnavailable, RetryAfter: strconv.Itoa(int(retryAfter / time.Second))}
}

// Slow answers normally after d.
func Slow(d time.Duration) Failure { return Failure{Delay: d} }

// ConnectorOption configures [NewConnector].
type ConnectorOption func(*connectorConfig)

type connectorConfig struct {
	tls       bool
	prefix    string
	token     string
	authority *entratest.Authority
	appID     string
}

// WithTLS serves the fake over HTTPS (use [Connector.Client] to reach it).
// Needed when the client has a credential: it sends tokens only over https.
func WithTLS() ConnectorOption { return func(c *connectorConfig) { c.tls = true } }

// WithPathPrefix sets the service URL's path (default [DefaultPathPrefix];
// the Agents Playground uses "/_connector").
func WithPathPrefix(p string) ConnectorOption { return func(c *connectorConfig) { c.prefix = p } }

// WithRequiredToken makes the fake answer 401 unless the request carries
// "Authorization: Bearer <token>".
func WithRequiredToken(token string) ConnectorOption {
	return func(c *connectorConfig) { c.token = token }
}

// WithTokenFrom makes the fake answer 401 unless the bearer token was issued
// by authority to appID for the Bot Framework scope.
func WithTokenFrom(authority *entratest.Authority, appID string) ConnectorOption {
	return func(c *connectorConfig) { c.authority, c.appID = authority, appID }
}

// Connector is a fake Bot Connector service (see the package doc).
type Connector struct {
	srv    *httptest.Server
	prefix string
	done   chan struct{}

	mu        sync.Mutex
	cfg       connectorConfig
	rosters   map[string][]Member // conversation id -> members
	requests  []Request
	convs     map[string][]*Activity
	personal  map[string]string // member id -> 1:1 conversation id
	seq       int
	failures  []Failure
	closeOnce sync.Once
}

// NewConnector starts a fake Bot Connector that is closed when the test ends.
func NewConnector(t testing.TB, opts ...ConnectorOption) *Connector {
	t.Helper()
	cfg := connectorConfig{prefix: DefaultPathPrefix}
	for _, o := range opts {
		o(&cfg)
	}
	if !strings.HasPrefix(cfg.prefix, "/") {
		cfg.prefix = "/" + cfg.prefix
	}
	c := &Connector{
		prefix:   strings.TrimSuffix(cfg.prefix, "/"),
		done:     make(chan struct{}),
		cfg:      cfg,
		convs:    map[string][]*Activity{},
		personal: map[string]string{},
		rosters:  map[string][]Member{},
	}
	if cfg.tls {
		c.srv = httptest.NewTLSServer(http.HandlerFunc(c.serve))
	} else {
		c.srv = httptest.NewServer(http.HandlerFunc(c.serve))
	}
	t.Cleanup(c.Close)
	return c
}

// ServiceURL is the service URL to hand to the bot (ends with "/" unless
// the prefix is empty).
func (c *Connector) ServiceURL() string { return c.srv.URL + c.prefix + "/" }

// URL is the server's base URL.
func (c *Connector) URL() string { return c.srv.URL }

// Client is an HTTP client that trusts the fake's certificate (WithTLS).
func (c *Connector) Client() *http.Client { return c.srv.Client() }

// Close stops the server (idempotent); later calls fail with a transport
// error, which is what tests of unreachable connectors need.
func (c *Connector) Close() {
	c.closeOnce.Do(func() {
		close(c.done)
		c.srv.Close()
	})
}

// RequireToken changes the required bearer token ("" stops requiring one).
func (c *Connector) RequireToken(token string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.cfg.token = token
}

// FailNext makes the next n requests fail with f.
func (c *Connector) FailNext(n int, f Failure) {
	c.mu.Lock()
	defer c.mu.Unlock()
	for range n {
		c.failures = append(c.failures, f)
	}
}

// Requests returns a copy of every request received so far, in order.
func (c *Connector) Requests() []Request {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]Request(nil), c.requests...)
}

// Conversations returns the ids of all conversations with activities.
func (c *Connector) Conversations() []string {
	c.mu.Lock()
	defer c.mu.Unlock()
	ids := make([]string, 0, len(c.convs))
	for id := range c.convs {
		ids = append(ids, id)
	}
	return ids
}

// Activities returns the current version of the conversation's activities
// in the order they were posted (deleted ones excluded).
func (c *Connector) Activities(conversationID string) []Activity {
	c.mu.Lock()
	defer c.mu.Unlock()
	var out []Activity
	for _, a := range c.convs[conversationID] {
		out = append(out, *a)
	}
	return out
}

// Activity returns the current version of one activity.
func (c *Connector) Activity(conversationID, activityID string) (Activity, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if a := c.findLocked(conversationID, activityID); a != nil {
		return *a, true
	}
	return Activity{}, false
}

func (c *Connector) findLocked(conv, id string) *Activity {
	for _, a := range c.convs[conv] {
		if a.ID == id {
			return a
		}
	}
	return nil
}

func (c *Connector) nextIDLocked() string {
	c.seq++
	// Teams activity ids are millisecond timestamps.
	return strconv.FormatInt(1_700_000_000_000+int64(c.seq), 10)
}

// errorBody is the shape of a Bot Connector error.
func errorBody(code, msg string) string {
	b, _ := json.Marshal(map[string]any{"error": map[string]string{"code": code, "message": msg}})
	return string(b)
}

func (c *Connector) serve(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(io.LimitReader(r.Body, maxRequestBody+1))
	rec := Request{
		Method:        r.Method,
		EscapedPath:   r.URL.EscapedPath(),
		Authorization: r.Header.Get("Authorization"),
		ContentType:   r.Header.Get("Content-Type"),
		Body:          body,
	}
	if len(body) > 0 {
		var m map[string]any
		if json.Unmarshal(body, &m) == nil {
			rec.JSON = m
		}
	}

	c.mu.Lock()
	var fail *Failure
	if len(c.failures) > 0 {
		f := c.failures[0]
		c.failures = c.failures[1:]
		fail = &f
	}
	cfg := c.cfg
	c.mu.Unlock()

	status, resp, header := c.handle(r, &rec, body, fail, cfg)

	c.mu.Lock()
	rec.Status = status
	c.requests = append(c.requests, rec)
	c.mu.Unlock()

	for k, v := range header {
		w.Header().Set(k, v)
	}
	if resp != "" {
		w.Header().Set("Content-Type", "application/json; charset=utf-8")
	}
	w.WriteHeader(status)
	_, _ = io.WriteString(w, resp)
}

// handle computes the answer and applies its effect on the stored state.
func (c *Connector) handle(r *http.Request, rec *Request, body []byte, fail *Failure, cfg connectorConfig) (int, string, map[string]string) {
	if fail != nil {
		if fail.Delay > 0 {
			t := time.NewTimer(fail.Delay)
			select {
			case <-t.C:
			case <-r.Context().Done():
			case <-c.done:
			}
			t.Stop()
		}
		if fail.Status != 0 {
			h := map[string]string{}
			if fail.RetryAfter != "" {
				h["Retry-After"] = fail.RetryAfter
			}
			b := fail.Body
			if b == "" {
				b = errorBody("ServiceError", fmt.Sprintf("injected failure %d", fail.Status))
			}
			return fail.Status, b, h
		}
	}

	if code, msg := c.checkAuth(rec.Authorization, cfg); code != 0 {
		return code, msg, nil
	}

	// Route on the escaped path so ids containing an escaped '/' stay whole.
	esc := rec.EscapedPath
	if !strings.HasPrefix(esc, c.prefix+"/v3/conversations") {
		return http.StatusNotFound, errorBody("NotFound", "no such route"), nil
	}
	rest := strings.TrimPrefix(esc, c.prefix+"/v3/conversations")
	var segs []string
	for _, s := range strings.Split(strings.TrimPrefix(rest, "/"), "/") {
		if s == "" {
			continue
		}
		d, err := url.PathUnescape(s)
		if err != nil {
			return http.StatusBadRequest, errorBody("BadSyntax", "bad path escape"), nil
		}
		segs = append(segs, d)
	}
	rec.Path = "/v3/conversations"
	for _, s := range segs {
		rec.Path += "/" + s
	}
	if len(body) > maxRequestBody {
		return http.StatusRequestEntityTooLarge, errorBody("MessageSizeTooBig", "activity too large"), nil
	}

	switch {
	case len(segs) == 0 && r.Method == http.MethodPost:
		return c.createConversation(rec)
	case len(segs) == 2 && segs[1] == "members" && r.Method == http.MethodGet:
		rec.ConversationID = segs[0]
		return c.members(rec)
	case len(segs) == 2 && segs[1] == "activities" && r.Method == http.MethodPost:
		rec.ConversationID = segs[0]
		return c.postActivity(rec, "")
	case len(segs) == 3 && segs[1] == "activities":
		rec.ConversationID, rec.ActivityID = segs[0], segs[2]
		switch r.Method {
		case http.MethodPost:
			return c.postActivity(rec, segs[2])
		case http.MethodPut:
			return c.updateActivity(rec)
		case http.MethodDelete:
			return c.deleteActivity(rec)
		}
	}
	return http.StatusNotFound, errorBody("NotFound", "no such route"), nil
}

func (c *Connector) checkAuth(header string, cfg connectorConfig) (int, string) {
	denied := `{"message":"Authorization has been denied for this request."}`
	if cfg.token == "" && cfg.authority == nil {
		return 0, ""
	}
	tok, ok := strings.CutPrefix(header, "Bearer ")
	if !ok || tok == "" {
		return http.StatusUnauthorized, denied
	}
	if cfg.token != "" && tok != cfg.token {
		return http.StatusUnauthorized, denied
	}
	if cfg.authority != nil {
		tr, ok := cfg.authority.Lookup(tok)
		if !ok || tr.ClientID != cfg.appID || len(tr.Scopes) != 1 || tr.Scopes[0] != BotFrameworkScope {
			return http.StatusUnauthorized, denied
		}
	}
	return 0, ""
}

// activityBody validates a posted activity.
func activityBody(rec *Request) (string, bool) {
	if rec.JSON == nil {
		return errorBody("BadSyntax", "body is not a JSON object"), false
	}
	if t, _ := rec.JSON["type"].(string); t == "" {
		return errorBody("BadArgument", "activity has no type"), false
	}
	return "", true
}

func (c *Connector) postActivity(rec *Request, replyTo string) (int, string, map[string]string) {
	if msg, ok := activityBody(rec); !ok {
		return http.StatusBadRequest, msg, nil
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	id := c.nextIDLocked()
	a := &Activity{ID: id, ConversationID: rec.ConversationID, ReplyToID: replyTo, Raw: withID(rec.Body, id), Version: 1}
	c.convs[rec.ConversationID] = append(c.convs[rec.ConversationID], a)
	rec.NewActivityID = id
	return http.StatusCreated, fmt.Sprintf(`{"id":%q}`, id), nil
}

func (c *Connector) updateActivity(rec *Request) (int, string, map[string]string) {
	if msg, ok := activityBody(rec); !ok {
		return http.StatusBadRequest, msg, nil
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	a := c.findLocked(rec.ConversationID, rec.ActivityID)
	if a == nil {
		return http.StatusNotFound, errorBody("ActivityNotFound", "activity not found"), nil
	}
	a.Raw = withID(rec.Body, a.ID)
	a.Version++
	return http.StatusOK, fmt.Sprintf(`{"id":%q}`, a.ID), nil
}

func (c *Connector) deleteActivity(rec *Request) (int, string, map[string]string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	list := c.convs[rec.ConversationID]
	for i, a := range list {
		if a.ID == rec.ActivityID {
			c.convs[rec.ConversationID] = append(list[:i:i], list[i+1:]...)
			return http.StatusOK, "", nil
		}
	}
	return http.StatusNotFound, errorBody("ActivityNotFound", "activity not found"), nil
}

func (c *Connector) createConversation(rec *Request) (int, string, map[string]string) {
	p := rec.JSON
	if p == nil {
		return http.StatusBadRequest, errorBody("BadSyntax", "body is not a JSON object"), nil
	}
	isGroup, _ := p["isGroup"].(bool)
	channelData, _ := p["channelData"].(map[string]any)
	tenant, _ := channelData["tenant"].(map[string]any)
	tenantID, _ := tenant["id"].(string)
	if tenantID == "" {
		tenantID, _ = p["tenantId"].(string)
	}
	if tenantID == "" {
		return http.StatusBadRequest, errorBody("BadArgument", "tenant id is required"), nil
	}
	act, hasAct := p["activity"].(map[string]any)

	c.mu.Lock()
	defer c.mu.Unlock()
	var convID, activityID string
	if isGroup {
		ch, _ := channelData["channel"].(map[string]any)
		channelID, _ := ch["id"].(string)
		if channelID == "" {
			return http.StatusBadRequest, errorBody("BadArgument", "channelData.channel.id is required for a channel conversation"), nil
		}
		if !hasAct {
			return http.StatusBadRequest, errorBody("BadArgument", "a channel thread needs its first activity"), nil
		}
		activityID = c.nextIDLocked()
		convID = channelID + ";messageid=" + activityID
	} else {
		members, _ := p["members"].([]any)
		if len(members) != 1 {
			return http.StatusBadRequest, errorBody("BadArgument", "a 1:1 conversation needs exactly one member"), nil
		}
		m, _ := members[0].(map[string]any)
		memberID, _ := m["id"].(string)
		if memberID == "" {
			memberID, _ = m["aadObjectId"].(string)
		}
		if memberID == "" {
			return http.StatusBadRequest, errorBody("BadArgument", "member has no id"), nil
		}
		// Teams answers with the existing 1:1 chat when there is one.
		key := tenantID + "/" + memberID
		if id, ok := c.personal[key]; ok {
			convID = id
		} else {
			c.seq++
			convID = fmt.Sprintf("a:1fake%06d", c.seq)
			c.personal[key] = convID
		}
		if hasAct {
			activityID = c.nextIDLocked()
		}
	}
	if hasAct {
		raw, _ := json.Marshal(act)
		c.convs[convID] = append(c.convs[convID], &Activity{ID: activityID, ConversationID: convID, Raw: withID(raw, activityID), Version: 1})
	} else if _, ok := c.convs[convID]; !ok {
		c.convs[convID] = nil
	}
	rec.ConversationID, rec.NewActivityID = convID, activityID
	resp := map[string]string{"id": convID, "serviceUrl": c.ServiceURL()}
	if activityID != "" {
		resp["activityId"] = activityID
	}
	b, _ := json.Marshal(resp)
	return http.StatusCreated, string(b), nil
}

// Member is a member of a conversation's roster: a Teams channel account.
type Member struct {
	// ID is the member's Teams id ("29:...").
	ID   string
	Name string
	// AadObjectID is the member's Entra object id.
	AadObjectID string
	// UserPrincipalName and TenantID are among the fields Teams adds.
	UserPrincipalName string
	TenantID          string
}

// MarshalJSON writes the member as Teams lists it: the Entra object id
// both as "objectId" (Teams' REST reference) and "aadObjectId" (the Bot
// Framework's ChannelAccount), with "userRole".
func (m Member) MarshalJSON() ([]byte, error) {
	return json.Marshal(struct {
		ID                string `json:"id"`
		Name              string `json:"name,omitempty"`
		ObjectID          string `json:"objectId,omitempty"`
		AadObjectID       string `json:"aadObjectId,omitempty"`
		UserPrincipalName string `json:"userPrincipalName,omitempty"`
		TenantID          string `json:"tenantId,omitempty"`
		UserRole          string `json:"userRole"`
	}{m.ID, m.Name, m.AadObjectID, m.AadObjectID, m.UserPrincipalName, m.TenantID, "user"})
}

// SetRoster sets the members of a conversation (for a Teams channel: its
// team's members), which GET /v3/conversations/{id}/members lists. A
// conversation without a roster answers 404, as Teams does for a
// conversation the bot is not in.
func (c *Connector) SetRoster(conversationID string, members ...Member) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.rosters[conversationID] = append([]Member(nil), members...)
}

// members answers GET /v3/conversations/{id}/members with the roster, a
// JSON array of channel accounts.
func (c *Connector) members(rec *Request) (int, string, map[string]string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	roster, ok := c.rosters[rec.ConversationID]
	if !ok {
		return http.StatusNotFound, errorBody("ConversationNotFound", "Conversation not found."), nil
	}
	if roster == nil {
		roster = []Member{}
	}
	b, _ := json.Marshal(roster)
	return http.StatusOK, string(b), nil
}

// withID returns the JSON object raw with "id" set.
func withID(raw []byte, id string) json.RawMessage {
	var m map[string]json.RawMessage
	if json.Unmarshal(raw, &m) != nil {
		return append(json.RawMessage(nil), raw...)
	}
	m["id"], _ = json.Marshal(id)
	b, err := json.Marshal(m)
	if err != nil {
		return append(json.RawMessage(nil), raw...)
	}
	return b
}

// ZeroValues lists the places in a JSON body that carry zero values the Bot
// Connector should never be sent: "0001-01-01T00:00:00Z" timestamps and empty
// objects. Attachment contents (cards) are not inspected.
func ZeroValues(body []byte) []string {
	var v any
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.UseNumber()
	if err := dec.Decode(&v); err != nil {
		return []string{"<invalid JSON: " + err.Error() + ">"}
	}
	var out []string
	var walk func(path string, v any)
	walk = func(path string, v any) {
		switch x := v.(type) {
		case map[string]any:
			if len(x) == 0 && path != "" {
				out = append(out, path)
			}
			for k, e := range x {
				if k == "content" && strings.Contains(path, "attachments[") {
					continue
				}
				walk(path+"."+k, e)
			}
		case []any:
			for i, e := range x {
				walk(fmt.Sprintf("%s[%d]", path, i), e)
			}
		case string:
			if strings.HasPrefix(x, "0001-01-01T00:00:00") {
				out = append(out, path)
			}
		}
	}
	walk("", v)
	return out
}
