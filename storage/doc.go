// Package storage keeps jitbot's requests, decisions, grants, membership ledger and audit log in SQLite or PostgreSQL,
// implementing access.Store.
//
// It locks, persists and answers queries; it decides nothing about memberships (those decisions are access's, made
// inside DB.WithMembership) and reads no clock for what it keeps of requests, grants and the audit log (every such time is its caller's; only
// the demo directory stamps its own rows). Several replicas may share one
// PostgreSQL database: work on grants is claimed with FOR UPDATE SKIP LOCKED, and every decision about one membership
// runs in DB.WithMembership with that membership's ledger row locked. SQLite serialises all writers and serves one
// replica only (see DB.LockForServing).
//
// For monitoring, DB.OnAudit hands every audit event this process stored to observers once its transaction has
// committed, DB.GrantCounts counts the live grants, DB.Ping checks the database answers, and Inspect reads a
// database's schema and mode without changing anything (jitbot doctor).
//
// It also provides DemoDirectory, an access.Directory whose group memberships live in the database, for demo mode.
// It imports access and never bot, graph or cards (nor the Microsoft Graph SDK).
package storage
