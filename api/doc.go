// Package api serves jitbot's HTTP endpoints for people and systems other
// than Teams (besides the Bot Framework's /api/messages, which package bot
// serves): the audit feed for SIEMs (GET /api/audit), which authenticates
// its caller with an Entra ID access token (package api/entraauth), and the
// download of an audit report's CSV (GET /api/audit/download/{token}),
// which the signed link itself authorises, and the requests API for
// pipelines and tools (POST /api/requests, GET /api/requests/{id}), whose
// callers authenticate like the feed's and are mapped in configuration to
// the person they request for. Each handler calls the domain
// through a small interface declared here; none reaches the database
// directly.
package api
