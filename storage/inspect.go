package storage

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"sync"

	"gorm.io/gorm"
	"gorm.io/gorm/schema"
)

// Inspection is what a database holds, as a check before serving sees it.
type Inspection struct {
	// Missing is set for a SQLite file that does not exist yet (serve
	// creates it); nothing else is then filled in.
	Missing bool
	// Empty: no table of jitbot's yet (serve creates the schema).
	Empty bool
	// Outdated lists the tables and columns serve would add at start
	// (a database of an older jitbot).
	Outdated []string
	// Mode is the mode the database records ("": none yet).
	Mode Mode
}

// Inspect connects to databaseURL and reports its schema and mode without
// changing anything (no migration, no mode recorded, no file created).
func Inspect(ctx context.Context, databaseURL string, logger *slog.Logger) (Inspection, error) {
	if err := ValidateURL(databaseURL); err != nil {
		return Inspection{}, fmt.Errorf("inspect database: %w", err)
	}
	if path := sqlitePath(databaseURL); !isPostgres(databaseURL) && path != ":memory:" {
		if _, err := os.Stat(path); errors.Is(err, os.ErrNotExist) {
			return Inspection{Missing: true}, nil
		} else if err != nil {
			return Inspection{}, fmt.Errorf("inspect database: %w", err)
		}
	}
	db, err := open(ctx, databaseURL, logger, false)
	if err != nil {
		return Inspection{}, err
	}
	defer db.Close()
	gdb := db.gorm.WithContext(ctx)
	m := gdb.Migrator()
	var out Inspection
	tables := 0
	cache := &sync.Map{}
	for _, model := range models() {
		s, err := schema.Parse(model, cache, gdb.NamingStrategy)
		if err != nil {
			return Inspection{}, fmt.Errorf("inspect database: %w", err)
		}
		if !m.HasTable(model) {
			out.Outdated = append(out.Outdated, s.Table)
			continue
		}
		tables++
		for _, col := range s.DBNames {
			if !m.HasColumn(model, col) {
				out.Outdated = append(out.Outdated, s.Table+"."+col)
			}
		}
	}
	if tables == 0 {
		return Inspection{Empty: true}, nil
	}
	if m.HasTable(&metaRow{}) {
		var row metaRow
		err := gdb.Where("key = ?", metaKeyMode).Take(&row).Error
		switch {
		case err == nil:
			out.Mode = Mode(row.Value)
		case !errors.Is(err, gorm.ErrRecordNotFound):
			return Inspection{}, fmt.Errorf("read database mode: %w", err)
		}
	}
	return out, nil
}
