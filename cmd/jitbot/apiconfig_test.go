package main

import (
	"encoding/json"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/jitbot/jitbot/access"
	"github.com/jitbot/jitbot/api"
	"github.com/jitbot/jitbot/internal/entratest"
)

const (
	pipelineApp  = "7d1f3a2b-0000-4000-8000-00000000c1d0"
	pipelineSP   = "7d1f3a2b-0000-4000-8000-00000000c1d1"
	pipelineUser = "bbbbbbbb-0000-4000-8000-000000000001"
)

func TestAPIConfig(t *testing.T) {
	tenant := "4f3c2b1a-0d9e-4c8b-9a7f-6e5d4c3b2a10"
	cfg, err := ParseConfig([]byte(validConfig+`
api:
  audiences: ["9b1c7f5e-2d4a-4e8b-8c6f-1a2b3c4d5e6f", "api://9b1c7f5e-2d4a-4e8b-8c6f-1a2b3c4d5e6f"]
  clients:
    - app_id: "`+pipelineApp+`"
      object_id: "`+pipelineSP+`"
      name: " deploy pipeline "
      requester: "`+pipelineUser+`"
      requester_name: "Riley Responder"
    - { app_id: "8E2A4B3C-0000-4000-8000-00000000C2D0", name: "release tool", requester: "`+pipelineUser+`" }
`), testEnv)
	if err != nil {
		t.Fatal(err)
	}
	want := []string{"https://login.microsoftonline.com/" + tenant + "/v2.0", "https://sts.windows.net/" + tenant + "/"}
	if !slices.Equal(cfg.API.Issuers, want) {
		t.Fatalf("issuers %v, want the tenant's %v", cfg.API.Issuers, want)
	}
	clients := cfg.API.apiClients()
	if len(clients) != 2 || clients[0] != (api.Client{AppID: pipelineApp, ObjectID: pipelineSP, Name: "deploy pipeline",
		Requester: access.Person{ObjectID: pipelineUser, Name: "Riley Responder"}}) || clients[1].Requester.Name != "" {
		t.Fatalf("clients %+v", clients)
	}
	if off, err := ParseConfig([]byte(validConfig), testEnv); err != nil || len(off.API.Issuers) != 0 || len(off.API.Audiences) != 0 {
		t.Fatalf("without an api section: %+v (%v)", off.API, err)
	}

	client := func(fields string) string {
		return "api:\n  audiences: [\"x\"]\n  clients:\n    - {" + fields + "}\n"
	}
	good := `app_id: "` + pipelineApp + `", name: "deploy", requester: "` + pipelineUser + `"`
	for edit, key := range map[string]string{
		`api: { audiences: [""] }`:                                                                                                         "api.audiences[0]",
		`api: { issuers: ["https://sts.windows.net/` + tenant + `/"] }`:                                                                    "api.issuers",
		`api: { clients: [{ app_id: "` + pipelineApp + `", name: "x", requester: "` + pipelineUser + `" }] }`:                              "api.clients",
		`api: { audiences: ["x"], issuers: ["https://sts.windows.net/other/"] }`:                                                           "api.issuers[0]",
		`api: { audiences: ["x"], issuers: ["http://sts.windows.net/` + tenant + `/"] }`:                                                   "api.issuers[0]",
		`api: { audience: ["x"] }`:                                                                                                         "audience",
		client(good + `, role: "Request.Create"`):                                                                                          "role",
		client(`app_id: "deploy", name: "d", requester: "` + pipelineUser + `"`):                                                           "api.clients[0].app_id",
		client(`name: "d", requester: "` + pipelineUser + `"`):                                                                             "api.clients[0].app_id",
		client(good + `, object_id: "sp-1"`):                                                                                               "api.clients[0].object_id",
		client(`app_id: "` + pipelineApp + `", requester: "` + pipelineUser + `"`):                                                         "api.clients[0].name",
		client(`app_id: "` + pipelineApp + `", name: "` + strings.Repeat("n", 101) + `", requester: "` + pipelineUser + `"`):               "api.clients[0].name",
		client(`app_id: "` + pipelineApp + `", name: "d", requester: "riley@contoso.com"`):                                                 "api.clients[0].requester",
		client(`app_id: "` + pipelineApp + `", name: "d"`):                                                                                 "api.clients[0].requester",
		client(good + `, requester_name: "` + strings.Repeat("n", 101) + `"`):                                                              "api.clients[0].requester_name",
		client(good) + `    - { app_id: "` + strings.ToUpper(pipelineApp) + `", name: "again", requester: "` + pipelineUser + `" }` + "\n": "api.clients[1].app_id",
		"api:\n  audiences: [\"x\"]\n  clients: \"" + pipelineApp + "\"\n":                                                                 "cannot unmarshal",
	} {
		if _, err := ParseConfig([]byte(validConfig+edit+"\n"), testEnv); err == nil || !strings.Contains(err.Error(), key) {
			t.Errorf("%s: %v, want an error naming %s", edit, err, key)
		}
	}
}

// TestServeBinaryServesTheRequestsAPI runs the binary with api configured:
// a pipeline's token with Request.Create makes a request on behalf of its
// configured requester, the approval card reaches the approvers' channel,
// and after the approval in Teams the pipeline reads it as active.
func TestServeBinaryServesTheRequestsAPI(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the binary")
	}
	r := newRig(t, faultBinary(t), 1)
	r.graph.AddUser(fUser(1))
	config := r.config(botOpts{database: "sqlite:" + filepath.Join(r.dir, "api.db"), replica: "api-1"})
	f, err := os.OpenFile(config, os.O_APPEND|os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	_, err = f.WriteString("api:\n  audiences: [\"" + fClientID + "\", \"api://" + fClientID + "\"]\n" +
		"  clients:\n    - { app_id: \"" + pipelineApp + "\", name: \"deploy pipeline\", requester: \"" + fUser(1) + "\", requester_name: \"Riley Responder\" }\n")
	if cerr := f.Close(); err != nil || cerr != nil {
		t.Fatal(err, cerr)
	}
	p := r.start("api-1", config)

	jitbot := entratest.API{TenantID: fTenant, AppID: fClientID, TokenVersion: 2}
	issuer := entratest.WithClaim("iss", r.authorityURL+"/"+fTenant+"/v2.0")
	call := func(method, path, token, body string) (int, http.Header, []byte) {
		t.Helper()
		req, _ := http.NewRequest(method, "http://"+p.addr+path, strings.NewReader(body))
		req.Header.Set("Authorization", "Bearer "+token)
		if body != "" {
			req.Header.Set("Content-Type", "application/json")
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, resp.Header, b
	}
	body := `{"profile":"` + fProfile(0) + `","duration":"1h","justification":"deploy 4.2"}`
	if code, _, b := call(http.MethodPost, api.RequestsPath, r.authority.AccessToken(t, jitbot, pipelineApp, nil, issuer), body); code != http.StatusForbidden {
		t.Fatalf("without the role: HTTP %d %s", code, b)
	}
	token := r.authority.AccessToken(t, jitbot, pipelineApp, []string{api.RequestCreateRole}, issuer)
	code, hdr, b := call(http.MethodPost, api.RequestsPath, token, body)
	if code != http.StatusCreated {
		t.Fatalf("POST: HTTP %d %s\n%s", code, b, p.output())
	}
	var v api.RequestView
	if err := json.Unmarshal(b, &v); err != nil || v.State != access.RequestPending || hdr.Get("Location") != api.RequestsPath+"/"+v.ID {
		t.Fatalf("created %s (%v), Location %q", b, err, hdr.Get("Location"))
	}
	waitFor(t, 10*time.Second, "the approval card", func() bool {
		for _, conv := range r.conn.Conversations() {
			if strings.HasPrefix(conv, fApproversChan) {
				for _, a := range r.conn.Activities(conv) {
					raw, _ := json.Marshal(a.Card())
					if strings.Contains(string(raw), v.ID) && strings.Contains(string(raw), "deploy pipeline") && strings.Contains(string(raw), "Riley Responder") {
						return true
					}
				}
			}
		}
		return false
	})
	if code, _, err := r.approve(p, v.ID); code != http.StatusOK || err != nil {
		t.Fatalf("approve: HTTP %d %v", code, err)
	}
	waitFor(t, 10*time.Second, "the request to be active", func() bool {
		code, _, b := call(http.MethodGet, api.RequestsPath+"/"+v.ID, token, "")
		var got api.RequestView
		return code == http.StatusOK && json.Unmarshal(b, &got) == nil && got.State == access.RequestActive && got.Grant != nil && got.Grant.State == access.GrantActive
	})
	if !r.graph.IsMember(fGroup(0), fUser(1)) {
		t.Fatal("the requester is not in the group")
	}
}
