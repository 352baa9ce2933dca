package storage

import (
	"context"
	"errors"
	"fmt"

	"gorm.io/gorm"

	"github.com/jitbot/jitbot/access"
)

// storedKey is the context key under which a transaction collects the audit
// events it appends, to be handed to the observers once it has committed.
type storedKey struct{}

// OnAudit registers fn to be called with every audit event this DB stores,
// once the transaction that stored it has committed (never for one that
// rolled back), in the order they were stored. fn runs on the caller's
// goroutine and must be quick; it must not call back into the DB. Events
// stored by other processes sharing the database are not seen.
func (db *DB) OnAudit(fn func(access.AuditEvent)) {
	db.mu.Lock()
	defer db.mu.Unlock()
	db.observers = append(db.observers, fn)
}

// collect records ev as stored by the transaction of tx.
func collect(tx *gorm.DB, ev access.AuditEvent) {
	if p, ok := tx.Statement.Context.Value(storedKey{}).(*[]access.AuditEvent); ok {
		*p = append(*p, ev)
	}
}

// notify hands the events of a committed transaction to the observers.
func (db *DB) notify(evs []access.AuditEvent) {
	if len(evs) == 0 {
		return
	}
	db.mu.Lock()
	obs := db.observers
	db.mu.Unlock()
	for _, fn := range obs {
		for _, ev := range evs {
			fn(ev)
		}
	}
}

// GrantCounts counts the grants whose membership is not finished (granting,
// active, revoking, irrevocable), by profile and state, across every
// replica sharing the database.
func (db *DB) GrantCounts(ctx context.Context) (map[string]map[access.GrantState]int, error) {
	conn, cancel := db.conn(ctx)
	defer cancel()
	var rows []struct {
		Profile string
		State   string
		N       int
	}
	live := []string{string(access.GrantGranting), string(access.GrantActive), string(access.GrantRevoking), string(access.GrantIrrevocable)}
	err := conn.Model(&grantRow{}).Select("profile, state, COUNT(*) AS n").
		Where("state IN ?", live).Group("profile, state").Scan(&rows).Error
	if err != nil {
		return nil, fmt.Errorf("count live grants: %w", err)
	}
	out := map[string]map[access.GrantState]int{}
	for _, r := range rows {
		if out[r.Profile] == nil {
			out[r.Profile] = map[access.GrantState]int{}
		}
		out[r.Profile][access.GrantState(r.State)] = r.N
	}
	return out, nil
}

// Ping checks that the database answers.
func (db *DB) Ping(ctx context.Context) error {
	sqlDB, err := db.gorm.DB()
	if err != nil {
		return fmt.Errorf("ping %s database: %w", db.driver, err)
	}
	ctx, cancel := db.ctx(ctx)
	defer cancel()
	if err := sqlDB.PingContext(ctx); err != nil {
		return fmt.Errorf("ping %s database: %w", db.driver, err)
	}
	// A ping may be answered from a pooled connection without a round
	// trip on some drivers: a statement proves the database answers.
	var one int
	if err := db.gorm.WithContext(ctx).Raw("SELECT 1").Scan(&one).Error; err != nil {
		return fmt.Errorf("query %s database: %w", db.driver, err)
	}
	if one != 1 {
		return errors.New("query database: SELECT 1 did not answer 1")
	}
	return nil
}
