package audit

import (
	"bufio"
	"context"
	"crypto/ed25519"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"time"

	"github.com/jitbot/jitbot/access"
)

// CheckpointStore is the part of the store the checkpoint job uses.
type CheckpointStore interface {
	EachAudit(ctx context.Context, q access.AuditQuery, fn func(access.AuditEvent) error) error
	ChainHead(ctx context.Context) (access.ChainHead, error)
	AppendCheckpoint(ctx context.Context, c access.Checkpoint) error
	EachCheckpoint(ctx context.Context, fn func(access.Checkpoint) error) error
	PruneAudit(ctx context.Context, c access.Checkpoint) (int64, error)
}

// Checkpointer signs the chain head and applies retention.
type Checkpointer struct {
	Store CheckpointStore
	Key   ed25519.PrivateKey
	// File, when not empty, receives every checkpoint this replica stores,
	// appended as one JSON line (see CheckpointRecord).
	File string
	// Retention is how long events are kept (0: forever).
	Retention time.Duration
	Now       func() time.Time
	Logger    *slog.Logger
}

// CheckpointRecord is a checkpoint as one JSON line of a checkpoint file,
// and as the feed for SIEMs writes it (there with "type": checkpoint).
type CheckpointRecord struct {
	Type      string `json:"type,omitempty"`
	Seq       int64  `json:"seq"`
	Hash      string `json:"hash"`
	At        string `json:"at"`
	KeyID     string `json:"key_id"`
	Signature string `json:"signature"`
}

// Record is c as a CheckpointRecord.
func Record(c access.Checkpoint) CheckpointRecord {
	return CheckpointRecord{Seq: c.Seq, Hash: c.Hash, At: StoredTime(c.At).Format(TimeLayout), KeyID: c.KeyID, Signature: c.Signature}
}

// Checkpoint is the record as an access.Checkpoint.
func (r CheckpointRecord) Checkpoint() (access.Checkpoint, error) {
	at, err := time.Parse(time.RFC3339Nano, r.At)
	if err != nil {
		return access.Checkpoint{}, fmt.Errorf("checkpoint at seq %d: time %q: %w", r.Seq, r.At, err)
	}
	return access.Checkpoint{Seq: r.Seq, Hash: r.Hash, At: StoredTime(at), KeyID: r.KeyID, Signature: r.Signature}, nil
}

// ReadCheckpointFile reads the checkpoints of a checkpoint file, one JSON
// line each.
func ReadCheckpointFile(r io.Reader) ([]access.Checkpoint, error) {
	var out []access.Checkpoint
	sc := bufio.NewScanner(r)
	for line := 1; sc.Scan(); line++ {
		if len(sc.Bytes()) == 0 {
			continue
		}
		var rec CheckpointRecord
		if err := json.Unmarshal(sc.Bytes(), &rec); err != nil {
			return nil, fmt.Errorf("checkpoint file line %d: %w", line, err)
		}
		c, err := rec.Checkpoint()
		if err != nil {
			return nil, fmt.Errorf("checkpoint file line %d: %w", line, err)
		}
		out = append(out, c)
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("read checkpoint file: %w", err)
	}
	return out, nil
}

// Checkpoint signs the chain head and stores the checkpoint (and appends
// it to File). It does nothing, returning ok false, when the chain is
// empty or its head is signed already (by this or another replica).
func (cp *Checkpointer) Checkpoint(ctx context.Context) (c access.Checkpoint, ok bool, err error) {
	head, err := cp.Store.ChainHead(ctx)
	if err != nil {
		return c, false, fmt.Errorf("checkpoint: %w", err)
	}
	if head.Seq == 0 {
		return c, false, nil
	}
	if err := cp.checkSegment(ctx, head); err != nil {
		return c, false, fmt.Errorf("checkpoint: refusing to sign the chain head at seq %d: %w", head.Seq, err)
	}
	c = Sign(cp.Key, head, cp.Now())
	if err := cp.Store.AppendCheckpoint(ctx, c); err != nil {
		if errors.Is(err, access.ErrDuplicate) {
			return c, false, nil
		}
		return c, false, fmt.Errorf("checkpoint: %w", err)
	}
	if cp.File != "" {
		if err := appendLine(cp.File, Record(c)); err != nil {
			return c, true, fmt.Errorf("checkpoint at seq %d stored, but not written to %s: %w", c.Seq, cp.File, err)
		}
	}
	return c, true, nil
}

// checkSegment verifies the events after the newest stored checkpoint up to
// head (the whole chain when there is none yet), so that a checkpoint never
// vouches for a chain that is already broken. Signatures are not checked
// here: an older checkpoint may be signed by a key since rotated.
func (cp *Checkpointer) checkSegment(ctx context.Context, head access.ChainHead) error {
	var last *access.Checkpoint
	err := cp.Store.EachCheckpoint(ctx, func(c access.Checkpoint) error {
		if c.Seq <= head.Seq {
			last = &c
		}
		return nil
	})
	if err != nil {
		return err
	}
	var cps []access.Checkpoint
	var after int64
	if last != nil {
		cps, after = []access.Checkpoint{*last}, last.Seq
	}
	v := NewVerifier(cps, nil)
	err = cp.Store.EachAudit(ctx, access.AuditQuery{AfterSeq: after}, func(ev access.AuditEvent) error {
		if ev.Seq > head.Seq {
			return errStop
		}
		return v.Add(ev)
	})
	if err != nil && !errors.Is(err, errStop) {
		return err
	}
	if last != nil && last.Seq == head.Seq {
		if last.Hash != head.Hash {
			return &Break{Seq: head.Seq, Problem: "the chain head records another hash than the checkpoint of its seq: rewritten"}
		}
		return nil
	}
	_, err = v.Finish(head)
	return err
}

// appendLine appends rec as one JSON line to the file, synced.
func appendLine(path string, rec CheckpointRecord) error {
	b, err := json.Marshal(rec)
	if err != nil {
		return err
	}
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o600)
	if err != nil {
		return err
	}
	if _, err := f.Write(append(b, '\n')); err != nil {
		_ = f.Close()
		return err
	}
	if err := f.Sync(); err != nil {
		_ = f.Close()
		return err
	}
	return f.Close()
}

// Prune applies the retention: it removes the events up to the newest
// checkpoint older than Retention, once it has checked that the checkpoint
// is signed by Key and matches the chain (a checkpoint row written by
// someone else never makes jitbot delete anything). It returns how many
// events it removed.
func (cp *Checkpointer) Prune(ctx context.Context) (int64, error) {
	if cp.Retention <= 0 {
		return 0, nil
	}
	var cps []access.Checkpoint
	if err := cp.Store.EachCheckpoint(ctx, func(c access.Checkpoint) error { cps = append(cps, c); return nil }); err != nil {
		return 0, fmt.Errorf("retention: %w", err)
	}
	cut, ok := RetentionCut(cps, cp.Now(), cp.Retention)
	if !ok {
		return 0, nil
	}
	if err := CheckSignature(cp.Key.Public().(ed25519.PublicKey), cut); err != nil {
		return 0, fmt.Errorf("retention: checkpoint at seq %d: %w; nothing removed", cut.Seq, err)
	}
	var at access.AuditEvent
	err := cp.Store.EachAudit(ctx, access.AuditQuery{AfterSeq: cut.Seq - 1, Limit: 1}, func(ev access.AuditEvent) error { at = ev; return nil })
	if err != nil {
		return 0, fmt.Errorf("retention: %w", err)
	}
	if at.Seq != cut.Seq {
		// Pruned to it already, or the event is missing.
		return 0, nil
	}
	if at.Hash != cut.Hash || HashEvent(at) != at.Hash {
		return 0, fmt.Errorf("retention: the chain at seq %d does not match its checkpoint; nothing removed (run jitbot audit verify)", cut.Seq)
	}
	n, err := cp.Store.PruneAudit(ctx, cut)
	if err != nil {
		return 0, fmt.Errorf("retention: %w", err)
	}
	return n, nil
}

// Run checkpoints and prunes every interval until ctx is done, logging
// failures (and trying again at the next tick).
func (cp *Checkpointer) Run(ctx context.Context, interval time.Duration) error {
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
		}
		cp.Once(ctx)
	}
}

// Once checkpoints then prunes, logging what it did.
func (cp *Checkpointer) Once(ctx context.Context) {
	if c, ok, err := cp.Checkpoint(ctx); err != nil {
		cp.Logger.ErrorContext(ctx, "audit checkpoint failed", "err", err)
	} else if ok {
		cp.Logger.InfoContext(ctx, "audit checkpoint signed", "seq", c.Seq, "hash", c.Hash, "key_id", c.KeyID)
	}
	if n, err := cp.Prune(ctx); err != nil {
		cp.Logger.ErrorContext(ctx, "audit retention failed", "err", err)
	} else if n > 0 {
		cp.Logger.InfoContext(ctx, "audit retention removed old events", "events", n)
	}
}

// KeyID names the signing key.
func (cp *Checkpointer) KeyID() string { return KeyID(cp.Key.Public().(ed25519.PublicKey)) }
