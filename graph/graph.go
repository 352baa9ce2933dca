package graph

import (
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	absser "github.com/microsoft/kiota-abstractions-go/serialization"
	kauth "github.com/microsoft/kiota-authentication-azure-go"
	khttp "github.com/microsoft/kiota-http-go"
	formser "github.com/microsoft/kiota-serialization-form-go"
	jsonser "github.com/microsoft/kiota-serialization-json-go"
	multipartser "github.com/microsoft/kiota-serialization-multipart-go"
	textser "github.com/microsoft/kiota-serialization-text-go"
	core "github.com/microsoftgraph/msgraph-sdk-go-core"
	"github.com/microsoftgraph/msgraph-sdk-go/groups"
	"github.com/microsoftgraph/msgraph-sdk-go/users"

	"github.com/jitbot/jitbot/access"

	"github.com/jitbot/jitbot/internal/netutil"
)

// DefaultGraphURL is the Microsoft Graph endpoint of the global Azure cloud.
const DefaultGraphURL = "https://graph.microsoft.com"

// apiVersion is the Graph API version every call uses.
const apiVersion = "v1.0"

// Defaults of Config.
const (
	DefaultMaxRetries   = 3
	DefaultMaxRetryWait = time.Minute
	DefaultTimeout      = 100 * time.Second
	DefaultGroupSeenFor = 5 * time.Minute
)

// maxRetries is the most retries the SDK's retry middleware performs.
const maxRetries = 10

// Config configures a Directory. The zero value talks to the global cloud's
// Graph with default retries.
type Config struct {
	// GraphURL is the Graph endpoint without the version:
	// "https://graph.microsoft.com" (default), "https://graph.microsoft.us",
	// "https://dod-graph.microsoft.us", "https://microsoftgraph.chinacloudapi.cn".
	// Calls go to GraphURL + "/v1.0". It must be https, except for a loopback
	// host (a local test server), which may be http.
	GraphURL string

	// Transport carries the requests underneath the SDK's middleware
	// (retry, redirect, ...). Nil uses netutil.Transport (a connection
	// pool sized for one busy host). Tests
	// pass the transport of their TLS test server here. A plain
	// *http.Client is deliberately not accepted: the SDK would use it
	// without any middleware, retries included.
	Transport http.RoundTripper

	// Timeout bounds one call including its retries and their waits.
	// Zero means DefaultTimeout; a negative value means no limit beyond the
	// caller's context.
	Timeout time.Duration

	// MaxRetries is how often a call answered with 429, 503 or 504 is
	// retried. Zero means DefaultMaxRetries, a negative value turns retries
	// off; at most 10.
	MaxRetries int

	// GroupSeenFor is how long a group that Graph showed to exist is taken
	// to exist still, so that IsMember asks for the group only once in that
	// time after a 404 on the member (see IsMember). Zero means
	// DefaultGroupSeenFor; a negative value asks every time.
	GroupSeenFor time.Duration

	// Now is the clock of GroupSeenFor; nil means time.Now.
	Now func() time.Time

	// MaxRetryWait is the longest Retry-After a call waits for before
	// retrying. When Graph asks for a longer wait the call fails at once
	// with a transient *Error carrying RetryAfter. Zero means
	// DefaultMaxRetryWait.
	MaxRetryWait time.Duration
}

// Directory manages Entra ID group memberships through Microsoft Graph. It
// is safe for concurrent use.
type Directory struct {
	adapter  *core.GraphRequestAdapterBase
	graphURL string   // normalised Config.GraphURL, no trailing slash
	base     *url.URL // graphURL + "/v1.0"
	logger   *slog.Logger
	// cred is the credential the calls' tokens come from (AppRoles reads
	// one).
	cred azcore.TokenCredential
	// seen remembers which groups Graph showed to exist, and when.
	seen *groupsSeen
	// retries and maxRetryWait are Config.MaxRetries and MaxRetryWait as
	// applied, for the requests of a batch.
	retries      int
	maxRetryWait time.Duration
	batch        *batcher
}

// The request builders are made per call rather than kept in Directory:
// a builder type reachable from Directory's type makes the linker keep every
// method of it, and with them the SDK's whole model package (tens of MB).

func (d *Directory) groups() *groups.GroupsRequestBuilder {
	return groups.NewGroupsRequestBuilderInternal(map[string]string{"baseurl": d.base.String()}, d.adapter)
}

func (d *Directory) users() *users.UsersRequestBuilder {
	return users.NewUsersRequestBuilderInternal(map[string]string{"baseurl": d.base.String()}, d.adapter)
}

var _ access.Directory = (*Directory)(nil)

// New returns a Directory that calls Graph with tokens from cred (for
// example an azidentity.ClientSecretCredential or ManagedIdentityCredential).
// A nil logger discards log records.
func New(cfg Config, cred azcore.TokenCredential, logger *slog.Logger) (*Directory, error) {
	if cred == nil {
		return nil, errors.New("graph: no token credential")
	}
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	graphURL, err := normaliseGraphURL(cfg.GraphURL)
	if err != nil {
		return nil, err
	}
	base, err := url.Parse(graphURL + "/" + apiVersion)
	if err != nil {
		return nil, fmt.Errorf("graph: parse API base URL: %w", err)
	}

	auth, err := newAuthProvider(cred, graphURL)
	if err != nil {
		return nil, err
	}

	parent := cfg.Transport
	if parent == nil {
		parent = netutil.Transport()
	}
	client := &http.Client{
		Transport: khttp.NewCustomTransportWithParentTransport(parent, middlewares(cfg, logger)...),
		// The redirect middleware follows redirects (and drops the token
		// when the host changes); the client itself must not.
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}
	switch {
	case cfg.Timeout == 0:
		client.Timeout = DefaultTimeout
	case cfg.Timeout > 0:
		client.Timeout = cfg.Timeout
	}

	adapter, err := core.NewGraphRequestAdapterBaseWithParseNodeFactoryAndSerializationWriterFactoryAndHttpClient(
		auth, core.GraphClientOptions{}, parseNodeFactories(), serializationWriterFactories(), client)
	if err != nil {
		return nil, fmt.Errorf("graph: request adapter: %w", err)
	}
	adapter.SetBaseUrl(base.String())

	d := &Directory{
		adapter:  adapter,
		graphURL: graphURL,
		base:     base,
		logger:   logger,
		cred:     cred,
		seen:     newGroupsSeen(cfg.GroupSeenFor, cfg.Now),
	}
	d.retries, d.maxRetryWait = retryLimits(cfg)
	d.batch = &batcher{d: d}
	return d, nil
}

// GraphURL returns the Graph endpoint the Directory calls, without the
// version.
func (d *Directory) GraphURL() string { return d.graphURL }

// normaliseGraphURL checks a configured Graph URL and strips a trailing
// slash.
func normaliseGraphURL(raw string) (string, error) {
	if raw == "" {
		raw = DefaultGraphURL
	}
	u, err := url.Parse(strings.TrimRight(raw, "/"))
	if err != nil {
		return "", fmt.Errorf("graph: GraphURL %q: %w", raw, err)
	}
	switch {
	case u.Scheme != "https" && u.Scheme != "http", u.Host == "":
		return "", fmt.Errorf("graph: GraphURL %q is not an absolute http(s) URL", raw)
	case u.Scheme == "http" && !isLoopback(u.Hostname()):
		return "", fmt.Errorf("graph: GraphURL %q: Graph must be reached over https (http only for a loopback test server)", raw)
	case u.User != nil, u.RawQuery != "", u.Fragment != "":
		return "", fmt.Errorf("graph: GraphURL %q must not carry credentials, a query or a fragment", raw)
	case u.Path != "":
		return "", fmt.Errorf("graph: GraphURL %q must not have a path: give the endpoint without the version, like %s", raw, DefaultGraphURL)
	}
	return u.Scheme + "://" + strings.ToLower(u.Host), nil
}

// isLoopback reports whether host is one of the loopback names the SDK's
// authentication accepts over plain http.
func isLoopback(host string) bool {
	switch strings.ToLower(host) {
	case "localhost", "127.0.0.1", "::1":
		return true
	}
	return false
}

// newAuthProvider returns the bearer token provider: scope
// <graphURL>/.default, token attached only to requests to graphURL's host.
// The SDK's default host list holds only the public clouds' Graph hosts;
// any other host silently gets no Authorization header, hence the explicit
// list.
func newAuthProvider(cred azcore.TokenCredential, graphURL string) (*kauth.AzureIdentityAuthenticationProvider, error) {
	u, err := url.Parse(graphURL)
	if err != nil {
		return nil, fmt.Errorf("graph: GraphURL %q: %w", graphURL, err)
	}
	auth, err := kauth.NewAzureIdentityAuthenticationProviderWithScopesAndValidHosts(
		cred, []string{graphURL + "/.default"}, []string{u.Hostname()})
	if err != nil {
		return nil, fmt.Errorf("graph: authentication provider: %w", err)
	}
	return auth, nil
}

// middlewares returns the HTTP middleware, outermost first. The SDK's
// default list is built from a map, so its order varies from client to
// client, and it contains the compression handler: when that runs inside the
// retry handler, a retried POST goes out with "Content-Encoding: gzip" over
// an uncompressed body (kiota-http-go issue 183). This list is fixed and has
// no compression.
func middlewares(cfg Config, logger *slog.Logger) []khttp.Middleware {
	retries, maxWait := retryLimits(cfg)
	return []khttp.Middleware{
		// Once per call: SdkVersion and a fresh client-request-id, which
		// Microsoft support asks for.
		core.NewGraphTelemetryHandler(&core.GraphClientOptions{}),
		khttp.NewParametersNameDecodingHandler(),
		khttp.NewUserAgentHandler(),
		khttp.NewRedirectHandler(),
		khttp.NewRetryHandlerWithOptions(khttp.RetryHandlerOptions{
			MaxRetries: max(retries, 1), // the SDK reads 0 as its default; ShouldRetry enforces 0
			ShouldRetry: func(_ time.Duration, executionCount int, _ *http.Request, resp *http.Response) bool {
				if executionCount >= retries {
					return false
				}
				if wait, ok := retryAfter(resp.Header, time.Now()); ok && wait > maxWait {
					return false
				}
				return true
			},
		}),
		// Innermost: sees every attempt, retries and redirects included.
		&observer{logger: logger},
	}
}

// retryLimits returns how often a throttled call is retried and the
// longest Retry-After waited for, from cfg with its defaults.
func retryLimits(cfg Config) (retries int, maxWait time.Duration) {
	retries = cfg.MaxRetries
	switch {
	case retries == 0:
		retries = DefaultMaxRetries
	case retries < 0:
		retries = 0
	case retries > maxRetries:
		retries = maxRetries
	}
	maxWait = cfg.MaxRetryWait
	if maxWait <= 0 {
		maxWait = DefaultMaxRetryWait
	}
	return retries, maxWait
}

// parseNodeFactories returns the response parsers the SDK's root client
// registers (JSON, text, form), in a registry of this Directory's own rather
// than the SDK's process-wide default registry.
func parseNodeFactories() *absser.ParseNodeFactoryRegistry {
	r := absser.NewParseNodeFactoryRegistry()
	for _, f := range []absser.ParseNodeFactory{
		jsonser.NewJsonParseNodeFactory(),
		textser.NewTextParseNodeFactory(),
		formser.NewFormParseNodeFactory(),
	} {
		if ct, err := f.GetValidContentType(); err == nil && ct != "" {
			r.ContentTypeAssociatedFactories[ct] = f
		}
	}
	return r
}

// serializationWriterFactories returns the request body writers the SDK's
// root client registers (JSON, text, form, multipart).
func serializationWriterFactories() *absser.SerializationWriterFactoryRegistry {
	r := absser.NewSerializationWriterFactoryRegistry()
	for _, f := range []absser.SerializationWriterFactory{
		jsonser.NewJsonSerializationWriterFactory(),
		textser.NewTextSerializationWriterFactory(),
		formser.NewFormSerializationWriterFactory(),
		multipartser.NewMultipartSerializationWriterFactory(),
	} {
		if ct, err := f.GetValidContentType(); err == nil && ct != "" {
			r.ContentTypeAssociatedFactories[ct] = f
		}
	}
	return r
}
