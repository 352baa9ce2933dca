package storage

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"log/slog"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"gorm.io/driver/postgres"
	"gorm.io/gorm"
	gormlogger "gorm.io/gorm/logger"
)

// postgresEnv names the environment variable holding a PostgreSQL DSN for
// the tests; without it the PostgreSQL half of the suite is skipped.
const postgresEnv = "JITBOT_TEST_POSTGRES"

// backend opens fresh, isolated databases of one kind.
type backend struct {
	name string
	// newURL returns the URL of a new empty database, removed at the end of
	// the test.
	newURL func(t *testing.T) string
}

func backends() []backend {
	return []backend{
		{name: DriverSQLite, newURL: func(t *testing.T) string {
			return "sqlite:" + filepath.Join(t.TempDir(), "jitbot.db")
		}},
		{name: DriverPostgres, newURL: func(t *testing.T) string { return newPostgresURL(t) }},
	}
}

// forEachBackend runs fn as a subtest against each database, with a fresh
// database opened for it.
func forEachBackend(t *testing.T, fn func(t *testing.T, db *DB)) {
	t.Helper()
	forEachBackendURL(t, func(t *testing.T, dbURL string) {
		fn(t, openTest(t, dbURL))
	})
}

// forEachBackendURL runs fn as a subtest against each database, giving it
// the URL of a fresh one, for tests that open and close it themselves.
func forEachBackendURL(t *testing.T, fn func(t *testing.T, dbURL string)) {
	t.Helper()
	for _, b := range backends() {
		t.Run(b.name, func(t *testing.T) {
			t.Parallel()
			fn(t, b.newURL(t))
		})
	}
}

// openTest opens dbURL and closes it at the end of the test.
func openTest(t *testing.T, dbURL string) *DB {
	t.Helper()
	db, err := Open(context.Background(), dbURL, testLogger(t))
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	t.Cleanup(func() {
		if err := db.Close(); err != nil {
			t.Errorf("Close: %v", err)
		}
	})
	return db
}

// testLogger sends the package's log to the test log.
func testLogger(t *testing.T) *slog.Logger {
	return slog.New(slog.NewTextHandler(testWriter{t}, &slog.HandlerOptions{Level: slog.LevelWarn}))
}

type testWriter struct{ t *testing.T }

func (w testWriter) Write(p []byte) (int, error) {
	w.t.Helper()
	w.t.Log(strings.TrimSuffix(string(p), "\n"))
	return len(p), nil
}

// onEachDatabase runs fn as a sub-benchmark on a new SQLite database and,
// with JITBOT_TEST_POSTGRES, a new PostgreSQL one (skipped without it).
func onEachDatabase(b *testing.B, fn func(b *testing.B, db *DB)) {
	for _, kind := range []string{DriverSQLite, DriverPostgres} {
		b.Run(kind, func(b *testing.B) {
			var dbURL string
			if kind == DriverSQLite {
				dbURL = "sqlite:" + filepath.Join(b.TempDir(), "jitbot.db")
			} else {
				dbURL = newPostgresURL(b)
			}
			db, err := Open(context.Background(), dbURL, nil)
			if err != nil {
				b.Fatal(err)
			}
			defer db.Close()
			fn(b, db)
		})
	}
}

// newPostgresURL creates a schema of its own for the test in the database
// named by JITBOT_TEST_POSTGRES, drops it at the end, and returns a URL whose
// search_path selects it.
func newPostgresURL(t testing.TB) string {
	t.Helper()
	base := os.Getenv(postgresEnv)
	if base == "" {
		t.Skipf("%s is not set", postgresEnv)
	}
	admin, err := gorm.Open(postgres.Open(base), &gorm.Config{Logger: gormlogger.Discard})
	if err != nil {
		t.Fatalf("connect to PostgreSQL: %v", err)
	}
	sqlDB, err := admin.DB()
	if err != nil {
		t.Fatalf("connect to PostgreSQL: %v", err)
	}
	b := make([]byte, 8)
	if _, err := rand.Read(b); err != nil {
		t.Fatal(err)
	}
	schema := "t_" + hex.EncodeToString(b)
	if err := admin.Exec("CREATE SCHEMA " + schema).Error; err != nil {
		t.Fatalf("create schema: %v", err)
	}
	t.Cleanup(func() {
		// Registered before openTest's cleanup, so it runs after the
		// database is closed.
		if err := admin.Exec("DROP SCHEMA " + schema + " CASCADE").Error; err != nil {
			t.Errorf("drop schema %s: %v", schema, err)
		}
		_ = sqlDB.Close()
	})
	return withSearchPath(t, base, schema)
}

// withSearchPath adds search_path to a postgres:// URL.
func withSearchPath(t testing.TB, dsn, schema string) string {
	t.Helper()
	if !strings.HasPrefix(dsn, "postgres://") && !strings.HasPrefix(dsn, "postgresql://") {
		t.Skipf("%s must be a postgres:// URL (storage.Open accepts no other form)", postgresEnv)
	}
	u, err := url.Parse(dsn)
	if err != nil {
		t.Fatalf("parse %s: %v", postgresEnv, err)
	}
	q := u.Query()
	q.Set("search_path", schema)
	u.RawQuery = q.Encode()
	return u.String()
}
