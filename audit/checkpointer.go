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

// auditAppender is the part of a store that records in the audit log that
// the job refused to sign a tampered chain.
type auditAppender interface {
	AppendAudit(ctx context.Context, ev access.AuditEvent) error
}

// Checkpointer signs the chain head and applies retention. When its Store
// can append audit events, a refusal to sign a tampered chain is audited
// (ActionAuditTamperFound) as well as returned. It remembers the last
// checkpoint it signed, so one goroutine uses it at a time (Run does).
type Checkpointer struct {
	Store CheckpointStore
	Key   ed25519.PrivateKey
	// PreviousKeys are the public keys of signing keys Key replaced: the
	// stored checkpoints they signed are accepted (and retention may cut
	// at them).
	PreviousKeys []ed25519.PublicKey
	// File, when not empty, receives every checkpoint this replica stores,
	// appended as one JSON line (see CheckpointRecord). Its last line is
	// the checkpoint the job anchors on after a restart.
	File string
	// Retention is how long events are kept (0: forever).
	Retention time.Duration
	Now       func() time.Time
	Logger    *slog.Logger

	// last is the newest checkpoint this process signed or read from File
	// (nil before the first); loaded tells whether File was read.
	last   *access.Checkpoint
	loaded bool
}

// keys are the public keys the job accepts on stored checkpoints.
func (cp *Checkpointer) keys() []ed25519.PublicKey {
	return append([]ed25519.PublicKey{cp.Key.Public().(ed25519.PublicKey)}, cp.PreviousKeys...)
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
// empty or its head is signed already (by this or another replica). It
// refuses to sign, with an error wrapping *Break, a chain that does not
// follow from the stored checkpoints or from the last checkpoint this
// process signed (or File's last line).
func (cp *Checkpointer) Checkpoint(ctx context.Context) (c access.Checkpoint, ok bool, err error) {
	head, err := cp.Store.ChainHead(ctx)
	if err != nil {
		return c, false, fmt.Errorf("checkpoint: %w", err)
	}
	if head.Seq == 0 {
		return c, false, nil
	}
	if err := cp.checkSegment(ctx, head); err != nil {
		err = fmt.Errorf("checkpoint: refusing to sign the chain head at seq %d: %w", head.Seq, err)
		var b *Break
		if a, ok := cp.Store.(auditAppender); ok && errors.As(err, &b) {
			ev := access.AuditEvent{At: cp.Now(), Actor: access.System, Action: access.ActionAuditTamperFound, Reason: err.Error()}
			if aerr := a.AppendAudit(ctx, ev); aerr != nil {
				err = errors.Join(err, fmt.Errorf("audit the refusal: %w", aerr))
			}
		}
		return c, false, err
	}
	c = Sign(cp.Key, head, cp.Now())
	if err := cp.Store.AppendCheckpoint(ctx, c); err != nil {
		if errors.Is(err, access.ErrDuplicate) {
			return c, false, nil
		}
		return c, false, fmt.Errorf("checkpoint: %w", err)
	}
	cp.last = &c
	if cp.File != "" {
		if err := appendLine(cp.File, Record(c)); err != nil {
			return c, true, fmt.Errorf("checkpoint at seq %d stored, but not written to %s: %w", c.Seq, cp.File, err)
		}
	}
	return c, true, nil
}

// anchor returns the last checkpoint this process signed, reading File's
// last line the first time.
func (cp *Checkpointer) anchor() (*access.Checkpoint, error) {
	if cp.loaded || cp.File == "" {
		return cp.last, nil
	}
	f, err := os.Open(cp.File)
	if errors.Is(err, os.ErrNotExist) {
		cp.loaded = true
		return cp.last, nil
	}
	if err != nil {
		return nil, fmt.Errorf("read the checkpoint file: %w", err)
	}
	defer func() { _ = f.Close() }()
	cs, err := ReadCheckpointFile(f)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", cp.File, err)
	}
	cp.loaded = true
	if n := len(cs); n > 0 && (cp.last == nil || cs[n-1].Seq > cp.last.Seq) {
		cp.last = &cs[n-1]
	}
	return cp.last, nil
}

// checkSegment verifies the events after the newest stored checkpoint up to
// head (the whole chain when there is none yet), so that a checkpoint never
// vouches for a chain that is already broken. Every stored checkpoint must
// be signed by Key or one of PreviousKeys, and the last checkpoint this
// process signed must still be stored as it was signed: a database
// administrator who rewrites the chain and deletes the checkpoints that
// would show it cannot make jitbot sign the forgery.
func (cp *Checkpointer) checkSegment(ctx context.Context, head access.ChainHead) error {
	anchor, err := cp.anchor()
	if err != nil {
		return err
	}
	keys := keyMap(cp.keys())
	var last, oldest *access.Checkpoint
	var found bool
	err = cp.Store.EachCheckpoint(ctx, func(c access.Checkpoint) error {
		if err := checkSigned(keys, c); err != nil {
			return &Break{Seq: c.Seq, Problem: "stored checkpoint signed at " + c.At.Format(TimeLayout) + ": " + err.Error()}
		}
		if oldest == nil {
			oldest = &c
		}
		if anchor != nil && c.Seq == anchor.Seq {
			if c.Hash != anchor.Hash || c.Signature != anchor.Signature || !c.At.Equal(anchor.At) {
				return &Break{Seq: c.Seq, Problem: "the stored checkpoint differs from the one this process signed: rewritten"}
			}
			found = true
		}
		if c.Seq <= head.Seq {
			last = &c
		}
		return nil
	})
	if err != nil {
		return err
	}
	if anchor != nil && !found && !cp.prunedPast(anchor, oldest) {
		return &Break{Seq: anchor.Seq, Problem: fmt.Sprintf("the checkpoint this process signed at %s is missing from the database: checkpoints deleted", anchor.At.Format(TimeLayout))}
	}
	if anchor != nil && anchor.Seq > head.Seq {
		return &Break{Seq: head.Seq + 1, Problem: fmt.Sprintf("the chain head records seq %d, below the checkpoint this process signed at seq %d: the last events deleted", head.Seq, anchor.Seq)}
	}
	var cps []access.Checkpoint
	var after int64
	if last != nil {
		cps, after = []access.Checkpoint{*last}, last.Seq
	}
	v := NewVerifier(cps, Options{segment: true})
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

// prunedPast reports whether retention may have removed the checkpoint
// anchor: the oldest stored checkpoint is newer and old enough to be a
// retention cut.
func (cp *Checkpointer) prunedPast(anchor, oldest *access.Checkpoint) bool {
	return cp.Retention > 0 && oldest != nil && oldest.Seq > anchor.Seq && !oldest.At.After(cp.Now().Add(-cp.Retention))
}

// errStop ends a walk at the head read before it.
var errStop = errors.New("end of the chain as of the start of the walk")

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
// is signed by Key or one of PreviousKeys and that the chain from the first
// stored event up to it verifies against the stored checkpoints (a
// checkpoint row written by someone else never makes jitbot delete
// anything, and retention never deletes the evidence of tampering). It
// returns how many events it removed.
func (cp *Checkpointer) Prune(ctx context.Context) (int64, error) {
	if cp.Retention <= 0 {
		return 0, nil
	}
	var cps []access.Checkpoint
	if err := cp.Store.EachCheckpoint(ctx, func(c access.Checkpoint) error { cps = append(cps, c); return nil }); err != nil {
		return 0, fmt.Errorf("retention: %w", err)
	}
	now := cp.Now()
	cut, ok := RetentionCut(cps, now, cp.Retention)
	if !ok {
		return 0, nil
	}
	if err := CheckSigned(cp.keys(), cut); err != nil {
		return 0, fmt.Errorf("retention: checkpoint at seq %d: %w; nothing removed", cut.Seq, err)
	}
	// The segment up to the cut, checked as verify would.
	v := NewVerifier(cps, Options{Keys: cp.keys(), Retention: cp.Retention, Now: func() time.Time { return now }})
	var walked bool
	err := cp.Store.EachAudit(ctx, access.AuditQuery{}, func(ev access.AuditEvent) error {
		if ev.Seq > cut.Seq {
			return errStop
		}
		walked = true
		return v.Add(ev)
	})
	if err != nil && !errors.Is(err, errStop) {
		return 0, fmt.Errorf("retention: %w; nothing removed (run jitbot audit verify)", err)
	}
	if !walked {
		// Pruned to it already.
		return 0, nil
	}
	if v.prev.Seq != cut.Seq || v.prev.Hash != cut.Hash {
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
