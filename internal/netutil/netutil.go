// Package netutil holds the host rules jitbot applies wherever it decides
// whom to talk to: what counts as this machine (loopback).
//
// It imports nothing of jitbot's and no SDK.
package netutil

import (
	"net"
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
