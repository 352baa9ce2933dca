package tokenservice

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/policy"

	"github.com/jitbot/jitbot/internal/netutil"
)

// Defaults of [Options].
const (
	// DefaultURL is the public cloud's Token Service. Sovereign clouds use
	// their own, e.g. https://tokengcch.botframework.azure.us (GCC High)
	// and https://apiDoD.botframework.azure.us (DoD).
	DefaultURL = "https://token.botframework.com"
	// DefaultScope is the scope of the bot's app token in the public cloud.
	DefaultScope = "https://api.botframework.com/.default"
	// DefaultTimeout bounds every call.
	DefaultTimeout = 15 * time.Second
	// maxResponseBytes bounds every response body read.
	maxResponseBytes = 1 << 20
)

// ErrNoToken: the Token Service has no token for that user, connection
// and magic code (404): the code is wrong, used already, of another user,
// or the sign-in never finished.
var ErrNoToken = errors.New("tokenservice: no user token for that user and code")

// Options configures a [Client].
type Options struct {
	// URL is the Token Service's base URL (default DefaultURL); https only.
	URL string
	// Scope is the scope of the bot's app token (default DefaultScope).
	Scope string
	// AppID is the bot's Microsoft app id, named in the sign-in state.
	AppID string
	// HTTPClient sends the requests (default: one with DefaultTimeout).
	HTTPClient *http.Client
}

// Client calls the Token Service. It is safe for concurrent use.
type Client struct {
	cred  azcore.TokenCredential
	base  *url.URL
	scope string
	appID string
	http  *http.Client
}

// New returns a client that authenticates with the bot's credential cred.
func New(cred azcore.TokenCredential, opts Options) (*Client, error) {
	if cred == nil {
		return nil, errors.New("tokenservice: the bot's credential is required")
	}
	if strings.TrimSpace(opts.AppID) == "" {
		return nil, errors.New("tokenservice: the bot's app id is required")
	}
	raw := opts.URL
	if raw == "" {
		raw = DefaultURL
	}
	base, err := url.Parse(strings.TrimRight(raw, "/"))
	if err != nil || base.Scheme != "https" || base.Host == "" || base.User != nil || base.RawQuery != "" {
		return nil, fmt.Errorf("tokenservice: want an https base URL, got %q", raw)
	}
	c := &Client{cred: cred, base: base, scope: opts.Scope, appID: opts.AppID, http: opts.HTTPClient}
	if c.scope == "" {
		c.scope = DefaultScope
	}
	c.http = netutil.NoRedirects(c.http, DefaultTimeout)
	return c, nil
}

// Account is a channel account of a conversation reference.
type Account struct {
	ID          string `json:"id"`
	Name        string `json:"name,omitempty"`
	AadObjectID string `json:"aadObjectId,omitempty"`
	Role        string `json:"role,omitempty"`
}

// Conversation is the conversation of a conversation reference.
type Conversation struct {
	ID               string `json:"id"`
	IsGroup          bool   `json:"isGroup,omitempty"`
	ConversationType string `json:"conversationType,omitempty"`
	TenantID         string `json:"tenantId,omitempty"`
}

// ConversationReference names the activity a sign-in belongs to: the user
// who signs in, the bot, the conversation, the channel and its service URL.
type ConversationReference struct {
	ActivityID   string       `json:"activityId,omitempty"`
	User         Account      `json:"user"`
	Bot          Account      `json:"bot"`
	Conversation Conversation `json:"conversation"`
	ChannelID    string       `json:"channelId"`
	Locale       string       `json:"locale,omitempty"`
	ServiceURL   string       `json:"serviceUrl"`
}

// TokenExchangeState is the sign-in state, sent base64-encoded.
type TokenExchangeState struct {
	ConnectionName string                 `json:"connectionName"`
	Conversation   ConversationReference  `json:"conversation"`
	RelatesTo      *ConversationReference `json:"relatesTo,omitempty"`
	MsAppID        string                 `json:"msAppId"`
}

// EncodeState is the state query parameter of GetSignInResource.
func EncodeState(s TokenExchangeState) (string, error) {
	raw, err := json.Marshal(s)
	if err != nil {
		return "", fmt.Errorf("tokenservice: encode state: %w", err)
	}
	return base64.StdEncoding.EncodeToString(raw), nil
}

// DecodeState reads a state encoded by EncodeState (standard or URL-safe
// base64, padded or not).
func DecodeState(state string) (TokenExchangeState, error) {
	var s TokenExchangeState
	var raw []byte
	var err error
	for _, enc := range []*base64.Encoding{base64.StdEncoding, base64.RawStdEncoding, base64.URLEncoding, base64.RawURLEncoding} {
		if raw, err = enc.DecodeString(state); err == nil {
			break
		}
	}
	if err != nil {
		return s, fmt.Errorf("tokenservice: state is not base64: %w", err)
	}
	if err := json.Unmarshal(raw, &s); err != nil {
		return s, fmt.Errorf("tokenservice: state is not a token-exchange state: %w", err)
	}
	return s, nil
}

// TokenExchangeResource is what Teams single sign-on gets a token for.
type TokenExchangeResource struct {
	ID         string `json:"id"`
	URI        string `json:"uri"`
	ProviderID string `json:"providerId,omitempty"`
}

// SignInResource is the answer of GetSignInResource.
type SignInResource struct {
	SignInLink            string                 `json:"signInLink"`
	TokenExchangeResource *TokenExchangeResource `json:"tokenExchangeResource,omitempty"`
	TokenPostResource     *struct {
		SasURL string `json:"sasUrl"`
	} `json:"tokenPostResource,omitempty"`
}

// TokenResponse is a user token as the Token Service returns it.
type TokenResponse struct {
	ChannelID      string `json:"channelId"`
	ConnectionName string `json:"connectionName"`
	Token          string `json:"token"`
	Expiration     string `json:"expiration"`
}

// SignInResource asks for the sign-in link of connectionName for the user
// and conversation of conv. The link is an https URL.
func (c *Client) SignInResource(ctx context.Context, connectionName string, conv ConversationReference) (SignInResource, error) {
	var out SignInResource
	state, err := EncodeState(TokenExchangeState{ConnectionName: connectionName, Conversation: conv, MsAppID: c.appID})
	if err != nil {
		return out, err
	}
	body, err := c.get(ctx, "/api/botsignin/GetSignInResource", url.Values{"state": {state}})
	if err != nil {
		return out, err
	}
	if err := json.Unmarshal(body, &out); err != nil {
		return out, fmt.Errorf("tokenservice: GetSignInResource: decode: %w", err)
	}
	if u, err := url.Parse(out.SignInLink); err != nil || u.Scheme != "https" || u.Host == "" || u.User != nil {
		return out, fmt.Errorf("tokenservice: GetSignInResource: want an https sign-in link, got %q", out.SignInLink)
	}
	return out, nil
}

// UserToken fetches the user token of connectionName that the user userID
// (the channel's id of the user, e.g. Teams' "29:...") obtained by signing
// in, proven by the magic code code. ErrNoToken when there is none.
func (c *Client) UserToken(ctx context.Context, userID, connectionName, channelID, code string) (TokenResponse, error) {
	var out TokenResponse
	if userID == "" || connectionName == "" || channelID == "" || code == "" {
		return out, errors.New("tokenservice: GetToken needs a user, a connection, a channel and a code")
	}
	body, err := c.get(ctx, "/api/usertoken/GetToken", url.Values{
		"userId": {userID}, "connectionName": {connectionName}, "channelId": {channelID}, "code": {code},
	})
	if err != nil {
		return out, err
	}
	if err := json.Unmarshal(body, &out); err != nil {
		return out, fmt.Errorf("tokenservice: GetToken: decode: %w", err)
	}
	if out.Token == "" {
		return out, ErrNoToken
	}
	if out.ConnectionName != "" && !strings.EqualFold(out.ConnectionName, connectionName) {
		return TokenResponse{}, fmt.Errorf("tokenservice: GetToken: a token of connection %q, not %q", out.ConnectionName, connectionName)
	}
	return out, nil
}

// get sends an authorised GET and returns the body of a 200 answer.
func (c *Client) get(ctx context.Context, path string, q url.Values) ([]byte, error) {
	u := *c.base
	u.Path = strings.TrimRight(u.Path, "/") + path
	u.RawQuery = q.Encode()
	name := strings.TrimPrefix(path[strings.LastIndex(path, "/"):], "/")
	tok, err := c.cred.GetToken(ctx, policy.TokenRequestOptions{Scopes: []string{c.scope}})
	if err != nil {
		return nil, fmt.Errorf("tokenservice: %s: the bot's app token: %w", name, err)
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u.String(), nil)
	if err != nil {
		return nil, fmt.Errorf("tokenservice: %s: %w", name, err)
	}
	req.Header.Set("Authorization", "Bearer "+tok.Token)
	req.Header.Set("Accept", "application/json")
	req.Header.Set("User-Agent", "jitbot")
	resp, err := c.http.Do(req)
	if err != nil {
		return nil, fmt.Errorf("tokenservice: %s: %w", name, err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, maxResponseBytes+1))
	if err != nil {
		return nil, fmt.Errorf("tokenservice: %s: read: %w", name, err)
	}
	if len(body) > maxResponseBytes {
		return nil, fmt.Errorf("tokenservice: %s: answer larger than %d bytes", name, maxResponseBytes)
	}
	switch {
	case resp.StatusCode == http.StatusNotFound && path == "/api/usertoken/GetToken":
		return nil, ErrNoToken
	case resp.StatusCode != http.StatusOK:
		return nil, fmt.Errorf("tokenservice: %s: status %d: %.200s", name, resp.StatusCode, body)
	}
	return body, nil
}
