// Command jitbot-bench is jitbot's load tool. It starts fakes of the
// Microsoft endpoints the bot talks to (the Bot Framework's OpenID metadata
// and keys, Entra ID's token endpoint, the Bot Connector and Microsoft
// Graph, all over TLS), starts `jitbot serve` against them (or attaches to a
// bot already running with the configuration it writes), sends real signed
// activities at a fixed rate or as fast as N senders can, and prints, per
// scenario, the throughput, the p50 and p99 latency, the errors, the replies
// the fake connector received and the bot's CPU time and peak RSS.
//
// Scenarios: help (the text command), request (a one-line request: a stored
// pending request, an approval card and the "request received" card),
// approve (an approver's Approve invoke on a pending request: the decision,
// the Graph add and the answered card), status (the status card) and forged
// (activities whose tokens are forged in six ways: every one must be refused
// with 401 and answered nothing).
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net/url"
	"os"
	"os/signal"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"time"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, os.Args[1:], os.Stdout, os.Stderr); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			os.Exit(0)
		}
		fmt.Fprintln(os.Stderr, "jitbot-bench:", err)
		os.Exit(1)
	}
}

// options are the command line.
type options struct {
	scenarios   []string
	concurrency int
	duration    time.Duration
	rate        float64
	requests    int
	bin         string
	botCPUs     string
	url         string
	pid         int
	writeConfig string
	database    string
	workDir     string
	approvePool int
	graph       graphOptions
	drain       time.Duration
	cpuProfile  string
	memProfile  string
	pidFile     string
	// mixedRate and mixedSenders shape the legitimate stream of the mixed
	// scenario.
	mixedRate    float64
	mixedSenders int
	// The expiry scenarios: grants seeded, of which overdue (restart),
	// and the bot's revoke.concurrency and write_quota (writes per
	// window; 0 turns pacing off).
	grants         int
	overdue        int
	botConcurrency int
	botBackoff     time.Duration
	botWriteQuota  int
	botWriteWindow time.Duration
	// trickleRate is the grants falling due per second in the trickle
	// scenario.
	trickleRate float64
}

// botConfig is the part of the bot's jitbot.yaml the options set.
func (o options) botConfig() string {
	var b strings.Builder
	if o.botConcurrency > 0 || o.botBackoff > 0 {
		b.WriteString("revoke:\n")
		if o.botConcurrency > 0 {
			fmt.Fprintf(&b, "  concurrency: %d\n", o.botConcurrency)
		}
		if o.botBackoff > 0 {
			fmt.Fprintf(&b, "  backoff: %s\n  backoff_max: %s\n", o.botBackoff, max(o.botBackoff, 30*time.Minute))
		}
	}
	if o.botWriteQuota > 0 {
		fmt.Fprintf(&b, "write_quota:\n  writes: %d\n  window: %s\n", o.botWriteQuota, o.botWriteWindow)
	} else {
		b.WriteString("write_quota:\n  disabled: true\n")
	}
	return b.String()
}

const usageText = `Usage: jitbot-bench [flags]

Starts fakes of the Bot Framework OpenID metadata and keys, Entra ID's token
endpoint, the Bot Connector and Microsoft Graph (all over TLS), starts
"jitbot serve" against them, sends signed activities and prints a table per
scenario: requests, req/s, p50, p99, errors, replies delivered at the fake
connector, Graph calls and 429s, the bot's CPU seconds and peak RSS.

Scenarios (-scenario, comma-separated, run in order):
  help     the text command "help"
  request  a one-line request from a new requester each time
  approve  an approver's Approve click on a pending request (the requests
           are made first, unmeasured; at most -approve-pool of them)
  status   the "status" command, first by the requesters of an earlier
           request scenario (the card must name their request)
  forged   activities with forged tokens, in turn: an unpublished key, alg
           none, HS256 with the public key, another audience, expired,
           another issuer (every one must get 401 and no reply)
  mixed    the forged flood from -concurrency senders and, at the same time,
           help at -mixed-rate from -mixed-senders legitimate senders: two
           lines, mixed-help (its latency and the bot's CPU and RSS) and
           mixed-forged
  expiry   -grants active grants, seeded before the bot starts, all falling
           due in the same second a few seconds after it started: time from
           due to the last removal, lateness p50/p99, Graph calls and 429s,
           duplicates (a membership removed twice) and losses (a due grant
           not revoked)
  restart  -grants active grants of which -overdue are overdue when the bot
           starts: start-up to ready, time to revoke the overdue ones, RSS
  trickle  grants falling due at a steady -trickle-rate per second over
           -duration, the bot running: each removal's lateness after its
           own due time (p50, p99, max), duplicates, losses, told, CPU, RSS
The expiry scenarios start a bot of their own and run alone (not with
the others); -duration bounds the wait for the removals (trickle: it is
the span of the due times, and the wait ends 30 s after the last; a removal
that failed is tried again after the bot's revoke.backoff, 30 s). -throttle-every 3 has Graph answer 429 to every third
member call, -graph-write-quota enforces a write quota like Graph's, and
-write-quota sets the bot's own pacing (0: off).

Each scenario runs for -duration or -requests activities, whichever ends
first, with -concurrency senders as fast as they can, or at -rate activities
per second (latency is then measured from the scheduled send time).

Example:
  go run ./cmd/jitbot-bench -scenario help,request,approve,status,forged -concurrency 32 -duration 10s

Flags:
`

// parseFlags reads the command line.
func parseFlags(args []string, stderr io.Writer) (options, error) {
	var o options
	fs := flag.NewFlagSet("jitbot-bench", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() {
		fmt.Fprint(fs.Output(), usageText)
		fs.PrintDefaults()
	}
	scenarios := fs.String("scenario", "help", "scenarios to run, comma-separated: "+strings.Join(scenarioNames, ", "))
	fs.IntVar(&o.concurrency, "concurrency", 8, "concurrent senders")
	fs.DurationVar(&o.duration, "duration", 10*time.Second, "how long each scenario runs")
	fs.Float64Var(&o.rate, "rate", 0, "activities per second (0: as fast as the senders can)")
	fs.IntVar(&o.requests, "requests", 0, "stop each scenario after this many activities (0: no limit)")
	fs.StringVar(&o.bin, "bin", "", "the jitbot binary to start (default: build ./cmd/jitbot)")
	fs.StringVar(&o.botCPUs, "bot-cpus", "", `pin the bot to these CPUs (a taskset list, e.g. "0"); run the tool itself under "taskset -c 1" to keep the load off them`)
	fs.StringVar(&o.url, "url", "", "attach to a running bot at this base URL instead of starting one (start it with the -write-config file and -write-env variables)")
	fs.IntVar(&o.pid, "pid", 0, "with -url: the bot's process id, for its CPU and RSS")
	fs.StringVar(&o.writeConfig, "write-config", "", "with -url: write the bot's jitbot.yaml here, and its environment to the same path with .env, then wait for the bot")
	fs.StringVar(&o.database, "database", "", "the bot's database (default: a new SQLite file in the work directory)")
	fs.StringVar(&o.workDir, "work-dir", "", "where the config, database and bot log go (default: a new temporary directory, removed at the end)")
	fs.IntVar(&o.approvePool, "approve-pool", 500, "pending requests made before the approve scenario")
	fs.DurationVar(&o.graph.latency, "graph-latency", 0, "delay of every Graph answer")
	fs.IntVar(&o.graph.limit, "graph-limit", 0, "Graph calls served per sliding second before it answers 429 with Retry-After (0: never)")
	fs.DurationVar(&o.graph.retryAfter, "graph-retry-after", time.Second, "Retry-After of Graph's 429 answers")
	fs.DurationVar(&o.drain, "drain", 5*time.Second, "how long to wait after a scenario for replies still on their way")
	fs.Float64Var(&o.mixedRate, "mixed-rate", 200, "mixed: legitimate help activities per second during the forged flood")
	fs.IntVar(&o.mixedSenders, "mixed-senders", 8, "mixed: legitimate senders during the forged flood")
	fs.StringVar(&o.pidFile, "pid-file", "", "with -url: read the bot's process id from this file once it answers (instead of -pid)")
	fs.StringVar(&o.cpuProfile, "bot-cpuprofile", "", "the bot writes a CPU profile of the whole run to this file (its --cpuprofile)")
	fs.StringVar(&o.memProfile, "bot-memprofile", "", "the bot writes a heap profile to this file when it stops (its --memprofile)")
	fs.IntVar(&o.grants, "grants", 1000, "expiry, restart: active grants seeded before the bot starts")
	fs.IntVar(&o.overdue, "overdue", 100, "restart: how many of the grants are overdue when the bot starts")
	fs.IntVar(&o.botConcurrency, "concurrency-revoke", 0, "the bot's revoke.concurrency (0: its default)")
	fs.DurationVar(&o.botBackoff, "revoke-backoff", 0, "the bot's revoke.backoff, the wait after a failed removal (0: its default, 30s)")
	fs.IntVar(&o.botWriteQuota, "write-quota", 0, "the bot's write_quota.writes per -write-window (0: pacing off)")
	fs.DurationVar(&o.botWriteWindow, "write-window", 150*time.Second, "the bot's write_quota.window")
	fs.Float64Var(&o.trickleRate, "trickle-rate", 20, "trickle: grants falling due per second")
	fs.IntVar(&o.graph.throttleEvery, "throttle-every", 0, "Graph answers 429 to every n-th member call, alone or in a batch (0: never)")
	fs.IntVar(&o.graph.writeQuota, "graph-write-quota", 0, "Graph carries out at most this many writes per -graph-write-window, answering 429 beyond (0: no quota)")
	fs.DurationVar(&o.graph.writeWindow, "graph-write-window", 150*time.Second, "the window of -graph-write-quota")
	if err := fs.Parse(args); err != nil {
		return o, err
	}
	if fs.NArg() > 0 {
		return o, fmt.Errorf("unexpected argument %q (see -help)", fs.Arg(0))
	}
	expiry := 0
	for _, s := range strings.Split(*scenarios, ",") {
		s = strings.TrimSpace(s)
		if !validScenario(s) && !isExpiryScenario(s) {
			return o, fmt.Errorf("unknown scenario %q (one of %s)", s, strings.Join(append(slices.Clone(scenarioNames), expiryScenarios...), ", "))
		}
		if isExpiryScenario(s) {
			expiry++
		}
		o.scenarios = append(o.scenarios, s)
	}
	switch {
	case expiry > 0 && expiry < len(o.scenarios):
		return o, errors.New("the expiry scenarios (" + strings.Join(expiryScenarios, ", ") + ") run alone, not with the others")
	case expiry > 0 && o.url != "":
		return o, errors.New("the expiry scenarios start a bot of their own: no -url")
	case o.grants < 1 || o.overdue < 1 || o.overdue > o.grants:
		return o, errors.New("-grants must be at least 1, -overdue between 1 and -grants")
	case o.trickleRate <= 0 || o.trickleRate > 1000:
		return o, errors.New("-trickle-rate must be above 0 and at most 1000 a second")
	case o.botBackoff != 0 && o.botBackoff < time.Second:
		return o, errors.New("-revoke-backoff must be at least 1s")
	case o.botWriteQuota < 0 || o.graph.throttleEvery < 0 || o.graph.writeQuota < 0 || o.botWriteWindow < time.Second || o.graph.writeWindow < time.Second:
		return o, errors.New("-write-quota, -throttle-every and -graph-write-quota must not be negative, the windows at least 1s")
	}
	switch {
	case o.concurrency < 1:
		return o, errors.New("-concurrency must be at least 1")
	case o.duration <= 0:
		return o, errors.New("-duration must be positive")
	case o.mixedRate <= 0 || o.mixedSenders < 1:
		return o, errors.New("-mixed-rate must be positive and -mixed-senders at least 1")
	case o.rate < 0 || o.requests < 0 || o.approvePool < 1 || o.graph.limit < 0 || o.graph.latency < 0:
		return o, errors.New("-rate, -requests and the Graph options must not be negative; -approve-pool at least 1")
	case o.url == "" && (o.pid != 0 || o.writeConfig != "" || o.pidFile != ""):
		return o, errors.New("-pid, -pid-file and -write-config go with -url")
	case o.pid != 0 && o.pidFile != "":
		return o, errors.New("-pid and -pid-file: give one")
	case o.url != "" && o.writeConfig == "":
		return o, errors.New("-url needs -write-config: the bot must be started against this run's fakes")
	case o.url != "" && (o.bin != "" || o.botCPUs != "" || o.cpuProfile != "" || o.memProfile != ""):
		return o, errors.New("-bin, -bot-cpus, -bot-cpuprofile and -bot-memprofile go with a bot the tool starts, not with -url")
	}
	return o, nil
}

// run is the command: parse, set up, run the scenarios, print the table.
func run(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	o, err := parseFlags(args, stderr)
	if err != nil {
		return err
	}
	if isExpiryScenario(o.scenarios[0]) {
		results, err := benchExpiry(ctx, o, stderr)
		if len(results) > 0 {
			printExpiryTable(stdout, results)
		}
		return err
	}
	results, err := bench(ctx, o, stderr)
	if len(results) > 0 {
		printTable(stdout, results)
	}
	return err
}

// benchExpiry runs the expiry scenarios of o, each with a bot of its own.
func benchExpiry(ctx context.Context, o options, logw io.Writer) ([]expiryResult, error) {
	log := slog.New(slog.NewTextHandler(logw, &slog.HandlerOptions{Level: slog.LevelInfo}))
	if o.bin == "" {
		dir, err := os.MkdirTemp("", "jitbot-bench-build-")
		if err != nil {
			return nil, fmt.Errorf("build directory: %w", err)
		}
		defer os.RemoveAll(dir)
		log.Info("building jitbot")
		if o.bin, err = buildBot(ctx, dir); err != nil {
			return nil, err
		}
	}
	var out []expiryResult
	for _, name := range o.scenarios {
		log.Info("scenario", "name", name)
		r, err := runExpiry(ctx, o, name, log)
		if err != nil {
			return out, fmt.Errorf("scenario %s: %w", name, err)
		}
		out = append(out, r)
	}
	return out, nil
}

// bench runs the scenarios of o and returns their results.
func bench(ctx context.Context, o options, logw io.Writer) ([]result, error) {
	log := slog.New(slog.NewTextHandler(logw, &slog.HandlerOptions{Level: slog.LevelInfo}))
	dir := o.workDir
	if dir == "" {
		d, err := os.MkdirTemp("", "jitbot-bench-")
		if err != nil {
			return nil, fmt.Errorf("work directory: %w", err)
		}
		defer os.RemoveAll(d)
		dir = d
	} else if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("work directory: %w", err)
	}
	f, err := startFakes(dir, o.graph)
	if err != nil {
		return nil, err
	}
	defer f.close()
	database := o.database
	if database == "" {
		database = "sqlite:" + filepath.Join(dir, "jitbot.db")
	}
	listen := "127.0.0.1:0"
	if o.url != "" {
		u, err := url.Parse(o.url)
		if err != nil || u.Scheme != "http" || u.Host == "" {
			return nil, fmt.Errorf("-url %q: want http://host:port", o.url)
		}
		listen = u.Host
	}
	config := f.config(listen, database) + o.botConfig()

	var botURL string
	pid := o.pid
	if o.url == "" {
		bin := o.bin
		if bin == "" {
			log.Info("building jitbot")
			if bin, err = buildBot(ctx, dir); err != nil {
				return nil, err
			}
		}
		cfgFile := filepath.Join(dir, "jitbot.yaml")
		if err := os.WriteFile(cfgFile, []byte(config), 0o600); err != nil {
			return nil, fmt.Errorf("write config: %w", err)
		}
		p, err := startBot(bin, cfgFile, filepath.Join(dir, "jitbot.log"), f.env(dir), o.botCPUs, o.cpuProfile, o.memProfile)
		if err != nil {
			return nil, err
		}
		defer p.stop()
		botURL, pid = "http://"+p.addr, p.cmd.Process.Pid
		log.Info("jitbot started", "addr", p.addr, "pid", pid, "log", p.log)
	} else {
		if err := writeAttachFiles(o.writeConfig, config, append(f.env(filepath.Dir(o.writeConfig)), f.sdkEnv()...)); err != nil {
			return nil, err
		}
		log.Info("waiting for the bot; start it against this run's fakes", "command", "env $(cat "+o.writeConfig+".env) jitbot serve --config "+o.writeConfig, "url", o.url)
		botURL = strings.TrimRight(o.url, "/")
		if err := waitForBot(ctx, botURL); err != nil {
			return nil, err
		}
		if o.pidFile != "" {
			if pid, err = readPIDFile(o.pidFile); err != nil {
				return nil, err
			}
		}
	}

	l := newLoad(f, botURL, o)
	var results []result
	for _, name := range o.scenarios {
		if err := ctx.Err(); err != nil {
			return results, err
		}
		log.Info("scenario", "name", name)
		if name == "mixed" {
			rs, err := l.runMixed(ctx, pid)
			if err != nil {
				return results, fmt.Errorf("scenario %s: %w", name, err)
			}
			results = append(results, rs...)
			continue
		}
		r, err := l.run(ctx, name, pid)
		if err != nil {
			return results, fmt.Errorf("scenario %s: %w", name, err)
		}
		results = append(results, r)
	}
	return results, nil
}

// writeAttachFiles writes the config and the environment a bot started by
// hand needs; the listen address is left for the user to set.
func writeAttachFiles(path, config string, env []string) error {
	if err := os.WriteFile(path, []byte(config), 0o600); err != nil {
		return fmt.Errorf("write config: %w", err)
	}
	var vars []string
	for _, e := range env {
		if !strings.HasPrefix(e, "PATH=") && !strings.HasPrefix(e, "HOME=") {
			vars = append(vars, e)
		}
	}
	if err := os.WriteFile(path+".env", []byte(strings.Join(vars, "\n")+"\n"), 0o600); err != nil {
		return fmt.Errorf("write environment: %w", err)
	}
	return nil
}
