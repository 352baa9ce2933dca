package connectortest_test

import (
	"encoding/json"
	"io"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/jitbot/jitbot/bot/connectortest"
)

func do(t *testing.T, client *http.Client, method, u, auth, body string) (int, string, http.Header) {
	t.Helper()
	var rd io.Reader
	if body != "" {
		rd = strings.NewReader(body)
	}
	req, err := http.NewRequest(method, u, rd)
	if err != nil {
		t.Fatal(err)
	}
	if auth != "" {
		req.Header.Set("Authorization", auth)
	}
	resp, err := client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b), resp.Header
}

func TestConnectorRoutesAndValidation(t *testing.T) {
	c := connectortest.NewConnector(t)
	cl := http.DefaultClient
	base := c.ServiceURL() + "v3/conversations"
	cases := []struct {
		method, path, body string
		status             int
	}{
		{"GET", "/v3/conversations/a:1/members", "", 404},
		{"POST", "/v3/conversations/a:1/activities", "not json", 400},
		{"POST", "/v3/conversations/a:1/activities", `{"text":"no type"}`, 400},
		{"PUT", "/v3/conversations/a:1/activities/42", `{"type":"message"}`, 404},
		{"DELETE", "/v3/conversations/a:1/activities/42", "", 404},
		{"POST", "/v3/conversations", `{"isGroup":true,"channelData":{"tenant":{"id":"t"}},"activity":{"type":"message"}}`, 400},
		{"POST", "/v3/conversations", `{"isGroup":true,"channelData":{"tenant":{"id":"t"},"channel":{"id":"19:c"}}}`, 400},
		{"POST", "/v3/conversations", `{"members":[{"id":"29:u"}]}`, 400},
		{"POST", "/v3/conversations", `{"members":[],"tenantId":"t"}`, 400},
		{"POST", "/v3/conversations", `{"members":[{"name":"x"}],"tenantId":"t"}`, 400},
		{"POST", "/v3/conversations", `{"members":[{"id":"29:u"}],"tenantId":"t"}`, 201},
		{"POST", "/v3/conversations/a:1/activities", `{"type":"message"}`, 201},
	}
	for _, tc := range cases {
		st, body, _ := do(t, cl, tc.method, strings.TrimSuffix(base, "/v3/conversations")+tc.path, "", tc.body)
		if st != tc.status {
			t.Errorf("%s %s %s: %d %s, want %d", tc.method, tc.path, tc.body, st, body, tc.status)
		}
	}
	if st, _, _ := do(t, cl, "GET", c.URL()+"/elsewhere", "", ""); st != 404 {
		t.Errorf("route outside the prefix: %d", st)
	}
	reqs := c.Requests()
	if len(reqs) != len(cases)+1 || reqs[0].Status != 404 || reqs[0].Path != "/v3/conversations/a:1/members" {
		t.Errorf("requests %+v", reqs)
	}
}

func TestConnectorAuthAndFailures(t *testing.T) {
	c := connectortest.NewConnector(t, connectortest.WithRequiredToken("good"))
	u := c.ServiceURL() + "v3/conversations/a:1/activities"
	if st, body, _ := do(t, http.DefaultClient, "POST", u, "", `{"type":"message"}`); st != 401 || !strings.Contains(body, "denied") {
		t.Errorf("no token: %d %s", st, body)
	}
	if st, _, _ := do(t, http.DefaultClient, "POST", u, "Bearer bad", `{"type":"message"}`); st != 401 {
		t.Errorf("bad token: %d", st)
	}
	if st, _, _ := do(t, http.DefaultClient, "POST", u, "Bearer good", `{"type":"message"}`); st != 201 {
		t.Errorf("good token: %d", st)
	}
	c.RequireToken("")
	c.FailNext(1, connectortest.TooManyRequests(3*time.Second))
	c.FailNext(1, connectortest.Unavailable(0))
	st, body, h := do(t, http.DefaultClient, "POST", u, "", `{"type":"message"}`)
	if st != 429 || h.Get("Retry-After") != "3" || !strings.Contains(body, `"code":"ServiceError"`) {
		t.Errorf("429: %d %q %s", st, h.Get("Retry-After"), body)
	}
	if st, _, _ := do(t, http.DefaultClient, "POST", u, "", `{"type":"message"}`); st != 503 {
		t.Errorf("503: %d", st)
	}
	c.FailNext(1, connectortest.Slow(150*time.Millisecond))
	start := time.Now()
	if st, _, _ := do(t, http.DefaultClient, "POST", u, "", `{"type":"message"}`); st != 201 || time.Since(start) < 150*time.Millisecond {
		t.Errorf("slow: %d after %s", st, time.Since(start))
	}
	if n := len(c.Activities("a:1")); n != 2 {
		t.Errorf("%d activities stored, want 2", n)
	}
}

func TestActivityHelpers(t *testing.T) {
	c := connectortest.NewConnector(t)
	u := c.ServiceURL() + "v3/conversations/" + url.PathEscape("19:x@thread.tacv2;messageid=1") + "/activities"
	_, body, _ := do(t, http.DefaultClient, "POST", u, "", `{"type":"message","text":"t","attachments":[{"contentType":"text/plain"},{"contentType":"application/vnd.microsoft.card.adaptive","content":{"type":"AdaptiveCard","body":[]}}]}`)
	var res struct{ ID string }
	_ = json.Unmarshal([]byte(body), &res)
	a, ok := c.Activity("19:x@thread.tacv2;messageid=1", res.ID)
	if !ok || a.Text() != "t" || a.Card()["type"] != "AdaptiveCard" || a.Fields()["id"] != res.ID {
		t.Fatalf("activity %+v", a)
	}
	var decoded struct{ Text string }
	if err := a.Decode(&decoded); err != nil || decoded.Text != "t" {
		t.Errorf("Decode: %v %+v", err, decoded)
	}
	if got := c.Conversations(); !slices.Equal(got, []string{"19:x@thread.tacv2;messageid=1"}) {
		t.Errorf("conversations %v", got)
	}
}

func TestZeroValues(t *testing.T) {
	cases := map[string][]string{
		`{"type":"message"}`: nil,
		`{"type":"message","timestamp":"0001-01-01T00:00:00Z","from":{},"conversation":{"id":"a","x":{}}}`: {".timestamp", ".from", ".conversation.x"},
		`{"attachments":[{"content":{"data":{}}}]}`:                                                        nil,
		`{"entities":[{}]}`: {".entities[0]"},
		`not json`:          {"<invalid JSON: invalid character 'o' in literal null (expecting 'u')>"},
	}
	for in, want := range cases {
		got := connectortest.ZeroValues([]byte(in))
		slices.Sort(got)
		slices.Sort(want)
		if !slices.Equal(got, want) {
			t.Errorf("ZeroValues(%s) = %v, want %v", in, got, want)
		}
	}
}

func TestIssuerDocuments(t *testing.T) {
	iss := connectortest.NewIssuer(t)
	_, body, _ := do(t, http.DefaultClient, "GET", iss.MetadataURL(), "", "")
	var meta struct {
		JWKSURI string `json:"jwks_uri"`
		Issuer  string `json:"issuer"`
	}
	if err := json.Unmarshal([]byte(body), &meta); err != nil || meta.JWKSURI != iss.KeysURL() || meta.Issuer != connectortest.BotFrameworkIssuer {
		t.Fatalf("metadata %s", body)
	}
	_, body, _ = do(t, http.DefaultClient, "GET", iss.KeysURL(), "", "")
	var jwks struct {
		Keys []struct {
			Kid, Kty, N, E string
			Endorsements   []string
		}
	}
	if err := json.Unmarshal([]byte(body), &jwks); err != nil || len(jwks.Keys) != 1 || jwks.Keys[0].Kid != iss.KeyID() ||
		jwks.Keys[0].E != "AQAB" || !slices.Equal(jwks.Keys[0].Endorsements, []string{"msteams"}) {
		t.Fatalf("jwks %s", body)
	}
	old := iss.KeyID()
	iss.RotateKey(t, true)
	_, body, _ = do(t, http.DefaultClient, "GET", iss.KeysURL(), "", "")
	if !strings.Contains(body, old) || !strings.Contains(body, iss.KeyID()) {
		t.Errorf("rotation keeping the old key: %s", body)
	}
	if iss.MetadataRequests() != 1 || iss.KeysRequests() != 2 {
		t.Errorf("counters %d %d", iss.MetadataRequests(), iss.KeysRequests())
	}
}
