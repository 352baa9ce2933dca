package netutil

import "testing"

func TestIsLoopback(t *testing.T) {
	for _, h := range []string{"localhost", "LOCALHOST", "localhost.", "127.0.0.1", "127.1.2.3", "::1", "[::1]"} {
		if !IsLoopback(h) {
			t.Errorf("%q is loopback", h)
		}
	}
	for _, h := range []string{"", "localhost.evil.example", "evil.localhost", "10.0.0.1", "0.0.0.0", "::", "example.com", "127.0.0.1.nip.io"} {
		if IsLoopback(h) {
			t.Errorf("%q is not loopback", h)
		}
	}
	for _, h := range []string{"127.0.0.1:3978", "[::1]:80", "localhost:1", "localhost", "[::1]"} {
		if !IsLoopbackHostPort(h) {
			t.Errorf("%q is loopback", h)
		}
	}
	for _, h := range []string{"evil.example:3978", "10.0.0.5:3978", ":3978", "0.0.0.0:1"} {
		if IsLoopbackHostPort(h) {
			t.Errorf("%q is not loopback", h)
		}
	}
}
