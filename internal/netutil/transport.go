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
