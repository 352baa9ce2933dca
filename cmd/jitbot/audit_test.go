package main

import (
	"context"
	"encoding/base64"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/libtnb/sqlite"
	"gorm.io/driver/postgres"
	"gorm.io/gorm"
	gormlogger "gorm.io/gorm/logger"

	"github.com/jitbot/jitbot/access"
	"github.com/jitbot/jitbot/audit"
	"github.com/jitbot/jitbot/storage"
)

// auditRig is a deployment's configuration, database and checkpoint key,
// and a database administrator's direct access to its tables.
type auditRig struct {
	t      *testing.T
	dbURL  string
	config string
	pubKey string // the file keygen's printed public key was saved to
	cpFile string
	sql    *gorm.DB
	env    map[string]string
}

// auditBackends runs fn on a fresh SQLite and PostgreSQL database each.
func auditBackends(t *testing.T, fn func(t *testing.T, dbURL string)) {
	t.Run("sqlite", func(t *testing.T) {
		t.Parallel()
		fn(t, "sqlite:"+filepath.Join(t.TempDir(), "jitbot.db"))
	})
	t.Run("postgres", func(t *testing.T) {
		t.Parallel()
		fn(t, newPGDatabase(t))
	})
}

// newAuditRig generates a signing key with `jitbot audit keygen`, writes a
// configuration that uses it, and fills the database with eight events of
// real requests, the last of them signed by `jitbot audit checkpoint`, then
// four more.
func newAuditRig(t *testing.T, dbURL, extraAudit string) *auditRig {
	t.Helper()
	dir := t.TempDir()
	r := &auditRig{t: t, dbURL: dbURL, cpFile: filepath.Join(dir, "checkpoints.jsonl"), pubKey: filepath.Join(dir, "audit.pub"),
		env: map[string]string{"TENANT": "4f3c2b1a-0d9e-4c8b-9a7f-6e5d4c3b2a10"}}
	keyFile := filepath.Join(dir, "audit.key")
	code, out := runCmd(t, nil, "audit", "keygen", "--out", keyFile)
	if code != 0 || !strings.Contains(out, "BEGIN PUBLIC KEY") {
		t.Fatalf("keygen: exit %d: %s", code, out)
	}
	if st, err := os.Stat(keyFile); err != nil || st.Mode().Perm() != 0o600 {
		t.Fatalf("key file %v, %v; want mode 0600", st, err)
	}
	if code, out := runCmd(t, nil, "audit", "keygen", "--out", keyFile); code == 0 {
		t.Fatalf("keygen overwrote a key: %s", out)
	}
	if err := os.WriteFile(r.pubKey, []byte(out), 0o644); err != nil {
		t.Fatal(err)
	}
	r.config = writeConfig(t, strings.Replace(validConfig, `"sqlite:jitbot.db"`, `"`+dbURL+`"`, 1)+
		fmt.Sprintf("audit:\n  signing_key_file: %q\n  checkpoint_file: %q\n%s", keyFile, r.cpFile, extraAudit))

	db, err := storage.Open(context.Background(), dbURL, nil)
	if err != nil {
		t.Fatal(err)
	}
	r.fill(db, 0, 4) // two events per request
	db.Close()
	if code, out := r.run("audit", "checkpoint"); code != 0 || !strings.Contains(out, "checkpoint signed: seq 8") {
		t.Fatalf("audit checkpoint: exit %d: %s", code, out)
	}
	db, err = storage.Open(context.Background(), dbURL, nil)
	if err != nil {
		t.Fatal(err)
	}
	r.fill(db, 4, 2)
	db.Close()

	var dialector gorm.Dialector
	if path, ok := strings.CutPrefix(dbURL, "sqlite:"); ok {
		dialector = sqlite.Open(path + "?_pragma=busy_timeout(5000)")
	} else {
		dialector = postgres.Open(dbURL)
	}
	r.sql, err = gorm.Open(dialector, &gorm.Config{Logger: gormlogger.Discard})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if d, err := r.sql.DB(); err == nil {
			_ = d.Close()
		}
	})
	return r
}

// fill makes n requests, from the i-th user on, each asked then denied.
func (r *auditRig) fill(db *storage.DB, from, n int) {
	r.t.Helper()
	ctx := context.Background()
	// Recent, as events not yet covered by a checkpoint are: verify
	// reports older ones (checkpoints are signed every interval).
	at := time.Now().UTC().Truncate(time.Second).Add(-10 * time.Minute)
	for i := from; i < from+n; i++ {
		user := access.Person{ObjectID: fUser(i + 1), Name: fmt.Sprintf("User %d", i+1)}
		approver := access.Person{ObjectID: fUser(100), Name: "Approver"}
		req := &access.Request{Profile: "prod-db", GroupID: fGroup(0), Requester: user, Duration: time.Hour,
			Ticket: "INC-1", Justification: "restore the replica", CreatedAt: at.Add(time.Duration(i) * time.Minute)}
		if _, err := db.CreateRequest(ctx, req, access.AuditEvent{Actor: user, Action: access.ActionRequested, Profile: "prod-db", Reason: req.Justification}); err != nil {
			r.t.Fatal(err)
		}
		d := access.Decision{Approver: approver, Verdict: access.Deny, Reason: "not now", DecidedAt: req.CreatedAt.Add(time.Second)}
		if _, err := db.Deny(ctx, req.ID, d, access.AuditEvent{Actor: approver, Action: access.ActionDenied, Profile: "prod-db", Reason: d.Reason}); err != nil {
			r.t.Fatal(err)
		}
	}
}

func (r *auditRig) run(args ...string) (int, string) {
	r.t.Helper()
	return runCmd(r.t, r.env, append(args, "--config", r.config)...)
}

func (r *auditRig) exec(sql string, args ...any) {
	r.t.Helper()
	if err := r.sql.Exec(sql, args...).Error; err != nil {
		r.t.Fatalf("%s: %v", sql, err)
	}
}

// verifyFails runs audit verify with the public key and wants exit status
// 1 and a message naming seq and the problem.
func (r *auditRig) verifyFails(seq int64, problem string) {
	r.t.Helper()
	code, out := r.run("audit", "verify", "--public-key", r.pubKey)
	want := fmt.Sprintf("audit chain broken at seq %d", seq)
	if code != 1 || !strings.Contains(out, want) || !strings.Contains(out, problem) {
		r.t.Fatalf("audit verify: exit %d: %s\nwant exit 1, %q and %q", code, out, want, problem)
	}
}

var intactRE = regexp.MustCompile(`audit log intact: (\d+) events \(seq (\d+) to (\d+)\), (\d+) checkpoints`)

// verifyIntact runs audit verify and wants exit 0 with these counts.
func (r *auditRig) verifyIntact(events, first, last, checkpoints int, args ...string) string {
	r.t.Helper()
	code, out := r.run(append([]string{"audit", "verify"}, args...)...)
	m := intactRE.FindStringSubmatch(out)
	if code != 0 || m == nil || m[1] != fmt.Sprint(events) || m[2] != fmt.Sprint(first) || m[3] != fmt.Sprint(last) || m[4] != fmt.Sprint(checkpoints) {
		r.t.Fatalf("audit verify: exit %d: %s\nwant %d events (seq %d to %d), %d checkpoints", code, out, events, first, last, checkpoints)
	}
	return out
}

// rewrite edits event seq, then recomputes the hash of every event from it
// on and the chain head, as an administrator who knows the encoding would.
func (r *auditRig) rewrite(seq int64) {
	r.t.Helper()
	db, err := storage.OpenForReading(context.Background(), r.dbURL, nil)
	if err != nil {
		r.t.Fatal(err)
	}
	defer db.Close()
	var evs []access.AuditEvent
	if err := db.EachAudit(context.Background(), access.AuditQuery{}, func(ev access.AuditEvent) error { evs = append(evs, ev); return nil }); err != nil {
		r.t.Fatal(err)
	}
	head := access.ChainHead{Seq: evs[seq-2].Seq, Hash: evs[seq-2].Hash}
	for _, ev := range evs[seq-1:] {
		if ev.Seq == seq {
			ev.Reason = "nothing to see"
			r.exec("UPDATE audit_events SET reason = ? WHERE id = ?", ev.Reason, ev.ID)
		}
		ev = audit.Link(head, ev)
		head = audit.Head(ev)
		r.exec("UPDATE audit_events SET prev_hash = ?, hash = ? WHERE id = ?", ev.PrevHash, ev.Hash, ev.ID)
	}
	r.exec("UPDATE audit_chain_head SET seq = ?, hash = ?", head.Seq, head.Hash)
}

// TestAuditVerifyFindsTampering edits, deletes, inserts and reorders audit
// rows directly in the database, and recomputes the whole chain after a
// signed checkpoint: jitbot audit verify fails at the right event each
// time, and passes on the intact log.
func TestAuditVerifyFindsTampering(t *testing.T) {
	auditBackends(t, func(t *testing.T, dbURL string) {
		cases := []struct {
			name    string
			tamper  func(r *auditRig)
			seq     int64
			problem string
		}{
			{"edited", func(r *auditRig) {
				r.exec("UPDATE audit_events SET reason = 'approved' WHERE seq = 5")
			}, 5, "its content does not match its hash: edited"},
			{"deleted", func(r *auditRig) {
				r.exec("DELETE FROM audit_events WHERE seq = 6")
			}, 6, "events 6 to 6 deleted"},
			{"deleted at the end", func(r *auditRig) {
				r.exec("DELETE FROM audit_events WHERE seq > 7")
				r.exec("UPDATE audit_chain_head SET seq = 7, hash = (SELECT hash FROM audit_events WHERE seq = 7)")
			}, 8, "the last events deleted"},
			{"inserted", func(r *auditRig) {
				r.exec("DROP INDEX idx_audit_chain_seq")
				r.exec(`INSERT INTO audit_events (seq, prev_hash, hash, at, actor_id, actor_name, action, request_id, profile, group_id, target_user_id, reason, conversation_id, activity_id)
					SELECT seq, prev_hash, hash, at, actor_id, actor_name, 'request.approved', request_id, profile, group_id, target_user_id, 'looks fine', conversation_id, activity_id FROM audit_events WHERE seq = 7`)
			}, 7, "a second event has this seq: inserted"},
			{"reordered", func(r *auditRig) {
				r.exec("UPDATE audit_events SET seq = -3 WHERE seq = 3")
				r.exec("UPDATE audit_events SET seq = 3 WHERE seq = 4")
				r.exec("UPDATE audit_events SET seq = 4 WHERE seq = -3")
			}, 3, "reordered"},
			{"rewritten after a checkpoint", func(r *auditRig) { r.rewrite(3) }, 8, "the log was rewritten up to here after it was signed"},
			{"rewritten with its checkpoint", func(r *auditRig) {
				r.rewrite(3)
				r.exec("UPDATE audit_checkpoints SET hash = (SELECT hash FROM audit_events WHERE seq = 8) WHERE seq = 8")
				_ = os.Remove(r.cpFile)
			}, 8, "signature does not verify"},
		}
		for _, c := range cases {
			t.Run(c.name, func(t *testing.T) {
				var url string
				if strings.HasPrefix(dbURL, "sqlite:") {
					url = "sqlite:" + filepath.Join(t.TempDir(), "jitbot.db")
				} else {
					url = newPGDatabase(t)
				}
				r := newAuditRig(t, url, "")
				out := r.verifyIntact(12, 1, 12, 1, "--public-key", r.pubKey)
				if !strings.Contains(out, "checkpoint signatures verified with key") {
					t.Errorf("verify with a key: %s", out)
				}
				c.tamper(r)
				r.verifyFails(c.seq, c.problem)
			})
		}
	})
}

// TestAuditCheckpointRefusesAChainRewrittenWithItsCheckpointsDeleted: an
// administrator rewrites the chain and deletes every checkpoint row. The
// checkpoint file still holds the last checkpoint: verify reports the
// rewrite, and jitbot audit checkpoint refuses to sign the forgery.
func TestAuditCheckpointRefusesAChainRewrittenWithItsCheckpointsDeleted(t *testing.T) {
	auditBackends(t, func(t *testing.T, dbURL string) {
		r := newAuditRig(t, dbURL, "")
		r.rewrite(3)
		r.exec("DELETE FROM audit_checkpoints")
		r.verifyFails(8, "rewritten")
		code, out := r.run("audit", "checkpoint")
		if code != 1 || !strings.Contains(out, "refusing to sign") || !strings.Contains(out, "missing from the database") {
			t.Fatalf("audit checkpoint over the forgery: exit %d: %s", code, out)
		}
		var n int64
		if err := r.sql.Raw("SELECT COUNT(*) FROM audit_checkpoints").Scan(&n).Error; err != nil || n != 0 {
			t.Fatalf("%d checkpoints stored (%v) over the forgery, want 0", n, err)
		}
		if err := r.sql.Raw("SELECT COUNT(*) FROM audit_events WHERE action = ? AND reason LIKE ?", access.ActionAuditTamperFound, "%missing from the database%").Scan(&n).Error; err != nil || n != 1 {
			t.Fatalf("%d audited refusals (%v), want 1", n, err)
		}
	})
}

// TestAuditVerifyCatchesAChainRewrittenWithoutAKey checks the checks that
// need no public key: a rewritten chain is caught by the stored
// checkpoint's hash, and a rewritten stored checkpoint by the copy in the
// checkpoint file. Without the key, verify says signatures were not
// checked.
func TestAuditVerifyCatchesAChainRewrittenWithoutAKey(t *testing.T) {
	auditBackends(t, func(t *testing.T, dbURL string) {
		r := newAuditRig(t, dbURL, "")
		if out := r.verifyIntact(12, 1, 12, 1); !strings.Contains(out, "signatures NOT checked") {
			t.Errorf("verify without a key: %s", out)
		}
		r.rewrite(3)
		r.exec("UPDATE audit_checkpoints SET hash = (SELECT hash FROM audit_events WHERE seq = 8) WHERE seq = 8")
		code, out := r.run("audit", "verify")
		if code != 1 || !strings.Contains(out, "audit chain broken at seq 8") || !strings.Contains(out, "checkpoint file") {
			t.Fatalf("audit verify: exit %d: %s", code, out)
		}
	})
}

// TestAuditRetentionKeepsTheRestVerifiable prunes the segment below an old
// checkpoint and checks that the rest still verifies from it, and that
// deleting the first event kept is still caught.
func TestAuditRetentionKeepsTheRestVerifiable(t *testing.T) {
	auditBackends(t, func(t *testing.T, dbURL string) {
		r := newAuditRig(t, dbURL, "  checkpoint_interval: 1s\n  retention: 1s\n")
		time.Sleep(1100 * time.Millisecond) // the checkpoint at seq 8 is older than the retention
		code, out := r.run("audit", "checkpoint")
		if code != 0 || !strings.Contains(out, "checkpoint signed: seq 12") || !strings.Contains(out, "retention removed 8 events") {
			t.Fatalf("audit checkpoint: exit %d: %s", code, out)
		}
		var left int64
		if err := r.sql.Raw("SELECT COUNT(*) FROM audit_events").Scan(&left).Error; err != nil || left != 4 {
			t.Fatalf("%d events left (%v), want 4", left, err)
		}
		r.verifyIntact(4, 9, 12, 2, "--public-key", r.pubKey)
		// A forged checkpoint row never makes jitbot remove anything.
		var signedAt time.Time
		if err := r.sql.Raw("SELECT at FROM audit_checkpoints WHERE seq = 12").Scan(&signedAt).Error; err != nil {
			t.Fatal(err)
		}
		r.exec("UPDATE audit_checkpoints SET at = ? WHERE seq = 12", time.Date(2001, 1, 1, 0, 0, 0, 0, time.UTC))
		code, out = r.run("audit", "checkpoint")
		if code != 1 || !strings.Contains(out, "refusing to sign") || !strings.Contains(out, "altered or forged") {
			t.Fatalf("audit checkpoint with a backdated checkpoint: exit %d: %s", code, out)
		}
		if err := r.sql.Raw("SELECT COUNT(*) FROM audit_events WHERE seq <= 12").Scan(&left).Error; err != nil || left != 4 {
			t.Fatalf("%d events left (%v) after a backdated checkpoint, want 4", left, err)
		}
		var refusals int64
		if err := r.sql.Raw("SELECT COUNT(*) FROM audit_events WHERE seq = 13 AND action = ?", access.ActionAuditTamperFound).Scan(&refusals).Error; err != nil || refusals != 1 {
			t.Fatalf("%d audited refusals (%v), want 1", refusals, err)
		}
		r.verifyFails(12, "differs from its copy in the checkpoint file")
		r.exec("UPDATE audit_checkpoints SET at = ? WHERE seq = 12", signedAt)
		// Without the key: the refusal (seq 13) is not signed yet, and
		// checkpoints are due every second.
		r.verifyIntact(5, 9, 13, 2)
		// Deleting the oldest event kept leaves a chain no checkpoint anchors.
		r.exec("DELETE FROM audit_events WHERE seq = 9")
		r.verifyFails(9, "no checkpoint at seq 9 anchors it")
	})
}

// TestAuditVerifyRefusesADeletedPrefix deletes the oldest events up to the
// signed checkpoint while audit.retention is off: verify reports it.
func TestAuditVerifyRefusesADeletedPrefix(t *testing.T) {
	auditBackends(t, func(t *testing.T, dbURL string) {
		r := newAuditRig(t, dbURL, "")
		r.exec("DELETE FROM audit_events WHERE seq <= 8")
		r.verifyFails(8, "audit.retention is 0")
	})
}

// TestAuditRetentionKeepsTamperedEvents edits an event below the retention
// cut: retention refuses to remove the segment, so the edit stays visible.
func TestAuditRetentionKeepsTamperedEvents(t *testing.T) {
	auditBackends(t, func(t *testing.T, dbURL string) {
		r := newAuditRig(t, dbURL, "  checkpoint_interval: 1s\n  retention: 1s\n")
		r.exec("UPDATE audit_events SET reason = 'approved' WHERE seq = 3")
		time.Sleep(1100 * time.Millisecond) // the checkpoint at seq 8 is older than the retention
		code, out := r.run("audit", "checkpoint")
		if code != 1 || !strings.Contains(out, "nothing removed") || !strings.Contains(out, "seq 3") {
			t.Fatalf("audit checkpoint over an edited segment: exit %d: %s", code, out)
		}
		var left int64
		if err := r.sql.Raw("SELECT COUNT(*) FROM audit_events").Scan(&left).Error; err != nil || left != 12 {
			t.Fatalf("%d events left (%v), want all 12", left, err)
		}
		r.verifyFails(3, "edited")
	})
}

// TestAuditVerifyAfterRetentionRemovedEveryEvent lets retention remove
// every event (none came after the newest checkpoint): the log verifies.
func TestAuditVerifyAfterRetentionRemovedEveryEvent(t *testing.T) {
	auditBackends(t, func(t *testing.T, dbURL string) {
		r := newAuditRig(t, dbURL, "  checkpoint_interval: 1s\n  retention: 1s\n")
		time.Sleep(1100 * time.Millisecond)
		if code, out := r.run("audit", "checkpoint"); code != 0 || !strings.Contains(out, "retention removed 8 events") {
			t.Fatalf("audit checkpoint: exit %d: %s", code, out)
		}
		time.Sleep(1100 * time.Millisecond)
		if code, out := r.run("audit", "checkpoint"); code != 0 || !strings.Contains(out, "retention removed 4 events") {
			t.Fatalf("audit checkpoint: exit %d: %s", code, out)
		}
		code, out := r.run("audit", "verify", "--public-key", r.pubKey)
		if code != 0 || !strings.Contains(out, "audit log intact: 0 events (retention removed every event up to seq 12), 2 checkpoints") {
			t.Fatalf("audit verify: exit %d: %s", code, out)
		}
	})
}

// TestAuditKeyRotation replaces the signing key: with the old public key in
// audit.previous_public_keys the job signs on, and verify given both public
// keys checks each checkpoint with the key it names.
func TestAuditKeyRotation(t *testing.T) {
	auditBackends(t, func(t *testing.T, dbURL string) {
		r := newAuditRig(t, dbURL, "")
		dir := t.TempDir()
		newKey, newPub := filepath.Join(dir, "new.key"), filepath.Join(dir, "new.pub")
		code, out := runCmd(t, nil, "audit", "keygen", "--out", newKey)
		if code != 0 {
			t.Fatalf("keygen: exit %d: %s", code, out)
		}
		if err := os.WriteFile(newPub, []byte(out), 0o644); err != nil {
			t.Fatal(err)
		}
		oldPEM, err := os.ReadFile(r.pubKey)
		if err != nil {
			t.Fatal(err)
		}
		old, err := audit.ParsePublicKey(oldPEM)
		if err != nil {
			t.Fatal(err)
		}
		cfg, err := os.ReadFile(r.config)
		if err != nil {
			t.Fatal(err)
		}
		oldKeyFile := filepath.Join(filepath.Dir(r.pubKey), "audit.key")
		rotated := strings.Replace(string(cfg), oldKeyFile, newKey, 1)
		if rotated == string(cfg) {
			t.Fatal("the signing key file is not in the configuration")
		}
		r.config = writeConfig(t, rotated)
		if code, out := r.run("audit", "checkpoint"); code != 1 || !strings.Contains(out, "refusing to sign") || !strings.Contains(out, audit.KeyID(old)) {
			t.Fatalf("checkpoint with the new key, the old one unknown: exit %d: %s", code, out)
		}
		r.config = writeConfig(t, rotated+fmt.Sprintf("  previous_public_keys: [%q]\n", base64.StdEncoding.EncodeToString(old)))
		// The refusal was audited: seq 13.
		if code, out := r.run("audit", "checkpoint"); code != 0 || !strings.Contains(out, "checkpoint signed: seq 13") {
			t.Fatalf("checkpoint with the previous key configured: exit %d: %s", code, out)
		}
		r.verifyIntact(13, 1, 13, 2, "--public-key", r.pubKey, "--public-key", newPub)
		code, out = r.run("audit", "verify", "--public-key", newPub)
		if code != 1 || !strings.Contains(out, "audit chain broken at seq 8") || !strings.Contains(out, audit.KeyID(old)) {
			t.Fatalf("verify with the new key only: exit %d: %s", code, out)
		}
		r.config = writeConfig(t, rotated+"  previous_public_keys: [\"not a key\"]\n")
		if code, out := r.run("audit", "checkpoint"); code != 1 || !strings.Contains(out, "audit.previous_public_keys") || !strings.Contains(out, "key 1") {
			t.Fatalf("a bad previous key: exit %d: %s", code, out)
		}
	})
}

// TestServeSignsCheckpoints runs two replicas on one PostgreSQL database:
// the one with a signing key (JITBOT_AUDIT_SIGNING_KEY, a base64 seed)
// signs the chain head every checkpoint_interval and appends each
// checkpoint to its file; the one without says at start, once, that the
// log is unsigned. The log then verifies with the public key.
func TestServeSignsCheckpoints(t *testing.T) {
	if testing.Short() {
		t.Skip("runs the binary")
	}
	t.Parallel()
	dsn := newPGDatabase(t)
	bin := faultBinary(t)
	r := newRig(t, bin, 1)
	user := fUser(1)
	r.graph.AddUser(user)
	privPEM, pubPEM, err := audit.GenerateKey()
	if err != nil {
		t.Fatal(err)
	}
	key, err := audit.ParsePrivateKey(privPEM)
	if err != nil {
		t.Fatal(err)
	}
	seed := base64.StdEncoding.EncodeToString(key.Seed())
	cpFile := filepath.Join(r.dir, "checkpoints.jsonl")
	signedConfig := r.config(botOpts{database: dsn, replica: "replica-a", audit: fmt.Sprintf("  checkpoint_interval: 1s\n  checkpoint_file: %q\n", cpFile)})
	a := r.start("replica-a", signedConfig, signingKeyEnv+"="+seed)
	b := r.start("replica-b", r.config(botOpts{database: dsn, replica: "replica-b"}))
	const unsigned = "audit log is hash-chained but UNSIGNED"
	if a.count(unsigned) != 0 || b.count(unsigned) != 1 {
		t.Fatalf("unsigned warnings: signing replica %d, other %d; want 0 and 1", a.count(unsigned), b.count(unsigned))
	}
	if _, err := r.request(b, user, "request "+fProfile(0)+" 1h checkpoint test"); err != nil {
		t.Fatal(err)
	}
	st := openStore(t, dsn)
	head, err := st.ChainHead(context.Background())
	if err != nil || head.Seq < 1 {
		t.Fatalf("head %+v, %v", head, err)
	}
	waitFor(t, 10*time.Second, "a checkpoint of the head in the checkpoint file", func() bool {
		data, _ := os.ReadFile(cpFile)
		cps, err := audit.ReadCheckpointFile(strings.NewReader(string(data)))
		return err == nil && len(cps) > 0 && cps[len(cps)-1].Seq == head.Seq && cps[len(cps)-1].Hash == head.Hash
	})
	a.stop(10 * time.Second)
	b.stop(10 * time.Second)
	pub := filepath.Join(r.dir, "audit.pub")
	if err := os.WriteFile(pub, pubPEM, 0o644); err != nil {
		t.Fatal(err)
	}
	code, out := runCmd(t, nil, "audit", "verify", "--config", signedConfig, "--public-key", pub)
	if code != 0 || !intactRE.MatchString(out) || strings.Contains(out, " 0 checkpoints") {
		t.Fatalf("audit verify: exit %d: %s", code, out)
	}
	t.Log(strings.TrimSpace(out))
}

// TestAuditConfig checks the audit block's defaults and that a bad value
// is refused naming its key, and that retention without a signing key, or
// with a key that does not parse, stops the commands that sign.
func TestAuditConfig(t *testing.T) {
	cfg, err := ParseConfig([]byte(validConfig), testEnv)
	if err != nil {
		t.Fatal(err)
	}
	if time.Duration(cfg.Audit.CheckpointInterval) != time.Hour || cfg.Audit.Retention != 0 {
		t.Errorf("defaults: checkpoint_interval %v, retention %v; want 1h and forever", time.Duration(cfg.Audit.CheckpointInterval), time.Duration(cfg.Audit.Retention))
	}
	for block, key := range map[string]string{
		"audit: { checkpoint_interval: 500ms }":                  "audit.checkpoint_interval",
		"audit: { retention: -1h }":                              "audit.retention",
		"audit: { checkpoint_interval: 1h, retention: 30m }":     "audit.retention",
		"audit: { checkpoint_interval: 1h, retention: forever }": "forever",
	} {
		if _, err := ParseConfig([]byte(validConfig+block+"\n"), testEnv); err == nil || !strings.Contains(err.Error(), key) {
			t.Errorf("%s: %v, want an error naming %s", block, err, key)
		}
	}

	db := "sqlite:" + filepath.Join(t.TempDir(), "jitbot.db")
	withDB := strings.Replace(validConfig, `"sqlite:jitbot.db"`, `"`+db+`"`, 1)
	env := map[string]string{"TENANT": "4f3c2b1a-0d9e-4c8b-9a7f-6e5d4c3b2a10"}
	code, out := runCmd(t, env, "audit", "checkpoint", "--config", writeConfig(t, withDB+"audit: { retention: 2160h }\n"))
	if code != 1 || !strings.Contains(out, "audit.retention") || !strings.Contains(out, signingKeyEnv) {
		t.Errorf("retention without a key: exit %d: %s", code, out)
	}
	env[signingKeyEnv] = "not a key"
	code, out = runCmd(t, env, "audit", "checkpoint", "--config", writeConfig(t, withDB))
	if code != 1 || !strings.Contains(out, signingKeyEnv) {
		t.Errorf("a bad key: exit %d: %s", code, out)
	}
	keyFile := filepath.Join(t.TempDir(), "missing.key")
	code, out = runCmd(t, env, "audit", "checkpoint", "--config", writeConfig(t, withDB+fmt.Sprintf("audit: { signing_key_file: %q }\n", keyFile)))
	if code != 1 || !strings.Contains(out, "audit.signing_key_file") {
		t.Errorf("a missing key file: exit %d: %s", code, out)
	}
	if code, out := runCmd(t, env, "audit", "verify", "--config", writeConfig(t, strings.Replace(withDB, db, "sqlite:"+filepath.Join(t.TempDir(), "none.db"), 1))); code != 1 || !strings.Contains(out, "no such file") {
		t.Errorf("verify of a database that does not exist: exit %d: %s", code, out)
	}
}

// TestAuditCheckpointRefusesABrokenChain edits an event signed by no
// checkpoint yet: jitbot refuses to sign a head that no longer follows from
// the last checkpoint, so a checkpoint never vouches for tampering.
func TestAuditCheckpointRefusesABrokenChain(t *testing.T) {
	auditBackends(t, func(t *testing.T, dbURL string) {
		r := newAuditRig(t, dbURL, "")
		r.exec("UPDATE audit_events SET reason = 'approved' WHERE seq = 10")
		code, out := r.run("audit", "checkpoint")
		if code != 1 || !strings.Contains(out, "refusing to sign") || !strings.Contains(out, "seq 10") || !strings.Contains(out, "edited") {
			t.Fatalf("audit checkpoint: exit %d: %s", code, out)
		}
		var n int64
		if err := r.sql.Raw("SELECT COUNT(*) FROM audit_checkpoints").Scan(&n).Error; err != nil || n != 1 {
			t.Fatalf("%d checkpoints (%v), want only the first", n, err)
		}
		if data, err := os.ReadFile(r.cpFile); err != nil || strings.Count(string(data), "\n") != 1 {
			t.Fatalf("checkpoint file %q, %v; want the first checkpoint only", data, err)
		}
	})
}
