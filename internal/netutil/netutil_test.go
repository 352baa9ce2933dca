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

func TestHostAllowed(t *testing.T) {
	list := []string{"smba.trafficmanager.net", "*.teams.microsoft.com", "127.0.0.1"}
	cases := []struct {
		host  string
		local bool
		want  bool
	}{
		{"smba.trafficmanager.net", false, true},
		{"SMBA.trafficmanager.net.", false, true},
		{"evil.smba.trafficmanager.net", false, false},
		{"trafficmanager.net", false, false},
		{"smba.infra.gcc.teams.microsoft.com", false, true},
		{"teams.microsoft.com", false, false},
		{"evilteams.microsoft.com", false, false},
		{"teams.microsoft.com.evil.example", false, false},
		{"127.0.0.1", false, true},
		{"localhost", false, false},
		{"::1", false, false},
		{"", false, false},
		{"localhost", true, true},
		{"127.0.0.1", true, true},
		{"smba.trafficmanager.net", true, false},
	}
	for _, c := range cases {
		if got := HostAllowed(c.host, list, c.local); got != c.want {
			t.Errorf("HostAllowed(%q, local=%v) = %v, want %v", c.host, c.local, got, c.want)
		}
	}
	if HostAllowed("smba.trafficmanager.net", nil, false) {
		t.Error("an empty list allows a host")
	}
	if err := URLHostAllowed("https://evil.example/amer/", list, false); err == nil {
		t.Error("URLHostAllowed allowed evil.example")
	}
	if err := URLHostAllowed("https://smba.trafficmanager.net/amer/", list, false); err != nil {
		t.Error(err)
	}
}

func TestCheckHostPattern(t *testing.T) {
	for _, p := range []string{"smba.trafficmanager.net", "*.example.com", "127.0.0.1", "::1", "localhost"} {
		if err := CheckHostPattern(p); err != nil {
			t.Errorf("%q: %v", p, err)
		}
	}
	for _, p := range []string{"", "*", "*.com", "https://smba.trafficmanager.net", "smba.trafficmanager.net:443", "smba.*.net", "a b", "*.127.0.0.1", "host/path"} {
		if err := CheckHostPattern(p); err == nil {
			t.Errorf("%q accepted", p)
		}
	}
}
