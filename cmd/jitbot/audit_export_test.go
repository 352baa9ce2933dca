package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/csv"
	"encoding/json"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/jitbot/jitbot/access"
	"github.com/jitbot/jitbot/graph"
	"github.com/jitbot/jitbot/graph/graphtest"
	"github.com/jitbot/jitbot/storage"
)

var (
	exRiley = access.Person{ObjectID: "11111111-1111-4111-8111-111111111111", Name: "Riley Responder"}
	exSam   = access.Person{ObjectID: "33333333-3333-4333-8333-333333333333", Name: "Sam Second"}
	exAlex  = access.Person{ObjectID: "22222222-2222-4222-8222-222222222222", Name: "Alex Approver"}
)

const hyperlink = `=HYPERLINK("http://x","y")`

// exportFixture is a configuration whose database holds three requests:
// riley's on prod-db on 5 November (denied by alex on the 6th), sam's on
// staging on 10 November, and riley's on prod-db on 3 December.
func exportFixture(t *testing.T) (configPath string, ids []string) {
	t.Helper()
	dir := t.TempDir()
	dbURL := "sqlite:" + filepath.Join(dir, "jitbot.db")
	cfg := strings.Replace(validConfig, `database: "sqlite:jitbot.db"`, `database: "`+dbURL+`"`, 1)
	configPath = filepath.Join(dir, "jitbot.yaml")
	if err := os.WriteFile(configPath, []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	db, err := storage.Open(ctx, dbURL, slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	day := func(m time.Month, d int) time.Time { return time.Date(2026, m, d, 10, 0, 0, 0, time.UTC) }
	for _, r := range []struct {
		who     access.Person
		profile string
		at      time.Time
		why     string
	}{
		{exRiley, "prod-db", day(11, 5), hyperlink},
		{exSam, "staging", day(11, 10), "rotate keys"},
		{exRiley, "prod-db", day(12, 3), "later"},
	} {
		req := &access.Request{Profile: r.profile, GroupID: "aaaaaaaa-0000-4000-8000-000000000001", Requester: r.who,
			Duration: time.Hour, Ticket: "INC-1", Justification: r.why, CreatedAt: r.at}
		ev := access.AuditEvent{At: r.at, Actor: r.who, Action: access.ActionRequested, Profile: r.profile, TargetUserID: r.who.ObjectID, Reason: r.why}
		if _, err := db.CreateRequest(ctx, req, ev); err != nil {
			t.Fatal(err)
		}
		ids = append(ids, req.ID)
		if len(ids) == 1 {
			d := access.Decision{Approver: exAlex, Verdict: access.Deny, Reason: "-1 no", DecidedAt: day(11, 6)}
			if _, err := db.Deny(ctx, ids[0], d, access.AuditEvent{At: d.DecidedAt, Actor: exAlex, Action: access.ActionDenied, Profile: "prod-db", TargetUserID: exRiley.ObjectID, Reason: d.Reason}); err != nil {
				t.Fatal(err)
			}
		}
	}
	return configPath, ids
}

func export(t *testing.T, resolve userResolver, args ...string) string {
	t.Helper()
	var out bytes.Buffer
	if err := auditExport(context.Background(), args, &out, slog.New(slog.NewTextHandler(io.Discard, nil)), testEnv, resolve); err != nil {
		t.Fatalf("audit export %v: %v", args, err)
	}
	return out.String()
}

func csvRows(t *testing.T, s string) []map[string]string {
	t.Helper()
	rows, err := csv.NewReader(strings.NewReader(s)).ReadAll()
	if err != nil {
		t.Fatalf("CSV: %v\n%s", err, s)
	}
	var out []map[string]string
	for _, r := range rows[1:] {
		m := map[string]string{}
		for i, h := range rows[0] {
			m[h] = r[i]
		}
		out = append(out, m)
	}
	return out
}

func noResolver(context.Context, *Config, string) (string, error) {
	panic("no user principal name expected")
}

// TestAuditExportFilters: --since/--until select the period (until
// exclusive), --profile and --user narrow it, the events view carries the
// chain's sequence numbers and hashes, and the grants view's justification
// is inert text in CSV.
func TestAuditExportFilters(t *testing.T) {
	cfg, ids := exportFixture(t)
	nov := []string{"--config", cfg, "--since", "2026-11-01", "--until", "2026-12-01"}

	events := csvRows(t, export(t, noResolver, nov...))
	if len(events) != 3 {
		t.Fatalf("November's events: %d, want 3 (two requests, one denial): %v", len(events), events)
	}
	for _, ev := range events {
		if ev["seq"] == "" || ev["seq"] == "0" || len(ev["hash"]) != 64 || ev["at"] == "" || !strings.HasSuffix(ev["at"], "Z") {
			t.Errorf("event without its place in the chain or a UTC time: %v", ev)
		}
	}
	if events[0]["reason"] != "'"+hyperlink || events[1]["reason"] != "'-1 no" {
		t.Errorf("event reasons are not inert: %q %q", events[0]["reason"], events[1]["reason"])
	}

	grants := csvRows(t, export(t, noResolver, append(nov, "--view", "grants")...))
	if len(grants) != 2 || grants[0]["request_id"] != ids[0] || grants[1]["request_id"] != ids[1] {
		t.Fatalf("November's grants: %v", grants)
	}
	if g := grants[0]; g["justification"] != `'=HYPERLINK("http://x","y")` || g["outcome"] != "denied" || g["denied_by_name"] != "Alex Approver" || g["time_to_decision_s"] != "86400" {
		t.Errorf("denied request's row: %v", g)
	}

	for name, c := range map[string]struct {
		args []string
		want []string
	}{
		"profile":         {append(nov, "--view", "grants", "--profile", "staging"), []string{ids[1]}},
		"user":            {append(nov, "--view", "grants", "--user", exRiley.ObjectID), []string{ids[0]}},
		"approver":        {append(nov, "--view", "grants", "--user", exAlex.ObjectID), []string{ids[0]}},
		"since inclusive": {[]string{"--config", cfg, "--view", "grants", "--since", "2026-11-10T10:00:00Z"}, []string{ids[1], ids[2]}},
		"until exclusive": {[]string{"--config", cfg, "--view", "grants", "--until", "2026-11-10T10:00:00Z"}, []string{ids[0]}},
		"no bounds":       {[]string{"--config", cfg, "--view", "grants"}, ids},
	} {
		var got []string
		for _, r := range csvRows(t, export(t, noResolver, c.args...)) {
			got = append(got, r["request_id"])
		}
		if strings.Join(got, ",") != strings.Join(c.want, ",") {
			t.Errorf("%s: %v, want %v", name, got, c.want)
		}
	}
	if evs := csvRows(t, export(t, noResolver, append(nov, "--user", exSam.ObjectID)...)); len(evs) != 1 || evs[0]["actor_id"] != exSam.ObjectID {
		t.Errorf("sam's events: %v", evs)
	}
}

// TestAuditExportJSON: both JSON forms parse, with one object per row.
func TestAuditExportJSON(t *testing.T) {
	cfg, _ := exportFixture(t)
	for _, view := range []string{"events", "grants"} {
		var arr []map[string]any
		if err := json.Unmarshal([]byte(export(t, noResolver, "--config", cfg, "--view", view, "--format", "json")), &arr); err != nil || len(arr) < 3 {
			t.Errorf("%s as JSON: %d objects, %v", view, len(arr), err)
		}
		sc := bufio.NewScanner(strings.NewReader(export(t, noResolver, "--config", cfg, "--view", view, "--format", "jsonl")))
		n := 0
		for sc.Scan() {
			var o map[string]any
			if err := json.Unmarshal(sc.Bytes(), &o); err != nil {
				t.Fatalf("%s line %d: %v", view, n+1, err)
			}
			n++
		}
		if n != len(arr) {
			t.Errorf("%s: %d JSON lines, %d array items", view, n, len(arr))
		}
	}
}

// TestAuditExportUserByUPN: a user principal name is resolved through
// Graph; without Graph credentials the export refuses and says to pass the
// object id.
func TestAuditExportUserByUPN(t *testing.T) {
	cfg, ids := exportFixture(t)
	g := graphtest.New(t)
	g.AddUser(exSam.ObjectID)
	g.SetUPN(exSam.ObjectID, "sam@contoso.example")
	viaFake := func(ctx context.Context, _ *Config, upn string) (string, error) {
		d, err := graph.New(graph.Config{GraphURL: g.URL(), Transport: g.Transport()}, g.Credential(), nil)
		if err != nil {
			return "", err
		}
		return d.UserID(ctx, upn)
	}
	rows := csvRows(t, export(t, viaFake, "--config", cfg, "--view", "grants", "--user", "Sam@contoso.example"))
	if len(rows) != 1 || rows[0]["request_id"] != ids[1] {
		t.Errorf("grants of sam@contoso.example: %v", rows)
	}

	code, out := runCmd(t, map[string]string{"TENANT": "4f3c2b1a-0d9e-4c8b-9a7f-6e5d4c3b2a10"}, "audit", "export", "--config", cfg, "--user", "sam@contoso.example")
	if code != 1 || !strings.Contains(out, "no Graph credential is configured") || !strings.Contains(out, "object id") {
		t.Errorf("UPN without Graph: exit %d\n%s", code, out)
	}
}

// TestAuditExportRefusesBadInput: bad flags are named and write nothing.
func TestAuditExportRefusesBadInput(t *testing.T) {
	cfg, _ := exportFixture(t)
	out := filepath.Join(t.TempDir(), "x.csv")
	env := map[string]string{"TENANT": "4f3c2b1a-0d9e-4c8b-9a7f-6e5d4c3b2a10"}
	for _, c := range []struct{ arg, val, want string }{
		{"--since", "November", "--since"},
		{"--format", "xlsx", "--format"},
		{"--view", "rows", "--view"},
		{"--user", "riley", "--user"},
		{"--until", "2026-10-01", "not before"},
	} {
		code, msg := runCmd(t, env, "audit", "export", "--config", cfg, "--since", "2026-11-01", c.arg, c.val, "--out", out)
		if code != 1 || !strings.Contains(msg, c.want) {
			t.Errorf("%s %s: exit %d %s", c.arg, c.val, code, msg)
		}
		if _, err := os.Stat(out); !os.IsNotExist(err) {
			t.Errorf("%s %s: wrote %s", c.arg, c.val, out)
		}
	}
	if code, msg := runCmd(t, env, "audit", "export", "--config", cfg, "--view", "grants", "--out", out); code != 0 {
		t.Fatalf("--out: exit %d %s", code, msg)
	}
	b, err := os.ReadFile(out)
	if err != nil || len(csvRows(t, string(b))) != 3 {
		t.Errorf("--out file: %v\n%s", err, b)
	}
	left, _ := filepath.Glob(filepath.Join(filepath.Dir(out), ".*.tmp"))
	if len(left) != 0 {
		t.Errorf("temporary files left: %v", left)
	}
}
