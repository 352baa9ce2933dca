// Package storage keeps jitbot's requests, decisions, grants and audit log in SQLite or PostgreSQL, implementing access.Store.
// It also provides DemoDirectory, an access.Directory whose group memberships live in the database, for demo mode.
// It imports access and never bot, graph or cards (nor the Microsoft Graph SDK).
package storage
