package main

import (
	"context"
	"errors"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
)

// TestHealthcheckAgainstTheBinary runs the binary's healthcheck against
// the /healthz of a running jitbot, as the container's HEALTHCHECK does.
func TestHealthcheckAgainstTheBinary(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the binary")
	}
	bin := buildBinary(t)
	env := []string{"PATH=" + os.Getenv("PATH"), "HOME=" + t.TempDir()}
	p := startJitbot(t, bin, env, "demo", "--listen", "127.0.0.1:0", "--database", "sqlite:"+filepath.Join(t.TempDir(), "demo.db"))

	out, err := exec.Command(bin, "healthcheck", "--url", "http://"+p.addr+"/healthz").CombinedOutput()
	if err != nil || !strings.Contains(string(out), "healthy: GET http://"+p.addr+"/healthz: 200 OK") {
		t.Fatalf("healthy jitbot: %v: %s", err, out)
	}
	out, err = exec.Command(bin, "healthcheck", "--url", "http://"+p.addr+"/no-such-endpoint").CombinedOutput()
	var exit *exec.ExitError
	if !errors.As(err, &exit) || exit.ExitCode() != 1 || !strings.Contains(string(out), "404 Not Found") {
		t.Fatalf("unknown endpoint: %v: %s", err, out)
	}
}

func TestHealthcheckFailsUnlessHealthy(t *testing.T) {
	unready := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		w.WriteHeader(http.StatusServiceUnavailable)
		_, _ = w.Write([]byte("database unreachable\nmore detail\n"))
	}))
	defer unready.Close()
	redirect := httptest.NewServer(http.RedirectHandler("/elsewhere", http.StatusFound))
	defer redirect.Close()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	closed := ln.Addr().String()
	_ = ln.Close()

	for _, tc := range []struct {
		name string
		args []string
		want string
	}{
		{"unready", []string{"--url", unready.URL + "/readyz"}, "503 Service Unavailable: database unreachable"},
		{"redirect", []string{"--url", redirect.URL + "/healthz"}, "302 Found"},
		{"nothing listening", []string{"--url", "http://" + closed + "/healthz"}, "connection refused"},
		{"not http", []string{"--url", "ftp://127.0.0.1/healthz"}, "want an http or https URL"},
		{"stray argument", []string{"http://127.0.0.1:3978/healthz"}, "unexpected argument"},
		{"bad timeout", []string{"--timeout", "0s"}, "--timeout must be positive"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			code, out := runCmd(t, nil, append([]string{"healthcheck"}, tc.args...)...)
			if code != 1 || !strings.Contains(out, tc.want) || strings.Contains(out, "healthy:") {
				t.Fatalf("exit %d, want 1 with %q: %s", code, tc.want, out)
			}
		})
	}
}

// TestHealthcheckNamesFailingReadyCheck: asked for /readyz, as compose.yaml's
// health check does, healthcheck fails naming the failing check and its
// error on one line (the container's health log), and passes once ready.
func TestHealthcheckNamesFailingReadyCheck(t *testing.T) {
	var down atomic.Bool
	down.Store(true)
	db := readyCheck{name: "database", check: func(context.Context) error {
		if down.Load() {
			return errors.New("dial tcp 10.0.0.4:5432: connect: connection refused")
		}
		return nil
	}}
	var running atomic.Bool
	running.Store(true)
	srv := httptest.NewServer(healthHandler(nil, []readyCheck{db, schedulerCheck(&running)}))
	defer srv.Close()

	code, out := runCmd(t, nil, "healthcheck", "--url", srv.URL+readyzPath)
	want := "503 Service Unavailable: not ready; database: not ready: dial tcp 10.0.0.4:5432: connect: connection refused; scheduler: ok"
	if code != 1 || !strings.Contains(out, want) || strings.Count(strings.TrimSpace(out), "\n") != 0 {
		t.Fatalf("exit %d, want 1 with %q on one line: %s", code, want, out)
	}
	down.Store(false)
	if code, out := runCmd(t, nil, "healthcheck", "--url", srv.URL+readyzPath); code != 0 || !strings.Contains(out, "healthy: GET "+srv.URL+readyzPath+": 200 OK") {
		t.Fatalf("ready: exit %d: %s", code, out)
	}
}
