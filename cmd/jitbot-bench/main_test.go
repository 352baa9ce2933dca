package main

import (
	"bytes"
	"context"
	"errors"
	"flag"
	"io"
	"net/http"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"
)

// TestBenchEndToEnd builds jitbot, starts it against the fakes and runs
// every scenario briefly: timings are not checked, only that the counts add
// up: every activity sent was accepted, every accepted one got its reply at
// the fake connector, every approval became a membership in the fake Graph,
// and every forged token was refused with 401 and answered nothing.
func TestBenchEndToEnd(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the bot")
	}
	const n = 60
	var stderr bytes.Buffer
	o, err := parseFlags([]string{
		"-scenario", "help,request,approve,status,forged", "-requests", "60",
		"-concurrency", "4", "-duration", "60s", "-drain", "2s", "-work-dir", t.TempDir(),
	}, &stderr)
	if err != nil {
		t.Fatal(err)
	}
	results, err := bench(context.Background(), o, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	if len(results) != 5 {
		t.Fatalf("%d results, want 5", len(results))
	}
	for _, r := range results {
		if r.Requests != n {
			t.Errorf("%s: %d requests sent, want %d", r.Scenario, r.Requests, n)
		}
		if r.Errors != 0 || r.Accepted != n {
			t.Errorf("%s: %d accepted, %d errors (statuses %v)", r.Scenario, r.Accepted, r.Errors, r.Status)
		}
		if r.PeakRSS <= 0 {
			t.Errorf("%s: peak RSS %d: the bot's /proc was not read", r.Scenario, r.PeakRSS)
		}
		if r.P50 <= 0 || r.P99 < r.P50 {
			t.Errorf("%s: p50 %v, p99 %v", r.Scenario, r.P50, r.P99)
		}
		switch r.Scenario {
		case "forged":
			if r.Status[http.StatusUnauthorized] != n || r.Replies != 0 {
				t.Errorf("forged: statuses %v, %d replies; want all %d refused with 401 and no reply", r.Status, r.Replies, n)
			}
		default:
			if r.Status[http.StatusOK] != n || r.Replies != n {
				t.Errorf("%s: statuses %v, %d replies; want %d answered and replied to", r.Scenario, r.Status, r.Replies, n)
			}
		}
		if r.Scenario == "approve" && r.Granted != n {
			t.Errorf("approve: %d requesters are members of the group, want %d", r.Granted, n)
		}
	}
	var table bytes.Buffer
	printTable(&table, results)
	lines := strings.Split(strings.TrimSpace(table.String()), "\n")
	if len(lines) != 6 || !strings.Contains(lines[0], "peak RSS MiB") || !strings.Contains(lines[5], "forged") {
		t.Errorf("table:\n%s", table.String())
	}
}

// TestPercentile checks the nearest-rank percentiles the table prints.
func TestPercentile(t *testing.T) {
	var d []time.Duration
	for i := 1; i <= 200; i++ {
		d = append(d, time.Duration(i)*time.Millisecond)
	}
	if got := percentile(d, 50); got != 100*time.Millisecond {
		t.Errorf("p50 = %v", got)
	}
	if got := percentile(d, 99); got != 198*time.Millisecond {
		t.Errorf("p99 = %v", got)
	}
	if got := percentile(d[:1], 99); got != time.Millisecond {
		t.Errorf("p99 of one = %v", got)
	}
	if got := percentile(nil, 50); got != 0 {
		t.Errorf("p50 of none = %v", got)
	}
}

// TestFlags checks the help and the refusal of bad command lines.
func TestFlags(t *testing.T) {
	var out bytes.Buffer
	err := run(context.Background(), []string{"-help"}, io.Discard, &out)
	if !errors.Is(err, flag.ErrHelp) || !strings.Contains(out.String(), "Scenarios") || !strings.Contains(out.String(), "-concurrency") {
		t.Fatalf("help: %v\n%s", err, out.String())
	}
	for _, args := range [][]string{
		{"-scenario", "help,nope"},
		{"-concurrency", "0"},
		{"-pid", "1"},
		{"-url", "http://127.0.0.1:3978"},
		{"-url", "http://127.0.0.1:3978", "-write-config", "x.yaml", "-bin", "jitbot"},
		{"-url", "http://127.0.0.1:3978", "-write-config", "x.yaml", "-bot-cpus", "0"},
		{"-url", "http://127.0.0.1:3978", "-write-config", "x.yaml", "-bot-cpuprofile", "cpu.prof"},
		{"-url", "http://127.0.0.1:3978", "-write-config", "x.yaml", "-bot-memprofile", "heap.prof"},
		{"-pid-file", "bot.pid"},
		{"-url", "http://127.0.0.1:3978", "-write-config", "x.yaml", "-pid", "1", "-pid-file", "bot.pid"},
		{"extra"},
		{"-scenario", "expiry,help"},
		{"-scenario", "restart", "-grants", "10", "-overdue", "11"},
		{"-scenario", "expiry", "-url", "http://127.0.0.1:3978", "-write-config", "x.yaml"},
		{"-write-quota", "-1"},
		{"-scenario", "trickle", "-trickle-rate", "0"},
		{"-scenario", "trickle,help"},
	} {
		if _, err := parseFlags(args, io.Discard); err == nil {
			t.Errorf("%q accepted", args)
		}
	}
}

// TestBenchMixed runs the forged flood and the legitimate senders at the
// same time: every forged token is refused with 401 and answered nothing,
// every legitimate activity is accepted and answered.
func TestBenchMixed(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the bot")
	}
	const n = 30
	o, err := parseFlags([]string{
		"-scenario", "mixed,help", "-requests", "30", "-concurrency", "4", "-mixed-rate", "100", "-mixed-senders", "2",
		"-duration", "60s", "-drain", "2s", "-work-dir", t.TempDir(),
	}, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	results, err := bench(context.Background(), o, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	if len(results) != 3 || results[0].Scenario != "mixed-help" || results[1].Scenario != "mixed-forged" || results[2].Scenario != "help" {
		t.Fatalf("results %+v", results)
	}
	for _, r := range []result{results[0], results[2]} {
		if r.Requests != n || r.Status[http.StatusOK] != n || r.Replies != n {
			t.Errorf("%s: %d sent, statuses %v, %d replies; want %d accepted and answered", r.Scenario, r.Requests, r.Status, r.Replies, n)
		}
	}
	if f := results[1]; f.Requests != n || f.Status[http.StatusUnauthorized] != n || f.Replies != 0 {
		t.Errorf("mixed-forged: %d sent, statuses %v, %d replies; want all %d refused with 401 and no reply", f.Requests, f.Status, f.Replies, n)
	}
}

// TestReadPIDFile reads the attached bot's process id, and refuses a file
// that holds none or names no running process.
func TestReadPIDFile(t *testing.T) {
	dir := t.TempDir()
	file := dir + "/pid"
	for content, ok := range map[string]bool{strconv.Itoa(os.Getpid()) + "\n": true, "": false, "node": false, "-1": false, "999999999": false} {
		if err := os.WriteFile(file, []byte(content), 0o600); err != nil {
			t.Fatal(err)
		}
		pid, err := readPIDFile(file)
		if ok && (err != nil || pid != os.Getpid()) {
			t.Errorf("%q: pid %d, %v; want %d", content, pid, err, os.Getpid())
		}
		if !ok && err == nil {
			t.Errorf("%q accepted as pid %d", content, pid)
		}
	}
	if _, err := readPIDFile(dir + "/missing"); err == nil {
		t.Error("a missing pid file accepted")
	}
}

// TestReadProc reads this process's own CPU time and peak RSS.
func TestReadProc(t *testing.T) {
	s, err := readProc(os.Getpid())
	if err != nil {
		t.Fatal(err)
	}
	if s.peakRSS < 1<<20 {
		t.Errorf("peak RSS %d bytes", s.peakRSS)
	}
}

// TestReadMachine reads the machine's CPU times twice, with work between:
// the total grows, and the share stolen is a share.
func TestReadMachine(t *testing.T) {
	a, err := readMachine()
	if err != nil {
		t.Fatal(err)
	}
	for start := time.Now(); time.Since(start) < 50*time.Millisecond; {
	}
	b, err := readMachine()
	if err != nil {
		t.Fatal(err)
	}
	if b.total <= a.total || a.steal > a.total {
		t.Errorf("CPU ticks %+v, then %+v", a, b)
	}
	if s := stealShare(a, b); s < 0 || s > 1 {
		t.Errorf("steal share %v", s)
	}
	if s := stealShare(machineStats{total: 100, steal: 1}, machineStats{total: 300, steal: 51}); s != 0.25 {
		t.Errorf("steal share of 50 ticks in 200: %v, want 0.25", s)
	}
}

// TestBenchThrottledGraph runs approvals while the fake Graph throttles:
// Graph answers 429 with Retry-After, and still every approval ends as a
// membership and a notice to its requester.
func TestBenchThrottledGraph(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the bot")
	}
	const n = 30
	o, err := parseFlags([]string{
		"-scenario", "approve", "-requests", "30", "-concurrency", "4", "-duration", "60s",
		"-graph-limit", "5", "-graph-retry-after", "1s", "-drain", "20s", "-work-dir", t.TempDir(),
	}, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	results, err := bench(context.Background(), o, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	r := results[0]
	if r.Requests != n || r.Errors != 0 || r.Replies != n || r.Granted != n {
		t.Errorf("approve: %d sent, %d errors (%v), %d replies, %d granted; want %d, 0, %d, %d", r.Requests, r.Errors, r.Status, r.Replies, r.Granted, n, n, n)
	}
	if r.Graph429 == 0 {
		t.Errorf("Graph never throttled (%d calls)", r.GraphCalls)
	}
}

// runExpiryBench runs the expiry scenarios of args in a work directory of
// the test's and wants n results.
func runExpiryBench(t *testing.T, n int, args ...string) []expiryResult {
	t.Helper()
	o, err := parseFlags(append(args, "-work-dir", t.TempDir()), io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	results, err := benchExpiry(context.Background(), o, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	if len(results) != n {
		t.Fatalf("%d results, want %d", len(results), n)
	}
	return results
}

// TestBenchExpiry seeds grants that fall due in the same second, with
// Graph answering 429 to every third member call, and checks the counts:
// every due grant revoked, no membership removed twice, every requester
// told; then a restart with overdue grants among active ones.
func TestBenchExpiry(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the bot")
	}
	results := runExpiryBench(t, 2,
		"-scenario", "expiry,restart", "-grants", "150", "-overdue", "40", "-throttle-every", "3",
		"-graph-retry-after", "1s", "-revoke-backoff", "1s", "-duration", "60s", "-drain", "2s")
	for _, r := range results {
		want := 150
		if r.Scenario == "restart" {
			want = 40
		}
		if r.Due != want || r.Lost != 0 || r.Duplicates != 0 || r.Told != want {
			t.Errorf("%s: %d due, %d lost, %d removed twice, %d told; want %d, 0, 0, %d", r.Scenario, r.Due, r.Lost, r.Duplicates, r.Told, want, want)
		}
		if r.Graph429 == 0 || r.Batches == 0 || r.Requests <= r.Batches {
			t.Errorf("%s: %d requests in %d batches, %d answered 429: Graph was not throttled or nothing was batched", r.Scenario, r.Requests, r.Batches, r.Graph429)
		}
		if r.PeakRSS <= 0 || r.Ready <= 0 {
			t.Errorf("%s: RSS %d, ready after %v", r.Scenario, r.PeakRSS, r.Ready)
		}
	}
	var table bytes.Buffer
	printExpiryTable(&table, results)
	if lines := strings.Split(strings.TrimSpace(table.String()), "\n"); len(lines) != 3 || !strings.Contains(lines[0], "duplicates") || !strings.Contains(lines[0], "late max") {
		t.Errorf("table:\n%s", table.String())
	}
}

// TestBenchTrickle seeds grants that fall due one after another while the
// bot runs and checks the counts only: every due grant revoked once, every
// requester told, each removal's lateness measured from its own due time.
func TestBenchTrickle(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the bot")
	}
	const n = 40
	r := runExpiryBench(t, 1,
		"-scenario", "trickle", "-trickle-rate", "20", "-duration", "2s", "-graph-latency", "5ms",
		"-drain", "2s")[0]
	if r.Grants != n || r.Due != n || r.Lost != 0 || r.Duplicates != 0 || r.Told != n {
		t.Errorf("trickle: %d grants, %d due, %d lost, %d removed twice, %d told; want %d, %d, 0, 0, %d", r.Grants, r.Due, r.Lost, r.Duplicates, r.Told, n, n, n)
	}
	// The removals follow the due times, 2 s apart from the first to the
	// last: a span shorter than that would mean a lateness counted from
	// the wrong due time.
	if r.Span < 1900*time.Millisecond || r.Max < r.P99 || r.P99 < r.P50 {
		t.Errorf("trickle: due to last %v, lateness p50 %v, p99 %v, max %v", r.Span, r.P50, r.P99, r.Max)
	}
	if r.PeakRSS <= 0 || r.CPU <= 0 {
		t.Errorf("trickle: RSS %d, CPU %v", r.PeakRSS, r.CPU)
	}
}
