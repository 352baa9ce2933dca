package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"strings"
	"time"

	"github.com/jitbot/jitbot/access"
	"github.com/jitbot/jitbot/graph"
	"github.com/jitbot/jitbot/storage"
)

// reconcileCmd is `jitbot reconcile`.
func reconcileCmd(ctx context.Context, args []string, stdout io.Writer, logger *slog.Logger, getenv func(string) (string, bool)) error {
	fs := commandFlags("reconcile", stdout)
	configPath := fs.String("config", "jitbot.yaml", "configuration file")
	remove := fs.Bool("remove", false, "remove every member and PIM assignment no grant explains (audited)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return &usageError{command: "reconcile", err: fmt.Errorf("unexpected argument %q", fs.Arg(0))}
	}
	cfg, err := LoadConfig(*configPath, getenv)
	if err != nil {
		return err
	}
	var profiles []access.Profile
	for _, p := range cfg.Profiles {
		ap, err := p.Profile()
		if err != nil {
			return fmt.Errorf("profile %s: %w", p.Name, err)
		}
		profiles = append(profiles, ap)
	}
	env := func(k string) string { v, _ := getenv(k); return strings.TrimSpace(v) }
	graphCred, err := graphCredential(cfg.Cloud, env)
	if err != nil {
		return fmt.Errorf("graph credential: %w", err)
	}
	dir, err := graph.New(graph.Config{GraphURL: cfg.Cloud.GraphURL}, graphCred, logger)
	if err != nil {
		return fmt.Errorf("graph client: %w", err)
	}
	if err := reconcileDatabase(ctx, cfg.Database, logger); err != nil {
		return err
	}
	db, err := storage.Open(ctx, cfg.Database, logger)
	if err != nil {
		return err
	}
	defer db.Close()

	found, err := access.FindUnexplained(ctx, db, dir, dir, profiles)
	for _, u := range found {
		kind, end := "direct member", "no end"
		if u.PIM {
			kind = "PIM assignment"
			if !u.End.IsZero() {
				end = "ends " + u.End.UTC().Format(time.RFC3339)
			} else {
				end = "no end (permanent)"
			}
		}
		fmt.Fprintf(stdout, "%s\t%s\t%s\t%s\t%s\n", u.Profile, u.GroupID, u.UserID, kind, end)
	}
	if err != nil {
		return fmt.Errorf("reconcile: %w", err)
	}
	if len(found) == 0 {
		fmt.Fprintln(stdout, "every member of the managed groups is explained by a grant or a pre-existing membership")
		return nil
	}
	if !*remove {
		fmt.Fprintf(stdout, "%d not explained by any grant; run with --remove to remove them\n", len(found))
		return nil
	}
	actor := access.Person{ObjectID: "jitbot-reconcile", Name: "jitbot reconcile"}
	if h, err := os.Hostname(); err == nil {
		actor.Name += " on " + h
	}
	var failed int
	for _, u := range found {
		err := access.RemoveUnexplained(ctx, db, dir, dir, u, actor, time.Now().UTC())
		if errors.Is(err, access.ErrExplained) {
			fmt.Fprintf(stdout, "left: %s in %s: a grant explains it now\n", u.UserID, u.GroupID)
			continue
		}
		if err != nil {
			failed++
			fmt.Fprintf(stdout, "not removed: %s from %s: %v\n", u.UserID, u.GroupID, err)
			continue
		}
		fmt.Fprintf(stdout, "removed: %s from %s (%s)\n", u.UserID, u.GroupID, u.Profile)
	}
	if failed > 0 {
		return fmt.Errorf("reconcile: %d of %d not removed", failed, len(found))
	}
	return nil
}

// reconcileDatabase refuses a database that holds no jitbot grants to
// compare with: one that does not exist (it is not created), one without
// jitbot's tables, or a demo database. With nothing to compare with,
// every member of every managed group would count as unexplained, and
// --remove would empty the groups.
func reconcileDatabase(ctx context.Context, databaseURL string, logger *slog.Logger) error {
	shown := storage.ShowURL(databaseURL)
	in, err := storage.Inspect(ctx, databaseURL, logger)
	switch {
	case err != nil:
		return fmt.Errorf("database: %w", err)
	case in.Missing:
		return fmt.Errorf("database: %s does not exist: reconcile compares the groups with the grants of serve's database; check `database`", shown)
	case in.Empty:
		return fmt.Errorf("database: %s holds no jitbot tables: reconcile compares the groups with the grants of serve's database; check `database`", shown)
	case in.Mode == storage.ModeDemo:
		return fmt.Errorf("database: %s was created by `jitbot demo`: reconcile compares the groups with the grants of serve's database; check `database`", shown)
	}
	return nil
}
