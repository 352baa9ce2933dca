package storage

import (
	"errors"
	"fmt"
)

// LockForServing makes this process the only one serving a SQLite
// database: it takes an exclusive lock on "<database file>.lock", held
// until Close, and fails at once when another process (or another DB in
// this process) holds it. SQLite has no row locks across machines and its
// claims are not designed for several replicas; PostgreSQL is. For
// PostgreSQL and in-memory databases it does nothing. Calling it again
// on a DB that holds the lock succeeds.
func (db *DB) LockForServing() error {
	if db.driver != DriverSQLite || db.path == "" {
		return nil
	}
	db.mu.Lock()
	defer db.mu.Unlock()
	if db.serving != nil {
		return nil
	}
	f, err := lockFile(db.path + ".lock")
	if errors.Is(err, errLockHeld) {
		return fmt.Errorf("another jitbot process is serving %s: SQLite supports one replica; use PostgreSQL (database: postgres://...) to run several", db.path)
	}
	if err != nil {
		return fmt.Errorf("lock %s for serving: %w", db.path, err)
	}
	db.serving = f
	return nil
}

// errLockHeld is returned by lockFile when another open file holds the lock.
var errLockHeld = errors.New("lock held elsewhere")
