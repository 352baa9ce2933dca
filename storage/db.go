package storage

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"log/slog"
	"net/url"
	"os"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/stdlib"
	"github.com/libtnb/sqlite"
	"gorm.io/driver/postgres"
	"gorm.io/gorm"
	gormlogger "gorm.io/gorm/logger"

	"github.com/jitbot/jitbot/access"
)

// Driver names reported by (*DB).Driver.
const (
	DriverSQLite   = "sqlite"
	DriverPostgres = "postgres"
)

// sqliteParams are the connection settings every SQLite connection gets:
// wait for locks instead of failing, write-ahead log, enforced foreign keys,
// and transactions that take the write lock up front so that concurrent
// read-then-write transactions queue rather than fail with "database is
// locked". Times are written as "2006-01-02 15:04:05.999999999-07:00", the
// text databases hold already (so that stored times compare and sort as
// before), and read back as time.Time from DATETIME columns. Temporary
// storage is in memory: above all the statement journal of a statement
// that changes several rows in a transaction, which once larger than
// 64 KiB went to a temporary file, a system call for each page it copied
// while the transaction held the write lock. synchronous stays SQLite's
// default, FULL. These are all the settings: the pool is opened here and
// handed to the dialector, which then adds none of its own.
//
// The dialector (github.com/libtnb/sqlite over modernc.org/sqlite) also
// switches on, process-wide, open file description locks on database files
// (a close of another descriptor of the file elsewhere in the process no
// longer drops SQLite's locks; they still conflict with other processes'
// POSIX locks, and fall back to those where the kernel lacks them),
// fdatasync for commits (as SQLite's own Linux builds do; the data and size
// are synced, not the timestamps), and the refusal of a _pragma holding more
// than one statement. The serving lock is a flock on a file of its own and
// is not affected.
const sqliteParams = "_pragma=busy_timeout(5000)&_pragma=journal_mode(WAL)&_pragma=foreign_keys(1)&_pragma=temp_store(2)&_txlock=immediate&_time_format=sqlite&_texttotime=1"

// sqliteCacheKiB bounds each SQLite connection's page cache (SQLite's
// default is 2,000 KiB): the cache is memory of the process, one for each
// of up to sqliteMaxConns connections, filled by any scan of a large
// table, while the pages it holds are in the operating system's cache too.
const sqliteCacheKiB = 512

// sqliteMaxConns is how many SQLite connections are open at most, and stay
// open between statements (database/sql keeps 2 by default, so that under
// load most statements would open, configure and close a connection of
// their own). Each holds its page cache, its copy of the schema and its
// prepared statements: without a bound a mass expiry opened 40, one for
// each notice being read at the time. One writes at a time; the others
// read, which a few connections do as fast as many on a small machine:
// with 4 instead of 8, 10,000 grants due together peaked at 57.0 to
// 58.4 MiB of RSS instead of 60.6, in as much time, and approvals at 16
// at once ran as fast (jitbot-bench -scenario expiry -grants 10000
// -graph-latency 20ms; -scenario approve -concurrency 16).
const sqliteMaxConns = 4

// acceptedURLs names the database URL forms Open understands.
const acceptedURLs = "sqlite:<path> (for example sqlite:/var/lib/jitbot/jitbot.db or sqlite::memory:), postgres://... or postgresql://..."

// slowQuery is how long a statement may take before it is logged.
const slowQuery = time.Second

// PostgreSQL connection limits. Each replica keeps a small pool; connections
// are recycled so that a failover or a restarted server is picked up, and a
// dead connection is dropped on its first failed statement (pgx) and
// replaced on the next use.
const (
	pgMaxOpenConns = 10
	// pgMaxIdleConns keeps a burst's connections for the next one;
	// pgConnMaxIdleTime closes them once things are quiet.
	pgMaxIdleConns    = pgMaxOpenConns
	pgConnMaxLifetime = 30 * time.Minute
	pgConnMaxIdleTime = 5 * time.Minute
	// pgConnectTimeout bounds connecting when the URL sets no connect_timeout.
	pgConnectTimeout = 10 * time.Second
	// pgStatementTimeout and pgIdleInTxTimeout are set on every connection
	// whose server leaves them unlimited (0): no statement waits forever on
	// a lock, and a replica that vanished inside a transaction releases its
	// locks. A value set for the role, the database or in the URL's options
	// is kept.
	pgStatementTimeout = "60s"
	pgIdleInTxTimeout  = "60s"
)

// opTimeout bounds every Store call whose context has no deadline of its
// own, so that a statement on a connection that died silently (a network
// partition sends no reset) fails instead of hanging.
const opTimeout = 2 * time.Minute

// DB is jitbot's database. It implements access.Store and is safe for
// concurrent use.
type DB struct {
	gorm   *gorm.DB
	driver string
	logger *slog.Logger
	// path is the SQLite database file; empty for PostgreSQL and for an
	// in-memory database.
	path string

	// writer queues this process's write transactions on SQLite, whose
	// BEGIN IMMEDIATE takes the database's one write lock: waiting here is
	// a queue, where waiting in SQLite is its busy handler's sleep-and-retry
	// (the lock's holder finishes in a millisecond, but a waiter may sleep
	// far longer). It holds one token; nil on PostgreSQL, which locks rows.
	writer chan struct{}

	// heads is the audit chain head as this process last committed it.
	heads headCache

	mu sync.Mutex
	// serving is the lock file held by LockForServing until Close.
	serving *os.File
	// observers are told of the audit events stored (OnAudit).
	observers []func(access.AuditEvent)
}

// ValidateURL checks that databaseURL has a form Open accepts, without
// connecting. The error names the accepted forms and never shows a password.
func ValidateURL(databaseURL string) error {
	switch {
	case isPostgres(databaseURL):
		return nil
	case strings.HasPrefix(databaseURL, "sqlite:"):
		switch path := sqlitePath(databaseURL); {
		case path == "":
			return fmt.Errorf("sqlite URL has no path; accepted forms: %s", acceptedURLs)
		case strings.ContainsRune(path, '?'):
			return fmt.Errorf("sqlite path must not contain '?' (connection settings are fixed); accepted forms: %s", acceptedURLs)
		}
		return nil
	default:
		return fmt.Errorf("unsupported database URL %q; accepted forms: %s", redactURL(databaseURL), acceptedURLs)
	}
}

// DriverOf names the database a URL opens: DriverSQLite, DriverPostgres,
// or "" for a form Open does not accept.
func DriverOf(databaseURL string) string {
	switch {
	case isPostgres(databaseURL):
		return DriverPostgres
	case strings.HasPrefix(databaseURL, "sqlite:"):
		return DriverSQLite
	}
	return ""
}

// secretParams are the parameters of a PostgreSQL URL that carry a secret
// (the password, and the one of the client's TLS key).
var secretParams = []string{"password", "sslpassword"}

// ShowURL is databaseURL as it may be shown: without the password a
// PostgreSQL URL may carry (in its user info or as a parameter), and only
// the scheme of one that does not parse.
func ShowURL(databaseURL string) string {
	u, err := url.Parse(databaseURL)
	if err != nil {
		return redactURL(databaseURL)
	}
	if u.RawQuery != "" {
		q, err := url.ParseQuery(u.RawQuery)
		if err != nil {
			return redactURL(databaseURL)
		}
		hidden := false
		for k := range q {
			if slices.ContainsFunc(secretParams, func(p string) bool { return strings.EqualFold(p, k) }) {
				q[k], hidden = []string{"xxxxx"}, true
			}
		}
		if hidden {
			u.RawQuery = q.Encode()
			databaseURL = u.String()
		}
	}
	if u.User != nil {
		return u.Redacted()
	}
	return databaseURL
}

func isPostgres(u string) bool {
	return strings.HasPrefix(u, "postgres://") || strings.HasPrefix(u, "postgresql://")
}

// SQLiteFile is the file a sqlite: URL names, as written in it; "" for
// another database or an in-memory one.
func SQLiteFile(databaseURL string) string {
	if DriverOf(databaseURL) != DriverSQLite {
		return ""
	}
	if p := sqlitePath(databaseURL); p != ":memory:" {
		return p
	}
	return ""
}

// sqlitePath is the file of a sqlite: URL (sqlite://path is accepted too).
func sqlitePath(u string) string {
	return strings.TrimPrefix(strings.TrimPrefix(u, "sqlite:"), "//")
}

// Open connects to the database named by databaseURL and brings its schema up
// to date. Accepted forms:
//
//   - sqlite:<path>: a SQLite file, created when missing (sqlite://<path> is
//     accepted too, so sqlite:///abs/path.db is an absolute path). The path
//     must not carry its own query string.
//   - sqlite::memory:: a private in-memory SQLite database on a single
//     connection, lost at Close (for tests and trials).
//   - postgres://... or postgresql://...: PostgreSQL, the URL passed to the
//     pgx driver (search_path, sslmode and the like go in its query). A
//     connect_timeout of 10 seconds is added when the URL has none, and
//     statement_timeout and idle_in_transaction_session_timeout are set to
//     60 seconds on connections where the server leaves them unlimited.
//
// logger receives slow statements and database warnings; nil discards them.
func Open(ctx context.Context, databaseURL string, logger *slog.Logger) (*DB, error) {
	return open(ctx, databaseURL, logger, true)
}

// OpenForReading connects like Open but changes nothing: no migration, no
// genesis. It is for checking a database as it is (jitbot audit verify),
// and refuses one whose schema predates the audit chain.
func OpenForReading(ctx context.Context, databaseURL string, logger *slog.Logger) (*DB, error) {
	if err := ValidateURL(databaseURL); err != nil {
		return nil, fmt.Errorf("open database: %w", err)
	}
	if path := sqlitePath(databaseURL); !isPostgres(databaseURL) && path != ":memory:" {
		if _, err := os.Stat(path); err != nil {
			return nil, fmt.Errorf("open database: %w", err)
		}
	}
	db, err := open(ctx, databaseURL, logger, false)
	if err != nil {
		return nil, err
	}
	m := db.gorm.WithContext(ctx).Migrator()
	if !m.HasTable(&chainHeadRow{}) || !m.HasTable(&checkpointRow{}) || !m.HasColumn(&auditRow{}, "Hash") {
		_ = db.Close()
		return nil, errors.New("open database: its schema predates the audit hash chain; start jitbot serve once to bring it up to date")
	}
	return db, nil
}

func open(ctx context.Context, databaseURL string, logger *slog.Logger, migrateSchema bool) (*DB, error) {
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	logger = logger.With("component", "storage")

	var (
		db     = &DB{logger: logger}
		gdb    *gorm.DB
		memory bool
		err    error
	)
	if err := ValidateURL(databaseURL); err != nil {
		return nil, fmt.Errorf("open database: %w", err)
	}
	if isPostgres(databaseURL) {
		db.driver = DriverPostgres
		gdb, err = openPostgres(databaseURL, logger)
	} else {
		db.driver = DriverSQLite
		path := sqlitePath(databaseURL)
		memory = path == ":memory:"
		if !memory {
			db.path = path
		}
		gdb, err = openSQLite(path, memory, logger)
	}
	if err != nil {
		return nil, fmt.Errorf("open %s database: %w", db.driver, err)
	}
	db.gorm = gdb

	sqlDB, err := gdb.DB()
	if err != nil {
		return nil, fmt.Errorf("open %s database: %w", db.driver, err)
	}
	switch {
	case memory:
		// Every connection to :memory: is a database of its own: keep one.
		sqlDB.SetMaxOpenConns(1)
		sqlDB.SetConnMaxLifetime(0)
		sqlDB.SetConnMaxIdleTime(0)
	case db.driver == DriverSQLite:
		// Keep the connections open: each new one parses the schema again.
		sqlDB.SetMaxOpenConns(sqliteMaxConns)
		sqlDB.SetMaxIdleConns(sqliteMaxConns)
		db.writer = make(chan struct{}, 1)
	case db.driver == DriverPostgres:
		sqlDB.SetMaxOpenConns(pgMaxOpenConns)
		sqlDB.SetMaxIdleConns(pgMaxIdleConns)
		sqlDB.SetConnMaxLifetime(pgConnMaxLifetime)
		sqlDB.SetConnMaxIdleTime(pgConnMaxIdleTime)
	}
	if err := sqlDB.PingContext(ctx); err != nil {
		_ = sqlDB.Close()
		return nil, fmt.Errorf("open %s database: %w", db.driver, err)
	}
	if !migrateSchema {
		return db, nil
	}
	if err := migrate(gdb.WithContext(ctx)); err != nil {
		_ = sqlDB.Close()
		return nil, fmt.Errorf("migrate %s database: %w", db.driver, err)
	}
	return db, nil
}

// legacyPermanent is how grants stored before last_error_permanent existed
// marked a permanent error: as a prefix of last_error.
const legacyPermanent = "permanent: "

// migrate brings the schema up to date. Grants from before
// last_error_permanent existed get it from their last_error's prefix,
// which is then dropped.
//
// It runs in one transaction, so that replicas opening the database at the
// same time migrate it one after the other (on PostgreSQL under an advisory
// lock, on SQLite under the write lock an immediate transaction takes).
func migrate(gdb *gorm.DB) error {
	if gdb.Dialector.Name() == DriverSQLite {
		return migrateSQLite(gdb)
	}
	return gdb.Transaction(func(tx *gorm.DB) error {
		if err := tx.Exec("SELECT pg_advisory_xact_lock(?)", migrateLockKey).Error; err != nil {
			return fmt.Errorf("lock the schema for migration: %w", err)
		}
		return migrateLocked(tx)
	})
}

// sqliteMigrationTx is the SQLite migration's transaction as the session
// running it holds it. The SQLite migrator rebuilds a table (to alter a
// column or add a constraint) on a connection of its own whenever it finds
// a *sql.DB behind the session, and gorm finds one behind a plain *sql.Tx:
// that rebuild would then wait, until the busy timeout, for the write lock
// this very transaction holds. Behind this type no *sql.DB is found, and the
// rebuild runs inside the transaction (as a savepoint: the type commits and
// rolls back, so gorm nests in it).
type sqliteMigrationTx struct{ *sql.Tx }

// migrateSQLite runs migrateLocked in one immediate transaction.
func migrateSQLite(gdb *gorm.DB) error {
	sqlDB, err := gdb.DB()
	if err != nil {
		return fmt.Errorf("begin the migration: %w", err)
	}
	ctx := gdb.Statement.Context
	sqlTx, err := sqlDB.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("begin the migration: %w", err)
	}
	committed := false
	defer func() {
		if !committed {
			_ = sqlTx.Rollback()
		}
	}()
	tx := gdb.Session(&gorm.Session{NewDB: true, Context: ctx})
	tx.Statement.ConnPool = &sqliteMigrationTx{sqlTx}
	if err := migrateLocked(tx); err != nil {
		return err
	}
	if err := sqlTx.Commit(); err != nil {
		return fmt.Errorf("commit the migration: %w", err)
	}
	committed = true
	return nil
}

// migrateLockKey is the PostgreSQL advisory lock migrations take.
const migrateLockKey = 0x6a697462 // "jitb"

func migrateLocked(gdb *gorm.DB) error {
	m := gdb.Migrator()
	legacy := m.HasTable(&grantRow{}) && !m.HasColumn(&grantRow{}, "LastErrorPermanent")
	if err := gdb.AutoMigrate(models()...); err != nil {
		return err
	}
	// idx_grants_due_order (state, due_at, id) replaced (state, due_at).
	if m.HasIndex(&grantRow{}, "idx_grants_state_due") {
		if err := m.DropIndex(&grantRow{}, "idx_grants_state_due"); err != nil {
			return fmt.Errorf("drop the grants' index replaced by idx_grants_due_order: %w", err)
		}
	}
	if err := migrateChain(gdb); err != nil {
		return err
	}
	if !legacy {
		return nil
	}
	err := gdb.Model(&grantRow{}).Where("last_error LIKE ?", legacyPermanent+"%").
		Updates(map[string]any{
			"last_error_permanent": true,
			"last_error":           gorm.Expr("SUBSTR(last_error, ?)", len(legacyPermanent)+1),
		}).Error
	if err != nil {
		return fmt.Errorf("move the permanent mark of grants' last errors to its column: %w", err)
	}
	return nil
}

// openSQLite opens a SQLite database with the settings of sqliteParams, on
// a preparedPool unless it is in memory (one connection).
func openSQLite(path string, memory bool, logger *slog.Logger) (*gorm.DB, error) {
	sqlDB, err := sql.Open(sqlite.DriverName, path+"?"+sqliteParams+fmt.Sprintf("&_pragma=cache_size(-%d)", sqliteCacheKiB))
	if err != nil {
		return nil, err
	}
	var pool gorm.ConnPool = sqlDB
	if !memory {
		pool = newPreparedPool(sqlDB)
	}
	gdb, err := gorm.Open(sqlite.New(sqlite.Config{Conn: pool}), newGormConfig(logger))
	if err == nil {
		err = registerChangeCount(gdb)
	}
	if err != nil {
		_ = sqlDB.Close()
		return nil, err
	}
	return gdb, nil
}

// openPostgres opens a PostgreSQL pool through pgx with the connection
// settings described at Open.
func openPostgres(databaseURL string, logger *slog.Logger) (*gorm.DB, error) {
	u, err := url.Parse(databaseURL)
	if err != nil {
		// url.Error repeats the URL, password included.
		return nil, fmt.Errorf("parse PostgreSQL URL %s: invalid URL", redactURL(databaseURL))
	}
	if !u.Query().Has("connect_timeout") {
		// Appended, not re-encoded: pgx reads "+" in the query literally.
		param := fmt.Sprintf("connect_timeout=%d", int(pgConnectTimeout/time.Second))
		if u.RawQuery == "" {
			u.RawQuery = param
		} else {
			u.RawQuery += "&" + param
		}
	}
	config, err := pgx.ParseConfig(u.String())
	if err != nil {
		return nil, fmt.Errorf("parse PostgreSQL URL: %w", err)
	}
	pool := stdlib.OpenDB(*config, stdlib.OptionAfterConnect(capTimeouts))
	gdb, err := gorm.Open(postgres.New(postgres.Config{Conn: pool}), newGormConfig(logger))
	if err != nil {
		_ = pool.Close()
		return nil, err
	}
	return gdb, nil
}

// capTimeouts sets statement_timeout and idle_in_transaction_session_timeout
// on a new connection where they are unlimited.
func capTimeouts(ctx context.Context, conn *pgx.Conn) error {
	_, err := conn.Exec(ctx, `SELECT
		CASE WHEN current_setting('statement_timeout') = '0' THEN set_config('statement_timeout', $1, false) END,
		CASE WHEN current_setting('idle_in_transaction_session_timeout') = '0' THEN set_config('idle_in_transaction_session_timeout', $2, false) END`,
		pgStatementTimeout, pgIdleInTxTimeout)
	if err != nil {
		return fmt.Errorf("set connection timeouts: %w", err)
	}
	return nil
}

// Close closes the database connections and releases the serving lock.
func (db *DB) Close() error {
	var errs []error
	sqlDB, err := db.gorm.DB()
	if err == nil {
		err = sqlDB.Close()
	}
	if err != nil {
		errs = append(errs, fmt.Errorf("close %s database: %w", db.driver, err))
	}
	db.mu.Lock()
	if db.serving != nil {
		if err := db.serving.Close(); err != nil {
			errs = append(errs, fmt.Errorf("release serving lock of %s: %w", db.path, err))
		}
		db.serving = nil
	}
	db.mu.Unlock()
	return errors.Join(errs...)
}

// ctx bounds a Store call by opTimeout unless ctx has a deadline already.
func (db *DB) ctx(ctx context.Context) (context.Context, context.CancelFunc) {
	if _, ok := ctx.Deadline(); ok {
		return ctx, func() {}
	}
	return context.WithTimeout(ctx, opTimeout)
}

// Driver returns "sqlite" or "postgres".
func (db *DB) Driver() string { return db.driver }

// newGormConfig returns a fresh configuration for one gorm.Open: a dialector
// registers its clause builders in it, so it must never be shared between
// databases.
func newGormConfig(logger *slog.Logger) *gorm.Config {
	return &gorm.Config{
		Logger: &gormLog{logger: logger},
		// Times are the caller's: gorm never fills in one of its own (the
		// models turn autoCreateTime and autoUpdateTime off), and a time
		// that would slip through is the zero time, not the clock's.
		NowFunc:        func() time.Time { return time.Time{} },
		TranslateError: true,
		// Every write that matters runs in an explicit transaction already.
		SkipDefaultTransaction: true,
	}
}

// redactURL returns what can be shown of an unsupported URL: its scheme
// only, since the rest may hold a password.
func redactURL(u string) string {
	if i := strings.Index(u, "://"); i >= 0 {
		return u[:i] + "://..."
	}
	if i := strings.IndexByte(u, ':'); i >= 0 && i < 16 {
		return u[:i] + ":..."
	}
	if len(u) > 16 {
		return u[:16] + "..."
	}
	return u
}

// gormLog routes gorm's messages to slog at warning level and above: slow
// statements (without their arguments, which may hold personal data) and
// the warnings and errors gorm reports itself. Failed statements are not
// logged: their errors go back to the caller, wrapped.
type gormLog struct {
	logger *slog.Logger
}

func (l *gormLog) LogMode(gormlogger.LogLevel) gormlogger.Interface { return l }

func (l *gormLog) Info(context.Context, string, ...any) {}

func (l *gormLog) Warn(ctx context.Context, msg string, args ...any) {
	l.logger.WarnContext(ctx, "database: "+fmt.Sprintf(msg, args...))
}

func (l *gormLog) Error(ctx context.Context, msg string, args ...any) {
	l.logger.ErrorContext(ctx, "database: "+fmt.Sprintf(msg, args...))
}

func (l *gormLog) Trace(ctx context.Context, begin time.Time, fc func() (string, int64), err error) {
	elapsed := time.Since(begin)
	if elapsed < slowQuery || errors.Is(err, context.Canceled) {
		return
	}
	sql, rows := fc()
	l.logger.WarnContext(ctx, "slow database statement", "duration", elapsed, "sql", sql, "rows", rows)
}

// ParamsFilter keeps statement arguments out of the log.
func (l *gormLog) ParamsFilter(_ context.Context, sql string, _ ...any) (string, []any) {
	return sql, nil
}

// dbTime is t as stored: UTC, microsecond precision (PostgreSQL's).
func dbTime(t time.Time) time.Time { return t.UTC().Truncate(time.Microsecond) }
