// Package store is the only package that talks to the database. It opens
// SQLite (the embedded default) or MySQL/MariaDB through GORM, applies the
// embedded versioned migrations, and implements the Store interfaces that the
// domain packages declare.
package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/glebarez/sqlite"
	"github.com/go-sql-driver/mysql"
	gormmysql "gorm.io/driver/mysql"
	"gorm.io/gorm"
	"gorm.io/gorm/logger"

	"github.com/auditlogd/auditlogd/internal/dburl"
	"github.com/auditlogd/auditlogd/internal/reqinfo"
)

// Dialect names a supported database.
type Dialect = dburl.Dialect

// The supported dialects.
const (
	MySQL  = dburl.MySQL
	SQLite = dburl.SQLite
)

// Options tune the connection pool and statement deadlines.
type Options struct {
	// MaxOpenConns bounds the pool (MySQL; SQLite always has one writer).
	MaxOpenConns int
	// QueryTimeout is the deadline of each statement (and of each
	// transaction as a whole).
	QueryTimeout time.Duration
	// Now is the clock that event-writing transactions read after locking
	// their workspace; time.Now when nil.
	Now func() time.Time
	// OnCommit, when set, is told the workspaces whose logs a transaction
	// extended, after it committed (see package notify).
	OnCommit func(workspaceIDs []string)
	// OnConflict, when set, is told of every transaction attempt that lost
	// to a concurrent one (see conflictCause): retried, or, with gaveUp,
	// the last attempt, whose error is returned.
	OnConflict func(cause string, gaveUp bool)
	// Retention is how long events are kept (AUDITLOG_RETENTION): the
	// window in which NEW_LOCATION counts a network as seen. 90 days when 0.
	Retention time.Duration
}

func (o Options) withDefaults() Options {
	if o.MaxOpenConns <= 0 {
		o.MaxOpenConns = 20
	}
	if o.QueryTimeout <= 0 {
		o.QueryTimeout = 10 * time.Second
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.Retention <= 0 {
		o.Retention = 90 * 24 * time.Hour
	}
	return o
}

// DB is an open database: a writer and a reader handle (the same pool on
// MySQL; on SQLite one writer connection beside a pool of readers, since
// SQLite admits one writer at a time).
type DB struct {
	dialect Dialect
	write   *gorm.DB
	read    *gorm.DB
	pools   []*sql.DB
	opts    Options
	// galera and syncWait: see Galera.
	galera   bool
	syncWait string
	// actorSums caches the per-actor sums of closed hours (see Summarize).
	actorSums actorSumCache
}

// ParseURL splits a database URL (sqlite://PATH or mysql://DSN) into its
// dialect and driver DSN, and checks it.
func ParseURL(raw string) (Dialect, string, error) { return dburl.Parse(raw) }

// Open connects to the database named by rawURL. It does not migrate; call
// Migrate.
func Open(ctx context.Context, rawURL string, opts Options) (*DB, error) {
	dialect, dsn, err := ParseURL(rawURL)
	if err != nil {
		return nil, err
	}
	opts = opts.withDefaults()
	var db *DB
	switch dialect {
	case SQLite:
		db, err = openSQLite(dsn, opts)
	default:
		db, err = openMySQL(dsn, opts)
	}
	if err != nil {
		return nil, err
	}
	if err := db.Ping(ctx); err != nil {
		db.Close()
		return nil, err
	}
	return db, nil
}

// countQueries counts every statement GORM runs against the request it runs
// for (reqinfo.CountQuery), so that the access log can say how many
// statements each request cost.
func countQueries(g *gorm.DB) error {
	count := func(tx *gorm.DB) {
		if tx.Statement != nil && tx.Statement.Context != nil {
			reqinfo.CountQuery(tx.Statement.Context)
		}
	}
	cb := g.Callback()
	for _, err := range []error{
		cb.Query().After("gorm:query").Register("auditlogd:count_query", count),
		cb.Row().After("gorm:row").Register("auditlogd:count_row", count),
		cb.Raw().After("gorm:raw").Register("auditlogd:count_raw", count),
		cb.Create().After("gorm:create").Register("auditlogd:count_create", count),
		cb.Update().After("gorm:update").Register("auditlogd:count_update", count),
		cb.Delete().After("gorm:delete").Register("auditlogd:count_delete", count),
	} {
		if err != nil {
			return err
		}
	}
	return nil
}

func gormConfig() *gorm.Config {
	return &gorm.Config{
		SkipDefaultTransaction: true,
		TranslateError:         true,
		Logger:                 logger.Discard,
		NowFunc:                func() time.Time { return time.Now().UTC() },
	}
}

func openSQLite(path string, opts Options) (*DB, error) {
	q := url.Values{}
	for _, p := range []string{"busy_timeout(10000)", "journal_mode(WAL)", "foreign_keys(1)", "synchronous(NORMAL)"} {
		q.Add("_pragma", p)
	}
	base := "file:" + path
	// Writes begin IMMEDIATE so that a transaction that reads and then writes
	// never has to upgrade its lock (which fails with SQLITE_BUSY).
	w, err := gorm.Open(sqlite.Open(base+"?"+q.Encode()+"&_txlock=immediate"), gormConfig())
	if err != nil {
		return nil, fmt.Errorf("open sqlite: %w", err)
	}
	wdb, _ := w.DB()
	wdb.SetMaxOpenConns(1)
	if err := countQueries(w); err != nil {
		wdb.Close()
		return nil, err
	}
	r, err := gorm.Open(sqlite.Open(base+"?"+q.Encode()), gormConfig())
	if err != nil {
		wdb.Close()
		return nil, fmt.Errorf("open sqlite: %w", err)
	}
	rdb, _ := r.DB()
	rdb.SetMaxOpenConns(max(4, opts.MaxOpenConns/2))
	if err := countQueries(r); err != nil {
		wdb.Close()
		rdb.Close()
		return nil, err
	}
	return &DB{dialect: SQLite, write: w, read: r, pools: []*sql.DB{wdb, rdb}, opts: opts}, nil
}

// mysqlConfig fills in the settings auditlogd relies on: UTC, utf8mb4,
// client-side interpolation (one round trip per statement instead of three)
// and connect/read deadlines.
func mysqlConfig(dsn string) (*mysql.Config, error) {
	cfg, err := mysql.ParseDSN(dsn)
	if err != nil {
		return nil, err
	}
	cfg.ParseTime = true
	cfg.Loc = time.UTC
	cfg.InterpolateParams = true
	if cfg.Params == nil {
		cfg.Params = map[string]string{}
	}
	cfg.Params["charset"] = "utf8mb4"
	if cfg.Collation == "" || !strings.HasPrefix(cfg.Collation, "utf8mb4") {
		cfg.Collation = "utf8mb4_unicode_ci"
	}
	if cfg.Timeout == 0 {
		cfg.Timeout = 5 * time.Second
	}
	return cfg, nil
}

func openMySQL(dsn string, opts Options) (*DB, error) {
	cfg, err := mysqlConfig(dsn)
	if err != nil {
		return nil, err
	}
	srv, err := probeServer(cfg)
	if err != nil {
		return nil, fmt.Errorf("open mysql: %w", err)
	}
	// READ COMMITTED for every session, set once per connection instead of
	// once per transaction (one round trip fewer for every write).
	cfg.Params[srv.isolationVar] = "'READ-COMMITTED'"
	syncWait := ""
	if srv.galera {
		syncWait = galeraSyncWait(cfg, srv.globalSyncWait)
	}
	g, err := gorm.Open(gormmysql.New(gormmysql.Config{DSN: cfg.FormatDSN()}), gormConfig())
	if err != nil {
		return nil, fmt.Errorf("open mysql: %w", err)
	}
	pool, _ := g.DB()
	if err := countQueries(g); err != nil {
		pool.Close()
		return nil, err
	}
	pool.SetMaxOpenConns(opts.MaxOpenConns)
	pool.SetMaxIdleConns(opts.MaxOpenConns)
	pool.SetConnMaxLifetime(30 * time.Minute)
	pool.SetConnMaxIdleTime(5 * time.Minute)
	return &DB{dialect: MySQL, write: g, read: g, pools: []*sql.DB{pool}, opts: opts, galera: srv.galera, syncWait: syncWait}, nil
}

// galeraSyncWait makes every session of a Galera node read its writes
// across nodes, and returns the wsrep_sync_wait the sessions will have.
//
// A commit returns once the cluster has ordered it; other nodes apply it a
// moment later. Without a causality wait, a replica on another node can miss
// what a client was just told succeeded: an invite just created is
// NOT_FOUND when accepted through another replica, an export's download URL
// is NOT_FOUND there, a page lacks the event just written. Bit 1 of
// wsrep_sync_wait makes each SELECT (and BEGIN) first wait until the node
// has applied everything the cluster committed before it began, at the cost
// of one group round trip per read (well under a millisecond on a LAN; the
// link's round trip on a WAN). Writes need nothing more: a write based on a
// stale read fails certification and is retried (conn.inTx).
//
// A wsrep_sync_wait in the DSN is the operator's choice and is kept (0 turns
// the wait off); otherwise the server's setting is kept if it has bit 1,
// and bit 1 is added to it if not.
func galeraSyncWait(cfg *mysql.Config, global int) string {
	for k, v := range cfg.Params {
		if strings.EqualFold(k, "wsrep_sync_wait") {
			return v
		}
	}
	if global&1 == 1 {
		return strconv.Itoa(global)
	}
	v := strconv.Itoa(global | 1)
	cfg.Params["wsrep_sync_wait"] = v
	return v
}

// serverInfo is what openMySQL needs to know about the server before it
// opens the pool.
type serverInfo struct {
	// isolationVar names the session variable of the isolation level:
	// MySQL and MariaDB 11.1+ call it transaction_isolation, older MariaDB
	// tx_isolation.
	isolationVar string
	// galera is whether the server is a node of a Galera cluster
	// (wsrep_on), and globalSyncWait its server-wide wsrep_sync_wait.
	galera         bool
	globalSyncWait int
}

// probeServer asks the server, over one short-lived connection, what
// openMySQL needs to know, in one SHOW GLOBAL VARIABLES: it works on every
// MySQL and MariaDB (MySQL 8 removed information_schema.session_variables),
// and a server without Galera support simply has no wsrep_ variables.
func probeServer(cfg *mysql.Config) (serverInfo, error) {
	var info serverInfo
	probe, err := sql.Open("mysql", cfg.FormatDSN())
	if err != nil {
		return info, err
	}
	defer probe.Close()
	probe.SetMaxOpenConns(1)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	rows, err := probe.QueryContext(ctx, "SHOW GLOBAL VARIABLES WHERE Variable_name IN "+
		"('transaction_isolation', 'tx_isolation', 'wsrep_on', 'wsrep_sync_wait')")
	if err != nil {
		return info, err
	}
	defer rows.Close()
	for rows.Next() {
		var name, value string
		if err := rows.Scan(&name, &value); err != nil {
			return info, err
		}
		switch name = strings.ToLower(name); name {
		case "transaction_isolation":
			info.isolationVar = name
		case "tx_isolation":
			if info.isolationVar == "" {
				info.isolationVar = name
			}
		case "wsrep_on":
			info.galera = strings.EqualFold(value, "ON")
		case "wsrep_sync_wait":
			info.globalSyncWait, _ = strconv.Atoi(value)
		}
	}
	if err := rows.Err(); err != nil {
		return info, err
	}
	if info.isolationVar == "" {
		return info, errors.New("the server has no transaction_isolation or tx_isolation variable")
	}
	return info, nil
}

// Galera reports whether the database is a node of a Galera cluster, and if
// so the wsrep_sync_wait its sessions run with (see galeraSyncWait).
func (db *DB) Galera() (bool, string) { return db.galera, db.syncWait }

// Dialect reports which database this is.
func (db *DB) Dialect() Dialect { return db.dialect }

// Ping checks that the database answers.
func (db *DB) Ping(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, min(db.opts.QueryTimeout, 2*time.Second))
	defer cancel()
	for _, p := range db.pools {
		if err := p.PingContext(ctx); err != nil {
			return err
		}
	}
	return nil
}

// readyQuery is what readiness asks of every pool: a read of a small table
// the service always has (every migration run creates it first). A ping or
// SELECT 1 is not enough. A Galera node that lost quorum (non-Primary), or
// one that is still joining, answers both while refusing every statement
// that touches a table (error 1047, "WSREP has not yet prepared node for
// application use"); so does a MySQL server whose tables are unreadable for
// any other reason. With wsrep_sync_wait on (see openMySQL) the read also
// waits for the node's causality check: a node that cannot reach the
// cluster's primary component does not answer it within the deadline.
const readyQuery = "SELECT 1 FROM schema_migrations LIMIT 1"

// Ready checks that the database can serve the service's requests: every
// pool runs readyQuery, within two seconds (less when the statement deadline
// is shorter). It costs one primary-key read per pool.
func (db *DB) Ready(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, min(db.opts.QueryTimeout, 2*time.Second))
	defer cancel()
	for _, p := range db.pools {
		var one int
		err := p.QueryRowContext(ctx, readyQuery).Scan(&one)
		if err != nil && !errors.Is(err, sql.ErrNoRows) {
			return err
		}
	}
	return nil
}

// Pools returns the underlying connection pools, for metrics.
func (db *DB) Pools() map[string]*sql.DB {
	if db.dialect == SQLite {
		return map[string]*sql.DB{"write": db.pools[0], "read": db.pools[1]}
	}
	return map[string]*sql.DB{"main": db.pools[0]}
}

// Close closes every pool.
func (db *DB) Close() error {
	var errs []error
	for _, p := range db.pools {
		errs = append(errs, p.Close())
	}
	return errors.Join(errs...)
}

// Workspaces returns the store of the workspace domain.
func (db *DB) Workspaces() *Workspaces { return &Workspaces{db.conn()} }

// Events returns the store of the audit domain.
func (db *DB) Events() *Events { return &Events{db.conn()} }

func (db *DB) conn() conn {
	return conn{db: db, reader: db.read, writer: db.write, now: db.opts.Now}
}
