package main

import (
	"bytes"
	"context"
	"errors"
	"os"
	"path/filepath"
	"regexp"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"
)

func testBanner() demoBanner {
	return demoBanner{addr: "127.0.0.1:3978", database: "sqlite:jitbot-demo.db", dbFile: "/home/riley/jitbot/jitbot-demo.db", playgroundPort: "56150"}
}

// TestDemoBannerGolden: what the demo prints once it listens, plain, with
// --open-playground and npx, and with --open-playground without npx.
func TestDemoBannerGolden(t *testing.T) {
	var out bytes.Buffer
	testBanner().write(&out)
	golden(t, "demo-banner.txt", out.String())

	b := testBanner()
	b.open, b.npx = true, "/usr/bin/npx"
	out.Reset()
	b.write(&out)
	golden(t, "demo-banner-open.txt", out.String())

	b = testBanner()
	b.open, b.npxErr = true, errors.New("npx not found on PATH")
	out.Reset()
	b.write(&out)
	golden(t, "demo-banner-no-npx.txt", out.String())

	b = testBanner()
	b.database, b.dbFile = "sqlite::memory:", ""
	out.Reset()
	b.write(&out)
	if !strings.Contains(out.String(), "sqlite::memory: (in memory, lost when the demo stops)") || strings.Contains(out.String(), "rm ") {
		t.Errorf("in-memory demo banner:\n%s", out.String())
	}
}

// TestDemoBannerCommandIsTheREADMEs: the Playground command of the banner
// is the README's, character for character.
func TestDemoBannerCommandIsTheREADMEs(t *testing.T) {
	readme, err := os.ReadFile(filepath.Join("..", "..", "README.md"))
	if err != nil {
		t.Fatal(err)
	}
	cmd := strings.ReplaceAll(testBanner().playgroundCommand(), "\\\n      ", "\\\n  ")
	if !strings.Contains(string(readme), cmd) {
		t.Errorf("README.md does not show the banner's command:\n%s", cmd)
	}
	if !strings.Contains(string(readme), firstRequest) {
		t.Errorf("README.md does not show %q", firstRequest)
	}
}

// syncBuffer is a bytes.Buffer safe for the demo's writes and the test's
// reads.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// TestDemoOpensPlayground: `jitbot demo --open-playground` prints its
// banner on standard output (the logs stay on standard error), starts the
// npx on PATH with exactly the README's arguments and environment (and
// --yes, as nobody can answer npx's install question), and
// stops it, and what it started, when the demo stops.
func TestDemoOpensPlayground(t *testing.T) {
	if runtime.GOOS == "windows" {
		t.Skip("the fake npx is a shell script")
	}
	dir := t.TempDir()
	// The fake npx records its arguments (one a line), its environment
	// variable and its end; it runs sleep, as npx runs node.
	script := `#!/bin/sh
PATH=/usr/bin:/bin
printf '%s\n' "$@" > ` + dir + `/argv.tmp
printf '%s\n' "$APPLICATION_INSIGHTS_NO_STATSBEAT" > ` + dir + `/env
mv ` + dir + `/argv.tmp ` + dir + `/argv
trap 'echo stopped > ` + dir + `/stopped; exit 0' TERM
while :; do sleep 1; done
`
	if err := os.WriteFile(filepath.Join(dir, "npx"), []byte(script), 0o755); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var stdout, stderr syncBuffer
	done := make(chan int, 1)
	db := filepath.Join(t.TempDir(), "demo.db")
	go func() {
		done <- run(ctx, []string{"demo", "--listen", "127.0.0.1:0", "--database", "sqlite:" + db, "--open-playground"},
			&stdout, &stderr, envOf(map[string]string{"PATH": dir}))
	}()
	waitFor(t, 10*time.Second, "the fake npx to start", func() bool { _, err := os.Stat(filepath.Join(dir, "argv")); return err == nil })

	m := regexp.MustCompile(`messaging endpoint  http://(127\.0\.0\.1:[0-9]+)/api/messages`).FindStringSubmatch(stdout.String())
	if m == nil {
		t.Fatalf("no banner on standard output:\n%s\nstderr:\n%s", stdout.String(), stderr.String())
	}
	addr := m[1]
	argv, _ := os.ReadFile(filepath.Join(dir, "argv"))
	want := "--yes\n@microsoft/m365agentsplayground\nstart\n-e\nhttp://" + addr + "/api/messages\n-c\nmsteams\n-p\n56150\n--disable-telemetry\n"
	if string(argv) != want {
		t.Errorf("npx argv:\n%s\nwant:\n%s", argv, want)
	}
	if env, _ := os.ReadFile(filepath.Join(dir, "env")); string(env) != "true\n" {
		t.Errorf("APPLICATION_INSIGHTS_NO_STATSBEAT = %q, want true", env)
	}
	if out := stdout.String(); !strings.Contains(out, "Starting Microsoft's Agents Playground") || !strings.Contains(out, firstRequest) ||
		!strings.Contains(out, db) || strings.Contains(out, "level=") {
		t.Errorf("banner:\n%s", out)
	}
	if !strings.Contains(stderr.String(), `msg="jitbot listening"`) {
		t.Errorf("the logs are not on standard error:\n%s", stderr.String())
	}

	cancel()
	select {
	case code := <-done:
		if code != 0 {
			t.Fatalf("demo exit %d:\n%s", code, stderr.String())
		}
	case <-time.After(20 * time.Second):
		t.Fatal("the demo did not stop")
	}
	if b, err := os.ReadFile(filepath.Join(dir, "stopped")); err != nil || string(b) != "stopped\n" {
		t.Errorf("the Playground was not stopped with the demo: %v %q", err, b)
	}
}

// TestDemoWithoutNpx: --open-playground without npx on PATH says how to
// install it, and the demo runs on.
func TestDemoWithoutNpx(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var stdout, stderr syncBuffer
	done := make(chan int, 1)
	go func() {
		done <- run(ctx, []string{"demo", "--listen", "127.0.0.1:0", "--database", "sqlite:" + filepath.Join(t.TempDir(), "demo.db"), "--open-playground"},
			&stdout, &stderr, envOf(map[string]string{"PATH": t.TempDir()}))
	}()
	waitFor(t, 10*time.Second, "the banner", func() bool { return strings.Contains(stdout.String(), "Stop: Ctrl-C") })
	if out := stdout.String(); !strings.Contains(out, "npx was not found on PATH. Install Node.js 20 or later") ||
		!strings.Contains(out, "npx @microsoft/m365agentsplayground start") {
		t.Errorf("banner:\n%s", out)
	}
	cancel()
	if code := <-done; code != 0 {
		t.Fatalf("demo exit %d:\n%s", code, stderr.String())
	}
}
