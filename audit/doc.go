// Package audit reads the audit trail for security teams: the writers of
// exports (CSV, JSON, JSON lines; one row per audit event or one per
// request), the statistics of the report shown in Teams, and the signed,
// short-lived links that download a report's CSV. It imports the domain
// and the standard library only.
package audit
