// Package api serves jitbot's HTTP endpoints for people and systems other
// than Teams: the download of an audit report's CSV. Each handler calls the
// domain through a small interface declared here; none reaches the
// database directly.
package api
