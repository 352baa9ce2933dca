package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"sort"
	"strings"
)

// Exit statuses of every command.
const (
	exitOK      = 0 // the command did what was asked
	exitFailure = 1 // it failed, or found problems (audit verify, config check)
	exitUsage   = 2 // the command line is wrong: unknown command or flag, bad flag value
)

// cliEnv is what a command gets from the command line's invocation.
type cliEnv struct {
	stdout, stderr io.Writer
	getenv         func(string) (string, bool)
	logger         *slog.Logger
}

// cliCommand is one entry of the command table. Its help (`jitbot <name>
// --help`) is printed by the flag set the command makes with commandFlags:
// the summary, the usage line, the flags of that flag set and the example.
type cliCommand struct {
	// name is the command as typed, "serve" or "audit verify".
	name string
	// args is the synopsis after the name, e.g. "--config jitbot.yaml [--local]".
	args string
	// summary says in one line what the command does.
	summary string
	// example is one command line to copy.
	example string
	// more is a paragraph shown after the flags (may be empty).
	more string
	// run runs the command with the arguments after its name; nil for a
	// subcommand, which its group's command runs.
	run func(ctx context.Context, env cliEnv, args []string) error
}

// commands is the command table, in the order `jitbot --help` lists them.
// A subcommand ("audit verify") is listed under its group ("audit").
//
// A new command is one entry here, its code in a file of its own making its
// flags with commandFlags(name, stdout): --help, `jitbot help <name>`, the
// usage errors and the exit statuses then come with it, and TestHelpGolden
// asks for its testdata/help/<name>.txt (go test ./cmd/jitbot -run
// TestHelpGolden -update writes it).
func commands() []cliCommand {
	return []cliCommand{
		{name: "serve", args: "[--config jitbot.yaml] [--local]",
			summary: "run the bot against Entra ID and Teams",
			example: "jitbot serve --config jitbot.yaml",
			more:    "The bot's and Graph's credentials come from the environment (MicrosoftAppId, MicrosoftAppPassword, AZURE_CLIENT_ID, ...; see Configuration in the README).",
			run: func(ctx context.Context, e cliEnv, args []string) error {
				return serve(ctx, args, e.stdout, e.logger, e.getenv)
			}},
		{name: "demo", args: "[--listen 127.0.0.1:3978] [--database sqlite:jitbot-demo.db] [--open-playground]",
			summary: "run the whole flow on this machine, no Azure account",
			example: "jitbot demo --open-playground",
			more:    "Local mode: no inbound authentication, loopback only, a simulated directory kept in the SQLite file. Start over by stopping the demo and deleting the file.",
			run: func(ctx context.Context, e cliEnv, args []string) error {
				return demo(ctx, args, e.stdout, e.stderr, e.logger, e.getenv)
			}},
		{name: "manifest", args: "--app-id <bot app id> [--out jitbot-teams-app.zip] [--print]",
			summary: "build the Teams app package (manifest.json and icons, zipped)",
			example: "jitbot manifest --app-id 9b1c7f5e-2d4a-4e8b-8c6f-1a2b3c4d5e6f --endpoint https://jitbot.contoso.example/api/messages --website https://sre.contoso.example/jit",
			run: func(ctx context.Context, e cliEnv, args []string) error {
				return manifestCmd(args, e.stdout, e.getenv)
			}},
		{name: "audit", args: "verify|checkpoint|keygen|export ...",
			summary: "check, sign and export the tamper-evident audit log",
			example: "jitbot audit verify --config jitbot.yaml",
			run: func(ctx context.Context, e cliEnv, args []string) error {
				return auditCmd(ctx, args, e.stdout, e.logger, e.getenv)
			}},
		{name: "audit verify", args: "[--config jitbot.yaml] [--public-key FILE]...",
			summary: "check the hash chain and the signed checkpoints; exit 1 naming the first place it breaks",
			example: "jitbot audit verify --config jitbot.yaml --public-key old-key.pub"},
		{name: "audit checkpoint", args: "[--config jitbot.yaml]",
			summary: "sign the chain head now (and apply audit.retention)",
			example: "jitbot audit checkpoint --config jitbot.yaml"},
		{name: "audit keygen", args: "--out FILE",
			summary: "write a new checkpoint signing key, print its public key",
			example: "jitbot audit keygen --out jitbot-audit.key"},
		{name: "audit export", args: "[--config jitbot.yaml] [--since DAY] [--until DAY] [--profile P] [--user U] [--format csv|json|jsonl] [--view events|grants] [--out FILE]",
			summary: "export the audit events, or the grants, of a period",
			example: "jitbot audit export --config jitbot.yaml --since 2026-11-01 --until 2026-12-01 --format csv --out november.csv"},
		{name: "config", args: "check ...",
			summary: "check the configuration (and the tenant's groups and channels)",
			example: "jitbot config check --config jitbot.yaml",
			run: func(ctx context.Context, e cliEnv, args []string) error {
				return configCmd(ctx, args, e.stdout, e.logger, e.getenv, envOnline)
			}},
		{name: "config check", args: "[--config jitbot.yaml] [--online | --offline] [--strict]",
			summary: "check jitbot.yaml without serving, one line per finding",
			example: "jitbot config check --config jitbot.yaml --strict",
			more: "Checks every rule serve applies at start and settings that contradict each other; with the Graph credential of serve\n" +
				"in the environment (or --online), that the groups exist and have members and, with the bot's credential too, that\n" +
				"the bot reaches every channel. Exit status: 0 when there is no error (warnings allowed unless --strict), 1 otherwise."},
		{name: "reconcile", args: "[--config jitbot.yaml] [--remove]",
			summary: "list (and with --remove remove) the members and PIM assignments no grant in the database explains",
			example: "jitbot reconcile --config jitbot.yaml",
			more: "Run it after restoring the database from a backup, or after losing it: what jitbot granted since the backup is\n" +
				"still in Entra ID and jitbot no longer knows about it. With --remove each finding is removed (a PIM assignment with\n" +
				"adminRemove, a direct membership with a removal) and audited as reconcile.removed. Uses serve's Graph credential.",
			run: func(ctx context.Context, e cliEnv, args []string) error {
				return reconcileCmd(ctx, args, e.stdout, e.logger, e.getenv)
			}},
		{name: "doctor", args: "[--config jitbot.yaml]",
			summary: "check a deployment before it goes live: one line per check, with the fix for each that fails",
			example: "jitbot doctor --config jitbot.yaml",
			more: "With serve's configuration and credentials: the configuration, the database, the bot's and Graph's tokens, each\n" +
				"profile's group and the permission to change its members (read from the Graph token; no membership is changed),\n" +
				"for a profile with membership pim the permission to make PIM assignments and the group's PIM policy (onboarded,\n" +
				"no MFA on active assignment, a maximum of at least max_duration; nothing is onboarded), the channel ids, the\n" +
				"approver and requester groups, and the clock. Exit status: 0 when every check passes (warnings allowed), 1 otherwise.",
			run: func(ctx context.Context, e cliEnv, args []string) error {
				return doctorCmd(ctx, args, e.stdout, e.logger, e.getenv)
			}},
		{name: "healthcheck", args: "[--url http://127.0.0.1:3978/healthz] [--timeout 5s]",
			summary: "ask a running jitbot's health endpoint once (the container's probe): exit 0 when healthy",
			example: "jitbot healthcheck --url http://127.0.0.1:3978/healthz",
			run: func(ctx context.Context, e cliEnv, args []string) error {
				return healthcheck(ctx, args, e.stdout)
			}},
		{name: "version", args: "[-json]",
			summary: "print the version, the commit it was built from and the Go version",
			example: "jitbot version -json",
			run: func(ctx context.Context, e cliEnv, args []string) error {
				return versionCmd(args, e.stdout)
			}},
		{name: "help", args: "[command]",
			summary: "show the commands, or a command's help (the same as jitbot <command> --help)",
			example: "jitbot help demo",
			run: func(ctx context.Context, e cliEnv, args []string) error {
				return helpCmd(args, e.stdout)
			}},
	}
}

// lookupCommand returns the table entry of name.
func lookupCommand(name string) (cliCommand, bool) {
	for _, c := range commands() {
		if c.name == name {
			return c, true
		}
	}
	return cliCommand{}, false
}

// subcommands returns the entries listed under group ("audit": "audit
// verify", ...).
func subcommands(group string) []cliCommand {
	var subs []cliCommand
	for _, c := range commands() {
		if strings.HasPrefix(c.name, group+" ") {
			subs = append(subs, c)
		}
	}
	return subs
}

// usageError is a wrong command line: exit status 2, with the way to the
// command's help.
type usageError struct {
	command string // "" for jitbot itself
	err     error
}

func (e *usageError) Error() string { return e.err.Error() }

// hint is the line printed after the error: where the help is.
func (e *usageError) hint() string {
	if e.command == "" {
		return "Run 'jitbot --help' for the commands."
	}
	return fmt.Sprintf("Run 'jitbot %s --help' for its usage and flags.", e.command)
}
func (e *usageError) Unwrap() error { return e.err }

// flagSet is a command's flag set, made by commandFlags: its Parse answers
// -h, -help and --help with the command's help (flag.ErrHelp) and reports a
// bad flag as a usage error.
type flagSet struct {
	*flag.FlagSet
	command string
	help    io.Writer
}

// commandFlags returns the flag set of the command name, an entry of the
// command table; -h and --help print the command's help, with the flags
// defined on it, to out. Every command makes its flag set with it.
func commandFlags(name string, out io.Writer) flagSet {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	// The error goes to standard error once, from run, with the way to
	// the help; the help goes to out from Parse.
	fs.SetOutput(io.Discard)
	fs.Usage = func() {}
	return flagSet{FlagSet: fs, command: name, help: out}
}

// Parse parses args; an unknown flag or a bad value is a *usageError.
func (f flagSet) Parse(args []string) error {
	err := f.FlagSet.Parse(args)
	switch {
	case err == nil:
		return nil
	case errors.Is(err, flag.ErrHelp):
		writeCommandHelp(f.help, f.command, f.FlagSet)
		return err
	default:
		const undefined = "flag provided but not defined: "
		if name, ok := strings.CutPrefix(err.Error(), undefined); ok {
			var names []string
			f.VisitAll(func(fl *flag.Flag) { names = append(names, fl.Name) })
			if near := nearest(strings.TrimLeft(name, "-"), names); near != "" {
				err = fmt.Errorf("%w; did you mean --%s?", err, near)
			}
		}
		return &usageError{command: f.command, err: err}
	}
}

// writeCommandHelp prints the help of the command name with the flags of
// fs (nil: none).
func writeCommandHelp(w io.Writer, name string, fs *flag.FlagSet) {
	c, _ := lookupCommand(name)
	fmt.Fprintf(w, "jitbot %s: %s\n\nUsage:\n  jitbot %s %s\n", name, c.summary, name, c.args)
	if subs := subcommands(name); len(subs) > 0 {
		fmt.Fprintf(w, "\nCommands:\n")
		writeCommandList(w, subs)
	}
	if fs != nil {
		n := 0
		fs.VisitAll(func(*flag.Flag) { n++ })
		if n > 0 {
			fmt.Fprintf(w, "\nFlags:\n")
			out := fs.Output()
			fs.SetOutput(w)
			fs.PrintDefaults()
			fs.SetOutput(out)
		}
	}
	if c.more != "" {
		fmt.Fprintf(w, "\n%s\n", c.more)
	}
	fmt.Fprintf(w, "\nExample:\n  %s\n", c.example)
	if subs := subcommands(name); len(subs) > 0 {
		fmt.Fprintf(w, "\nRun 'jitbot %s <command> --help' for a command's flags.\n", name)
	}
}

// writeCommandList prints one line per command: its name and summary.
func writeCommandList(w io.Writer, cmds []cliCommand) {
	width := 0
	for _, c := range cmds {
		width = max(width, len(c.name))
	}
	for _, c := range cmds {
		fmt.Fprintf(w, "  %-*s  %s\n", width, c.name, c.summary)
	}
}

// writeUsage prints jitbot's own help: the commands and the exit statuses.
func writeUsage(w io.Writer) {
	var top []cliCommand
	for _, c := range commands() {
		if c.run != nil {
			top = append(top, c)
		}
	}
	fmt.Fprint(w, "jitbot: just-in-time access approved in Microsoft Teams\n\nUsage:\n  jitbot <command> [flags]\n\nCommands:\n")
	writeCommandList(w, top)
	fmt.Fprint(w, `
Run 'jitbot <command> --help' (or 'jitbot help <command>') for a command's flags and an example.

Exit status:
  0  success
  1  failure: the command could not do its work, or found problems (audit verify, config check)
  2  usage error: unknown command or flag, or a bad flag value

First time? Try 'jitbot demo': the whole flow on this machine, no Azure account.
`)
}

// isHelpArg reports whether arg asks for help.
func isHelpArg(arg string) bool {
	return arg == "-h" || arg == "-help" || arg == "--help" || arg == "help"
}

// helpCmd runs `jitbot help [command [subcommand]]`.
func helpCmd(args []string, stdout io.Writer) error {
	if len(args) == 0 {
		writeUsage(stdout)
		return nil
	}
	if args[0] != "help" && isHelpArg(args[0]) {
		args = []string{"help"}
	}
	name := strings.Join(args, " ")
	if _, ok := lookupCommand(name); !ok {
		return unknownCommand(name)
	}
	return commandHelp(name, stdout)
}

// commandHelp prints the help of the command name by asking its own flag
// set for it, so that the flags shown are the ones it parses.
func commandHelp(name string, stdout io.Writer) error {
	c, _ := lookupCommand(name)
	if subcommands(name) != nil || name == "help" {
		writeCommandHelp(stdout, name, nil)
		return nil
	}
	group, sub, isSub := strings.Cut(name, " ")
	if isSub {
		c, _ = lookupCommand(group)
		return ignoreHelp(c.run(context.Background(), cliEnv{stdout: stdout, stderr: io.Discard, logger: slog.New(slog.DiscardHandler), getenv: noEnv}, []string{sub, "--help"}))
	}
	return ignoreHelp(c.run(context.Background(), cliEnv{stdout: stdout, stderr: io.Discard, logger: slog.New(slog.DiscardHandler), getenv: noEnv}, []string{"--help"}))
}

func noEnv(string) (string, bool) { return "", false }

func ignoreHelp(err error) error {
	if errors.Is(err, flag.ErrHelp) {
		return nil
	}
	return err
}

// unknownCommand is the usage error of a command not in the table, with the
// nearest one when there is one.
func unknownCommand(name string) error {
	var names []string
	for _, c := range commands() {
		names = append(names, c.name)
	}
	msg := fmt.Sprintf("unknown command %q", name)
	if near := nearest(name, names); near != "" {
		msg += "; did you mean " + near + "?"
	}
	return &usageError{err: errors.New(msg)}
}

// nearest returns the candidate closest to s by edit distance, when it is
// close enough to be what was meant (at most a third of its letters off,
// or s is its prefix), else "".
func nearest(s string, candidates []string) string {
	best, bestD := "", -1
	sorted := append([]string(nil), candidates...)
	sort.Strings(sorted)
	for _, c := range sorted {
		d := editDistance(s, c)
		if len(s) >= 2 && strings.HasPrefix(c, s) {
			d = 1
		}
		if d <= max(1, len(c)/3) && (bestD < 0 || d < bestD) {
			best, bestD = c, d
		}
	}
	return best
}
