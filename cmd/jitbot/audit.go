package main

import (
	"context"
	"crypto/ed25519"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"strings"
	"time"

	"github.com/jitbot/jitbot/access"
	"github.com/jitbot/jitbot/audit"
	"github.com/jitbot/jitbot/storage"
)

// signingKeyEnv holds the checkpoint signing key when audit.signing_key_file
// is not set.
const signingKeyEnv = "JITBOT_AUDIT_SIGNING_KEY"

const auditUsage = `Usage:
  jitbot audit verify --config jitbot.yaml [--public-key FILE]...
                              check the hash chain and the signed checkpoints
  jitbot audit checkpoint --config jitbot.yaml
                              sign the chain head now (and apply audit.retention)
  jitbot audit keygen --out FILE
                              write a new checkpoint signing key, print its public key
  jitbot audit export --config jitbot.yaml [--since 2026-11-01] [--until 2026-12-01] [--profile P]
                      [--user UPN-or-object-id] [--format csv|json|jsonl] [--view events|grants] [--out FILE]
                              export the audit events, or the grants, of a period
`

// auditCmd runs the audit subcommands.
func auditCmd(ctx context.Context, args []string, stdout io.Writer, logger *slog.Logger, getenv func(string) (string, bool)) error {
	if len(args) == 0 {
		return fmt.Errorf("audit: name a subcommand\n%s", auditUsage)
	}
	switch args[0] {
	case "verify":
		return auditVerify(ctx, args[1:], stdout, logger, getenv)
	case "checkpoint":
		return auditCheckpoint(ctx, args[1:], stdout, logger, getenv)
	case "keygen":
		return auditKeygen(args[1:], stdout)
	case "export":
		return auditExport(ctx, args[1:], stdout, logger, getenv, graphUserID(getenv, logger))
	case "help", "-h", "--help":
		fmt.Fprint(stdout, auditUsage)
		return nil
	default:
		return fmt.Errorf("audit: unknown subcommand %q\n%s", args[0], auditUsage)
	}
}

// signingKey returns the checkpoint signing key: audit.signing_key_file,
// else JITBOT_AUDIT_SIGNING_KEY, else nil.
func signingKey(cfg *Config, getenv func(string) (string, bool)) (ed25519.PrivateKey, error) {
	text, from, err := secret("audit.signing_key_file", cfg.Audit.SigningKeyFile, signingKeyEnv, func(k string) string {
		v, _ := getenv(k)
		return v
	})
	if err != nil {
		return nil, err
	}
	if text != "" {
		key, err := audit.ParsePrivateKey([]byte(text))
		if err != nil {
			return nil, fmt.Errorf("%s: %w", from, err)
		}
		return key, nil
	}
	if cfg.Audit.Retention > 0 {
		return nil, fmt.Errorf("audit.retention: removing old events needs signed checkpoints; set audit.signing_key_file or %s", signingKeyEnv)
	}
	return nil, nil
}

// secret reads a key from the file that configuration key fileKey names
// (path), or, when none is named, from the environment variable envName
// (set but blank is a key that does not parse, not an absent one). from
// says where it came from, for errors; text is "" when neither is set.
func secret(fileKey, path, envName string, env func(string) string) (text, from string, err error) {
	if path != "" {
		data, err := os.ReadFile(path)
		if err != nil {
			return "", fileKey, fmt.Errorf("%s: %w", fileKey, err)
		}
		return string(data), fileKey + " " + path, nil
	}
	if v := env(envName); v != "" {
		return v, envName, nil
	}
	return "", "", nil
}

// previousKeys parses audit.previous_public_keys; an error names the key
// by its place in the list.
func previousKeys(cfg *Config) ([]ed25519.PublicKey, error) {
	var keys []ed25519.PublicKey
	for i, s := range cfg.Audit.PreviousPublicKeys {
		k, err := audit.ParsePublicKey([]byte(s))
		if err != nil {
			return nil, fmt.Errorf("key %d: %w", i+1, err)
		}
		keys = append(keys, k)
	}
	return keys, nil
}

// checkpointer returns the checkpoint job of the configuration, or nil
// without a signing key.
func checkpointer(cfg *Config, key ed25519.PrivateKey, store audit.CheckpointStore, logger *slog.Logger) (*audit.Checkpointer, error) {
	if key == nil {
		return nil, nil
	}
	prev, err := previousKeys(cfg)
	if err != nil {
		return nil, fmt.Errorf("audit.previous_public_keys: %w", err)
	}
	return &audit.Checkpointer{
		Store: store, Key: key, PreviousKeys: prev, File: cfg.Audit.CheckpointFile, Retention: time.Duration(cfg.Audit.Retention),
		Now: time.Now, Logger: logger,
	}, nil
}

// publicKeyFiles collects the files of a repeated --public-key flag.
type publicKeyFiles []string

func (p *publicKeyFiles) String() string { return strings.Join(*p, ",") }

func (p *publicKeyFiles) Set(v string) error {
	*p = append(*p, v)
	return nil
}

func auditVerify(ctx context.Context, args []string, stdout io.Writer, logger *slog.Logger, getenv func(string) (string, bool)) error {
	fs := commandFlags("audit verify", stdout)
	configPath := fs.String("config", "jitbot.yaml", "configuration file")
	var pubPaths publicKeyFiles
	fs.Var(&pubPaths, "public-key", "a checkpoint signing key's public key, as `jitbot audit keygen` printed it; repeat it for the keys used before a rotation")
	if err := fs.Parse(args); err != nil {
		return err
	}
	cfg, err := LoadConfig(*configPath, getenv)
	if err != nil {
		return err
	}
	var keys []ed25519.PublicKey
	for _, path := range pubPaths {
		data, err := os.ReadFile(path)
		if err != nil {
			return fmt.Errorf("--public-key: %w", err)
		}
		pub, err := audit.ParsePublicKey(data)
		if err != nil {
			return fmt.Errorf("--public-key %s: %w", path, err)
		}
		keys = append(keys, pub)
	}
	var extra []access.Checkpoint
	if path := cfg.Audit.CheckpointFile; path != "" {
		f, err := os.Open(path)
		switch {
		case errors.Is(err, os.ErrNotExist):
		case err != nil:
			return fmt.Errorf("audit.checkpoint_file: %w", err)
		default:
			extra, err = audit.ReadCheckpointFile(f)
			_ = f.Close()
			if err != nil {
				return fmt.Errorf("audit.checkpoint_file %s: %w", path, err)
			}
		}
	}
	db, err := storage.OpenForReading(ctx, cfg.Database, logger)
	if err != nil {
		return err
	}
	defer func() { _ = db.Close() }()
	res, err := audit.Verify(ctx, db, audit.Options{
		Keys: keys, Extra: extra, Retention: time.Duration(cfg.Audit.Retention),
		CheckpointInterval: time.Duration(cfg.Audit.CheckpointInterval), Now: time.Now,
	})
	if err != nil {
		return err
	}
	span := "empty"
	switch {
	case res.Events == 0 && res.LastSeq > 0:
		span = fmt.Sprintf("retention removed every event up to seq %d", res.LastSeq)
	case res.LastSeq > 0:
		span = fmt.Sprintf("seq %d to %d", res.FirstSeq, res.LastSeq)
	}
	fmt.Fprintf(stdout, "audit log intact: %d events (%s), %d checkpoints\n", res.Events, span, res.Checkpoints)
	if res.SignaturesChecked {
		ids := make([]string, len(keys))
		for i, k := range keys {
			ids[i] = audit.KeyID(k)
		}
		fmt.Fprintf(stdout, "checkpoint signatures verified with key %s\n", strings.Join(ids, ", "))
	} else {
		fmt.Fprintln(stdout, "checkpoint signatures NOT checked: pass --public-key to check them (without it a rewrite of the whole log, checkpoints included, goes unnoticed)")
	}
	return nil
}

func auditCheckpoint(ctx context.Context, args []string, stdout io.Writer, logger *slog.Logger, getenv func(string) (string, bool)) error {
	fs := commandFlags("audit checkpoint", stdout)
	configPath := fs.String("config", "jitbot.yaml", "configuration file")
	if err := fs.Parse(args); err != nil {
		return err
	}
	cfg, err := LoadConfig(*configPath, getenv)
	if err != nil {
		return err
	}
	key, err := signingKey(cfg, getenv)
	if err != nil {
		return err
	}
	if key == nil {
		return fmt.Errorf("no signing key: set audit.signing_key_file or %s (see jitbot audit keygen)", signingKeyEnv)
	}
	db, err := storage.Open(ctx, cfg.Database, logger)
	if err != nil {
		return fmt.Errorf("open database: %w", err)
	}
	defer func() { _ = db.Close() }()
	cp, err := checkpointer(cfg, key, db, logger)
	if err != nil {
		return err
	}
	c, ok, err := cp.Checkpoint(ctx)
	if err != nil {
		return err
	}
	if ok {
		fmt.Fprintf(stdout, "checkpoint signed: seq %d, hash %s, key %s\n", c.Seq, c.Hash, c.KeyID)
	} else {
		fmt.Fprintln(stdout, "nothing to sign: the chain is empty or its head is signed already")
	}
	n, err := cp.Prune(ctx)
	if err != nil {
		return err
	}
	if n > 0 {
		fmt.Fprintf(stdout, "retention removed %d events\n", n)
	}
	return nil
}

func auditKeygen(args []string, stdout io.Writer) error {
	fs := commandFlags("audit keygen", stdout)
	out := fs.String("out", "", "where to write the private key (created, mode 0600; never overwritten)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *out == "" {
		return errors.New("audit keygen: --out FILE is required")
	}
	priv, pub, err := audit.GenerateKey()
	if err != nil {
		return err
	}
	f, err := os.OpenFile(*out, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return fmt.Errorf("audit keygen: %w", err)
	}
	if _, err := f.Write(priv); err != nil {
		_ = f.Close()
		return fmt.Errorf("audit keygen: write %s: %w", *out, err)
	}
	if err := f.Close(); err != nil {
		return fmt.Errorf("audit keygen: write %s: %w", *out, err)
	}
	k, err := audit.ParsePublicKey(pub)
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "# jitbot audit checkpoint public key %s (private key in %s)\n# keep this for jitbot audit verify --public-key\n%s", audit.KeyID(k), *out, pub)
	return nil
}
