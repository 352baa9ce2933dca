package graph_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/jitbot/jitbot/access"
	"github.com/jitbot/jitbot/graph"
	"github.com/jitbot/jitbot/graph/graphtest"
)

// batchUsers seeds a fake Graph with n users, all members of g1.
func batchUsers(t *testing.T, n int) (*graphtest.Graph, []string) {
	g := graphtest.New(t)
	g.AddGroup("g1")
	users := make([]string, n)
	for i := range users {
		users[i] = fmt.Sprintf("u%02d", i)
		g.AddUser(users[i])
		g.AddMember("g1", users[i])
	}
	return g, users
}

// removeAll removes every user at once, each in its own goroutine, and
// returns the errors by user.
func removeAll(d *graph.Directory, users []string) map[string]error {
	var mu sync.Mutex
	errs := map[string]error{}
	var wg sync.WaitGroup
	for _, u := range users {
		wg.Add(1)
		go func() {
			defer wg.Done()
			err := d.RemoveMember(context.Background(), "g1", u)
			mu.Lock()
			errs[u] = err
			mu.Unlock()
		}()
	}
	wg.Wait()
	return errs
}

// TestRemovalsAreBatched removes 45 members at once: they go to Graph in
// JSON batches of at most 20, each DELETE once, and every member is gone.
func TestRemovalsAreBatched(t *testing.T) {
	g, users := batchUsers(t, 45)
	d := newDirectory(t, g, graph.Config{})
	for u, err := range removeAll(d, users) {
		if err != nil {
			t.Errorf("remove %s: %v", u, err)
		}
	}
	if left := g.Members("g1"); len(left) != 0 {
		t.Errorf("still members: %v", left)
	}
	sizes := g.BatchSizes()
	total := 0
	for _, n := range sizes {
		if n < 1 || n > graph.MaxBatch {
			t.Errorf("a batch of %d", n)
		}
		total += n
	}
	if total != 45 || len(sizes) >= 45 {
		t.Errorf("batches %v: want 45 removals in fewer batches", sizes)
	}
	for _, u := range users {
		if n := g.CountFor(graphtest.RouteRemoveMember, "g1", u); n != 1 {
			t.Errorf("%s: %d DELETEs, want 1", u, n)
		}
	}
	for _, c := range g.CallsTo(graphtest.RouteRemoveMember) {
		if c.BatchID == "" || c.Status != http.StatusNoContent || c.Path != "/v1.0/groups/g1/members/"+c.ObjectID+"/$ref" {
			t.Errorf("removal %+v", c)
		}
	}
	checkWire(t, g)
}

// TestBatchAnswersPerRequest maps each answer of a batch to its own
// outcome: a 404 is already gone, a 429 inside the batch is sent again
// after its Retry-After, a 403 is permanent, a 503 that lasts is transient
// with its attempts.
func TestBatchAnswersPerRequest(t *testing.T) {
	g, users := batchUsers(t, 4)
	g.RemoveMember("g1", users[0]) // already gone: 404
	// Faults apply to the requests of the batch in the order they come;
	// pin each one to a user by sending them one at a time.
	d := newDirectory(t, g, graph.Config{MaxRetries: 2})
	ctx := context.Background()
	if err := d.RemoveMember(ctx, "g1", users[0]); err != nil {
		t.Errorf("already gone: %v", err)
	}
	g.InjectFault(graphtest.Fault{Route: graphtest.RouteRemoveMember, Status: 429, RetryAfter: "1"})
	start := time.Now()
	if err := d.RemoveMember(ctx, "g1", users[1]); err != nil {
		t.Errorf("throttled once: %v", err)
	}
	if time.Since(start) < time.Second {
		t.Errorf("retried after %v; Retry-After was 1s", time.Since(start))
	}
	if calls := g.CallsTo(graphtest.RouteRemoveMember); len(calls) != 3 || calls[1].Status != 429 || calls[2].Status != 204 ||
		calls[2].Header.Get("Retry-Attempt") != "1" || calls[1].Header.Get("client-request-id") != calls[2].Header.Get("client-request-id") {
		t.Errorf("throttled removal: %d calls", len(calls))
	}
	g.InjectFault(graphtest.Fault{Route: graphtest.RouteRemoveMember, Status: 403})
	err := d.RemoveMember(ctx, "g1", users[2])
	if !errors.Is(err, access.ErrPermanent) || graphError(t, err).StatusCode != 403 || graphError(t, err).Code != "Authorization_RequestDenied" {
		t.Errorf("403: %v", err)
	}
	g.InjectFault(graphtest.Fault{Route: graphtest.RouteRemoveMember, Status: 503, RetryAfter: "0", Times: 5})
	err = d.RemoveMember(ctx, "g1", users[3])
	if e := graphError(t, err); errors.Is(err, access.ErrPermanent) || e.StatusCode != 503 || e.Attempts != 3 || e.RequestID == "" {
		t.Errorf("503 beyond retries: %+v", e)
	}
	// A long Retry-After is not waited for: the error carries it.
	g.ClearFaults()
	g.InjectFault(graphtest.Fault{Route: graphtest.RouteRemoveMember, Status: 429, RetryAfter: "600"})
	err = d.RemoveMember(ctx, "g1", users[3])
	var ra interface{ RetryAfterHint() time.Duration }
	if !errors.As(err, &ra) || ra.RetryAfterHint() != 10*time.Minute || errors.Is(err, access.ErrPermanent) {
		t.Errorf("long Retry-After: %v", err)
	}
	if !g.IsMember("g1", users[2]) || !g.IsMember("g1", users[3]) || g.IsMember("g1", users[1]) {
		t.Errorf("members after: %v", g.Members("g1"))
	}
	checkWire(t, g)
}

// TestBatchThrottledAsAWhole retries a batch Graph answered 429 as a
// whole (the SDK's middleware), and fails every request of a batch that
// stays unavailable.
func TestBatchThrottledAsAWhole(t *testing.T) {
	g, users := batchUsers(t, 3)
	d := newDirectory(t, g, graph.Config{})
	g.InjectFault(graphtest.Fault{Route: graphtest.RouteBatch, Status: 429, RetryAfter: "0"})
	for u, err := range removeAll(d, users) {
		if err != nil {
			t.Errorf("%s: %v", u, err)
		}
	}
	if left := g.Members("g1"); len(left) != 0 {
		t.Errorf("still members: %v", left)
	}
	g2, users2 := batchUsers(t, 3)
	d2 := newDirectory(t, g2, graph.Config{MaxRetries: -1})
	g2.InjectFault(graphtest.Fault{Route: graphtest.RouteBatch, Status: 504})
	for u, err := range removeAll(d2, users2) {
		if e := graphError(t, err); e.StatusCode != 504 || errors.Is(err, access.ErrPermanent) {
			t.Errorf("%s: %v", u, err)
		}
	}
}

// TestIsMemberInBatches asks about many members at once: the GETs go in
// batches and each answer is the member's own.
func TestIsMemberInBatches(t *testing.T) {
	g, users := batchUsers(t, 30)
	for _, u := range users[:10] {
		g.RemoveMember("g1", u)
	}
	d := newDirectory(t, g, graph.Config{})
	var wg sync.WaitGroup
	got := make([]bool, len(users))
	errs := make([]error, len(users))
	for i, u := range users {
		wg.Add(1)
		go func() {
			defer wg.Done()
			got[i], errs[i] = d.IsMember(context.Background(), "g1", u)
		}()
	}
	wg.Wait()
	for i := range users {
		if errs[i] != nil || got[i] != (i >= 10) {
			t.Errorf("%s: %v, %v", users[i], got[i], errs[i])
		}
	}
	if n := len(g.BatchSizes()); n >= 30 {
		t.Errorf("%d batches for 30 questions (and 10 group checks)", n)
	}
}

// TestFakeBatch checks the fake's $batch against Graph's documented
// behaviour: the response shape, 400 above 20 requests, per-request
// throttling and the count of the requests inside.
func TestFakeBatch(t *testing.T) {
	g, users := batchUsers(t, 21)
	post := func(n int) (*http.Response, map[string]any) {
		t.Helper()
		var reqs []map[string]any
		for i := range n {
			reqs = append(reqs, map[string]any{"id": fmt.Sprint(i + 1), "method": "DELETE", "url": "/groups/g1/members/" + users[i] + "/$ref"})
		}
		body, _ := json.Marshal(map[string]any{"requests": reqs})
		req, _ := http.NewRequest(http.MethodPost, g.URL()+"/v1.0/$batch", bytes.NewReader(body))
		req.Header.Set("Authorization", "Bearer "+g.Token())
		req.Header.Set("Content-Type", "application/json")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		var out map[string]any
		_ = json.NewDecoder(resp.Body).Decode(&out)
		return resp, out
	}
	if resp, out := post(21); resp.StatusCode != 400 || out["error"] == nil {
		t.Fatalf("21 requests: %d %v", resp.StatusCode, out)
	}
	if n := g.Count(graphtest.RouteRemoveMember); n != 0 || len(g.Members("g1")) != 21 {
		t.Fatalf("a refused batch carried out %d removals", n)
	}
	g.ThrottleEvery(3, "2")
	resp, out := post(6)
	if resp.StatusCode != 200 {
		t.Fatalf("batch: %d", resp.StatusCode)
	}
	rs, _ := out["responses"].([]any)
	var statuses []int
	for _, r := range rs {
		m := r.(map[string]any)
		statuses = append(statuses, int(m["status"].(float64)))
		if m["status"].(float64) == 429 {
			h := m["headers"].(map[string]any)
			if h["Retry-After"] != "2" || m["body"].(map[string]any)["error"] == nil {
				t.Errorf("throttled answer %v", m)
			}
		}
	}
	if !slices.Equal(statuses, []int{204, 204, 429, 204, 204, 429}) {
		t.Errorf("statuses %v", statuses)
	}
	if n := g.Count(graphtest.RouteRemoveMember); n != 6 || len(g.Members("g1")) != 17 {
		t.Errorf("%d removals counted, %d members left", n, len(g.Members("g1")))
	}
}

// TestFakeWriteQuota checks the fake's write quota: writes beyond it are
// answered 429 with the wait until the window frees one.
func TestFakeWriteQuota(t *testing.T) {
	g, users := batchUsers(t, 8)
	g.SetWriteQuota(5, time.Minute)
	d := newDirectory(t, g, graph.Config{MaxRetryWait: time.Second})
	errs := removeAll(d, users)
	failed := 0
	for _, err := range errs {
		if err != nil {
			failed++
			var ra interface{ RetryAfterHint() time.Duration }
			if !errors.As(err, &ra) || ra.RetryAfterHint() < 50*time.Second {
				t.Errorf("over quota: %v", err)
			}
		}
	}
	if failed != 3 || len(g.Members("g1")) != 3 {
		t.Errorf("%d removals refused, %d members left; want 3 and 3", failed, len(g.Members("g1")))
	}
}
