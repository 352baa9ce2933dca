package storage

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/libtnb/sqlite"
	"gorm.io/driver/postgres"
	"gorm.io/gorm"
	gormlogger "gorm.io/gorm/logger"

	"github.com/jitbot/jitbot/access"
	"github.com/jitbot/jitbot/audit"
)

// legacyAuditRow is the audit table as releases before the hash chain
// created it.
type legacyAuditRow struct {
	ID             int64     `gorm:"primaryKey;autoIncrement"`
	At             time.Time `gorm:"not null;index"`
	ActorID        string    `gorm:"not null"`
	ActorName      string    `gorm:"not null"`
	Action         string    `gorm:"not null"`
	RequestID      string    `gorm:"not null;index"`
	Profile        string    `gorm:"not null"`
	GroupID        string    `gorm:"not null"`
	TargetUserID   string    `gorm:"not null"`
	Reason         string    `gorm:"not null"`
	ConversationID string    `gorm:"not null"`
	ActivityID     string    `gorm:"not null"`
}

func (legacyAuditRow) TableName() string { return "audit_events" }

// rawDB opens dbURL without the package's migrations, as an older release
// or a database administrator would.
func rawDB(t *testing.T, dbURL string) *gorm.DB {
	t.Helper()
	var dialector gorm.Dialector
	if path, ok := strings.CutPrefix(dbURL, "sqlite:"); ok {
		dialector = sqlite.Open(path + "?" + sqliteParams)
	} else {
		dialector = postgres.Open(dbURL)
	}
	g, err := gorm.Open(dialector, &gorm.Config{Logger: gormlogger.Discard})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if d, err := g.DB(); err == nil {
			_ = d.Close()
		}
	})
	return g
}

func verifyDB(t *testing.T, db *DB) (audit.Result, error) {
	t.Helper()
	return audit.Verify(context.Background(), db, audit.Options{})
}

// TestGenesisSealsThePreviousSchemasEvents opens a database written before
// the hash chain from three replicas at once: its events are sealed by one
// genesis event, the chain goes on from it, and editing an old event
// afterwards breaks the genesis.
func TestGenesisSealsThePreviousSchemasEvents(t *testing.T) {
	forEachBackendURL(t, func(t *testing.T, dbURL string) {
		old := rawDB(t, dbURL)
		if err := old.AutoMigrate(&legacyAuditRow{}); err != nil {
			t.Fatal(err)
		}
		for i := range 5 {
			row := legacyAuditRow{At: dbTime(t0.Add(time.Duration(i) * time.Minute)), ActorID: alice.ObjectID, ActorName: "Alice",
				Action: string(access.ActionRequested), RequestID: fmt.Sprintf("r%d", i), Reason: "before the chain"}
			if err := old.Create(&row).Error; err != nil {
				t.Fatal(err)
			}
		}

		dbs := make([]*DB, 3)
		errs := make([]error, 3)
		var wg sync.WaitGroup
		for i := range dbs {
			wg.Go(func() { dbs[i], errs[i] = Open(context.Background(), dbURL, testLogger(t)) })
		}
		wg.Wait()
		for i, err := range errs {
			if err != nil {
				t.Fatalf("replica %d: Open: %v", i, err)
			}
			t.Cleanup(func() { _ = dbs[i].Close() })
		}
		db := dbs[0]
		if err := db.AppendAudit(context.Background(), access.AuditEvent{At: t0.Add(time.Hour), Actor: bob, Action: access.ActionDenied}); err != nil {
			t.Fatal(err)
		}
		var evs []access.AuditEvent
		if err := db.EachAudit(context.Background(), access.AuditQuery{}, func(ev access.AuditEvent) error { evs = append(evs, ev); return nil }); err != nil {
			t.Fatal(err)
		}
		var geneses int
		for _, ev := range evs {
			if ev.Action == access.ActionAuditGenesis {
				geneses++
			}
		}
		if len(evs) != 7 || geneses != 1 || evs[5].Seq != 1 || evs[5].Action != access.ActionAuditGenesis ||
			!strings.Contains(evs[5].Reason, "sealed 5 events") || !evs[5].At.Equal(dbTime(t0.Add(4*time.Minute))) || evs[6].Seq != 2 {
			t.Fatalf("%d events, %d geneses: %+v", len(evs), geneses, evs)
		}
		if res, err := verifyDB(t, db); err != nil || res.Events != 7 || res.LastSeq != 2 {
			t.Fatalf("verify the sealed log: %+v, %v", res, err)
		}

		if err := old.Exec("UPDATE audit_events SET reason = 'edited' WHERE request_id = 'r2'").Error; err != nil {
			t.Fatal(err)
		}
		_, err := verifyDB(t, db)
		var b *audit.Break
		if !errors.As(err, &b) || b.Seq != 1 || !strings.Contains(b.Problem, "genesis") {
			t.Fatalf("verify after an old event was edited: %v", err)
		}
	})
}

// TestReplicasAppendOneChain has three store handles on one database make
// real state changes at the same time (requests, denials, approvals through
// the membership lock, plain events): their events form one unbroken
// chain.
func TestReplicasAppendOneChain(t *testing.T) {
	forEachBackendURL(t, func(t *testing.T, dbURL string) {
		const replicas, rounds = 3, 15
		dbs := make([]*DB, replicas)
		for i := range dbs {
			dbs[i] = openTest(t, dbURL)
		}
		ctx := context.Background()
		errs := make(chan error, replicas)
		var wg sync.WaitGroup
		for r, db := range dbs {
			wg.Go(func() {
				for i := range rounds {
					user := access.Person{ObjectID: fmt.Sprintf("00000000-0000-4000-8000-%06d%06d", r, i), Name: "User"}
					at := t0.Add(time.Duration(i) * time.Minute)
					req := newRequest(user, "db-admin", at)
					if _, err := db.CreateRequest(ctx, req, createdEvent(req)); err != nil {
						errs <- err
						return
					}
					var err error
					if i%2 == 0 {
						_, err = db.Deny(ctx, req.ID, access.Decision{Approver: bob, Verdict: access.Deny, DecidedAt: at}, access.AuditEvent{Actor: bob, Action: access.ActionDenied})
					} else {
						g := &access.Grant{ID: fmt.Sprintf("grant-%d-%d", r, i), ExpiresAt: at.Add(time.Hour)}
						_, err = access.RecordDecision(ctx, db, req.ID, access.Decision{Approver: bob, Verdict: access.Approve, DecidedAt: at}, g,
							fmt.Sprintf("replica-%d", r), at.Add(lease), access.AuditEvent{Actor: bob, Action: access.ActionApproved})
					}
					if err == nil {
						err = db.AppendAudit(ctx, access.AuditEvent{At: at, Actor: botP, Action: access.ActionDriftFound})
					}
					if err != nil {
						errs <- err
						return
					}
				}
			})
		}
		wg.Wait()
		close(errs)
		for err := range errs {
			t.Fatal(err)
		}
		res, err := verifyDB(t, dbs[1])
		if want := int64(replicas * rounds * 3); err != nil || res.Events != want || res.FirstSeq != 1 || res.LastSeq != want {
			t.Fatalf("verify: %+v, %v; want %d events in one chain", res, err, want)
		}
	})
}

// TestFailedTransactionLeavesNoGap checks that appends rolled back with
// their transaction take no place in the chain.
func TestFailedTransactionLeavesNoGap(t *testing.T) {
	forEachBackend(t, func(t *testing.T, db *DB) {
		ctx := context.Background()
		req := newRequest(alice, "db-admin", t0)
		if _, err := db.CreateRequest(ctx, req, createdEvent(req)); err != nil {
			t.Fatal(err)
		}
		if _, err := db.CreateRequest(ctx, newRequest(alice, "db-admin", t0), createdEvent(req)); !errors.Is(err, access.ErrDuplicate) {
			t.Fatalf("duplicate: %v", err)
		}
		boom := errors.New("decision failed")
		err := db.WithMembership(ctx, req.GroupID, alice.ObjectID, t0, func(_ *access.Membership, tx access.MembershipTx) error {
			if err := tx.Append(access.AuditEvent{At: t0, Actor: bob, Action: access.ActionApproved}); err != nil {
				return err
			}
			return boom
		})
		if !errors.Is(err, boom) {
			t.Fatalf("WithMembership: %v", err)
		}
		if _, err := db.Deny(ctx, "no-such-request", access.Decision{Approver: bob, Verdict: access.Deny, DecidedAt: t0}, access.AuditEvent{Actor: bob, Action: access.ActionDenied}); !errors.Is(err, access.ErrNotFound) {
			t.Fatalf("deny of nothing: %v", err)
		}
		if head, err := db.ChainHead(ctx); err != nil || head.Seq != 1 {
			t.Fatalf("head after failed transactions = %+v, %v; want seq 1", head, err)
		}
		if _, err := db.Deny(ctx, req.ID, access.Decision{Approver: bob, Verdict: access.Deny, DecidedAt: t0}, access.AuditEvent{Actor: bob, Action: access.ActionDenied}); err != nil {
			t.Fatal(err)
		}
		if res, err := verifyDB(t, db); err != nil || res.Events != 2 || res.LastSeq != 2 {
			t.Fatalf("verify: %+v, %v", res, err)
		}
	})
}

// TestAppendAfterAnotherReplicaMovedTheHead appends from one store handle,
// then from a second on the same database, then from the first again: the
// first handle's remembered head is stale by then, and its append must
// link to the head as stored, not to the one it remembers.
func TestAppendAfterAnotherReplicaMovedTheHead(t *testing.T) {
	forEachBackendURL(t, func(t *testing.T, dbURL string) {
		a, b := openTest(t, dbURL), openTest(t, dbURL)
		ctx := context.Background()
		for i, db := range []*DB{a, a, b, a, b, b, a} {
			ev := access.AuditEvent{At: t0.Add(time.Duration(i) * time.Second), Actor: botP, Action: access.ActionDriftFound}
			if err := db.AppendAudit(ctx, ev); err != nil {
				t.Fatalf("append %d: %v", i, err)
			}
		}
		res, err := verifyDB(t, a)
		if err != nil || res.Events != 7 || res.FirstSeq != 1 || res.LastSeq != 7 {
			t.Fatalf("verify: %+v, %v; want 7 events in one chain", res, err)
		}
		for _, db := range []*DB{a, b} {
			if head, err := db.ChainHead(ctx); err != nil || head.Seq != 7 {
				t.Fatalf("head = %+v, %v; want seq 7", head, err)
			}
		}
	})
}

// TestEventsOfOneTransactionAppendedTogether appends several events in each
// WithMemberships transaction, from two store handles in turn (so that each
// handle's remembered head is sometimes stale): every event gets its own
// place in one unbroken chain, in the order the decisions appended them,
// and the head is the last of them.
func TestEventsOfOneTransactionAppendedTogether(t *testing.T) {
	forEachBackendURL(t, func(t *testing.T, dbURL string) {
		a, b := openTest(t, dbURL), openTest(t, dbURL)
		ctx := context.Background()
		keys := []access.MembershipKey{{GroupID: "g1", UserID: alice.ObjectID}, {GroupID: "g2", UserID: bob.ObjectID}}
		var want []string
		for round, db := range []*DB{a, a, b, a, b, b} {
			at := t0.Add(time.Duration(round) * time.Second)
			var reasons [2][]string
			errs, err := db.WithMemberships(ctx, keys, at, func(i int, _ *access.Membership, tx access.MembershipTx) error {
				for j := range 3 {
					r := fmt.Sprintf("round %d key %d event %d", round, i, j)
					reasons[i] = append(reasons[i], r)
					if err := tx.Append(access.AuditEvent{At: at, Actor: botP, Action: access.ActionDriftFound, Reason: r}); err != nil {
						return err
					}
				}
				return nil
			})
			if err != nil || errs[0].Err != nil || errs[1].Err != nil {
				t.Fatalf("round %d: %v %v", round, errs, err)
			}
			// The decisions run in key order: g1 before g2.
			want = append(want, reasons[0]...)
			want = append(want, reasons[1]...)
		}
		res, err := verifyDB(t, b)
		if n := int64(len(want)); err != nil || res.Events != n || res.FirstSeq != 1 || res.LastSeq != n {
			t.Fatalf("verify: %+v, %v; want %d events in one chain", res, err, n)
		}
		var got []string
		if err := a.EachAudit(ctx, access.AuditQuery{}, func(ev access.AuditEvent) error {
			got = append(got, ev.Reason)
			return nil
		}); err != nil {
			t.Fatal(err)
		}
		if !slices.Equal(got, want) {
			t.Fatalf("chain order:\n%q\nwant\n%q", got, want)
		}
		for _, db := range []*DB{a, b} {
			if head, err := db.ChainHead(ctx); err != nil || head.Seq != int64(len(want)) {
				t.Fatalf("head = %+v, %v; want seq %d", head, err, len(want))
			}
		}
	})
}
