package main

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/jitbot/jitbot/access"
	"github.com/jitbot/jitbot/audit"
	"github.com/jitbot/jitbot/graph"
	"github.com/jitbot/jitbot/storage"
)

// userResolver finds a user's object id from their user principal name.
type userResolver func(ctx context.Context, cfg *Config, upn string) (string, error)

// exportTime reads --since or --until: a UTC day (2026-11-01, its start)
// or an RFC 3339 time.
func exportTime(flagName, v string) (time.Time, error) {
	if v == "" {
		return time.Time{}, nil
	}
	if t, err := time.Parse(time.DateOnly, v); err == nil {
		return t, nil
	}
	t, err := time.Parse(time.RFC3339, v)
	if err != nil {
		return time.Time{}, fmt.Errorf("--%s %q: want a day (2026-11-01) or an RFC 3339 time (2026-11-01T09:00:00Z)", flagName, v)
	}
	return t.UTC(), nil
}

// auditExport writes the audit events, or the grants, of a period. Since is
// inclusive, until exclusive: --since 2026-11-01 --until 2026-12-01 is
// November. The output streams; with --out it goes to a file that appears
// only once complete.
func auditExport(ctx context.Context, args []string, stdout io.Writer, logger *slog.Logger, getenv func(string) (string, bool), resolve userResolver) error {
	fs := commandFlags("audit export", stdout)
	configPath := fs.String("config", "jitbot.yaml", "configuration file")
	sinceF := fs.String("since", "", "first day (UTC) or RFC 3339 time, inclusive")
	untilF := fs.String("until", "", "end day (UTC) or RFC 3339 time, exclusive")
	profile := fs.String("profile", "", "only this profile")
	user := fs.String("user", "", "only this person (object id, or user principal name resolved through Graph)")
	formatF := fs.String("format", string(audit.FormatCSV), "csv, json or jsonl")
	viewF := fs.String("view", string(audit.ViewEvents), "events (one row per audit event) or grants (one row per request)")
	out := fs.String("out", "", "write to this file instead of standard output")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("audit export: unexpected argument %q\n%s", fs.Arg(0), auditUsage)
	}
	since, err := exportTime("since", *sinceF)
	if err != nil {
		return err
	}
	until, err := exportTime("until", *untilF)
	if err != nil {
		return err
	}
	if !since.IsZero() && !until.IsZero() && !since.Before(until) {
		return fmt.Errorf("--since %s is not before --until %s", *sinceF, *untilF)
	}
	format, err := audit.ParseFormat(*formatF)
	if err != nil {
		return fmt.Errorf("--format: %w", err)
	}
	view, err := audit.ParseView(*viewF)
	if err != nil {
		return fmt.Errorf("--view: %w", err)
	}
	cfg, err := LoadConfig(*configPath, getenv)
	if err != nil {
		return err
	}
	userID := strings.TrimSpace(*user)
	switch {
	case userID == "" || access.IsObjectID(userID):
	case strings.Contains(userID, "@"):
		id, err := resolve(ctx, cfg, userID)
		if err != nil {
			return fmt.Errorf("--user %s: %w", userID, err)
		}
		userID = id
	default:
		return fmt.Errorf("--user %q: want an Entra object id (a GUID) or a user principal name (name@domain)", userID)
	}

	db, err := storage.Open(ctx, cfg.Database, logger)
	if err != nil {
		return fmt.Errorf("open database: %w", err)
	}
	defer db.Close()

	dest, finish, err := exportDest(*out, stdout)
	if err != nil {
		return err
	}
	bw := bufio.NewWriterSize(dest, 64<<10)
	n, err := writeExport(ctx, db, bw, format, view, since, until, *profile, userID)
	if err == nil {
		err = bw.Flush()
	}
	if err := finish(err); err != nil {
		return fmt.Errorf("audit export: %w", err)
	}
	logger.Info("audit export written", "view", view, "format", format, "rows", n, "out", *out)
	return nil
}

// exportReader is what an export reads.
type exportReader interface {
	EachAudit(ctx context.Context, q access.AuditQuery, fn func(access.AuditEvent) error) error
	EachRequest(ctx context.Context, q access.RequestQuery, fn func(access.Request) error) error
}

// writeExport streams one view in one format to w and returns the number of
// rows.
func writeExport(ctx context.Context, r exportReader, w io.Writer, format audit.Format, view audit.View, since, until time.Time, profile, userID string) (int, error) {
	switch view {
	case audit.ViewGrants:
		gw, err := audit.NewGrantWriter(w, format)
		if err != nil {
			return 0, err
		}
		err = r.EachRequest(ctx, access.RequestQuery{Since: since, Until: until, Profile: profile, UserID: userID},
			func(req access.Request) error { return gw.Write(access.NewGrantRecord(req)) })
		if err != nil {
			return gw.Count(), err
		}
		return gw.Count(), gw.Close()
	default:
		ew, err := audit.NewEventWriter(w, format)
		if err != nil {
			return 0, err
		}
		err = r.EachAudit(ctx, access.AuditQuery{Since: since, Until: until, Profile: profile, UserID: userID}, ew.Write)
		if err != nil {
			return ew.Count(), err
		}
		return ew.Count(), ew.Close()
	}
}

// exportDest opens the output: stdout, or a temporary file beside path
// that finish renames to path once everything was written (and removes on
// failure), so a failed export leaves no partial file and overwrites
// nothing.
func exportDest(path string, stdout io.Writer) (io.Writer, func(error) error, error) {
	if path == "" {
		return stdout, func(err error) error { return err }, nil
	}
	f, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".*.tmp")
	if err != nil {
		return nil, nil, fmt.Errorf("--out %s: %w", path, err)
	}
	return f, func(err error) error {
		if err == nil {
			err = f.Sync()
		}
		if cerr := f.Close(); err == nil {
			err = cerr
		}
		if err == nil {
			err = os.Rename(f.Name(), path)
		}
		if err != nil {
			_ = os.Remove(f.Name())
			return fmt.Errorf("write %s: %w", path, err)
		}
		return nil
	}, nil
}

// graphUserID resolves a user principal name through Microsoft Graph with
// the credential serve would use; it refuses at once when no Graph
// credential is configured.
func graphUserID(getenv func(string) (string, bool), logger *slog.Logger) userResolver {
	return func(ctx context.Context, cfg *Config, upn string) (string, error) {
		env := func(k string) string { v, _ := getenv(k); return strings.TrimSpace(v) }
		configured := false
		for _, k := range []string{"AZURE_CLIENT_SECRET", "AZURE_CLIENT_CERTIFICATE_PATH", "AZURE_FEDERATED_TOKEN_FILE", "IDENTITY_ENDPOINT", "MSI_ENDPOINT"} {
			configured = configured || env(k) != ""
		}
		if !configured {
			return "", errors.New("a user principal name is resolved through Microsoft Graph, and no Graph credential is configured (AZURE_TENANT_ID, AZURE_CLIENT_ID and AZURE_CLIENT_SECRET, a certificate, workload or managed identity): pass the user's object id instead")
		}
		cred, err := graphCredential(cfg.Cloud, env)
		if err != nil {
			return "", fmt.Errorf("graph credential: %w", err)
		}
		dir, err := graph.New(graph.Config{GraphURL: cfg.Cloud.GraphURL}, cred, logger)
		if err != nil {
			return "", fmt.Errorf("graph client: %w", err)
		}
		return dir.UserID(ctx, upn)
	}
}
