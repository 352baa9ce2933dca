package storage

import (
	"sync"

	"gorm.io/gorm"
)

// headCache is the audit chain head as this process last committed it.
// An append starts from it instead of reading the head row: the head is
// advanced with an update conditional on the remembered sequence number
// and hash, which changes nothing when another process or replica moved
// the head since (the append then reads and locks the head as stored, as
// it does without a remembered head). It is advanced only once a
// transaction has committed, so a rolled back append leaves it as it was.
type headCache struct {
	mu    sync.Mutex
	head  chainHeadRow
	known bool
}

// get returns the remembered head, if any.
func (c *headCache) get() (chainHeadRow, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.head, c.known
}

// committed remembers head as the chain head a committed transaction left.
// A head older than the one remembered (a slower transaction committing
// after a faster one) is not kept: the next append then misses and reads.
func (c *headCache) committed(head chainHeadRow) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if !c.known || head.Seq >= c.head.Seq {
		c.head, c.known = head, true
	}
}

// rememberHead tells whether the transactions of db start from the head
// its last transaction committed: on SQLite, where this process's writers
// queue (db.writer) and the next one finds the head as the last left it
// unless another process appended. On PostgreSQL, concurrent transactions
// of a process (and the other replicas) append at the same time, so the
// remembered head is mostly stale: the conditional update would miss and
// the head be read anyway (392 of 400 appends at 16 concurrent approvals),
// one statement more. There a transaction reads the head once, at its
// first append, and its further appends start from what it wrote.
func (db *DB) rememberHead() bool { return db.writer != nil }

// txHead is the chain head within one transaction: where its appends
// start (the remembered head, taken at the first append, once the
// transaction holds its locks, or the head it read) and where they left it.
type txHead struct {
	cache    *headCache // nil: no remembered head (see rememberHead)
	taken    bool       // the remembered head was taken from cache
	head     chainHeadRow
	known    bool // head is remembered, or what this transaction read or wrote
	appended bool // this transaction advanced the head
}

// start returns the head this transaction's next append starts from, if
// it knows one.
func (h *txHead) start() (chainHeadRow, bool) {
	if !h.taken && h.cache != nil {
		h.head, h.known = h.cache.get()
		h.taken = true
	}
	return h.head, h.known
}

// txHeadKey is the context key of a transaction's *txHead.
type txHeadKey struct{}

// headOf returns the *txHead of tx's transaction, or nil outside db.tx.
func headOf(tx *gorm.DB) *txHead {
	h, _ := tx.Statement.Context.Value(txHeadKey{}).(*txHead)
	return h
}
