package storage

import (
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/libtnb/sqlite"
	"gorm.io/driver/postgres"
	"gorm.io/gorm"
	gormlogger "gorm.io/gorm/logger"

	"github.com/jitbot/jitbot/access"
)

func TestLockForServing(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "jitbot.db")
	first, err := Open(ctx, "sqlite:"+path, testLogger(t))
	if err != nil {
		t.Fatal(err)
	}
	second := openTest(t, "sqlite:"+path)

	if err := first.LockForServing(); err != nil {
		t.Fatalf("first LockForServing: %v", err)
	}
	if err := first.LockForServing(); err != nil {
		t.Errorf("LockForServing again by the holder: %v", err)
	}
	err = second.LockForServing()
	if err == nil {
		t.Fatal("a second replica on the same SQLite file was allowed to serve")
	}
	for _, want := range []string{"another jitbot process is serving " + path, "SQLite supports one replica", "postgres://"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q does not say %q", err, want)
		}
	}
	// The refused replica still reads and writes (for CLI commands).
	mustCreate(t, second, newRequest(alice, "db-admin", t0))

	if err := first.Close(); err != nil {
		t.Fatal(err)
	}
	if err := second.LockForServing(); err != nil {
		t.Errorf("LockForServing after the holder closed: %v", err)
	}

	// Nothing to lock in memory or on PostgreSQL.
	mem := openTest(t, "sqlite::memory:")
	if err := mem.LockForServing(); err != nil {
		t.Errorf("LockForServing in memory: %v", err)
	}
	if os.Getenv(postgresEnv) != "" {
		pgURL := newPostgresURL(t)
		a, b := openTest(t, pgURL), openTest(t, pgURL)
		if err := a.LockForServing(); err != nil {
			t.Errorf("LockForServing on PostgreSQL: %v", err)
		}
		if err := b.LockForServing(); err != nil {
			t.Errorf("second LockForServing on PostgreSQL: %v", err)
		}
	}
}

// withParam adds a query parameter to a postgres:// URL.
func withParam(t *testing.T, dsn, key, value string) string {
	t.Helper()
	u, err := url.Parse(dsn)
	if err != nil {
		t.Fatal(err)
	}
	q := u.Query()
	q.Set(key, value)
	u.RawQuery = strings.ReplaceAll(q.Encode(), "+", "%20") // pgx reads "+" literally
	return u.String()
}

func showSetting(t *testing.T, db *DB, name string) string {
	t.Helper()
	var v string
	if err := db.gorm.Raw("SELECT current_setting(?)", name).Scan(&v).Error; err != nil {
		t.Fatalf("read %s: %v", name, err)
	}
	return v
}

func TestPostgresTimeouts(t *testing.T) {
	base := newPostgresURL(t)
	db := openTest(t, base)
	for _, name := range []string{"statement_timeout", "idle_in_transaction_session_timeout"} {
		if got := showSetting(t, db, name); got != "1min" {
			t.Errorf("%s = %q, want 1min", name, got)
		}
	}
	// A value the operator chose is kept.
	custom := openTest(t, withParam(t, base, "options", "-c statement_timeout=5s"))
	if got := showSetting(t, custom, "statement_timeout"); got != "5s" {
		t.Errorf("statement_timeout with the URL's own = %q, want 5s", got)
	}
	// A statement waiting on a lock fails instead of hanging. The short
	// timeout is set after opening (one connection, so it holds for every
	// call), so that opening, which may wait for another process's
	// migration, is not held to it.
	short := openTest(t, base)
	sqlDB, err := short.gorm.DB()
	if err != nil {
		t.Fatal(err)
	}
	sqlDB.SetMaxOpenConns(1)
	if err := short.gorm.Exec("SET statement_timeout = '300ms'").Error; err != nil {
		t.Fatal(err)
	}
	if got := showSetting(t, short, "statement_timeout"); got != "300ms" {
		t.Fatalf("statement_timeout = %q, want 300ms", got)
	}
	req := mustCreate(t, short, newRequest(alice, "db-admin", t0))
	tx := db.gorm.Begin()
	defer tx.Rollback()
	if err := tx.Exec("SELECT 1 FROM requests WHERE id = ? FOR UPDATE", req.ID).Error; err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	err = short.SetApprovalCard(context.Background(), req.ID, access.ConversationRef{ConversationID: "c"}, "1")
	if err == nil {
		t.Fatal("SetApprovalCard on a locked row succeeded")
	}
	if took := time.Since(start); took > 5*time.Second {
		t.Errorf("SetApprovalCard on a locked row took %v", took)
	}
	if !strings.Contains(err.Error(), "set approval card of request "+req.ID) {
		t.Errorf("error %q lacks context", err)
	}
}

// The server drops every connection (a restart, a failover): the pool
// reconnects, and no call hangs. A call in the same second as the drop may
// fail once (its connection looked healthy); after a second of idleness pgx
// pings before reusing a connection and replaces a dead one unseen.
func TestPostgresReconnects(t *testing.T) {
	b := make([]byte, 6)
	if _, err := rand.Read(b); err != nil {
		t.Fatal(err)
	}
	app := "jitbot-test-" + hex.EncodeToString(b)
	db := openTest(t, withParam(t, newPostgresURL(t), "application_name", app))
	req := mustCreate(t, db, newRequest(alice, "db-admin", t0))

	admin, err := gorm.Open(postgres.Open(os.Getenv(postgresEnv)), &gorm.Config{Logger: gormlogger.Discard})
	if err != nil {
		t.Fatal(err)
	}
	if sqlDB, err := admin.DB(); err == nil {
		defer sqlDB.Close()
	}
	for round := range 2 {
		var killed []bool
		if err := admin.Raw("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name = ?", app).
			Scan(&killed).Error; err != nil {
			t.Fatal(err)
		}
		if len(killed) == 0 {
			t.Fatalf("round %d: no connection of %s to terminate", round, app)
		}
		if round == 1 {
			// A connection idle for over a second is pinged before reuse:
			// a dead one is replaced without the caller seeing an error.
			time.Sleep(1500 * time.Millisecond)
		}
		start := time.Now()
		var got *access.Request
		for attempt := range 3 {
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			got, err = db.GetRequest(ctx, req.ID)
			cancel()
			if err == nil {
				break
			}
			t.Logf("round %d attempt %d after the connections were dropped: %v", round, attempt, err)
			if round == 1 {
				t.Errorf("a call after the pool sat idle failed: %v", err)
			}
		}
		if err != nil {
			t.Fatalf("round %d: no reconnection: %v", round, err)
		}
		if got.ID != req.ID {
			t.Errorf("round %d: read back %s", round, got.ID)
		}
		if took := time.Since(start); took > 10*time.Second {
			t.Errorf("round %d: reconnecting took %v", round, took)
		}
		// Writes work again too.
		if err := db.AppendAudit(context.Background(), access.AuditEvent{At: t0, Actor: botP, Action: access.ActionRetryNow, RequestID: req.ID}); err != nil {
			t.Errorf("round %d: write after reconnecting: %v", round, err)
		}
	}
}

// legacyGrantRow is the grants table of the first release, before claims,
// the ledger and alerts.
type legacyGrantRow struct {
	ID          string     `gorm:"primaryKey"`
	RequestID   string     `gorm:"not null;uniqueIndex"`
	Profile     string     `gorm:"not null"`
	GroupID     string     `gorm:"not null"`
	UserID      string     `gorm:"not null"`
	UserName    string     `gorm:"not null"`
	State       string     `gorm:"not null;index:idx_grants_state_due,priority:1"`
	ApprovedAt  time.Time  `gorm:"not null"`
	ExpiresAt   time.Time  `gorm:"not null"`
	GrantedAt   *time.Time ``
	PreExisting bool       `gorm:"not null"`
	RevokedAt   *time.Time ``
	DueAt       time.Time  `gorm:"not null;index:idx_grants_state_due,priority:2"`
	Attempts    int64      `gorm:"not null"`
	LastError   string     `gorm:"not null"`
}

func (legacyGrantRow) TableName() string { return "grants" }

// A database of the first release is brought up to date with its grants.
func TestMigrateFromFirstRelease(t *testing.T) {
	forEachBackendURL(t, func(t *testing.T, dbURL string) {
		var dialector gorm.Dialector
		if path, ok := strings.CutPrefix(dbURL, "sqlite:"); ok {
			dialector = sqlite.Open(path + "?" + sqliteParams)
		} else {
			dialector = postgres.Open(dbURL)
		}
		old, err := gorm.Open(dialector, &gorm.Config{Logger: gormlogger.Discard})
		if err != nil {
			t.Fatal(err)
		}
		if err := old.Migrator().CreateTable(&legacyGrantRow{}); err != nil {
			t.Fatal(err)
		}
		if err := old.AutoMigrate(&decisionRow{}, &auditRow{}, &membershipRow{}); err != nil {
			t.Fatal(err)
		}
		if err := old.Migrator().CreateTable(&requestRow{}); err != nil {
			t.Fatal(err)
		}
		approved := dbTime(t0)
		due := dbTime(t0.Add(time.Hour))
		if err := old.Create(&requestRow{ID: "r1", RequesterID: alice.ObjectID, Profile: "db-admin", State: "active",
			GroupID: "group-db-admin", RequesterName: "Alice", DurationNS: int64(time.Hour), CreatedAt: approved, UpdatedAt: approved}).Error; err != nil {
			t.Fatal(err)
		}
		if err := old.Create(&legacyGrantRow{ID: "g1", RequestID: "r1", Profile: "db-admin", GroupID: "group-db-admin",
			UserID: alice.ObjectID, UserName: "Alice", State: "active", ApprovedAt: approved, ExpiresAt: due,
			GrantedAt: &approved, PreExisting: true, DueAt: due}).Error; err != nil {
			t.Fatal(err)
		}
		// Irrevocable grants whose last error did and did not carry the
		// first release's "permanent: " mark.
		for _, l := range []struct{ id, lastErr string }{{"2", "permanent: 403 Forbidden"}, {"3", "503 Service Unavailable"}} {
			if err := old.Create(&requestRow{ID: "r" + l.id, RequesterID: bob.ObjectID + l.id, Profile: "db-admin", State: "active",
				GroupID: "group-db-admin", RequesterName: "Bob", DurationNS: int64(time.Hour), CreatedAt: approved, UpdatedAt: approved}).Error; err != nil {
				t.Fatal(err)
			}
			if err := old.Create(&legacyGrantRow{ID: "g" + l.id, RequestID: "r" + l.id, Profile: "db-admin", GroupID: "group-db-admin",
				UserID: bob.ObjectID + l.id, UserName: "Bob", State: "irrevocable", ApprovedAt: approved, ExpiresAt: due,
				GrantedAt: &approved, DueAt: due, Attempts: 3, LastError: l.lastErr}).Error; err != nil {
				t.Fatal(err)
			}
		}
		if sqlDB, err := old.DB(); err == nil {
			_ = sqlDB.Close()
		}

		for range 2 { // the second Open finds the schema up to date
			db, err := Open(context.Background(), dbURL, testLogger(t))
			if err != nil {
				t.Fatalf("Open of a first-release database: %v", err)
			}
			if err := db.Close(); err != nil {
				t.Fatal(err)
			}
		}
		db := openTest(t, dbURL)
		g := mustGrant(t, db, "g1")
		if g.State != access.GrantActive || !g.PreExisting || g.Checked || g.Shared || g.ClaimedBy != "" ||
			!g.ClaimUntil.IsZero() || g.AlertChat != (access.ConversationRef{}) || g.AlertActivityID != "" || !g.DueAt.Equal(due) {
			t.Errorf("migrated grant = %+v", g)
		}
		if g := mustGrant(t, db, "g2"); !g.LastErrorPermanent || g.LastError != "403 Forbidden" {
			t.Errorf("migrated permanent error: %q, permanent %v", g.LastError, g.LastErrorPermanent)
		}
		if g := mustGrant(t, db, "g3"); g.LastErrorPermanent || g.LastError != "503 Service Unavailable" {
			t.Errorf("migrated transient error: %q, permanent %v", g.LastError, g.LastErrorPermanent)
		}
		now := due.Add(time.Minute)
		if got := mustClaim(t, db, ownerA, now, 1); !equalStrings(ids(got), []string{"g1"}) {
			t.Fatalf("claimed %v, want [g1]", ids(got))
		}
		remove, err := access.PlanRevoke(context.Background(), db, "g1", ownerA, now, revokeEvent(access.ActionRevoking))
		if err != nil || remove {
			t.Errorf("PlanRevoke of the migrated pre-existing grant = %v, %v; want no removal", remove, err)
		}
		if got := mustGet(t, db, "r1"); got.State != access.RequestExpired || got.Grant.State != access.GrantRevoked {
			t.Errorf("after PlanRevoke request %s grant %s", got.State, got.Grant.State)
		}
	})
}

func TestSQLiteFile(t *testing.T) {
	for url, want := range map[string]string{
		"sqlite:jitbot-demo.db":                    "jitbot-demo.db",
		"sqlite:///var/lib/jitbot/jitbot.db":       "/var/lib/jitbot/jitbot.db",
		"sqlite::memory:":                          "",
		"postgres://jitbot@db.example/jitbot":      "",
		"mysql://jitbot@db.example/jitbot":         "",
		"sqlite:/home/riley/jitbot/jitbot-demo.db": "/home/riley/jitbot/jitbot-demo.db",
	} {
		if got := SQLiteFile(url); got != want {
			t.Errorf("SQLiteFile(%q) = %q, want %q", url, got, want)
		}
	}
}

// TestShowURLHidesPasswords: a database URL as shown (doctor, errors)
// carries no password, whether in its user info or as a parameter.
func TestShowURLHidesPasswords(t *testing.T) {
	for _, u := range []string{
		"postgres://jitbot:s3cret@db:5432/jitbot?sslmode=require",
		"postgres://jitbot@db/jitbot?sslmode=require&password=s3cret",
		"postgresql://db/jitbot?PASSWORD=s3cret&user=jitbot",
		"postgres://db/jitbot?sslkey=/k.pem&sslpassword=s3cret",
	} {
		got := ShowURL(u)
		if strings.Contains(got, "s3cret") || !strings.Contains(got, "db") {
			t.Errorf("ShowURL(%q) = %q", u, got)
		}
	}
	if got := ShowURL("sqlite:/var/lib/jitbot/jitbot.db"); got != "sqlite:/var/lib/jitbot/jitbot.db" {
		t.Errorf("a SQLite URL is shown as %q", got)
	}
}

// TestSQLiteCacheBounded: every SQLite connection of a file database gets
// the bounded page cache, including those opened while others are busy.
func TestSQLiteCacheBounded(t *testing.T) {
	ctx := context.Background()
	db, err := Open(ctx, "sqlite:"+filepath.Join(t.TempDir(), "cache.db"), testLogger(t))
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	sqlDB, err := db.gorm.DB()
	if err != nil {
		t.Fatal(err)
	}
	// Hold three connections at once, so that the pool opens new ones.
	var conns []*sql.Conn
	for range 3 {
		c, err := sqlDB.Conn(ctx)
		if err != nil {
			t.Fatal(err)
		}
		conns = append(conns, c)
	}
	for i, c := range conns {
		var size int
		if err := c.QueryRowContext(ctx, "PRAGMA cache_size").Scan(&size); err != nil {
			t.Fatal(err)
		}
		if size != -sqliteCacheKiB {
			t.Errorf("connection %d: cache_size %d, want %d (KiB)", i, size, -sqliteCacheKiB)
		}
		_ = c.Close()
	}
}
