package connector

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/policy"
	"github.com/infracloudio/msbotbuilder-go/schema"

	"github.com/jitbot/jitbot/internal/netutil"
)

// Defaults for [Options].
const (
	// DefaultScope is the Bot Connector token scope in the public cloud.
	DefaultScope = "https://api.botframework.com/.default"
	// DefaultMaxResponseBytes bounds every response body read.
	DefaultMaxResponseBytes = 1 << 20
	// DefaultMaxRetryWait is the longest Retry-After honoured when retrying.
	DefaultMaxRetryWait = 30 * time.Second
	// DefaultTimeout is the timeout of the default HTTP client.
	DefaultTimeout = 30 * time.Second
	// DefaultServiceURL is the public cloud's Teams service URL, for
	// conversations the bot starts before any activity told it one.
	DefaultServiceURL = "https://smba.trafficmanager.net/teams/"
	// DefaultServiceHost is the host of the public cloud's Teams service
	// URLs (regional ones such as https://smba.trafficmanager.net/amer/
	// included). Sovereign clouds use others, e.g.
	// smba.infra.gcc.teams.microsoft.com (GCC),
	// smba.infra.gov.teams.microsoft.us (GCC High) and
	// smba.infra.dod.teams.microsoft.us (DoD).
	DefaultServiceHost = "smba.trafficmanager.net"
)

// Options configures a [Client].
type Options struct {
	// LocalMode must be set, and is only allowed, when the credential is
	// nil: the client then sends no Authorization header (the Agents
	// Playground's mock connector needs none) and talks to loopback hosts
	// only.
	LocalMode bool
	// ServiceHosts are the hosts the client sends requests to outside local
	// mode (default DefaultServiceHost only); an entry "*.example.com" matches
	// the sub-domains of example.com, and a loopback host is allowed only
	// when listed exactly (see netutil.HostAllowed). A request to any other
	// host is refused before it is built, so no token is ever attached.
	ServiceHosts []string
	// Scope is the token scope (default DefaultScope; national clouds use
	// their own, e.g. https://api.botframework.us/.default).
	Scope string
	// HTTPClient sends the requests (default: a client with DefaultTimeout).
	// The client uses a copy of it that never follows redirects.
	HTTPClient *http.Client
	// Logger receives debug logs of each call and warnings on retries; nil
	// discards them.
	Logger *slog.Logger
	// MaxResponseBytes bounds response bodies (default DefaultMaxResponseBytes).
	MaxResponseBytes int64
	// MaxRetries is how many times a throttled request is retried (default
	// 0: never; the caller decides). Retried are 429 for every method and
	// 502/503/504 for PUT, GET and DELETE only (a POST that failed that way
	// may have been delivered). The wait is Retry-After, or 1 s, 2 s, 4 s...
	// without one; a Retry-After longer than MaxRetryWait is not waited for
	// and the error is returned at once.
	MaxRetries int
	// MaxRetryWait caps the wait before a retry (default DefaultMaxRetryWait).
	MaxRetryWait time.Duration
	// UserAgent is sent as User-Agent (default "jitbot").
	UserAgent string
}

// Client calls the Bot Connector REST API. It is safe for concurrent use.
type Client struct {
	cred         azcore.TokenCredential
	local        bool
	hosts        []string
	scope        string
	http         *http.Client
	logger       *slog.Logger
	maxBody      int64
	maxRetries   int
	maxRetryWait time.Duration
	userAgent    string
	sleep        func(ctx context.Context, d time.Duration) error
}

// ConversationParameters is the body of a create-conversation call.
//
// A 1:1 chat with a Teams user: IsGroup false, Members with one account
// (ID "29:..." or AadObjectID), TenantID and ChannelData
// {"tenant":{"id":...}}. A new thread in a Teams channel: IsGroup true,
// ChannelData {"channel":{"id":"19:...@thread.tacv2"},"tenant":{"id":...}}
// and Activity = the thread's first message. See [PersonalChat] and
// [ChannelThread].
type ConversationParameters struct {
	IsGroup     bool
	Bot         schema.ChannelAccount
	Members     []schema.ChannelAccount
	TopicName   string
	TenantID    string
	Activity    *schema.Activity
	ChannelData map[string]any
}

// ConversationResource is the answer to a create-conversation call. For a
// channel thread, ID is "<channel id>;messageid=<id of the first message>"
// and ActivityID is that first message's id (when the service returns it).
type ConversationResource struct {
	ID         string `json:"id"`
	ActivityID string `json:"activityId"`
	ServiceURL string `json:"serviceUrl"`
}

// PersonalChat returns the parameters that open (or find) the 1:1 chat
// between the bot and member in tenantID.
func PersonalChat(bot schema.ChannelAccount, tenantID string, member schema.ChannelAccount) ConversationParameters {
	return ConversationParameters{
		Bot:         bot,
		Members:     []schema.ChannelAccount{member},
		TenantID:    tenantID,
		ChannelData: map[string]any{"tenant": map[string]any{"id": tenantID}},
	}
}

// ChannelThread returns the parameters that start a new thread in the Teams
// channel channelID ("19:...@thread.tacv2") with first as its first message.
func ChannelThread(bot schema.ChannelAccount, tenantID, channelID string, first *schema.Activity) ConversationParameters {
	return ConversationParameters{
		IsGroup:  true,
		Bot:      bot,
		TenantID: tenantID,
		Activity: first,
		ChannelData: map[string]any{
			"channel": map[string]any{"id": channelID},
			"tenant":  map[string]any{"id": tenantID},
		},
	}
}

// New returns a client that authenticates with cred. cred may be nil only
// with opts.LocalMode set.
func New(cred azcore.TokenCredential, opts Options) (*Client, error) {
	switch {
	case cred == nil && !opts.LocalMode:
		return nil, errors.New("connector: a token credential is required (set Options.LocalMode only for a local emulator)")
	case cred != nil && opts.LocalMode:
		return nil, errors.New("connector: Options.LocalMode must not be set together with a credential")
	case opts.MaxResponseBytes < 0 || opts.MaxRetries < 0 || opts.MaxRetryWait < 0:
		return nil, errors.New("connector: Options limits must not be negative")
	}
	hosts := opts.ServiceHosts
	if len(hosts) == 0 {
		hosts = []string{DefaultServiceHost}
	}
	for _, h := range hosts {
		if err := netutil.CheckHostPattern(h); err != nil {
			return nil, fmt.Errorf("connector: Options.ServiceHosts: %w", err)
		}
	}
	c := &Client{
		cred:         cred,
		local:        opts.LocalMode,
		hosts:        append([]string(nil), hosts...),
		scope:        opts.Scope,
		http:         opts.HTTPClient,
		logger:       opts.Logger,
		maxBody:      opts.MaxResponseBytes,
		maxRetries:   opts.MaxRetries,
		maxRetryWait: opts.MaxRetryWait,
		userAgent:    opts.UserAgent,
		sleep:        sleepCtx,
	}
	if c.scope == "" {
		c.scope = DefaultScope
	}
	// The Bot Connector does not redirect: a redirect comes back as a
	// *StatusError.
	c.http = netutil.NoRedirects(c.http, DefaultTimeout)
	if c.logger == nil {
		c.logger = slog.New(slog.DiscardHandler)
	}
	if c.maxBody == 0 {
		c.maxBody = DefaultMaxResponseBytes
	}
	if c.maxRetryWait == 0 {
		c.maxRetryWait = DefaultMaxRetryWait
	}
	if c.userAgent == "" {
		c.userAgent = "jitbot"
	}
	return c, nil
}

// resourceResponse is the answer to send, reply and update calls.
type resourceResponse struct {
	ID string `json:"id"`
}

// SendActivity posts act to the conversation and returns the new activity's
// id (empty if the channel returned none). act is not modified; an empty
// Type is sent as "message".
func (c *Client) SendActivity(ctx context.Context, serviceURL, conversationID string, act *schema.Activity) (string, error) {
	u, err := c.conversationURL(serviceURL, conversationID, "activities")
	if err != nil {
		return "", fmt.Errorf("connector: send activity: %w", err)
	}
	return c.postActivity(ctx, u, act, "")
}

// ReplyToActivity posts act as a reply to replyToID (in a channel thread:
// the thread's root) and returns the new activity's id.
func (c *Client) ReplyToActivity(ctx context.Context, serviceURL, conversationID, replyToID string, act *schema.Activity) (string, error) {
	u, err := c.conversationURL(serviceURL, conversationID, "activities", replyToID)
	if err != nil {
		return "", fmt.Errorf("connector: reply to activity: %w", err)
	}
	return c.postActivity(ctx, u, act, replyToID)
}

func (c *Client) postActivity(ctx context.Context, u string, act *schema.Activity, replyToID string) (string, error) {
	if act == nil {
		return "", errors.New("connector: activity is nil")
	}
	w := outgoing(act)
	if replyToID != "" && w.ReplyToID == "" {
		w.ReplyToID = replyToID
	}
	body, err := json.Marshal(w)
	if err != nil {
		return "", fmt.Errorf("connector: encode activity: %w", err)
	}
	resp, err := c.do(ctx, http.MethodPost, u, body)
	if err != nil {
		return "", err
	}
	var rr resourceResponse
	if err := decodeOptional(resp, &rr); err != nil {
		return "", fmt.Errorf("connector: POST %s: %w", u, err)
	}
	return rr.ID, nil
}

// UpdateActivity replaces activity activityID (for example a card) with act.
// The body's id is set to activityID; an act.ID that differs is an error.
func (c *Client) UpdateActivity(ctx context.Context, serviceURL, conversationID, activityID string, act *schema.Activity) error {
	if act == nil {
		return errors.New("connector: update activity: activity is nil")
	}
	if act.ID != "" && act.ID != activityID {
		return fmt.Errorf("connector: update activity: activity id %q differs from target %q", act.ID, activityID)
	}
	u, err := c.conversationURL(serviceURL, conversationID, "activities", activityID)
	if err != nil {
		return fmt.Errorf("connector: update activity: %w", err)
	}
	w := outgoing(act)
	w.ID = activityID
	body, err := json.Marshal(w)
	if err != nil {
		return fmt.Errorf("connector: encode activity: %w", err)
	}
	_, err = c.do(ctx, http.MethodPut, u, body)
	return err
}

// DeleteActivity deletes activity activityID from the conversation.
func (c *Client) DeleteActivity(ctx context.Context, serviceURL, conversationID, activityID string) error {
	u, err := c.conversationURL(serviceURL, conversationID, "activities", activityID)
	if err != nil {
		return fmt.Errorf("connector: delete activity: %w", err)
	}
	_, err = c.do(ctx, http.MethodDelete, u, nil)
	return err
}

// ConversationMembers lists the members of a conversation (GET
// {serviceURL}/v3/conversations/{conversationID}/members): for a Teams
// channel, the members of its team. Each is a channel account with the
// member's Teams id ("29:..."), name and Entra object id. Teams' REST
// reference names the object id "objectId" (so does the Agents
// Playground), the Bot Framework's ChannelAccount "aadObjectId": either is
// read. Other fields Teams adds are ignored. The whole roster comes in one
// response, so it is bounded by the client's MaxResponseBytes.
func (c *Client) ConversationMembers(ctx context.Context, serviceURL, conversationID string) ([]schema.ChannelAccount, error) {
	u, err := c.conversationURL(serviceURL, conversationID, "members")
	if err != nil {
		return nil, fmt.Errorf("connector: list conversation members: %w", err)
	}
	resp, err := c.do(ctx, http.MethodGet, u, nil)
	if err != nil {
		return nil, err
	}
	var wire []struct {
		ID          string `json:"id"`
		Name        string `json:"name"`
		AadObjectID string `json:"aadObjectId"`
		ObjectID    string `json:"objectId"`
	}
	if err := json.Unmarshal(resp, &wire); err != nil {
		return nil, fmt.Errorf("connector: GET %s: decode members: %w", u, err)
	}
	members := make([]schema.ChannelAccount, 0, len(wire))
	for _, m := range wire {
		oid := m.AadObjectID
		if oid == "" {
			oid = m.ObjectID
		}
		members = append(members, schema.ChannelAccount{ID: m.ID, Name: m.Name, AadObjectID: oid})
	}
	return members, nil
}

// CreateConversation creates a conversation: a 1:1 chat or a new channel
// thread (see ConversationParameters).
func (c *Client) CreateConversation(ctx context.Context, serviceURL string, params ConversationParameters) (ConversationResource, error) {
	if !params.IsGroup && len(params.Members) == 0 {
		return ConversationResource{}, errors.New("connector: create conversation: a 1:1 conversation needs a member")
	}
	u, err := c.conversationURL(serviceURL)
	if err != nil {
		return ConversationResource{}, fmt.Errorf("connector: create conversation: %w", err)
	}
	w := wireConversationParameters{
		IsGroup:     params.IsGroup,
		Bot:         params.Bot,
		Members:     params.Members,
		TopicName:   params.TopicName,
		TenantID:    params.TenantID,
		ChannelData: params.ChannelData,
	}
	if params.Activity != nil {
		w.Activity = outgoing(params.Activity)
	}
	body, err := json.Marshal(w)
	if err != nil {
		return ConversationResource{}, fmt.Errorf("connector: encode conversation parameters: %w", err)
	}
	resp, err := c.do(ctx, http.MethodPost, u, body)
	if err != nil {
		return ConversationResource{}, err
	}
	var res ConversationResource
	if err := json.Unmarshal(resp, &res); err != nil {
		return ConversationResource{}, fmt.Errorf("connector: POST %s: decode response: %w", u, err)
	}
	if res.ID == "" {
		return ConversationResource{}, fmt.Errorf("connector: POST %s: response has no conversation id", u)
	}
	return res, nil
}

// outgoing is the wire form of act, with Type defaulted to message.
func outgoing(act *schema.Activity) *wireActivity {
	w := trimActivity(act)
	if w.Type == "" {
		w.Type = schema.Message
	}
	return w
}

// decodeOptional decodes a JSON body into v; an empty body leaves v zero.
func decodeOptional(body []byte, v any) error {
	if len(bytes.TrimSpace(body)) == 0 {
		return nil
	}
	if err := json.Unmarshal(body, v); err != nil {
		return fmt.Errorf("decode response: %w", err)
	}
	return nil
}

// conversationURL builds {serviceURL}/v3/conversations[/seg...], escaping
// each segment with url.PathEscape (Teams ids contain ':', ';' and '@').
func (c *Client) conversationURL(serviceURL string, segments ...string) (string, error) {
	if err := c.checkServiceURL(serviceURL); err != nil {
		return "", err
	}
	var b strings.Builder
	b.WriteString(strings.TrimRight(serviceURL, "/"))
	b.WriteString("/v3/conversations")
	for _, s := range segments {
		if s == "" {
			return "", errors.New("empty conversation or activity id")
		}
		b.WriteByte('/')
		b.WriteString(url.PathEscape(s))
	}
	return b.String(), nil
}

// checkServiceURL accepts absolute http(s) URLs without query or fragment
// on an allowed host (in local mode: a loopback host); with a credential,
// only https (a bearer token is never sent in clear).
func (c *Client) checkServiceURL(raw string) error {
	u, err := url.Parse(raw)
	if err != nil {
		return fmt.Errorf("service URL %q: %w", raw, err)
	}
	if u.Host == "" || (u.Scheme != "http" && u.Scheme != "https") {
		return fmt.Errorf("service URL %q is not an absolute http(s) URL", raw)
	}
	if u.RawQuery != "" || u.Fragment != "" || u.User != nil {
		return fmt.Errorf("service URL %q must not carry a query, fragment or user info", raw)
	}
	if c.cred != nil && u.Scheme != "https" {
		return fmt.Errorf("service URL %q is not https; refusing to send a bearer token over it", raw)
	}
	if err := netutil.URLHostAllowed(raw, c.hosts, c.local); err != nil {
		return fmt.Errorf("service URL: %w", err)
	}
	return nil
}

// do sends one request, retrying as configured, and returns the body of a
// 2xx response.
func (c *Client) do(ctx context.Context, method, rawURL string, body []byte) ([]byte, error) {
	for attempt := 0; ; attempt++ {
		resp, err := c.once(ctx, method, rawURL, body)
		var se *StatusError
		if err == nil || attempt >= c.maxRetries || !errors.As(err, &se) || !retryable(method, se.StatusCode) {
			return resp, err
		}
		wait := se.RetryAfter
		if wait <= 0 {
			wait = time.Second << min(attempt, 5)
		}
		if wait > c.maxRetryWait {
			return nil, err
		}
		c.logger.LogAttrs(ctx, slog.LevelWarn, "connector: retrying throttled request",
			slog.String("method", method), slog.String("url", rawURL), slog.Int("status", se.StatusCode),
			slog.Duration("wait", wait), slog.Int("attempt", attempt+1))
		if serr := c.sleep(ctx, wait); serr != nil {
			return nil, fmt.Errorf("%w (retry abandoned: %w)", err, serr)
		}
	}
}

func retryable(method string, status int) bool {
	switch status {
	case http.StatusTooManyRequests:
		return true
	case http.StatusBadGateway, http.StatusServiceUnavailable, http.StatusGatewayTimeout:
		return method == http.MethodPut || method == http.MethodGet || method == http.MethodDelete
	}
	return false
}

func sleepCtx(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

func (c *Client) once(ctx context.Context, method, rawURL string, body []byte) ([]byte, error) {
	var rd io.Reader
	if body != nil {
		rd = bytes.NewReader(body)
	}
	req, err := http.NewRequestWithContext(ctx, method, rawURL, rd)
	if err != nil {
		return nil, fmt.Errorf("connector: build %s request: %w", method, err)
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json; charset=utf-8")
	}
	req.Header.Set("Accept", "application/json")
	req.Header.Set("User-Agent", c.userAgent)
	if c.cred != nil {
		tok, err := c.cred.GetToken(ctx, policy.TokenRequestOptions{Scopes: []string{c.scope}})
		if err != nil {
			return nil, fmt.Errorf("connector: get token for %s: %w", c.scope, err)
		}
		if tok.Token == "" {
			return nil, fmt.Errorf("connector: credential returned an empty token for %s", c.scope)
		}
		req.Header.Set("Authorization", "Bearer "+tok.Token)
	}

	start := time.Now()
	resp, err := c.http.Do(req)
	if err != nil {
		return nil, fmt.Errorf("connector: %s %s: %w", method, rawURL, err)
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(io.LimitReader(resp.Body, c.maxBody+1))
	c.logger.LogAttrs(ctx, slog.LevelDebug, "connector: call",
		slog.String("method", method), slog.String("host", req.URL.Host), slog.String("path", req.URL.EscapedPath()),
		slog.Int("status", resp.StatusCode), slog.Duration("duration", time.Since(start)))
	if err != nil {
		return nil, fmt.Errorf("connector: %s %s: read response (status %d): %w", method, rawURL, resp.StatusCode, err)
	}
	if int64(len(data)) > c.maxBody {
		return nil, fmt.Errorf("connector: %s %s: response (status %d) larger than %d bytes", method, rawURL, resp.StatusCode, c.maxBody)
	}
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		return nil, newStatusError(method, rawURL, resp, data, time.Now())
	}
	return data, nil
}
