package main

import (
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"time"

	"github.com/jitbot/jitbot/storage"
)

// The Agents Playground as the README starts it: the npm package, and the
// environment variable that keeps it from sending usage statistics.
const (
	playgroundPackage = "@microsoft/m365agentsplayground"
	playgroundEnv     = "APPLICATION_INSIGHTS_NO_STATSBEAT=true"
	// playgroundConfig is the Playground's configuration of the demo's
	// tenant, team and people; it reads it from its working directory.
	playgroundConfig = ".m365agentsplayground.yml"
	// firstRequest is the first thing to send to the demo.
	firstRequest = "request demo 2m INC-1 trying jitbot"
)

// playgroundPort is the port of the Playground's Bot Connector, the one
// the demo's --service-url names.
func playgroundPort(serviceURL string) (string, error) {
	u, err := url.Parse(serviceURL)
	if err != nil {
		return "", fmt.Errorf("--service-url %q: %w", serviceURL, err)
	}
	if p := u.Port(); p != "" {
		return p, nil
	}
	if u.Scheme == "https" {
		return "443", nil
	}
	return "80", nil
}

// demoBanner is what `jitbot demo` prints once it listens: what runs, how
// to reach it and how to start over.
type demoBanner struct {
	addr     string // the listen address
	database string // the database URL
	// dbFile is the SQLite file, absolute ("" for an in-memory database).
	dbFile         string
	playgroundPort string
	// open is --open-playground; npx is the npx found on PATH (npxErr why
	// not).
	open   bool
	npx    string
	npxErr error
}

// endpoint is the demo's messaging endpoint.
func (b demoBanner) endpoint() string { return "http://" + b.addr + "/api/messages" }

// playgroundArgs are npx's arguments that start the Playground against the
// demo.
func (b demoBanner) playgroundArgs() []string {
	return []string{playgroundPackage, "start", "-e", b.endpoint(), "-c", "msteams", "-p", b.playgroundPort, "--disable-telemetry"}
}

// playgroundCommand is the command line to paste, as in the README.
func (b demoBanner) playgroundCommand() string {
	a := b.playgroundArgs()
	return playgroundEnv + " npx " + strings.Join(a[:2], " ") + " \\\n      " + strings.Join(a[2:], " ")
}

func (b demoBanner) write(w io.Writer) {
	var s strings.Builder
	fmt.Fprintf(&s, "\njitbot demo is running: local mode (no inbound authentication, loopback only), a simulated directory.\n\n")
	fmt.Fprintf(&s, "  messaging endpoint  %s\n", b.endpoint())
	if b.dbFile != "" {
		fmt.Fprintf(&s, "  database            %s (SQLite)\n", b.dbFile)
	} else {
		fmt.Fprintf(&s, "  database            %s (in memory, lost when the demo stops)\n", b.database)
	}
	s.WriteString("\n")
	switch {
	case b.open && b.npx != "":
		fmt.Fprintf(&s, "1. Starting Microsoft's Agents Playground (stopped with the demo):\n\n    %s\n\n   npx installs the Playground the first time (npx --yes); it prints its address\n   (http://localhost:%s) when it is up.\n", b.playgroundCommand(), b.playgroundPort)
	case b.open:
		fmt.Fprintf(&s, "1. --open-playground: npx was not found on PATH. Install Node.js 20 or later (it brings npx,\n   e.g. apt-get install nodejs npm, or https://nodejs.org), then start the Playground yourself:\n\n    %s\n", b.playgroundCommand())
	default:
		fmt.Fprintf(&s, "1. In another terminal, start Microsoft's Agents Playground (Node.js 20 or later),\n   or run the demo with --open-playground:\n\n    %s\n", b.playgroundCommand())
	}
	fmt.Fprintf(&s, "\n   The Playground reads the demo's people from %s: run it in the repository's root.\n\n", playgroundConfig)
	fmt.Fprintf(&s, "2. In the Playground's personal chat, send:\n\n    %s\n\n", firstRequest)
	s.WriteString("3. The approval card appears in the General channel of the Playground's team. The demo lets\n" +
		"   you approve your own request (the card says so); Alex Approver is the demo's real approver\n" +
		"   and may also send `audit` for a report. A minute before the grant ends you are reminded,\n" +
		"   with Extend and I'm done.\n\n")
	if b.dbFile != "" {
		fmt.Fprintf(&s, "Start over: stop the demo (Ctrl-C), then rm %s %s-wal %s-shm\n", b.dbFile, b.dbFile, b.dbFile)
	} else {
		s.WriteString("Start over: stop the demo (Ctrl-C) and start it again.\n")
	}
	s.WriteString("Stop: Ctrl-C. The logs follow on standard error.\n\n")
	_, _ = io.WriteString(w, s.String())
}

// demoFile is the absolute path of the demo's SQLite file ("" for an
// in-memory database).
func demoFile(databaseURL string) string {
	f := storage.SQLiteFile(databaseURL)
	if f == "" {
		return ""
	}
	if abs, err := filepath.Abs(f); err == nil {
		return abs
	}
	return f
}

// lookNpx finds npx on the PATH of getenv.
func lookNpx(getenv func(string) (string, bool)) (string, error) {
	path, _ := getenv("PATH")
	names := []string{"npx"}
	if runtime.GOOS == "windows" {
		names = []string{"npx.cmd", "npx.exe"}
	}
	for _, dir := range filepath.SplitList(path) {
		if dir == "" {
			continue
		}
		for _, n := range names {
			p := filepath.Join(dir, n)
			if fi, err := os.Stat(p); err == nil && fi.Mode().IsRegular() && (runtime.GOOS == "windows" || fi.Mode()&0o111 != 0) {
				return p, nil
			}
		}
	}
	return "", errors.New("npx not found on PATH")
}

// playground is the Agents Playground the demo started.
type playground struct {
	cmd  *exec.Cmd
	done chan struct{}
	// stopping is closed when the demo stops it.
	stopping chan struct{}
}

// startPlayground starts npx with args, its output on out, in the demo's
// working directory, with the PATH of getenv. npx gets --yes first: in its
// own process group it cannot ask on the terminal before it installs the
// Playground the first time, and --open-playground asked for it.
func startPlayground(npx string, args []string, out io.Writer, getenv func(string) (string, bool), logger *slog.Logger) (*playground, error) {
	cmd := exec.Command(npx, append([]string{"--yes"}, args...)...)
	cmd.Stdout, cmd.Stderr = out, out
	cmd.Env = append(os.Environ(), playgroundEnv)
	if path, ok := getenv("PATH"); ok {
		cmd.Env = append(cmd.Env, "PATH="+path)
	}
	if _, err := os.Stat(playgroundConfig); err == nil {
		if abs, err := filepath.Abs(playgroundConfig); err == nil {
			cmd.Env = append(cmd.Env, "M365_AGENTS_PLAYGROUND_CONFIG_PATH="+abs)
		}
	}
	ownProcessGroup(cmd)
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("start %s: %w", npx, err)
	}
	p := &playground{cmd: cmd, done: make(chan struct{}), stopping: make(chan struct{})}
	go func() {
		err := cmd.Wait()
		select {
		case <-p.stopping:
		default:
			// The demo runs on; the banner's command starts it by hand.
			logger.Warn("the Agents Playground exited; start it with the command above", "err", err)
		}
		close(p.done)
	}()
	return p, nil
}

// playgroundStopWait is how long the Playground has to exit after it is
// asked to before it is killed.
const playgroundStopWait = 5 * time.Second

// stop ends the Playground and the processes it started (npx runs node),
// first asking, then killing; a nil p is nothing to stop.
func (p *playground) stop(logger *slog.Logger) {
	if p == nil {
		return
	}
	select {
	case <-p.done:
		return
	default:
	}
	close(p.stopping)
	if err := terminateGroup(p.cmd); err != nil {
		logger.Warn("stop the Agents Playground", "err", err, "pid", strconv.Itoa(p.cmd.Process.Pid))
	}
	select {
	case <-p.done:
	case <-time.After(playgroundStopWait):
		_ = killGroup(p.cmd)
		<-p.done
	}
}
