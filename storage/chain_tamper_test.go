package storage

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/jitbot/jitbot/access"
	"github.com/jitbot/jitbot/audit"
)

// TestVerifyReportsARowBeyondTheHead: an administrator inserts a linked,
// correctly hashed event after the last one without moving the head row.
// Exports and the feed would serve it, so verify reports it.
func TestVerifyReportsARowBeyondTheHead(t *testing.T) {
	forEachBackendURL(t, func(t *testing.T, dbURL string) {
		db := openTest(t, dbURL)
		ctx := context.Background()
		for range 3 {
			if err := db.AppendAudit(ctx, access.AuditEvent{At: t0, Actor: botP, Action: access.ActionDriftFound}); err != nil {
				t.Fatal(err)
			}
		}
		if _, err := verifyDB(t, db); err != nil {
			t.Fatalf("intact log: %v", err)
		}
		head, err := db.ChainHead(ctx)
		if err != nil {
			t.Fatal(err)
		}
		forged := audit.Link(head, access.AuditEvent{At: t0, Actor: bob, Action: access.ActionApproved, Reason: "forged approval"})
		row := toAuditRow(&forged)
		if err := rawDB(t, dbURL).Create(&row).Error; err != nil {
			t.Fatal(err)
		}
		_, err = verifyDB(t, db)
		var b *audit.Break
		if !errors.As(err, &b) || b.Seq != 4 || !strings.Contains(b.Problem, "appended outside jitbot") {
			t.Fatalf("verify with a row beyond the head: %v, want a break at seq 4", err)
		}
	})
}

// pruneMidWalk is a log whose retention runs (on another replica) while
// verify walks it.
type pruneMidWalk struct {
	*DB
	at   int64
	cut  access.Checkpoint
	done bool
	err  error
}

func (p *pruneMidWalk) EachAudit(ctx context.Context, q access.AuditQuery, fn func(access.AuditEvent) error) error {
	return p.DB.EachAudit(ctx, q, func(ev access.AuditEvent) error {
		if ev.Seq == p.at && !p.done {
			p.done = true
			_, p.err = p.DB.PruneAudit(ctx, p.cut)
		}
		return fn(ev)
	})
}

// TestVerifyDuringRetentionOnTheDatabase: retention removing the oldest
// segment while verify walks the log does not make an intact log fail.
func TestVerifyDuringRetentionOnTheDatabase(t *testing.T) {
	forEachBackendURL(t, func(t *testing.T, dbURL string) {
		db := openTest(t, dbURL)
		ctx := context.Background()
		_, priv, err := ed25519.GenerateKey(rand.Reader)
		if err != nil {
			t.Fatal(err)
		}
		for i := range 2500 {
			if err := db.AppendAudit(ctx, access.AuditEvent{At: t0, Actor: botP, Action: access.ActionDriftFound}); err != nil {
				t.Fatal(err)
			}
			if i == 1999 {
				head, err := db.ChainHead(ctx)
				if err != nil {
					t.Fatal(err)
				}
				if err := db.AppendCheckpoint(ctx, audit.Sign(priv, head, t0)); err != nil {
					t.Fatal(err)
				}
			}
		}
		var cut access.Checkpoint
		if err := db.EachCheckpoint(ctx, func(c access.Checkpoint) error { cut = c; return nil }); err != nil {
			t.Fatal(err)
		}
		log := &pruneMidWalk{DB: db, at: 1000, cut: cut}
		opt := audit.Options{Keys: []ed25519.PublicKey{priv.Public().(ed25519.PublicKey)}, Retention: 24 * time.Hour, Now: func() time.Time { return t0.Add(48 * time.Hour) }}
		res, err := audit.Verify(ctx, log, opt)
		if !log.done || log.err != nil {
			t.Fatalf("retention during the walk: ran %v, %v", log.done, log.err)
		}
		if err != nil || res.FirstSeq != 2001 || res.LastSeq != 2500 {
			t.Fatalf("verify during retention: %+v, %v", res, err)
		}
	})
}
