// Package access is jitbot's domain: access profiles, requests, decisions,
// grants, the lifecycle state machine that moves a request from pending to
// revoked, and the expiry scheduler.
//
// It is pure Go and imports no SDK: it declares the small interfaces it needs
// (Directory, Store, Notifier, Clock) and the bot, graph and storage packages
// implement them. Nothing here may import those packages.
package access
