package netutil

import (
	"net/http"
	"time"
)

// The connection pool of every client jitbot keeps to an outside service
// (the Bot Connector, Microsoft Graph). Go's default keeps 2 idle
// connections per host, so under load most requests to one host pay a new
// TLS handshake; jitbot talks to a few hosts a lot.
const (
	// MaxIdleConnsPerHost is how many idle connections to one host are
	// kept for reuse.
	MaxIdleConnsPerHost = 64
	// MaxIdleConns bounds the idle connections kept in all.
	MaxIdleConns = 256
	// IdleConnTimeout is how long an idle connection is kept.
	IdleConnTimeout = 90 * time.Second
)

// Transport returns a new HTTP transport for a client of an outside
// service: Go's default transport (proxy from the environment, dial and
// TLS handshake timeouts, HTTP/2) with a connection pool sized for the few
// hosts jitbot talks to a lot.
func Transport() *http.Transport {
	t := http.DefaultTransport.(*http.Transport).Clone()
	t.MaxIdleConns = MaxIdleConns
	t.MaxIdleConnsPerHost = MaxIdleConnsPerHost
	t.IdleConnTimeout = IdleConnTimeout
	t.ForceAttemptHTTP2 = true
	return t
}

// NoRedirects returns a client for a service that never redirects: a copy
// of c (nil: a new client with Transport and timeout) that does not follow
// redirects, so a bearer token is never forwarded and a POST never turns
// into a GET; a redirect comes back as the response itself. The caller's
// client is unchanged.
func NoRedirects(c *http.Client, timeout time.Duration) *http.Client {
	if c == nil {
		c = &http.Client{Timeout: timeout, Transport: Transport()}
	}
	hc := *c
	hc.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	return &hc
}
