package audit

import (
	"encoding/csv"
	"encoding/json"
	"fmt"
	"io"
	"strconv"
	"strings"
	"time"

	"github.com/jitbot/jitbot/access"
)

// Format is the encoding of an export.
type Format string

// The export formats.
const (
	// FormatCSV is RFC 4180 CSV with a header row, every cell inert in a
	// spreadsheet (see Inert).
	FormatCSV Format = "csv"
	// FormatJSON is one JSON array of objects.
	FormatJSON Format = "json"
	// FormatJSONL is JSON lines: one object per line.
	FormatJSONL Format = "jsonl"
)

// ParseFormat reads a format name.
func ParseFormat(s string) (Format, error) {
	switch f := Format(strings.ToLower(strings.TrimSpace(s))); f {
	case FormatCSV, FormatJSON, FormatJSONL:
		return f, nil
	}
	return "", fmt.Errorf("format %q: want csv, json or jsonl", s)
}

// View is what one row of an export stands for.
type View string

// The export views.
const (
	// ViewEvents: one row per audit event, every field.
	ViewEvents View = "events"
	// ViewGrants: one row per request (see access.GrantRecord).
	ViewGrants View = "grants"
)

// ParseView reads a view name.
func ParseView(s string) (View, error) {
	switch v := View(strings.ToLower(strings.TrimSpace(s))); v {
	case ViewEvents, ViewGrants:
		return v, nil
	}
	return "", fmt.Errorf("view %q: want events or grants", s)
}

// Inert neutralises a CSV cell that a spreadsheet would read as a formula
// (OWASP CSV injection): a cell beginning with '=', '+', '-', '@', a tab
// or a carriage return gets a leading single quote, so it shows as text.
func Inert(s string) string {
	if s == "" {
		return s
	}
	switch s[0] {
	case '=', '+', '-', '@', '\t', '\r':
		return "'" + s
	}
	return s
}

// Writer writes the rows of one export as they come, holding none of them:
// memory stays flat however many there are. Close finishes the output
// (the closing bracket of a JSON array, CSV's buffered lines); it does not
// close the underlying writer.
type Writer[T any] struct {
	format Format
	out    io.Writer
	csv    *csv.Writer
	cells  func(T) []string
	object func(T) any
	n      int
	closed bool
}

func newWriter[T any](w io.Writer, f Format, header []string, cells func(T) []string, object func(T) any) (*Writer[T], error) {
	wr := &Writer[T]{format: f, out: w, cells: cells, object: object}
	switch f {
	case FormatCSV:
		wr.csv = csv.NewWriter(w)
		wr.csv.UseCRLF = true // RFC 4180
		if err := wr.csv.Write(header); err != nil {
			return nil, fmt.Errorf("write csv header: %w", err)
		}
	case FormatJSON, FormatJSONL:
	default:
		return nil, fmt.Errorf("format %q: want csv, json or jsonl", f)
	}
	return wr, nil
}

// NewEventWriter writes audit events (the events view).
func NewEventWriter(w io.Writer, f Format) (*Writer[access.AuditEvent], error) {
	return newWriter(w, f, EventColumns, eventCells, eventObject)
}

// NewGrantWriter writes grant records (the grants view).
func NewGrantWriter(w io.Writer, f Format) (*Writer[access.GrantRecord], error) {
	return newWriter(w, f, GrantColumns, grantCells, grantObject)
}

// Count is how many rows were written.
func (w *Writer[T]) Count() int { return w.n }

// Write writes one row.
func (w *Writer[T]) Write(v T) error {
	if w.closed {
		return fmt.Errorf("export: write after close")
	}
	switch w.format {
	case FormatCSV:
		cells := w.cells(v)
		for i := range cells {
			cells[i] = Inert(cells[i])
		}
		if err := w.csv.Write(cells); err != nil {
			return fmt.Errorf("write csv row %d: %w", w.n+1, err)
		}
		if w.n%256 == 255 {
			w.csv.Flush()
			if err := w.csv.Error(); err != nil {
				return fmt.Errorf("write csv: %w", err)
			}
		}
	default:
		b, err := json.Marshal(w.object(v))
		if err != nil {
			return fmt.Errorf("encode row %d: %w", w.n+1, err)
		}
		var prefix string
		if w.format == FormatJSON {
			prefix = ",\n"
			if w.n == 0 {
				prefix = "[\n"
			}
		}
		if _, err := io.WriteString(w.out, prefix); err != nil {
			return fmt.Errorf("write: %w", err)
		}
		if w.format == FormatJSONL {
			b = append(b, '\n')
		}
		if _, err := w.out.Write(b); err != nil {
			return fmt.Errorf("write: %w", err)
		}
	}
	w.n++
	return nil
}

// Close finishes the output.
func (w *Writer[T]) Close() error {
	if w.closed {
		return nil
	}
	w.closed = true
	switch w.format {
	case FormatCSV:
		w.csv.Flush()
		if err := w.csv.Error(); err != nil {
			return fmt.Errorf("write csv: %w", err)
		}
	case FormatJSON:
		end := "\n]\n"
		if w.n == 0 {
			end = "[]\n"
		}
		if _, err := io.WriteString(w.out, end); err != nil {
			return fmt.Errorf("write: %w", err)
		}
	}
	return nil
}

// timeText is t in RFC 3339 UTC, "" for the zero time.
func timeText(t time.Time) string {
	if t.IsZero() {
		return ""
	}
	return t.UTC().Format(time.RFC3339Nano)
}

// jsonTime is t for a JSON object: RFC 3339 UTC, or null.
func jsonTime(t time.Time) *string {
	if t.IsZero() {
		return nil
	}
	s := timeText(t)
	return &s
}

// seconds is d in whole seconds.
func seconds(d time.Duration) int64 { return int64(d.Round(time.Second) / time.Second) }

// EventColumns are the columns of the events view, in order.
var EventColumns = []string{
	"seq", "id", "at", "action", "actor_id", "actor_name", "request_id", "profile", "group_id",
	"target_user_id", "reason", "conversation_id", "activity_id", "prev_hash", "hash",
}

func eventCells(ev access.AuditEvent) []string {
	return []string{
		strconv.FormatInt(ev.Seq, 10), strconv.FormatInt(ev.ID, 10), timeText(ev.At), string(ev.Action),
		ev.Actor.ObjectID, ev.Actor.Name, ev.RequestID, ev.Profile, ev.GroupID, ev.TargetUserID, ev.Reason,
		ev.ConversationID, ev.ActivityID, ev.PrevHash, ev.Hash,
	}
}

// EventRecord is an audit event as the JSON views and the feed for SIEMs
// write it: its keys are EventColumns, and the feed adds "type" (event).
// Times are RFC 3339 in UTC.
type EventRecord struct {
	Type           string    `json:"type,omitempty"`
	Seq            int64     `json:"seq"`
	ID             int64     `json:"id"`
	At             time.Time `json:"at"`
	Action         string    `json:"action"`
	ActorID        string    `json:"actor_id"`
	ActorName      string    `json:"actor_name"`
	RequestID      string    `json:"request_id"`
	Profile        string    `json:"profile"`
	GroupID        string    `json:"group_id"`
	TargetUserID   string    `json:"target_user_id"`
	Reason         string    `json:"reason"`
	ConversationID string    `json:"conversation_id"`
	ActivityID     string    `json:"activity_id"`
	PrevHash       string    `json:"prev_hash"`
	Hash           string    `json:"hash"`
}

// Event is ev as an EventRecord.
func Event(ev access.AuditEvent) EventRecord {
	return EventRecord{
		Seq: ev.Seq, ID: ev.ID, At: ev.At.UTC(), Action: string(ev.Action), ActorID: ev.Actor.ObjectID,
		ActorName: ev.Actor.Name, RequestID: ev.RequestID, Profile: ev.Profile, GroupID: ev.GroupID,
		TargetUserID: ev.TargetUserID, Reason: ev.Reason, ConversationID: ev.ConversationID,
		ActivityID: ev.ActivityID, PrevHash: ev.PrevHash, Hash: ev.Hash,
	}
}

func eventObject(ev access.AuditEvent) any { return Event(ev) }

// GrantColumns are the columns of the grants view, in order. Durations are
// whole seconds; several approvers are separated by "; " in CSV.
var GrantColumns = []string{
	"request_id", "requester_id", "requester_name", "profile", "group_id", "ticket", "justification",
	"approver_ids", "approver_names", "approval_reasons", "denied_by_id", "denied_by_name", "deny_reason",
	"requested_at", "decided_at", "granted_at", "ended_at", "expires_at",
	"time_to_decision_s", "requested_duration_s", "actual_duration_s", "outcome",
	"pre_existing", "shared", "revoke_attempts", "last_error",
	"feedback_useful", "feedback_fast_enough", "feedback_comment", "feedback_at",
	"severity",
}

// approvalsSep separates several approvers in one CSV cell.
const approvalsSep = "; "

func grantCells(g access.GrantRecord) []string {
	var ids, names, reasons []string
	for _, d := range g.Approvals {
		ids, names, reasons = append(ids, d.Approver.ObjectID), append(names, d.Approver.Name), append(reasons, d.Reason)
	}
	dur := func(set bool, d time.Duration) string {
		if !set {
			return ""
		}
		return strconv.FormatInt(seconds(d), 10)
	}
	var fu, ff, fc, fa string
	if f := g.Feedback; f != nil {
		fu, ff, fc, fa = string(f.Useful), strconv.FormatBool(f.FastEnough), f.Comment, timeText(f.At)
	}
	return []string{
		g.RequestID, g.Requester.ObjectID, g.Requester.Name, g.Profile, g.GroupID, g.Ticket, g.Justification,
		strings.Join(ids, approvalsSep), strings.Join(names, approvalsSep), strings.Join(reasons, approvalsSep),
		g.DeniedBy.ObjectID, g.DeniedBy.Name, g.DenyReason,
		timeText(g.RequestedAt), timeText(g.DecidedAt), timeText(g.GrantedAt), timeText(g.EndedAt), timeText(g.ExpiresAt),
		dur(!g.DecidedAt.IsZero(), g.TimeToDecision), dur(true, g.RequestedDuration),
		dur(!g.EndedAt.IsZero() && !g.GrantedAt.IsZero(), g.ActualDuration), string(g.Outcome),
		strconv.FormatBool(g.PreExisting), strconv.FormatBool(g.Shared), strconv.Itoa(g.RevokeAttempts), g.LastError,
		fu, ff, fc, fa, g.Severity,
	}
}

// approvalJSON is one approval in the JSON grants view.
type approvalJSON struct {
	ApproverID   string  `json:"approver_id"`
	ApproverName string  `json:"approver_name"`
	Reason       string  `json:"reason"`
	At           *string `json:"at"`
}

// feedbackJSON is the requester's feedback in the JSON grants view.
type feedbackJSON struct {
	Useful     string  `json:"useful"`
	FastEnough bool    `json:"fast_enough"`
	Comment    string  `json:"comment"`
	At         *string `json:"at"`
}

// grantJSON is a grant record in the JSON views.
type grantJSON struct {
	RequestID          string         `json:"request_id"`
	RequesterID        string         `json:"requester_id"`
	RequesterName      string         `json:"requester_name"`
	Profile            string         `json:"profile"`
	GroupID            string         `json:"group_id"`
	Ticket             string         `json:"ticket"`
	Justification      string         `json:"justification"`
	Approvals          []approvalJSON `json:"approvals"`
	DeniedByID         string         `json:"denied_by_id"`
	DeniedByName       string         `json:"denied_by_name"`
	DenyReason         string         `json:"deny_reason"`
	RequestedAt        *string        `json:"requested_at"`
	DecidedAt          *string        `json:"decided_at"`
	GrantedAt          *string        `json:"granted_at"`
	EndedAt            *string        `json:"ended_at"`
	ExpiresAt          *string        `json:"expires_at"`
	TimeToDecisionS    *int64         `json:"time_to_decision_s"`
	RequestedDurationS int64          `json:"requested_duration_s"`
	ActualDurationS    *int64         `json:"actual_duration_s"`
	Outcome            string         `json:"outcome"`
	PreExisting        bool           `json:"pre_existing"`
	Shared             bool           `json:"shared"`
	RevokeAttempts     int            `json:"revoke_attempts"`
	LastError          string         `json:"last_error"`
	Feedback           *feedbackJSON  `json:"feedback"`
	Severity           string         `json:"severity"`
}

func grantObject(g access.GrantRecord) any {
	out := grantJSON{
		RequestID: g.RequestID, RequesterID: g.Requester.ObjectID, RequesterName: g.Requester.Name,
		Profile: g.Profile, GroupID: g.GroupID, Ticket: g.Ticket, Justification: g.Justification,
		Approvals: []approvalJSON{}, DeniedByID: g.DeniedBy.ObjectID, DeniedByName: g.DeniedBy.Name,
		DenyReason: g.DenyReason, RequestedAt: jsonTime(g.RequestedAt), DecidedAt: jsonTime(g.DecidedAt),
		GrantedAt: jsonTime(g.GrantedAt), EndedAt: jsonTime(g.EndedAt), ExpiresAt: jsonTime(g.ExpiresAt),
		RequestedDurationS: seconds(g.RequestedDuration), Outcome: string(g.Outcome),
		PreExisting: g.PreExisting, Shared: g.Shared, RevokeAttempts: g.RevokeAttempts, LastError: g.LastError,
		Severity: g.Severity,
	}
	for _, d := range g.Approvals {
		out.Approvals = append(out.Approvals, approvalJSON{ApproverID: d.Approver.ObjectID, ApproverName: d.Approver.Name, Reason: d.Reason, At: jsonTime(d.DecidedAt)})
	}
	if !g.DecidedAt.IsZero() {
		s := seconds(g.TimeToDecision)
		out.TimeToDecisionS = &s
	}
	if !g.EndedAt.IsZero() && !g.GrantedAt.IsZero() {
		s := seconds(g.ActualDuration)
		out.ActualDurationS = &s
	}
	if f := g.Feedback; f != nil {
		out.Feedback = &feedbackJSON{Useful: string(f.Useful), FastEnough: f.FastEnough, Comment: f.Comment, At: jsonTime(f.At)}
	}
	return out
}
