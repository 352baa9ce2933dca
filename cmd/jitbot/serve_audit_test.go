package main

import (
	"encoding/csv"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/jitbot/jitbot/access"
	"github.com/jitbot/jitbot/audit"
	"github.com/jitbot/jitbot/bot"
	"github.com/jitbot/jitbot/cards"
)

// TestServedAuditReportAndDownload runs `jitbot serve`: a member of
// audit.reader_groups sends `audit 30d` and gets the report card; its
// Download CSV link, under public_url, is served by the same listener once;
// someone else is refused.
func TestServedAuditReportAndDownload(t *testing.T) {
	r := newRig(t, faultBinary(t), 1)
	const base = "https://jitbot.example.com/bot"
	cfg := r.config(botOpts{
		database: "sqlite:" + filepath.Join(r.dir, "jitbot.db"), replica: "replica-a", publicURL: base,
		audit: fmt.Sprintf("  reader_groups: [%q]\n", fSecurityGroup),
	})
	p := r.start("replica-a", cfg)

	msg := r.personal(fSecurity, "Sam Security")
	msg["text"] = "audit 30d"
	if code, _, err := r.post(p, msg); err != nil || code != http.StatusOK {
		t.Fatalf("audit: HTTP %d %v", code, err)
	}
	acts := r.conn.Activities("a:" + fSecurity)
	if len(acts) != 1 {
		t.Fatalf("%d replies to audit", len(acts))
	}
	var link string
	actions, _ := acts[0].Card()["actions"].([]any)
	for _, a := range actions {
		if m, _ := a.(map[string]any); m["title"] == cards.DownloadTitle {
			link, _ = m["url"].(string)
		}
	}
	if !strings.HasPrefix(link, base+bot.DownloadPath) {
		t.Fatalf("download link %q is not under public_url %s:\n%s", link, base, p.output())
	}
	// The proxy in front of jitbot maps public_url to its listener.
	u, _ := url.Parse(link)
	local := "http://" + p.addr + strings.TrimPrefix(u.Path, "/bot")
	get := func() (int, string) {
		resp, err := http.Get(local)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	code, body := get()
	if code != http.StatusOK {
		t.Fatalf("download: HTTP %d %s", code, body)
	}
	rows, err := csv.NewReader(strings.NewReader(body)).ReadAll()
	if err != nil || len(rows) != 1 || strings.Join(rows[0], ",") != strings.Join(audit.GrantColumns, ",") {
		t.Errorf("downloaded CSV (no requests yet): %v %q", err, rows)
	}
	if code, _ := get(); code != http.StatusGone {
		t.Errorf("second use: HTTP %d, want 410", code)
	}

	other := r.personal(fApprover, "Alex Approver")
	other["text"] = "audit"
	if code, _, err := r.post(p, other); err != nil || code != http.StatusOK {
		t.Fatalf("audit by a non-reader: HTTP %d %v", code, err)
	}
	if got := r.lastText("a:" + fApprover); !strings.Contains(got, "not in an audit reader group") {
		t.Errorf("non-reader told %q", got)
	}
}

// TestDownloadKey: the link key comes from audit.download_key_file, else
// JITBOT_AUDIT_DOWNLOAD_KEY; a short or malformed key stops serve naming
// where it came from; links signed with one key verify under the same key
// read again (another replica).
func TestDownloadKey(t *testing.T) {
	dir := t.TempDir()
	good := filepath.Join(dir, "link.key")
	if err := os.WriteFile(good, []byte(strings.Repeat("5a", 32)+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	bad := filepath.Join(dir, "bad.key")
	if err := os.WriteFile(bad, []byte("secret"), 0o600); err != nil {
		t.Fatal(err)
	}
	logger := testLogger()
	env := func(m map[string]string) func(string) string { return func(k string) string { return m[k] } }

	a, err := downloadSigner(AuditConfig{DownloadKeyFile: good}, env(nil), logger)
	if err != nil {
		t.Fatal(err)
	}
	b, err := downloadSigner(AuditConfig{}, env(map[string]string{"JITBOT_AUDIT_DOWNLOAD_KEY": strings.Repeat("5a", 32)}), logger)
	if err != nil {
		t.Fatal(err)
	}
	tok, _ := a.Sign(linkFixture())
	if _, err := b.Verify(tok); err != nil {
		t.Errorf("a link of one replica does not verify on another with the same key: %v", err)
	}
	random, err := downloadSigner(AuditConfig{}, env(nil), logger)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := random.Verify(tok); err == nil {
		t.Error("a per-process key verified another key's link")
	}
	if _, err := downloadSigner(AuditConfig{DownloadKeyFile: bad}, env(nil), logger); err == nil || !strings.Contains(err.Error(), "audit.download_key_file") {
		t.Errorf("short key file: %v", err)
	}
	if _, err := downloadSigner(AuditConfig{}, env(map[string]string{"JITBOT_AUDIT_DOWNLOAD_KEY": "zz"}), logger); err == nil || !strings.Contains(err.Error(), "JITBOT_AUDIT_DOWNLOAD_KEY") {
		t.Errorf("bad key in the environment: %v", err)
	}
	if _, err := downloadSigner(AuditConfig{DownloadKeyFile: filepath.Join(dir, "missing")}, env(nil), logger); err == nil {
		t.Error("a missing key file was accepted")
	}
}

func testLogger() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }

func linkFixture() access.DownloadLink {
	return access.DownloadLink{ID: "L1", UserID: fSecurity, ExpiresAt: time.Date(2026, 12, 1, 10, 0, 0, 0, time.UTC)}
}
