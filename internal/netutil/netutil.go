// Package netutil holds the host rules jitbot applies wherever it decides
// whom to talk to: what counts as this machine (loopback), and whether a host
// is on a configured list of host names; and the HTTP transport of every
// client jitbot keeps to an outside service.
//
// It imports nothing of jitbot's and no SDK.
package netutil

import (
	"errors"
	"fmt"
	"net"
	"net/url"
	"strings"
)

// IsLoopback reports whether host (a name or an address, without a port;
// an IPv6 address may be in brackets) is "localhost" or a loopback address
// (127.0.0.0/8, ::1).
func IsLoopback(host string) bool {
	host = normalize(host)
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// IsLoopbackHostPort is IsLoopback for a "host:port" or a bare host, as in
// an HTTP Host header or a listen address.
func IsLoopbackHostPort(hostport string) bool {
	if host, _, err := net.SplitHostPort(hostport); err == nil {
		return IsLoopback(host)
	}
	return IsLoopback(hostport)
}

// normalize lower-cases host and drops IPv6 brackets and a trailing dot.
func normalize(host string) string {
	host = strings.ToLower(strings.TrimSpace(host))
	host = strings.TrimSuffix(strings.TrimPrefix(host, "["), "]")
	return strings.TrimSuffix(host, ".")
}

// CheckHostPattern reports whether p is a usable entry of a host list: a host
// name or IP address, or "*." followed by a host name (which matches every
// sub-domain of that name, not the name itself). Ports, schemes, paths and
// other wildcards are refused.
func CheckHostPattern(p string) error {
	h := normalize(p)
	name, wildcard := strings.CutPrefix(h, "*.")
	switch {
	case h == "":
		return errors.New("empty host")
	case strings.ContainsAny(name, "*/:@?#% ") && net.ParseIP(name) == nil:
		return fmt.Errorf("%q is not a host name (write host names only, e.g. smba.trafficmanager.net or *.example.com)", p)
	case wildcard && (net.ParseIP(name) != nil || !strings.Contains(name, ".")):
		return fmt.Errorf("%q: a wildcard needs a domain with at least two labels after it", p)
	}
	return nil
}

// HostAllowed reports whether host may be talked to. In local mode only
// loopback hosts are allowed, whatever the list. Otherwise host must be on
// the list: an entry matches the host itself (case-insensitive) or, written
// "*.example.com", any sub-domain of example.com. A loopback host is allowed
// outside local mode only when the list names it exactly.
func HostAllowed(host string, list []string, local bool) bool {
	host = normalize(host)
	if host == "" {
		return false
	}
	if local {
		return IsLoopback(host)
	}
	for _, p := range list {
		p = normalize(p)
		if p == host {
			return true
		}
		if suffix, ok := strings.CutPrefix(p, "*"); ok && strings.HasPrefix(suffix, ".") &&
			strings.HasSuffix(host, suffix) && len(host) > len(suffix) && !IsLoopback(host) {
			return true
		}
	}
	return false
}

// URLHostAllowed is HostAllowed for the host of an absolute URL; it reports
// an error naming the URL when the host is not allowed.
func URLHostAllowed(raw string, list []string, local bool) error {
	u, err := url.Parse(raw)
	if err != nil {
		return fmt.Errorf("parse %q: %w", raw, err)
	}
	if u.Host == "" {
		return fmt.Errorf("%q has no host", raw)
	}
	if HostAllowed(u.Hostname(), list, local) {
		return nil
	}
	if local {
		return fmt.Errorf("host of %q is not a loopback address (local mode talks to this machine only)", raw)
	}
	return fmt.Errorf("host of %q is not in the allowed hosts %v", raw, list)
}
