package storage

import (
	"context"
	"database/sql"
	"encoding/hex"
	"path/filepath"
	"testing"
	"time"
)

// Every SQLite connection gets the settings sqliteParams asks for, read back
// from the connection itself: several connections are held at once so that
// each is a separate one of the pool.
func TestSQLiteConnectionSettings(t *testing.T) {
	ctx := context.Background()
	db := openTest(t, "sqlite:"+filepath.Join(t.TempDir(), "jitbot.db"))
	sqlDB, err := db.gorm.DB()
	if err != nil {
		t.Fatal(err)
	}
	// One connection is left for the transaction below.
	const conns = sqliteMaxConns - 1
	held := make([]*sql.Conn, conns)
	for i := range held {
		c, err := sqlDB.Conn(ctx)
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		held[i] = c
	}
	for i, c := range held {
		for _, p := range []struct{ pragma, want string }{
			{"busy_timeout", "5000"},
			{"journal_mode", "wal"},
			{"foreign_keys", "1"},
			{"synchronous", "2"}, // FULL, SQLite's default
			{"temp_store", "2"},  // MEMORY
		} {
			if got := pragma(t, c, p.pragma); got != p.want {
				t.Errorf("connection %d: PRAGMA %s = %s, want %s", i, p.pragma, got, p.want)
			}
		}
		// Times are written in the text form databases already hold, so
		// that stored times compare and sort as before.
		var raw string
		at := time.Date(2026, 1, 2, 3, 4, 5, 123456000, time.UTC)
		if err := c.QueryRowContext(ctx, "SELECT hex(?)", at).Scan(&raw); err != nil {
			t.Fatal(err)
		}
		if b, _ := hex.DecodeString(raw); string(b) != "2026-01-02 03:04:05.123456+00:00" {
			t.Errorf("connection %d: a time is stored as %q", i, b)
		}
	}

	// A transaction takes the write lock when it begins (_txlock=immediate),
	// before it has written anything: another connection cannot begin a
	// write of its own meanwhile.
	tx, err := sqlDB.BeginTx(ctx, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer tx.Rollback()
	if _, err := tx.ExecContext(ctx, "SELECT 1"); err != nil {
		t.Fatal(err)
	}
	other := held[0]
	if _, err := other.ExecContext(ctx, "PRAGMA busy_timeout = 0"); err != nil {
		t.Fatal(err)
	}
	if _, err := other.ExecContext(ctx, "BEGIN IMMEDIATE"); err == nil {
		_, _ = other.ExecContext(ctx, "ROLLBACK")
		t.Error("a second connection took the write lock while a transaction that had only read was open")
	}
	if err := tx.Rollback(); err != nil {
		t.Fatal(err)
	}
	if _, err := other.ExecContext(ctx, "BEGIN IMMEDIATE"); err != nil {
		t.Errorf("BEGIN IMMEDIATE once the transaction ended: %v", err)
	} else if _, err := other.ExecContext(ctx, "ROLLBACK"); err != nil {
		t.Fatal(err)
	}
}

// The in-memory database keeps its one connection, with foreign keys and
// the busy timeout set.
func TestSQLiteMemorySettings(t *testing.T) {
	ctx := context.Background()
	db := openTest(t, "sqlite::memory:")
	sqlDB, err := db.gorm.DB()
	if err != nil {
		t.Fatal(err)
	}
	if got := sqlDB.Stats().MaxOpenConnections; got != 1 {
		t.Errorf("in-memory database allows %d connections, want 1", got)
	}
	c, err := sqlDB.Conn(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	for _, p := range []struct{ pragma, want string }{
		{"busy_timeout", "5000"},
		{"journal_mode", "memory"},
		{"foreign_keys", "1"},
	} {
		if got := pragma(t, c, p.pragma); got != p.want {
			t.Errorf("PRAGMA %s = %s, want %s", p.pragma, got, p.want)
		}
	}
}

func pragma(t *testing.T, c *sql.Conn, name string) string {
	t.Helper()
	var v string
	if err := c.QueryRowContext(context.Background(), "PRAGMA "+name).Scan(&v); err != nil {
		t.Fatalf("PRAGMA %s: %v", name, err)
	}
	return v
}
