// Command jitbot is a Microsoft Teams bot for just-in-time access: responders
// ask for temporary membership of an Entra ID group, approvers decide on an
// Adaptive Card, and the bot grants the membership and removes it at expiry.
//
// Subcommands: serve (production, jitbot.yaml), demo (everything on one
// machine with no Azure account), manifest (the Teams app package), audit
// (verify and sign the tamper-evident audit log, export it), config check
// (validate jitbot.yaml, and the groups and channels it names), healthcheck
// (the container's probe of a running jitbot), version and help. The
// command table and the help every command's flag set prints are in
// cli.go; exit status 0 is success, 1 failure, 2 a usage error.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
	// The requesters' time zones (scheduled starts) are read with the
	// IANA database built in, so that a host or image without one reads
	// them the same.
	_ "time/tzdata"

	"github.com/google/uuid"

	"github.com/jitbot/jitbot/access"
	"github.com/jitbot/jitbot/api"
	"github.com/jitbot/jitbot/bot"
	"github.com/jitbot/jitbot/metrics"
	"github.com/jitbot/jitbot/storage"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := run(ctx, os.Args[1:], os.Stdout, os.Stderr, os.LookupEnv)
	stop()
	os.Exit(code)
}

func run(ctx context.Context, args []string, stdout, stderr io.Writer, getenv func(string) (string, bool)) int {
	if len(args) == 0 {
		writeUsage(stderr)
		return exitUsage
	}
	switch {
	case isHelpArg(args[0]):
		args = append([]string{"help"}, args[1:]...)
	case args[0] == "--version" || args[0] == "-version":
		args = append([]string{"version"}, args[1:]...)
	}
	env := cliEnv{stdout: stdout, stderr: stderr, getenv: getenv,
		logger: slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: slog.LevelInfo}))}
	return exitStatus(runCommand(ctx, env, args), stderr)
}

// runCommand runs the command args name, or answers for a group of
// subcommands (audit, config) that was given none or asked for help.
func runCommand(ctx context.Context, env cliEnv, args []string) error {
	c, ok := lookupCommand(args[0])
	if !ok || c.run == nil {
		return unknownCommand(args[0])
	}
	if subs := subcommands(c.name); subs != nil {
		switch {
		case len(args) == 1:
			writeCommandHelp(env.stderr, c.name, nil)
			return &usageError{command: c.name, err: fmt.Errorf("%s: name a command", c.name)}
		case isHelpArg(args[1]):
			if len(args) > 2 {
				return helpCmd(append([]string{c.name}, args[2:]...), env.stdout)
			}
			writeCommandHelp(env.stdout, c.name, nil)
			return nil
		default:
			if _, ok := lookupCommand(c.name + " " + args[1]); !ok {
				return unknownCommand(c.name + " " + args[1])
			}
		}
	}
	return c.run(ctx, env, args[1:])
}

// exitStatus prints err, if any, on stderr with the way to the help, and
// returns the exit status it stands for.
func exitStatus(err error, stderr io.Writer) int {
	var usage *usageError
	switch {
	case err == nil, errors.Is(err, flag.ErrHelp):
		return exitOK
	case errors.As(err, &usage):
		prefix := "jitbot"
		if usage.command != "" {
			prefix += " " + usage.command
		}
		fmt.Fprintf(stderr, "%s: %v\n%s\n", prefix, err, usage.hint())
		return exitUsage
	default:
		fmt.Fprintln(stderr, "jitbot:", err)
		return exitFailure
	}
}

// runtimeParts is what serve and demo both run.
type runtimeParts struct {
	listen  string
	handler *bot.Bot
	service *access.Service
	closeDB func() error
	// download serves report downloads (nil: none).
	download http.Handler
	// auditFeed serves GET /api/audit when audit.feed is configured (nil:
	// not served).
	auditFeed http.Handler
	// requests serves the requests API when api is configured (nil: not
	// served).
	requests http.Handler
	// jobs run beside the scheduler until shutdown (the audit checkpoints).
	jobs []func(ctx context.Context)
	// metricsListen is where /healthz, /readyz and /metrics are served
	// ("": nowhere); metrics are served there when set, and ready are the
	// checks of /readyz besides the scheduler's.
	metricsListen string
	metrics       *metrics.Metrics
	ready         []readyCheck
}

// runServer serves /api/messages and runs the expiry scheduler until ctx is
// cancelled, then stops taking activities, lets in-flight ones finish and
// closes the database.
func runServer(ctx context.Context, p runtimeParts, logger *slog.Logger, ready func(addr string)) error {
	ln, err := net.Listen("tcp", p.listen)
	if err != nil {
		return fmt.Errorf("listen on %s: %w", p.listen, err)
	}
	mux := http.NewServeMux()
	var messages http.Handler = p.handler
	if p.metrics != nil {
		messages = p.metrics.Activities(messages)
	}
	mux.Handle("POST /api/messages", messages)
	if p.download != nil {
		mux.Handle("GET "+bot.DownloadPath+"{token}", p.download)
	}
	if p.auditFeed != nil {
		mux.Handle(api.AuditFeedPath, p.auditFeed)
	}
	if p.requests != nil {
		mux.Handle(api.RequestsPath, p.requests)
		mux.Handle(api.RequestsPath+"/", p.requests)
	}
	mux.HandleFunc("GET "+healthzPath, func(w http.ResponseWriter, _ *http.Request) {
		w.WriteHeader(http.StatusOK)
		_, _ = io.WriteString(w, "ok\n")
	})
	srv := &http.Server{
		Handler:           mux,
		ReadHeaderTimeout: 10 * time.Second,
		ReadTimeout:       30 * time.Second,
		WriteTimeout:      60 * time.Second,
		IdleTimeout:       120 * time.Second,
	}
	runCtx, cancelRun := context.WithCancel(context.Background())
	schedDone := make(chan error, 2)
	var scheduling atomic.Bool
	scheduling.Store(true)
	go func() {
		err := p.service.Run(runCtx)
		scheduling.Store(false)
		schedDone <- err
	}()
	go func() { schedDone <- p.service.RunDrift(runCtx) }()
	var jobs sync.WaitGroup
	for _, job := range p.jobs {
		jobs.Go(func() { job(runCtx) })
	}
	stopHealth := func() {}
	if p.metricsListen != "" {
		stopHealth, err = serveHealth(ctx, p.metricsListen, healthHandler(p.metrics, append([]readyCheck{schedulerCheck(&scheduling)}, p.ready...)), logger)
		if err != nil {
			cancelRun()
			<-schedDone
			<-schedDone
			jobs.Wait()
			_ = ln.Close()
			_ = p.closeDB()
			return err
		}
	}
	srvDone := make(chan error, 1)
	go func() { srvDone <- srv.Serve(ln) }()
	logger.Info("jitbot listening", "addr", ln.Addr().String(), "endpoint", "/api/messages")
	if ready != nil {
		ready(ln.Addr().String())
	}

	var serveErr error
	select {
	case <-ctx.Done():
	case serveErr = <-srvDone:
	}
	logger.Info("shutting down")
	shCtx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := srv.Shutdown(shCtx); err != nil {
		logger.Warn("http shutdown", "err", err)
	}
	// Stop claiming work; the grant in hand is finished and the rest of the
	// claims are released for other replicas.
	cancelRun()
	<-schedDone
	<-schedDone
	jobs.Wait()
	stopHealth()
	if err := p.closeDB(); err != nil {
		logger.Warn("close database", "err", err)
	}
	if serveErr != nil && !errors.Is(serveErr, http.ErrServerClosed) {
		return fmt.Errorf("serve: %w", serveErr)
	}
	return nil
}

func newID() string { return uuid.NewString() }

// openForServing opens the database, checks that it belongs to mode (a
// demo database is never served for real, nor the other way round) and
// takes the right to serve from it (SQLite serves one process only).
func openForServing(ctx context.Context, databaseURL string, mode storage.Mode, logger *slog.Logger) (*storage.DB, error) {
	db, err := storage.Open(ctx, databaseURL, logger)
	if err != nil {
		return nil, fmt.Errorf("open database: %w", err)
	}
	if err := checkMode(ctx, db, databaseURL, mode); err != nil {
		_ = db.Close()
		return nil, err
	}
	if err := db.LockForServing(); err != nil {
		_ = db.Close()
		return nil, err
	}
	return db, nil
}

// checkMode refuses a database that another mode created, saying what to do.
func checkMode(ctx context.Context, db *storage.DB, databaseURL string, mode storage.Mode) error {
	got, err := db.Mode(ctx, mode)
	if err != nil {
		return fmt.Errorf("database: %w", err)
	}
	switch {
	case got == mode:
		return nil
	case mode == storage.ModeServe:
		return fmt.Errorf("database %s was created by `jitbot demo` and holds demo data (a simulated directory, self-approval): serve never uses it; set `database` to a new database, e.g. sqlite:jitbot.db or postgres://...", storage.ShowURL(databaseURL))
	default:
		return fmt.Errorf("database %s belongs to `jitbot serve`: the demo never uses a real deployment's database; run the demo with its own file, e.g. --database sqlite:jitbot-demo.db", storage.ShowURL(databaseURL))
	}
}
