package storage

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"testing"

	"gorm.io/gorm"
)

// A statement run preparedAfter times is kept prepared, runs in a
// transaction on the transaction's connection (it sees the transaction's
// own writes, and a rollback undoes them), and the kept ones stay within
// maxPrepared.
func TestPreparedStatements(t *testing.T) {
	ctx := context.Background()
	db := openTest(t, "sqlite:"+filepath.Join(t.TempDir(), "jitbot.db"))
	pool, ok := db.gorm.ConnPool.(*preparedPool)
	if !ok {
		t.Fatalf("a SQLite file database runs on %T, want *preparedPool", db.gorm.ConnPool)
	}
	g := db.gorm.WithContext(ctx)
	if err := g.Exec("CREATE TABLE kept (id INTEGER PRIMARY KEY, v TEXT NOT NULL UNIQUE)").Error; err != nil {
		t.Fatal(err)
	}
	const insert = "INSERT INTO `kept` (`v`) VALUES (?)"
	const count = "SELECT count(*) FROM `kept` WHERE `v` LIKE ?"
	kept := func(q string) bool {
		pool.mu.Lock()
		defer pool.mu.Unlock()
		return pool.stmts[q] != nil
	}
	countOf := func(tx *gorm.DB, like string) int {
		t.Helper()
		var n int
		if err := tx.Raw(count, like).Scan(&n).Error; err != nil {
			t.Fatal(err)
		}
		return n
	}
	for i := range preparedAfter {
		if kept(insert) {
			t.Fatalf("kept after %d runs", i)
		}
		if err := g.Exec(insert, fmt.Sprintf("out-%d", i)).Error; err != nil {
			t.Fatal(err)
		}
		countOf(g, "out-%")
	}
	if !kept(insert) || !kept(count) {
		t.Fatalf("not kept after %d runs", preparedAfter)
	}
	if n := countOf(g, "out-%"); n != preparedAfter {
		t.Fatalf("count %d, want %d", n, preparedAfter)
	}

	// In a transaction: its own write is seen, a duplicate is the
	// translated error, and a rollback undoes the write.
	errRollback := errors.New("roll back")
	err := g.Transaction(func(tx *gorm.DB) error {
		if err := tx.Exec(insert, "in-tx").Error; err != nil {
			return err
		}
		if n := countOf(tx, "in-tx"); n != 1 {
			t.Errorf("the transaction sees %d of its own rows, want 1", n)
		}
		if err := tx.Exec(insert, "in-tx").Error; !errors.Is(err, gorm.ErrDuplicatedKey) {
			t.Errorf("duplicate insert: %v, want gorm.ErrDuplicatedKey", err)
		}
		return errRollback
	})
	if !errors.Is(err, errRollback) {
		t.Fatal(err)
	}
	if n := countOf(g, "in-tx"); n != 0 {
		t.Errorf("%d rows after the rollback, want 0", n)
	}

	// A long list of ids is never kept.
	ids := "SELECT count(*) FROM `kept` WHERE `id` IN (?,?,?,?,?,?,?,?,?,?)"
	for range preparedAfter + 1 {
		var n int
		if err := g.Raw(ids, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10).Scan(&n).Error; err != nil {
			t.Fatal(err)
		}
		if n != preparedAfter {
			t.Fatalf("%d rows of ids 1 to 10, want %d", n, preparedAfter)
		}
	}
	if kept(ids) {
		t.Error("a statement with a list of 10 ids was kept")
	}

	// Past maxPrepared, statements still run, unprepared.
	for i := range maxPrepared + 8 {
		q := fmt.Sprintf("SELECT count(*) + %d FROM `kept`", i)
		for range preparedAfter + 1 {
			var n int
			if err := g.Raw(q).Scan(&n).Error; err != nil {
				t.Fatal(err)
			}
			if n != i+preparedAfter {
				t.Fatalf("%s = %d, want %d", q, n, i+preparedAfter)
			}
		}
	}
	pool.mu.Lock()
	n := len(pool.stmts)
	pool.mu.Unlock()
	if n != maxPrepared {
		t.Errorf("%d statements kept, want %d", n, maxPrepared)
	}
}
