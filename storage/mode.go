package storage

import (
	"context"
	"errors"
	"fmt"

	"gorm.io/gorm"
	"gorm.io/gorm/clause"
)

// Mode is what a database serves: `jitbot serve` (real tenants) or `jitbot
// demo` (a simulated directory that lets anyone approve). A database
// records the mode of the first command that served from it.
type Mode string

// The modes.
const (
	ModeServe Mode = "serve"
	ModeDemo  Mode = "demo"
)

// metaKeyMode is the settings row that holds a database's mode.
const metaKeyMode = "mode"

// metaRow is one setting of the database itself.
type metaRow struct {
	Key   string `gorm:"primaryKey"`
	Value string `gorm:"not null"`
}

func (metaRow) TableName() string { return "jitbot_meta" }

// Mode returns the mode the database records. A database that records none
// is given one: a new, empty database records want; one that already holds
// data from before modes were recorded records demo when it holds demo
// directory memberships (the demo seeds one at every start), serve
// otherwise. Concurrent first calls record one mode.
func (db *DB) Mode(ctx context.Context, want Mode) (Mode, error) {
	if want != ModeServe && want != ModeDemo {
		return "", fmt.Errorf("database mode %q: want %q or %q", want, ModeServe, ModeDemo)
	}
	var got Mode
	err := db.tx(ctx, func(tx *gorm.DB) error {
		var row metaRow
		err := tx.Where("key = ?", metaKeyMode).Take(&row).Error
		if err == nil {
			got = Mode(row.Value)
			return nil
		}
		if !errors.Is(err, gorm.ErrRecordNotFound) {
			return fmt.Errorf("read database mode: %w", err)
		}
		mode, err := modeOfData(tx, want)
		if err != nil {
			return err
		}
		if err := tx.Clauses(clause.OnConflict{DoNothing: true}).Create(&metaRow{Key: metaKeyMode, Value: string(mode)}).Error; err != nil {
			return fmt.Errorf("record database mode: %w", err)
		}
		if err := tx.Where("key = ?", metaKeyMode).Take(&row).Error; err != nil {
			return fmt.Errorf("read database mode: %w", err)
		}
		got = Mode(row.Value)
		return nil
	})
	if err != nil {
		return "", err
	}
	return got, nil
}

// modeOfData is the mode of a database that records none: want when it
// holds no data yet, else what its data shows.
func modeOfData(tx *gorm.DB, want Mode) (Mode, error) {
	var demo, used int64
	if err := tx.Model(&membershipRow{}).Count(&demo).Error; err != nil {
		return "", fmt.Errorf("count demo memberships: %w", err)
	}
	if demo > 0 {
		return ModeDemo, nil
	}
	for _, m := range []any{&requestRow{}, &auditRow{}} {
		var n int64
		if err := tx.Model(m).Count(&n).Error; err != nil {
			return "", fmt.Errorf("look for data: %w", err)
		}
		used += n
	}
	if used > 0 {
		return ModeServe, nil
	}
	return want, nil
}
