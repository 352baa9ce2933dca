package audit_test

import (
	"bufio"
	"bytes"
	"encoding/csv"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/jitbot/jitbot/access"
	"github.com/jitbot/jitbot/audit"
)

var (
	at    = time.Date(2026, 11, 3, 14, 5, 6, 789000000, time.UTC)
	riley = access.Person{ObjectID: "11111111-1111-4111-8111-111111111111", Name: "Riley Responder"}
	alex  = access.Person{ObjectID: "22222222-2222-4222-8222-222222222222", Name: "Alex Approver"}
)

const hyperlink = `=HYPERLINK("http://x","y")`

func hostileRecord() access.GrantRecord {
	return access.GrantRecord{
		RequestID: "req-1", Requester: access.Person{ObjectID: riley.ObjectID, Name: "@SUM(A1:A9)"}, Profile: "prod-db",
		GroupID: "group-1", Ticket: "+INC-1", Justification: hyperlink, Severity: "sev1",
		Approvals:   []access.Decision{{Approver: alex, Verdict: access.Approve, Reason: "-2+3", DecidedAt: at.Add(time.Minute)}},
		RequestedAt: at, DecidedAt: at.Add(time.Minute), GrantedAt: at.Add(time.Minute), EndedAt: at.Add(61 * time.Minute),
		ExpiresAt: at.Add(61 * time.Minute), TimeToDecision: time.Minute, RequestedDuration: time.Hour, ActualDuration: time.Hour,
		Outcome: access.OutcomeExpired, LastError: "\tcmd|' /C calc'!A0",
		Feedback: &access.Feedback{Useful: access.UsefulPartly, FastEnough: true, Comment: "\r=1+1", At: at.Add(2 * time.Hour)},
	}
}

func readCSV(t *testing.T, b []byte) [][]string {
	t.Helper()
	rows, err := csv.NewReader(bytes.NewReader(b)).ReadAll()
	if err != nil {
		t.Fatalf("CSV does not parse: %v\n%s", err, b)
	}
	return rows
}

// TestCSVIsInert: a justification that a spreadsheet would run as a
// formula, and every other cell a requester or approver controls, are
// written as text; the rest of the row is as given.
func TestCSVIsInert(t *testing.T) {
	var buf bytes.Buffer
	w, err := audit.NewGrantWriter(&buf, audit.FormatCSV)
	if err != nil {
		t.Fatal(err)
	}
	if err := w.Write(hostileRecord()); err != nil {
		t.Fatal(err)
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	if !bytes.Contains(buf.Bytes(), []byte("\r\n")) {
		t.Error("CSV lines do not end in CRLF (RFC 4180)")
	}
	rows := readCSV(t, buf.Bytes())
	if len(rows) != 2 || len(rows[0]) != len(audit.GrantColumns) || len(rows[1]) != len(audit.GrantColumns) {
		t.Fatalf("rows: %q", rows)
	}
	cell := map[string]string{}
	for i, h := range rows[0] {
		cell[h] = rows[1][i]
	}
	for col, want := range map[string]string{
		"justification":        `'=HYPERLINK("http://x","y")`,
		"requester_name":       "'@SUM(A1:A9)",
		"ticket":               "'+INC-1",
		"approval_reasons":     "'-2+3",
		"last_error":           "'\tcmd|' /C calc'!A0",
		"feedback_comment":     "'=1+1", // encoding/csv writes a lone CR of a CRLF file as nothing
		"requester_id":         riley.ObjectID,
		"severity":             "sev1",
		"approver_names":       "Alex Approver",
		"requested_at":         "2026-11-03T14:05:06.789Z",
		"ended_at":             "2026-11-03T15:06:06.789Z",
		"time_to_decision_s":   "60",
		"requested_duration_s": "3600",
		"actual_duration_s":    "3600",
		"outcome":              "expired",
		"feedback_useful":      "partly",
		"feedback_fast_enough": "true",
	} {
		if cell[col] != want {
			t.Errorf("%s = %q, want %q", col, cell[col], want)
		}
	}
	for i, c := range rows[1] {
		if c != "" && strings.ContainsRune("=+-@\t\r", rune(c[0])) {
			t.Errorf("cell %s = %q would be read as a formula", rows[0][i], c)
		}
	}
}

func TestInert(t *testing.T) {
	for in, want := range map[string]string{
		"": "", "=1": "'=1", "+1": "'+1", "-1": "'-1", "@x": "'@x", "\tx": "'\tx", "\rx": "'\rx",
		"plain": "plain", " =1": " =1", "'=1": "'=1", "2026-11-01T00:00:00Z": "2026-11-01T00:00:00Z",
	} {
		if got := audit.Inert(in); got != want {
			t.Errorf("Inert(%q) = %q, want %q", in, got, want)
		}
	}
}

func events(n int) []access.AuditEvent {
	var out []access.AuditEvent
	for i := 1; i <= n; i++ {
		out = append(out, access.AuditEvent{
			ID: int64(i), Seq: int64(i), PrevHash: strings.Repeat("a", 64), Hash: strings.Repeat("b", 64),
			At: at.Add(time.Duration(i) * time.Second), Actor: riley, Action: access.ActionRequested,
			RequestID: "req-1", Profile: "prod-db", GroupID: "group-1", TargetUserID: riley.ObjectID,
			Reason: hyperlink + "\n\"quoted\"", ConversationID: "a:1", ActivityID: "act-1",
		})
	}
	return out
}

// TestJSONAndJSONLinesParse: both JSON forms parse with a standard
// decoder and hold every field of every event, hostile text unchanged; an
// empty export is an empty array.
func TestJSONAndJSONLinesParse(t *testing.T) {
	evs := events(3)
	write := func(f audit.Format, evs []access.AuditEvent) []byte {
		var buf bytes.Buffer
		w, err := audit.NewEventWriter(&buf, f)
		if err != nil {
			t.Fatal(err)
		}
		for _, ev := range evs {
			if err := w.Write(ev); err != nil {
				t.Fatal(err)
			}
		}
		if err := w.Close(); err != nil {
			t.Fatal(err)
		}
		return buf.Bytes()
	}
	check := func(what string, objs []map[string]any) {
		t.Helper()
		if len(objs) != len(evs) {
			t.Fatalf("%s: %d objects, want %d", what, len(objs), len(evs))
		}
		for i, o := range objs {
			if len(o) != len(audit.EventColumns) {
				t.Errorf("%s: object %d has %d keys, want %d", what, i, len(o), len(audit.EventColumns))
			}
			for _, k := range audit.EventColumns {
				if _, ok := o[k]; !ok {
					t.Errorf("%s: object %d lacks %s", what, i, k)
				}
			}
			if o["seq"] != float64(i+1) || o["reason"] != evs[i].Reason || o["hash"] != evs[i].Hash || o["at"] != evs[i].At.Format(time.RFC3339Nano) {
				t.Errorf("%s: object %d = %v", what, i, o)
			}
		}
	}

	var arr []map[string]any
	if err := json.Unmarshal(write(audit.FormatJSON, evs), &arr); err != nil {
		t.Fatalf("JSON does not parse: %v", err)
	}
	check("json", arr)

	var lines []map[string]any
	sc := bufio.NewScanner(bytes.NewReader(write(audit.FormatJSONL, evs)))
	for sc.Scan() {
		var o map[string]any
		if err := json.Unmarshal(sc.Bytes(), &o); err != nil {
			t.Fatalf("JSON line %d does not parse: %v: %s", len(lines)+1, err, sc.Bytes())
		}
		lines = append(lines, o)
	}
	check("jsonl", lines)

	var empty []map[string]any
	if b := write(audit.FormatJSON, nil); json.Unmarshal(b, &empty) != nil || empty == nil || len(empty) != 0 {
		t.Errorf("empty JSON export %q", b)
	}
	if b := write(audit.FormatJSONL, nil); len(b) != 0 {
		t.Errorf("empty JSON lines export %q", b)
	}

	rows := readCSV(t, write(audit.FormatCSV, evs))
	if len(rows) != 4 || strings.Join(rows[0], ",") != strings.Join(audit.EventColumns, ",") || rows[1][10] != "'"+evs[0].Reason {
		t.Errorf("events CSV: %q", rows)
	}
}

func TestGrantJSON(t *testing.T) {
	var buf bytes.Buffer
	w, _ := audit.NewGrantWriter(&buf, audit.FormatJSONL)
	if err := w.Write(hostileRecord()); err != nil {
		t.Fatal(err)
	}
	pending := access.GrantRecord{RequestID: "req-2", Outcome: access.OutcomePending, RequestedAt: at, RequestedDuration: time.Hour}
	if err := w.Write(pending); err != nil {
		t.Fatal(err)
	}
	_ = w.Close()
	dec := json.NewDecoder(&buf)
	var g1, g2 map[string]any
	if err := dec.Decode(&g1); err != nil {
		t.Fatal(err)
	}
	if err := dec.Decode(&g2); err != nil {
		t.Fatal(err)
	}
	ap, _ := g1["approvals"].([]any)
	fb, _ := g1["feedback"].(map[string]any)
	if g1["justification"] != hyperlink || len(ap) != 1 || fb["useful"] != "partly" || g1["actual_duration_s"] != float64(3600) {
		t.Errorf("grant record: %v", g1)
	}
	if g2["decided_at"] != nil || g2["time_to_decision_s"] != nil || g2["feedback"] != nil || g2["outcome"] != "pending" {
		t.Errorf("pending record: %v", g2)
	}
}
