package main

import (
	"strings"
	"testing"
	"time"
)

func TestMetricsListen(t *testing.T) {
	for _, tc := range []struct {
		line, want, err string
	}{
		{"", DefaultMetricsListen, ""},
		{`metrics_listen: ""`, "", ""},
		{`metrics_listen: "0.0.0.0:9464"`, "0.0.0.0:9464", ""},
		{`metrics_listen: "9464"`, "", `metrics_listen: want host:port`},
		{`metrics_listen: ":3978"`, "", `metrics_listen: ":3978" is also listen`},
	} {
		cfg, err := ParseConfig([]byte(validConfig+tc.line+"\n"), testEnv)
		switch {
		case tc.err != "":
			if err == nil || !strings.Contains(err.Error(), tc.err) {
				t.Errorf("%q: error %v, want %q", tc.line, err, tc.err)
			}
		case err != nil:
			t.Errorf("%q: %v", tc.line, err)
		case cfg.metricsListen() != tc.want:
			t.Errorf("%q: metrics on %q, want %q", tc.line, cfg.metricsListen(), tc.want)
		}
	}
}

func TestClockLine(t *testing.T) {
	remote := time.Date(2026, 12, 1, 16, 0, 0, 0, time.UTC)
	for _, tc := range []struct {
		local  time.Time
		result string
		says   string
	}{
		{remote.Add(800 * time.Millisecond), docOK, "within 1s"},
		{remote.Add(-20 * time.Second), docOK, "within 2"},
		{remote.Add(3 * time.Minute), docFail, "ahead of"},
		{remote.Add(-2 * time.Minute), docFail, "behind"},
	} {
		l := clockLine(tc.local, remote)
		if l.result != tc.result || !strings.Contains(l.detail, tc.says) || (l.result == docFail && !strings.Contains(l.String(), "fix: synchronise the clock")) {
			t.Errorf("local %s: %s", tc.local.Sub(remote), l)
		}
	}
}
