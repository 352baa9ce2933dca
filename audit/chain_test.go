package audit_test

import (
	"crypto/ed25519"
	"encoding/base64"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/jitbot/jitbot/access"
	"github.com/jitbot/jitbot/audit"
)

var (
	t0    = time.Date(2026, 12, 1, 9, 30, 0, 123456789, time.UTC)
	alice = access.Person{ObjectID: "00000000-0000-0000-0000-00000000a11c", Name: "Alice"}
)

// TestHashIsTheDocumentedEncoding pins the hash of one event: it was
// computed by an independent implementation of the encoding the package
// documentation describes, so the encoding cannot change unnoticed.
func TestHashIsTheDocumentedEncoding(t *testing.T) {
	ev := access.AuditEvent{
		ID: 99, Seq: 7, PrevHash: strings.Repeat("ab", 32),
		At:    t0.In(time.FixedZone("CET", 3600)), // stored in UTC, to the microsecond
		Actor: alice, Action: access.ActionRequested, RequestID: "r-1", Profile: "prod-db", GroupID: "g-1",
		TargetUserID: alice.ObjectID, Reason: `ticket INC-1: =HYPERLINK("x")`, ConversationID: "19:c", ActivityID: "a1",
	}
	const want = "30153b58f107606c231235a3c2464caa3001aaf8c88b30024fea8ee9129ddbf3"
	if got := audit.HashEvent(ev); got != want {
		t.Fatalf("hash = %s, want %s", got, want)
	}
	ev.ID = 5 // the storage id is not content
	if audit.HashEvent(ev) != want {
		t.Error("the storage id changed the hash")
	}
	// Moving bytes from one field to the next changes the hash: fields are
	// length-prefixed.
	moved := ev
	moved.ConversationID, moved.ActivityID = "19:", "ca1"
	if audit.HashEvent(moved) == want {
		t.Error("fields are not delimited")
	}
}

func chain(n int) []access.AuditEvent {
	var head access.ChainHead
	out := make([]access.AuditEvent, n)
	for i := range out {
		ev := audit.Link(head, access.AuditEvent{ID: int64(i + 1), At: t0.Add(time.Duration(i) * time.Minute), Actor: alice, Action: access.ActionRequested, Reason: "r"})
		head = audit.Head(ev)
		out[i] = ev
	}
	return out
}

func newKey(t *testing.T) ed25519.PrivateKey {
	t.Helper()
	privPEM, _, err := audit.GenerateKey()
	if err != nil {
		t.Fatal(err)
	}
	k, err := audit.ParsePrivateKey(privPEM)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

func verify(evs []access.AuditEvent, head access.ChainHead, cps []access.Checkpoint, pub ed25519.PublicKey) (audit.Result, error) {
	var keys []ed25519.PublicKey
	if pub != nil {
		keys = []ed25519.PublicKey{pub}
	}
	v := audit.NewVerifier(cps, audit.Options{Keys: keys, Retention: 24 * time.Hour, Now: func() time.Time { return t0.Add(48 * time.Hour) }})
	for _, ev := range evs {
		if err := v.Add(ev); err != nil {
			return audit.Result{}, err
		}
	}
	return v.Finish(head)
}

func wantBreak(t *testing.T, err error, seq int64, words string) {
	t.Helper()
	var b *audit.Break
	if !errors.As(err, &b) {
		t.Fatalf("verify: %v, want a break at seq %d (%s)", err, seq, words)
	}
	if b.Seq != seq || !strings.Contains(b.Problem, words) {
		t.Fatalf("break %v, want seq %d, %q", b, seq, words)
	}
}

// TestVerifierFindsTheFirstBreak tampers with a chain in every way a
// database administrator could and checks where verification stops.
func TestVerifierFindsTheFirstBreak(t *testing.T) {
	key := newKey(t)
	pub := key.Public().(ed25519.PublicKey)
	evs := chain(10)
	head := audit.Head(evs[9])
	cp := audit.Sign(key, audit.Head(evs[5]), t0.Add(time.Hour))

	res, err := verify(evs, head, []access.Checkpoint{cp}, pub)
	if err != nil || res.Events != 10 || res.Checkpoints != 1 || !res.SignaturesChecked || res.FirstSeq != 1 || res.LastSeq != 10 {
		t.Fatalf("intact chain: %+v, %v", res, err)
	}

	edited := append([]access.AuditEvent(nil), evs...)
	edited[3].Reason = "nothing happened"
	_, err = verify(edited, head, nil, nil)
	wantBreak(t, err, 4, "edited")

	deleted := append(append([]access.AuditEvent(nil), evs[:4]...), evs[5:]...)
	_, err = verify(deleted, head, nil, nil)
	wantBreak(t, err, 5, "deleted")

	inserted := append(append(append([]access.AuditEvent(nil), evs[:5]...), evs[4]), evs[5:]...)
	inserted[5].ID = 77
	_, err = verify(inserted, head, nil, nil)
	wantBreak(t, err, 5, "inserted")

	reordered := append([]access.AuditEvent(nil), evs...)
	reordered[2], reordered[3] = reordered[3], reordered[2]
	reordered[2].Seq, reordered[3].Seq = 3, 4
	_, err = verify(reordered, head, nil, nil)
	wantBreak(t, err, 3, "reordered")

	truncated := evs[:8]
	_, err = verify(truncated, head, nil, nil)
	wantBreak(t, err, 9, "deleted")

	// Event 3 edited and every hash after it recomputed: the chain is
	// consistent again, but no longer what was signed at seq 6.
	rewritten := append([]access.AuditEvent(nil), evs[:2]...)
	h := audit.Head(evs[1])
	for _, ev := range evs[2:] {
		if ev.Seq == 3 {
			ev.Reason = "nothing happened"
		}
		ev = audit.Link(h, ev)
		h = audit.Head(ev)
		rewritten = append(rewritten, ev)
	}
	if _, err := verify(rewritten, h, nil, nil); err != nil {
		t.Fatalf("recomputed chain without checkpoints: %v", err)
	}
	_, err = verify(rewritten, h, []access.Checkpoint{cp}, pub)
	wantBreak(t, err, 6, "rewritten")
	// ... and a checkpoint rewritten to match has no valid signature.
	forged := cp
	forged.Hash = rewritten[5].Hash
	_, err = verify(rewritten, h, []access.Checkpoint{forged}, pub)
	wantBreak(t, err, 6, "signature does not verify")
	other := audit.Sign(newKey(t), audit.Head(rewritten[5]), t0.Add(time.Hour))
	_, err = verify(rewritten, h, []access.Checkpoint{other}, pub)
	wantBreak(t, err, 6, "another key")
	if _, err := verify(rewritten, h, []access.Checkpoint{forged}, nil); err != nil {
		t.Errorf("without a public key only hashes are matched, got %v", err)
	}

	// After retention: the chain starts right after a checkpoint.
	if res, err := verify(evs[6:], head, []access.Checkpoint{cp}, pub); err != nil || res.FirstSeq != 7 || res.Events != 4 {
		t.Errorf("pruned chain: %+v, %v", res, err)
	}
	_, err = verify(evs[7:], head, []access.Checkpoint{cp}, pub)
	wantBreak(t, err, 7, "deleted")
}

// TestGenesisSealsOlderEvents checks that the events from before the chain
// are bound by the genesis: editing, deleting or adding one breaks seq 1.
func TestGenesisSealsOlderEvents(t *testing.T) {
	legacy := []access.AuditEvent{
		{ID: 1, At: t0, Actor: alice, Action: access.ActionRequested},
		{ID: 2, At: t0.Add(time.Minute), Actor: alice, Action: access.ActionApproved, Reason: "ok"},
	}
	var d audit.LegacyDigest
	for _, ev := range legacy {
		d.Add(ev)
	}
	g := d.Genesis()
	if !g.At.Equal(legacy[1].At) || g.Action != access.ActionAuditGenesis || !strings.Contains(g.Reason, "sealed 2 events") {
		t.Fatalf("genesis %+v", g)
	}
	g = audit.Link(access.ChainHead{}, g)
	next := audit.Link(audit.Head(g), access.AuditEvent{At: t0.Add(time.Hour), Actor: alice, Action: access.ActionDenied})
	all := []access.AuditEvent{legacy[0], legacy[1], g, next}
	if res, err := verify(all, audit.Head(next), nil, nil); err != nil || res.Events != 4 {
		t.Fatalf("sealed log: %+v, %v", res, err)
	}
	edited := append([]access.AuditEvent(nil), all...)
	edited[1].Reason = "changed"
	_, err := verify(edited, audit.Head(next), nil, nil)
	wantBreak(t, err, 1, "genesis")
	_, err = verify(all[1:], audit.Head(next), nil, nil)
	wantBreak(t, err, 1, "genesis")
	// A seq-0 event where there is no genesis was inserted.
	_, err = verify([]access.AuditEvent{legacy[0], next}, audit.Head(next), nil, nil)
	var b *audit.Break
	if !errors.As(err, &b) || !strings.Contains(b.Problem, "inserted") {
		t.Errorf("seq-0 event without genesis: %v", err)
	}
}

func TestKeysAndSignatures(t *testing.T) {
	privPEM, pubPEM, err := audit.GenerateKey()
	if err != nil {
		t.Fatal(err)
	}
	key, err := audit.ParsePrivateKey(privPEM)
	if err != nil {
		t.Fatal(err)
	}
	pub, err := audit.ParsePublicKey(pubPEM)
	if err != nil || !pub.Equal(key.Public()) {
		t.Fatalf("public key %v, %v", pub, err)
	}
	// The raw base64 forms.
	seed := base64.StdEncoding.EncodeToString(key.Seed())
	if k, err := audit.ParsePrivateKey([]byte(seed + "\n")); err != nil || !k.Equal(key) {
		t.Fatalf("base64 seed: %v", err)
	}
	if p, err := audit.ParsePublicKey([]byte(base64.StdEncoding.EncodeToString(pub))); err != nil || !p.Equal(pub) {
		t.Fatalf("base64 public key: %v", err)
	}
	for _, bad := range []string{"", "not a key", base64.StdEncoding.EncodeToString([]byte("short")), "-----BEGIN RSA PRIVATE KEY-----\nAAAA\n-----END RSA PRIVATE KEY-----\n"} {
		if _, err := audit.ParsePrivateKey([]byte(bad)); err == nil {
			t.Errorf("ParsePrivateKey(%q) accepted", bad)
		}
	}
	c := audit.Sign(key, access.ChainHead{Seq: 42, Hash: strings.Repeat("0f", 32)}, t0)
	if err := audit.CheckSignature(pub, c); err != nil || c.KeyID != audit.KeyID(pub) || !c.At.Equal(t0.Truncate(time.Microsecond)) {
		t.Fatalf("checkpoint %+v: %v", c, err)
	}
	for name, change := range map[string]func(*access.Checkpoint){
		"seq":  func(c *access.Checkpoint) { c.Seq++ },
		"hash": func(c *access.Checkpoint) { c.Hash = strings.Repeat("1f", 32) },
		"time": func(c *access.Checkpoint) { c.At = c.At.Add(time.Second) },
	} {
		forged := c
		change(&forged)
		if audit.CheckSignature(pub, forged) == nil {
			t.Errorf("a checkpoint with another %s verified", name)
		}
	}
}

func TestRetentionCut(t *testing.T) {
	cps := []access.Checkpoint{{Seq: 30, At: t0.Add(3 * time.Hour)}, {Seq: 10, At: t0.Add(time.Hour)}, {Seq: 20, At: t0.Add(2 * time.Hour)}}
	now := t0.Add(5 * time.Hour)
	if _, ok := audit.RetentionCut(cps, now, 0); ok {
		t.Error("retention 0 removes something")
	}
	if c, ok := audit.RetentionCut(cps, now, 3*time.Hour); !ok || c.Seq != 20 {
		t.Errorf("3h: %+v %v, want the checkpoint at seq 20", c, ok)
	}
	if _, ok := audit.RetentionCut(cps, now, 5*time.Hour); ok {
		t.Error("5h: no checkpoint is that old")
	}
}
