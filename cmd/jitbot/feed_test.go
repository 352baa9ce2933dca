package main

import (
	"bufio"
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/jitbot/jitbot/api"
	"github.com/jitbot/jitbot/audit"
	"github.com/jitbot/jitbot/internal/entratest"
)

// TestServeBinaryServesTheAuditFeed runs the binary with audit.feed
// configured: GET /api/audit on the bot's listener streams the audit log to
// a caller whose Entra ID token (from the tenant's published keys) carries
// Audit.Read, and refuses one without it or without a token.
func TestServeBinaryServesTheAuditFeed(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the binary")
	}
	const siem = "5e6f7a8b-1111-4222-8333-944455556666"
	r := newRig(t, faultBinary(t), 1)
	config := r.config(botOpts{database: "sqlite:" + filepath.Join(r.dir, "feed.db"), replica: "feed-1"})
	f, err := os.OpenFile(config, os.O_APPEND|os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	_, err = f.WriteString("audit:\n  feed:\n    audiences: [\"" + fClientID + "\", \"api://" + fClientID + "\"]\n")
	if cerr := f.Close(); err != nil || cerr != nil {
		t.Fatal(err, cerr)
	}
	p := r.start("feed-1", config)
	if _, err := r.request(p, fUser(1), "request "+fProfile(0)+" 1h checking the feed"); err != nil {
		t.Fatal(err)
	}

	// The tokens of the configured authority: v2.0, issued by it.
	jitbot := entratest.API{TenantID: fTenant, AppID: fClientID, TokenVersion: 2}
	issuer := entratest.WithClaim("iss", r.authorityURL+"/"+fTenant+"/v2.0")
	get := func(token string) (int, []byte) {
		t.Helper()
		req, _ := http.NewRequest(http.MethodGet, "http://"+p.addr+api.AuditFeedPath+"?since=0&limit=100", nil)
		if token != "" {
			req.Header.Set("Authorization", "Bearer "+token)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, b
	}
	if code, _ := get(""); code != http.StatusUnauthorized {
		t.Fatalf("no token: HTTP %d, want 401", code)
	}
	if code, _ := get(r.authority.AccessToken(t, jitbot, siem, nil, issuer)); code != http.StatusForbidden {
		t.Fatalf("no role: HTTP %d, want 403", code)
	}
	code, body := get(r.authority.AccessToken(t, jitbot, siem, []string{api.AuditFeedRole}, issuer))
	if code != http.StatusOK {
		t.Fatalf("with the role: HTTP %d %s\n%s", code, body, p.output())
	}
	var actions []string
	prevSeq := int64(0)
	sc := bufio.NewScanner(bytes.NewReader(body))
	for sc.Scan() {
		var ev audit.EventRecord
		if err := json.Unmarshal(sc.Bytes(), &ev); err != nil {
			t.Fatalf("line %q: %v", sc.Text(), err)
		}
		if ev.Type == "event" {
			if ev.Seq <= prevSeq || ev.Hash == "" {
				t.Fatalf("event out of chain order or unhashed: %+v", ev)
			}
			prevSeq = ev.Seq
			actions = append(actions, ev.Action)
		}
	}
	if !strings.Contains(strings.Join(actions, " "), "request.created") {
		t.Fatalf("the feed lacks the request: %v", actions)
	}
}
