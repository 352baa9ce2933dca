package audit_test

import (
	"context"
	"crypto/ed25519"
	"errors"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/jitbot/jitbot/access"
	"github.com/jitbot/jitbot/audit"
)

// memLog is a log held in memory, as a database administrator could
// rewrite it.
type memLog struct {
	evs  []access.AuditEvent
	cps  []access.Checkpoint
	head access.ChainHead
	// during, when set, runs once while EachAudit has sent the event of
	// that seq (what another replica does meanwhile).
	duringSeq int64
	during    func()
}

func (m *memLog) EachAudit(ctx context.Context, q access.AuditQuery, fn func(access.AuditEvent) error) error {
	n := 0
	for i := 0; i < len(m.evs); i++ {
		ev := m.evs[i]
		if q.AfterSeq > 0 && ev.Seq <= q.AfterSeq {
			continue
		}
		if q.Limit > 0 && n >= q.Limit {
			return nil
		}
		n++
		if err := fn(ev); err != nil {
			return err
		}
		if m.during != nil && ev.Seq == m.duringSeq {
			f := m.during
			m.during = nil
			f()
			// Continue after ev, as a paged reader does.
			for i = 0; i < len(m.evs) && m.evs[i].Seq <= ev.Seq; i++ {
			}
			i--
		}
	}
	return nil
}

func (m *memLog) EachCheckpoint(ctx context.Context, fn func(access.Checkpoint) error) error {
	for _, c := range m.cps {
		if err := fn(c); err != nil {
			return err
		}
	}
	return nil
}

func (m *memLog) ChainHead(ctx context.Context) (access.ChainHead, error) { return m.head, nil }

// tamperLog is a memLog that takes audit events, as the stores do.
type tamperLog struct{ *memLog }

func (m tamperLog) AppendAudit(ctx context.Context, ev access.AuditEvent) error {
	ev = audit.Link(m.head, ev)
	m.evs = append(m.evs, ev)
	m.head = audit.Head(ev)
	return nil
}

func (m *memLog) AppendCheckpoint(ctx context.Context, c access.Checkpoint) error {
	for _, x := range m.cps {
		if x.Seq == c.Seq {
			return access.ErrDuplicate
		}
	}
	m.cps = append(m.cps, c)
	return nil
}

func (m *memLog) PruneAudit(ctx context.Context, c access.Checkpoint) (int64, error) {
	var keep []access.AuditEvent
	var n int64
	for _, ev := range m.evs {
		if ev.Seq <= c.Seq {
			n++
			continue
		}
		keep = append(keep, ev)
	}
	m.evs = keep
	var kc []access.Checkpoint
	for _, x := range m.cps {
		if x.Seq >= c.Seq {
			kc = append(kc, x)
		}
	}
	m.cps = kc
	return n, nil
}

// rewrite edits event seq as a database administrator who knows the
// encoding would: the event and every later hash recomputed, the head
// row fixed.
func (m *memLog) rewrite(seq int64, reason string) {
	var head access.ChainHead
	for i := range m.evs {
		if m.evs[i].Seq == seq {
			m.evs[i].Reason = reason
		}
		if m.evs[i].Seq >= seq {
			m.evs[i] = audit.Link(head, m.evs[i])
		}
		head = audit.Head(m.evs[i])
	}
	m.head = head
}

// dropCheckpointsFrom deletes the checkpoint rows at or after seq.
func (m *memLog) dropCheckpointsFrom(seq int64) {
	var kc []access.Checkpoint
	for _, c := range m.cps {
		if c.Seq < seq {
			kc = append(kc, c)
		}
	}
	m.cps = kc
}

func newLog(n int) *memLog {
	evs := chain(n)
	return &memLog{evs: evs, head: audit.Head(evs[n-1])}
}

func pubOf(k ed25519.PrivateKey) ed25519.PublicKey { return k.Public().(ed25519.PublicKey) }

func clockAt(t time.Time) func() time.Time { return func() time.Time { return t } }

// TestDeletedCheckpointsDoNotHideARewrite: a database administrator edits
// an event, recomputes every hash, deletes the checkpoints that would show
// it and fixes the head. Verify with the public key reports it, and the
// checkpoint job refuses to sign the forgery, whether it remembers its last
// checkpoint in memory or in its checkpoint file.
func TestDeletedCheckpointsDoNotHideARewrite(t *testing.T) {
	ctx := context.Background()
	key := newKey(t)
	now := t0.Add(time.Hour)
	m := newLog(6)
	file := filepath.Join(t.TempDir(), "checkpoints.jsonl")
	cp := &audit.Checkpointer{Store: m, Key: key, File: file, Now: func() time.Time { return now }}
	if _, ok, err := cp.Checkpoint(ctx); !ok || err != nil {
		t.Fatalf("first checkpoint: %v %v", ok, err)
	}
	for _, ev := range chain(10)[6:] {
		m.evs = append(m.evs, ev)
	}
	m.head = audit.Head(m.evs[9])
	now = t0.Add(2 * time.Hour)
	if _, ok, err := cp.Checkpoint(ctx); !ok || err != nil {
		t.Fatalf("second checkpoint: %v %v", ok, err)
	}
	opt := audit.Options{Keys: []ed25519.PublicKey{pubOf(key)}, CheckpointInterval: time.Hour, Now: clockAt(t0.Add(3 * time.Hour))}
	if _, err := audit.Verify(ctx, m, opt); err != nil {
		t.Fatalf("intact log: %v", err)
	}

	m.rewrite(3, "forged")
	m.dropCheckpointsFrom(3)
	_, err := audit.Verify(ctx, m, opt)
	wantBreak(t, err, 1, "no signed checkpoint covers")

	// New events arrive; the job must not sign the forged chain.
	for _, ev := range []access.AuditEvent{{At: t0.Add(150 * time.Minute), Actor: alice, Action: access.ActionDenied}} {
		ev = audit.Link(m.head, ev)
		m.evs = append(m.evs, ev)
		m.head = audit.Head(ev)
	}
	now = t0.Add(3 * time.Hour)
	cp.Store = tamperLog{m}
	if _, ok, err := cp.Checkpoint(ctx); ok || !strings.Contains(errString(err), "missing from the database") {
		t.Fatalf("checkpoint over the forgery: ok %v, %v; want a refusal", ok, err)
	}
	if last := m.evs[len(m.evs)-1]; last.Action != access.ActionAuditTamperFound || !strings.Contains(last.Reason, "missing from the database") {
		t.Fatalf("the refusal is not audited: last event %+v", last)
	}
	// A restarted job reads its anchor from the checkpoint file.
	restarted := &audit.Checkpointer{Store: m, Key: key, File: file, Now: func() time.Time { return now }}
	if _, ok, err := restarted.Checkpoint(ctx); ok || !strings.Contains(errString(err), "missing from the database") {
		t.Fatalf("restarted checkpoint over the forgery: ok %v, %v; want a refusal", ok, err)
	}
	if len(m.cps) != 0 {
		t.Errorf("checkpoints stored over the forgery: %+v", m.cps)
	}

	// A checkpoint row forged with another key is refused too.
	m.cps = []access.Checkpoint{audit.Sign(newKey(t), m.head, now)}
	fresh := &audit.Checkpointer{Store: m, Key: key, Now: func() time.Time { return now }}
	if _, ok, err := fresh.Checkpoint(ctx); ok || !strings.Contains(errString(err), "another key") {
		t.Fatalf("checkpoint over a forged checkpoint row: ok %v, %v; want a refusal", ok, err)
	}
}

func errString(err error) string {
	if err == nil {
		return ""
	}
	return err.Error()
}

// TestVerifyReportsEventsBeyondTheHead: a row appended after the head
// (the head row left alone) is walked and reported, edited or not.
func TestVerifyReportsEventsBeyondTheHead(t *testing.T) {
	ctx := context.Background()
	key := newKey(t)
	m := newLog(11)
	m.evs[10].Reason = "forged, appended outside jitbot"
	m.evs[10] = audit.Link(audit.Head(m.evs[9]), m.evs[10])
	m.head = audit.Head(m.evs[9])
	m.cps = []access.Checkpoint{audit.Sign(key, m.head, t0.Add(time.Hour))}
	opt := audit.Options{Keys: []ed25519.PublicKey{pubOf(key)}}
	_, err := audit.Verify(ctx, m, opt)
	wantBreak(t, err, 11, "appended outside jitbot")
	m.evs[10].Reason = "edited without a new hash"
	_, err = audit.Verify(ctx, m, opt)
	wantBreak(t, err, 11, "edited")
}

// TestRetentionKeepsTamperedEvents: an event edited below the retention
// cut is not deleted by retention, and verify still reports it.
func TestRetentionKeepsTamperedEvents(t *testing.T) {
	ctx := context.Background()
	key := newKey(t)
	m := newLog(10)
	m.cps = []access.Checkpoint{audit.Sign(key, audit.Head(m.evs[7]), t0.Add(time.Hour))}
	m.evs[2].Reason = "edited"
	now := t0.Add(48 * time.Hour)
	cp := &audit.Checkpointer{Store: m, Key: key, Retention: 24 * time.Hour, Now: func() time.Time { return now }}
	n, err := cp.Prune(ctx)
	if n != 0 || err == nil || !strings.Contains(err.Error(), "nothing removed") {
		t.Fatalf("prune over a tampered segment: removed %d, %v", n, err)
	}
	if len(m.evs) != 10 {
		t.Fatalf("%d events left, want 10", len(m.evs))
	}
	_, err = audit.Verify(ctx, m, audit.Options{Keys: []ed25519.PublicKey{pubOf(key)}, Retention: 24 * time.Hour, Now: clockAt(now)})
	wantBreak(t, err, 3, "edited")

	// Intact, the same segment is pruned.
	m = newLog(10)
	m.cps = []access.Checkpoint{audit.Sign(key, audit.Head(m.evs[7]), t0.Add(time.Hour))}
	cp.Store = m
	if n, err := cp.Prune(ctx); n != 8 || err != nil {
		t.Fatalf("prune of an intact segment: removed %d, %v", n, err)
	}
}

// TestVerifyRefusesADeletedPrefix: deleting the oldest events up to a
// signed checkpoint is a break when retention is off, and when the
// checkpoint is younger than the retention.
func TestVerifyRefusesADeletedPrefix(t *testing.T) {
	ctx := context.Background()
	key := newKey(t)
	m := newLog(10)
	m.cps = []access.Checkpoint{audit.Sign(key, audit.Head(m.evs[7]), t0.Add(time.Hour))}
	if _, err := m.PruneAudit(ctx, m.cps[0]); err != nil {
		t.Fatal(err)
	}
	keys := []ed25519.PublicKey{pubOf(key)}
	_, err := audit.Verify(ctx, m, audit.Options{Keys: keys, Now: clockAt(t0.Add(48 * time.Hour))})
	wantBreak(t, err, 8, "audit.retention is 0")
	_, err = audit.Verify(ctx, m, audit.Options{Keys: keys, Retention: 24 * time.Hour, Now: clockAt(t0.Add(2 * time.Hour))})
	wantBreak(t, err, 8, "less than audit.retention")
	if res, err := audit.Verify(ctx, m, audit.Options{Keys: keys, Retention: 24 * time.Hour, Now: clockAt(t0.Add(48 * time.Hour))}); err != nil || res.FirstSeq != 9 {
		t.Fatalf("pruned by retention: %+v, %v", res, err)
	}
}

// TestVerifyAcceptsRotatedKeys: after the signing key is rotated, verify
// given both public keys checks each checkpoint with the key it names, and
// the job and retention accept the old key's checkpoints when given its
// public key.
func TestVerifyAcceptsRotatedKeys(t *testing.T) {
	ctx := context.Background()
	k1, k2 := newKey(t), newKey(t)
	m := newLog(10)
	m.cps = []access.Checkpoint{audit.Sign(k1, audit.Head(m.evs[4]), t0.Add(time.Hour)), audit.Sign(k2, audit.Head(m.evs[9]), t0.Add(2*time.Hour))}
	if res, err := audit.Verify(ctx, m, audit.Options{Keys: []ed25519.PublicKey{pubOf(k1), pubOf(k2)}}); err != nil || res.Checkpoints != 2 {
		t.Fatalf("both keys: %+v, %v", res, err)
	}
	_, err := audit.Verify(ctx, m, audit.Options{Keys: []ed25519.PublicKey{pubOf(k2)}})
	wantBreak(t, err, 5, audit.KeyID(pubOf(k1)))

	m.evs = append(m.evs, audit.Link(m.head, access.AuditEvent{At: t0.Add(3 * time.Hour), Actor: alice, Action: access.ActionDenied}))
	m.head = audit.Head(m.evs[10])
	now := t0.Add(72 * time.Hour)
	without := &audit.Checkpointer{Store: m, Key: k2, Retention: 24 * time.Hour, Now: clockAt(now)}
	if _, ok, err := without.Checkpoint(ctx); ok || err == nil {
		t.Fatalf("checkpoint over a checkpoint of an unknown key: %v %v", ok, err)
	}
	cp := &audit.Checkpointer{Store: m, Key: k2, PreviousKeys: []ed25519.PublicKey{pubOf(k1)}, Retention: 24 * time.Hour, Now: clockAt(now)}
	if _, ok, err := cp.Checkpoint(ctx); !ok || err != nil {
		t.Fatalf("checkpoint with the previous key given: %v %v", ok, err)
	}
	if n, err := cp.Prune(ctx); err != nil || n != 10 {
		t.Fatalf("prune with the previous key given: removed %d, %v", n, err)
	}
}

// TestVerifyDuringRetention: retention removing the oldest segment while
// verify walks does not make an intact log fail.
func TestVerifyDuringRetention(t *testing.T) {
	ctx := context.Background()
	key := newKey(t)
	m := newLog(30)
	m.cps = []access.Checkpoint{audit.Sign(key, audit.Head(m.evs[19]), t0.Add(time.Hour))}
	m.duringSeq = 10
	m.during = func() {
		if _, err := m.PruneAudit(ctx, m.cps[0]); err != nil {
			t.Error(err)
		}
	}
	res, err := audit.Verify(ctx, m, audit.Options{Keys: []ed25519.PublicKey{pubOf(key)}, Retention: 24 * time.Hour, Now: clockAt(t0.Add(48 * time.Hour))})
	if err != nil || res.FirstSeq != 21 || res.LastSeq != 30 {
		t.Fatalf("verify during retention: %+v, %v", res, err)
	}
	if m.during != nil {
		t.Fatal("retention did not run during the walk")
	}
}

// TestVerifyAfterRetentionRemovedEveryEvent: when no event came after the
// newest checkpoint, retention removes every event, and the log still
// verifies.
func TestVerifyAfterRetentionRemovedEveryEvent(t *testing.T) {
	ctx := context.Background()
	key := newKey(t)
	m := newLog(10)
	now := t0.Add(time.Hour)
	cp := &audit.Checkpointer{Store: m, Key: key, Retention: 24 * time.Hour, Now: func() time.Time { return now }}
	if _, ok, err := cp.Checkpoint(ctx); !ok || err != nil {
		t.Fatal(ok, err)
	}
	now = now.Add(48 * time.Hour)
	if n, err := cp.Prune(ctx); n != 10 || err != nil {
		t.Fatalf("prune: %d %v", n, err)
	}
	opt := audit.Options{Keys: []ed25519.PublicKey{pubOf(key)}, Retention: 24 * time.Hour, CheckpointInterval: time.Hour, Now: clockAt(now)}
	res, err := audit.Verify(ctx, m, opt)
	if err != nil || res.Events != 0 || res.Checkpoints != 1 {
		t.Fatalf("verify after a full prune: %+v, %v", res, err)
	}
	// The head moved on without events: the last ones were deleted.
	m.head = access.ChainHead{Seq: 12, Hash: strings.Repeat("ab", 32)}
	_, err = audit.Verify(ctx, m, opt)
	var b *audit.Break
	if !errors.As(err, &b) {
		t.Fatalf("head beyond the checkpoint with no events: %v", err)
	}
}
