package graphtest_test

import (
	"bytes"
	"compress/gzip"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore/policy"

	"github.com/jitbot/jitbot/graph/graphtest"
)

// do sends a request to the fake and returns status, headers and the
// decoded JSON body (nil when empty).
func do(t *testing.T, g *graphtest.Graph, method, path string, body []byte, hdr map[string]string) (int, http.Header, map[string]any) {
	t.Helper()
	var rd io.Reader
	if body != nil {
		rd = bytes.NewReader(body)
	}
	req, err := http.NewRequest(method, g.URL()+path, rd)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+g.Token())
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	for k, v := range hdr {
		if v == "" {
			req.Header.Del(k)
		} else {
			req.Header.Set(k, v)
		}
	}
	resp, err := g.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	var out map[string]any
	if len(raw) > 0 {
		if err := json.Unmarshal(raw, &out); err != nil {
			t.Fatalf("%s %s: body %q is not JSON: %v", method, path, raw, err)
		}
	}
	return resp.StatusCode, resp.Header, out
}

func refBody(g *graphtest.Graph, id string) []byte {
	return []byte(fmt.Sprintf(`{"@odata.id":%q}`, g.URL()+"/v1.0/directoryObjects/"+id))
}

func gz(t *testing.T, b []byte) []byte {
	t.Helper()
	var buf bytes.Buffer
	zw := gzip.NewWriter(&buf)
	if _, err := zw.Write(b); err != nil {
		t.Fatal(err)
	}
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

func errorCode(body map[string]any) (code, message string) {
	e, _ := body["error"].(map[string]any)
	code, _ = e["code"].(string)
	message, _ = e["message"].(string)
	return code, message
}

func TestAddRemoveWire(t *testing.T) {
	g := graphtest.New(t)
	g.AddUser("u1")
	g.AddGroup("g1")

	st, h, _ := do(t, g, "POST", "/v1.0/groups/g1/members/$ref", refBody(g, "u1"), map[string]string{"client-request-id": "c-1"})
	if st != http.StatusNoContent || !g.IsMember("g1", "u1") {
		t.Fatalf("add: status %d, member %v", st, g.IsMember("g1", "u1"))
	}
	if h.Get("request-id") == "" || h.Get("client-request-id") != "c-1" {
		t.Errorf("add: request ids %q %q", h.Get("request-id"), h.Get("client-request-id"))
	}

	st, _, body := do(t, g, "POST", "/v1.0/groups/g1/members/$ref", refBody(g, "u1"), nil)
	code, msg := errorCode(body)
	if st != http.StatusBadRequest || code != graphtest.CodeBadRequest || msg != graphtest.MessageAlreadyExists {
		t.Fatalf("add again: %d %q %q", st, code, msg)
	}
	inner, _ := body["error"].(map[string]any)["innerError"].(map[string]any)
	if inner["request-id"] == nil || inner["date"] == nil {
		t.Errorf("add again: innerError %v", inner)
	}

	st, _, body = do(t, g, "POST", "/v1.0/groups/nope/members/$ref", refBody(g, "u1"), nil)
	if code, msg := errorCode(body); st != http.StatusNotFound || code != graphtest.CodeResourceNotFound || !strings.Contains(msg, "'nope'") {
		t.Fatalf("add to missing group: %d %q %q", st, code, msg)
	}
	st, _, body = do(t, g, "POST", "/v1.0/groups/g1/members/$ref", refBody(g, "ghost"), nil)
	if code, msg := errorCode(body); st != http.StatusNotFound || code != graphtest.CodeResourceNotFound || !strings.Contains(msg, "'ghost'") {
		t.Fatalf("add missing user: %d %q %q", st, code, msg)
	}

	if st, _, _ := do(t, g, "DELETE", "/v1.0/groups/g1/members/u1/$ref", nil, nil); st != http.StatusNoContent || g.IsMember("g1", "u1") {
		t.Fatalf("remove: %d", st)
	}
	st, _, body = do(t, g, "DELETE", "/v1.0/groups/g1/members/u1/$ref", nil, nil)
	if code, _ := errorCode(body); st != http.StatusNotFound || code != graphtest.CodeResourceNotFound {
		t.Fatalf("remove again: %d %q", st, code)
	}
	if n := g.CountFor(graphtest.RouteRemoveMember, "g1", "u1"); n != 2 {
		t.Errorf("DELETE calls for g1/u1: %d, want 2", n)
	}
	if n := g.CountFor(graphtest.RouteAddMember, "g1", "u1"); n != 2 {
		t.Errorf("POST calls for g1/u1: %d, want 2", n)
	}
}

func TestGetMemberAndGroupWire(t *testing.T) {
	g := graphtest.New(t)
	g.AddUser("u1", "u2")
	g.AddGroup("g1", "child")
	g.AddMember("g1", "u1")
	g.SetNested("g1", "child")

	st, _, body := do(t, g, "GET", "/v1.0/groups/g1/members/u1", nil, nil)
	if st != http.StatusOK || body["id"] != "u1" || body["@odata.type"] != "#microsoft.graph.user" || body["displayName"] != "u1" ||
		body["@odata.context"] != g.URL()+"/v1.0/$metadata#directoryObjects/$entity" {
		t.Errorf("get member: %d %v", st, body)
	}
	st, _, body = do(t, g, "GET", "/v1.0/groups/G1/members/U1?$select=id", nil, nil)
	if st != http.StatusOK || body["id"] != "u1" || body["displayName"] != nil ||
		body["@odata.context"] != g.URL()+"/v1.0/$metadata#directoryObjects(id)/$entity" {
		t.Errorf("get member, id only: %d %v", st, body)
	}
	if st, _, body = do(t, g, "GET", "/v1.0/groups/g1/members/child?$select=id", nil, nil); st != http.StatusOK || body["@odata.type"] != "#microsoft.graph.group" {
		t.Errorf("get member group: %d %v", st, body)
	}
	// Not a member, no such user, no such group: 404 naming the group.
	for _, path := range []string{"/v1.0/groups/g1/members/u2", "/v1.0/groups/g1/members/ghost", "/v1.0/groups/nope/members/u1"} {
		st, _, body := do(t, g, "GET", path, nil, nil)
		group := strings.Split(path, "/")[3]
		if code, msg := errorCode(body); st != http.StatusNotFound || code != graphtest.CodeResourceNotFound || !strings.Contains(msg, "'"+group+"'") {
			t.Errorf("GET %s: %d %q %q", path, st, code, msg)
		}
	}
	if st, _, body := do(t, g, "GET", "/v1.0/groups/g1/members/u1?$select=nonsense", nil, nil); st != http.StatusBadRequest || body["error"] == nil {
		t.Errorf("unknown $select: %d %v", st, body)
	}
	if n := g.CountFor(graphtest.RouteGetMember, "g1", "u1"); n != 3 {
		t.Errorf("GET member calls for g1/u1: %d, want 3", n)
	}

	st, _, body = do(t, g, "GET", "/v1.0/groups/g1?$select=id", nil, nil)
	if st != http.StatusOK || body["id"] != "g1" || body["displayName"] != nil ||
		body["@odata.context"] != g.URL()+"/v1.0/$metadata#groups(id)/$entity" {
		t.Errorf("get group: %d %v", st, body)
	}
	if st, _, body = do(t, g, "GET", "/v1.0/groups/g1", nil, nil); st != http.StatusOK || body["displayName"] != "g1" {
		t.Errorf("get group, all: %d %v", st, body)
	}
	st, _, body = do(t, g, "GET", "/v1.0/groups/nope", nil, nil)
	if code, msg := errorCode(body); st != http.StatusNotFound || code != graphtest.CodeResourceNotFound || !strings.Contains(msg, "'nope'") {
		t.Errorf("get missing group: %d %q %q", st, code, msg)
	}
	if n := g.Count(graphtest.RouteGetGroup); n != 3 {
		t.Errorf("GET group calls: %d, want 3", n)
	}
}

func TestStickyMember(t *testing.T) {
	g := graphtest.New(t)
	g.AddUser("u1", "u2")
	g.AddGroup("g1")
	g.AddMember("g1", "u1")
	g.StickyMember("G1", "U1")
	g.StickyMember("g1", "u2") // not a member: removal is still a 404

	if st, _, _ := do(t, g, "DELETE", "/v1.0/groups/g1/members/u1/$ref", nil, nil); st != http.StatusNoContent || !g.IsMember("g1", "u1") {
		t.Fatalf("remove sticky member: %d, member %v", st, g.IsMember("g1", "u1"))
	}
	if st, _, _ := do(t, g, "GET", "/v1.0/groups/g1/members/u1", nil, nil); st != http.StatusOK {
		t.Errorf("sticky member after removal: GET %d", st)
	}
	if st, _, _ := do(t, g, "DELETE", "/v1.0/groups/g1/members/u2/$ref", nil, nil); st != http.StatusNotFound {
		t.Errorf("remove sticky non-member: %d", st)
	}
	g.UnstickMember("g1", "u1")
	if st, _, _ := do(t, g, "DELETE", "/v1.0/groups/g1/members/u1/$ref", nil, nil); st != http.StatusNoContent || g.IsMember("g1", "u1") {
		t.Errorf("remove after unsticking: %d, member %v", st, g.IsMember("g1", "u1"))
	}
	if n := g.CountFor(graphtest.RouteRemoveMember, "g1", "u1"); n != 2 {
		t.Errorf("DELETE calls for g1/u1: %d, want 2", n)
	}
}

func TestGzipBodies(t *testing.T) {
	g := graphtest.New(t)
	g.AddUser("u1", "u2")
	g.AddGroup("g1")

	st, _, _ := do(t, g, "POST", "/v1.0/groups/g1/members/$ref", gz(t, refBody(g, "u1")), map[string]string{"Content-Encoding": "gzip"})
	if st != http.StatusNoContent || !g.IsMember("g1", "u1") {
		t.Fatalf("gzip add: %d", st)
	}
	// The kiota-http-go #183 symptom: gzip announced over a plain body.
	st, _, body := do(t, g, "POST", "/v1.0/groups/g1/members/$ref", refBody(g, "u2"), map[string]string{"Content-Encoding": "gzip"})
	if code, _ := errorCode(body); st != http.StatusBadRequest || code == "" || g.IsMember("g1", "u2") {
		t.Fatalf("bad gzip add: %d %v", st, body)
	}
	calls := g.CallsTo(graphtest.RouteAddMember)
	if len(calls) != 2 {
		t.Fatalf("calls: %d", len(calls))
	}
	if c := calls[0]; c.ContentEncoding != "gzip" || c.BadGzip || !bytes.Equal(c.Body, refBody(g, "u1")) || c.ObjectID != "u1" {
		t.Errorf("gzip call recorded as %+v", c)
	}
	if c := calls[1]; !c.BadGzip {
		t.Errorf("bad gzip not recorded: %+v", c)
	}
}

func TestAuthorization(t *testing.T) {
	g := graphtest.New(t)
	g.AddUser("u1")
	g.AddGroup("g1")
	for _, auth := range []string{"", "Bearer", "Bearer wrong", "Basic " + g.Token(), "Bearer " + g.Token() + "x"} {
		st, h, body := do(t, g, "POST", "/v1.0/groups/g1/members/$ref", refBody(g, "u1"), map[string]string{"Authorization": auth})
		if code, _ := errorCode(body); st != http.StatusUnauthorized || code != graphtest.CodeInvalidToken || h.Get("WWW-Authenticate") == "" {
			t.Errorf("Authorization %q: %d %q", auth, st, code)
		}
	}
	if g.IsMember("g1", "u1") {
		t.Error("unauthenticated add was carried out")
	}
	g.SetToken("new")
	if st, _, _ := do(t, g, "POST", "/v1.0/groups/g1/members/$ref", refBody(g, "u1"), map[string]string{"Authorization": "bearer new"}); st != http.StatusNoContent {
		t.Errorf("with new token: %d", st)
	}
}

func TestCheckMemberGroupsTransitive(t *testing.T) {
	g := graphtest.New(t)
	g.AddUser("u1")
	g.AddGroup("direct", "parent", "grandparent", "other", "cycleA", "cycleB")
	g.AddMember("direct", "u1")
	g.SetNested("parent", "direct")
	g.SetNested("grandparent", "parent")
	g.SetNested("cycleA", "cycleB")
	g.SetNested("cycleB", "cycleA")

	body, _ := json.Marshal(map[string]any{"groupIds": []string{"GrandParent", "other", "direct", "cycleA", "missing"}})
	st, _, out := do(t, g, "POST", "/v1.0/users/u1/checkMemberGroups", body, nil)
	if st != http.StatusOK {
		t.Fatalf("status %d %v", st, out)
	}
	var got []string
	for _, v := range out["value"].([]any) {
		got = append(got, v.(string))
	}
	if want := []string{"GrandParent", "direct"}; !slices.Equal(got, want) {
		t.Errorf("value %v, want %v", got, want)
	}

	ids := make([]string, 21)
	for i := range ids {
		ids[i] = fmt.Sprintf("g%d", i)
	}
	body, _ = json.Marshal(map[string]any{"groupIds": ids})
	if st, _, out := do(t, g, "POST", "/v1.0/users/u1/checkMemberGroups", body, nil); st != http.StatusBadRequest {
		t.Errorf("21 ids: %d %v", st, out)
	}
	if st, _, _ := do(t, g, "POST", "/v1.0/users/ghost/checkMemberGroups", []byte(`{"groupIds":[]}`), nil); st != http.StatusNotFound {
		t.Errorf("missing user: %d", st)
	}
}

func TestListMembersPaging(t *testing.T) {
	g := graphtest.New(t)
	g.AddUser("u1", "u2", "u3", "u4")
	g.AddGroup("g1", "child")
	for _, m := range []string{"u1", "child", "u2", "u3", "u4"} {
		g.AddMember("g1", m)
	}
	g.SetPageSize(2)

	var ids, types []string
	path := "/v1.0/groups/g1/members?$select=id&$top=999"
	for pages := 0; path != ""; pages++ {
		if pages > 5 {
			t.Fatal("too many pages")
		}
		st, _, out := do(t, g, "GET", path, nil, nil)
		if st != http.StatusOK {
			t.Fatalf("GET %s: %d %v", path, st, out)
		}
		for _, v := range out["value"].([]any) {
			o := v.(map[string]any)
			ids = append(ids, o["id"].(string))
			types = append(types, o["@odata.type"].(string))
		}
		path = ""
		if next, ok := out["@odata.nextLink"].(string); ok {
			u, err := url.Parse(next)
			if err != nil || u.Host != strings.TrimPrefix(g.URL(), "http://") || u.Query().Get("$select") != "id" {
				t.Fatalf("next link %q", next)
			}
			path = u.RequestURI()
		}
	}
	if want := []string{"u1", "child", "u2", "u3", "u4"}; !slices.Equal(ids, want) {
		t.Errorf("members %v, want %v", ids, want)
	}
	if types[1] != "#microsoft.graph.group" || types[0] != "#microsoft.graph.user" {
		t.Errorf("types %v", types)
	}
	if n := g.Count(graphtest.RouteListMembers); n != 3 {
		t.Errorf("pages fetched: %d, want 3", n)
	}
}

func TestFaults(t *testing.T) {
	g := graphtest.New(t)
	g.AddUser("u1")
	g.AddGroup("g1")

	g.InjectFault(graphtest.Fault{Route: graphtest.RouteAddMember, Status: 429, RetryAfter: "7", Times: 2})
	g.InjectFault(graphtest.Fault{Status: 503})
	for i := range 2 {
		st, h, body := do(t, g, "POST", "/v1.0/groups/g1/members/$ref", refBody(g, "u1"), nil)
		if code, _ := errorCode(body); st != 429 || h.Get("Retry-After") != "7" || code == "" {
			t.Fatalf("throttled call %d: %d %q", i, st, h.Get("Retry-After"))
		}
	}
	// The route-less 503 fault applies to any route.
	if st, _, _ := do(t, g, "DELETE", "/v1.0/groups/g1/members/u1/$ref", nil, nil); st != 503 {
		t.Fatalf("503 fault: %d", st)
	}
	if st, _, _ := do(t, g, "POST", "/v1.0/groups/g1/members/$ref", refBody(g, "u1"), nil); st != http.StatusNoContent {
		t.Fatalf("after faults: %d", st)
	}
	calls := g.Calls()
	if len(calls) != 4 || !calls[0].Fault || !calls[2].Fault || calls[3].Fault || calls[3].Status != http.StatusNoContent {
		t.Errorf("calls %+v", calls)
	}

	// Commit: the change is made, the answer is an error.
	g.InjectFault(graphtest.Fault{Route: graphtest.RouteRemoveMember, Status: 504, Commit: true})
	if st, _, _ := do(t, g, "DELETE", "/v1.0/groups/g1/members/u1/$ref", nil, nil); st != 504 || g.IsMember("g1", "u1") {
		t.Fatalf("committed 504: %d, member %v", st, g.IsMember("g1", "u1"))
	}

	// Delay: ends when the client gives up.
	g.InjectFault(graphtest.Fault{Delay: time.Minute})
	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, "GET", g.URL()+"/v1.0/groups/g1/members", nil)
	req.Header.Set("Authorization", "Bearer "+g.Token())
	start := time.Now()
	if _, err := g.Client().Do(req); err == nil {
		t.Fatal("delayed call did not time out")
	}
	if d := time.Since(start); d > 5*time.Second {
		t.Errorf("delayed call took %v", d)
	}

	// Raw body.
	g.InjectFault(graphtest.Fault{Status: 502, Body: "<html>Bad Gateway</html>", ContentType: "text/html"})
	req, _ = http.NewRequest("GET", g.URL()+"/v1.0/groups/g1/members", nil)
	req.Header.Set("Authorization", "Bearer "+g.Token())
	resp, err := g.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 502 || resp.Header.Get("Content-Type") != "text/html" {
		t.Errorf("raw body fault: %d %q", resp.StatusCode, resp.Header.Get("Content-Type"))
	}
}

func TestDeleteUser(t *testing.T) {
	g := graphtest.New(t)
	g.AddUser("u1")
	g.AddGroup("g1")
	g.AddMember("g1", "u1")
	g.DeleteUser("u1")
	if g.IsMember("g1", "u1") {
		t.Error("deleted user still a member")
	}
	if st, _, _ := do(t, g, "POST", "/v1.0/groups/g1/members/$ref", refBody(g, "u1"), nil); st != http.StatusNotFound {
		t.Errorf("add deleted user: %d", st)
	}
}

func TestUnknownRoutes(t *testing.T) {
	g := graphtest.New(t)
	g.AddGroup("g1")
	for _, c := range []struct {
		method, path string
		status       int
	}{
		{"GET", "/beta/groups/g1/members", 400},
		{"GET", "/v1.0/groups/g1/owners", 400},
		{"PUT", "/v1.0/groups/g1/members/$ref", 405},
		{"DELETE", "/v1.0/groups/g1/members/u1", 405},
		{"PATCH", "/v1.0/groups/g1", 405},
		{"GET", "/v1.0/groups/g1/members/$count", 400},
	} {
		if st, _, body := do(t, g, c.method, c.path, nil, nil); st != c.status || body["error"] == nil {
			t.Errorf("%s %s: %d %v", c.method, c.path, st, body)
		}
	}
}

func TestTLSAndStaticCredential(t *testing.T) {
	g := graphtest.NewTLS(t)
	g.AddGroup("g1")
	if !strings.HasPrefix(g.URL(), "https://127.0.0.1:") {
		t.Fatalf("URL %q", g.URL())
	}
	if st, _, _ := do(t, g, "GET", "/v1.0/groups/g1/members", nil, nil); st != http.StatusOK {
		t.Fatalf("GET over TLS: %d", st)
	}
	cred := g.Credential()
	tok, err := cred.GetToken(context.Background(), policy.TokenRequestOptions{Scopes: []string{"x/.default"}})
	if err != nil || tok.Token != graphtest.DefaultToken {
		t.Fatalf("token %q, %v", tok.Token, err)
	}
	if s := cred.Scopes(); len(s) != 1 || s[0][0] != "x/.default" {
		t.Errorf("scopes %v", s)
	}
}
