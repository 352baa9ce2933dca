// Package storage keeps jitbot's requests, decisions, grants, membership ledger and audit log in SQLite or PostgreSQL,
// implementing access.Store.
//
// Several replicas may share one PostgreSQL database: work on grants is claimed with FOR UPDATE SKIP LOCKED, and every
// decision about one membership (add, keep, remove) runs with that membership's ledger row locked. SQLite serialises
// all writers and serves one replica only (see DB.LockForServing).
//
// It also provides DemoDirectory, an access.Directory whose group memberships live in the database, for demo mode.
// It imports access and never bot, graph or cards (nor the Microsoft Graph SDK).
package storage
