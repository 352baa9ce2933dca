package graphtest

import (
	"bytes"
	"cmp"
	"encoding/json"
	"io"
	"math"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"time"
)

// MaxBatch is the most requests a JSON batch may hold; Graph answers 400
// to a larger one.
const MaxBatch = 20

// RouteBatch is a JSON batch. Each request inside it is recorded as a Call
// of its own route too, with BatchID set, after the batch's own Call.
const RouteBatch Route = "POST /$batch"

// batchIn is the body of POST /$batch.
type batchIn struct {
	Requests []struct {
		ID      string            `json:"id"`
		Method  string            `json:"method"`
		URL     string            `json:"url"`
		Headers map[string]string `json:"headers"`
		Body    json.RawMessage   `json:"body"`
	} `json:"requests"`
}

// batchOut is one answer of a batch.
type batchOut struct {
	ID      string            `json:"id"`
	Status  int               `json:"status"`
	Headers map[string]string `json:"headers,omitempty"`
	Body    json.RawMessage   `json:"body,omitempty"`
}

// batch answers POST /$batch like Graph: every request is carried out on
// its own (in order; dependsOn is not supported) and answered in
// {"responses": [{id, status, headers, body}]} with 200, whatever the
// requests' own statuses. Faults on a route (not those on every route,
// which apply to the batch itself) and the throttling rules apply to each
// request inside.
func (g *Graph) batch(w http.ResponseWriter, req *request, outer Call) {
	if !req.isJSON() {
		writeError(w, req, http.StatusUnsupportedMediaType, "BadRequest", "A supported MIME type could not be found that matches the content type of the response.")
		return
	}
	var in batchIn
	if err := json.Unmarshal(req.body, &in); err != nil {
		writeError(w, req, http.StatusBadRequest, "BadRequest", "Invalid batch payload format.")
		return
	}
	switch {
	case len(in.Requests) == 0:
		writeError(w, req, http.StatusBadRequest, "BadRequest", "Invalid batch payload format.")
		return
	case len(in.Requests) > MaxBatch:
		writeError(w, req, http.StatusBadRequest, "BadRequest", "The number of batch requests exceeds the limit of 20.")
		return
	}
	ids := map[string]bool{}
	for _, r := range in.Requests {
		if r.ID == "" || ids[r.ID] || r.Method == "" || !strings.HasPrefix(r.URL, "/") {
			writeError(w, req, http.StatusBadRequest, "BadRequest", "Invalid batch payload format.")
			return
		}
		ids[r.ID] = true
	}
	out := struct {
		Responses []batchOut `json:"responses"`
	}{Responses: make([]batchOut, 0, len(in.Requests))}
	for _, r := range in.Requests {
		inner := httptest.NewRequestWithContext(req.r.Context(), strings.ToUpper(r.Method), "/v1.0"+r.URL, bytes.NewReader(r.Body))
		inner.Host = req.r.Host
		inner.TLS = req.r.TLS
		inner.Header = outer.Header.Clone()
		for k, v := range r.Headers {
			inner.Header.Set(k, v)
		}
		if len(r.Body) > 0 && inner.Header.Get("Content-Type") == "" {
			inner.Header.Set("Content-Type", "application/json")
		}
		rec := httptest.NewRecorder()
		g.serveInner(rec, inner, outer.BatchID+r.ID, req.requestID)
		o := batchOut{ID: r.ID, Status: rec.Code, Headers: map[string]string{}}
		for k := range rec.Header() {
			if k != "Content-Length" {
				o.Headers[k] = rec.Header().Get(k)
			}
		}
		if b := rec.Body.Bytes(); len(b) > 0 && json.Valid(b) {
			o.Body = b
		}
		out.Responses = append(out.Responses, o)
	}
	writeJSON(w, http.StatusOK, out)
}

// serveInner carries out one request of a batch: record it, apply the
// faults on its route and the throttling rules, route it.
func (g *Graph) serveInner(w http.ResponseWriter, r *http.Request, batchID, requestID string) {
	c := Call{
		Method: r.Method, Path: r.URL.EscapedPath(), Query: r.URL.Query(), Header: r.Header, BatchID: batchID,
		At: time.Now(),
	}
	body, _ := io.ReadAll(r.Body)
	c.RawBody, c.Body = body, body
	rt := parseRoute(r.Method, r.URL.EscapedPath())
	c.Route, c.GroupID, c.ObjectID = rt.route, rt.groupID, rt.objectID
	if rt.route == RouteAddMember {
		if id, ok := referencedID(c.Body); ok {
			c.ObjectID = id
		}
	}
	reqCtx := &request{r: r, body: c.Body, requestID: requestID}
	rec := &recorder{ResponseWriter: w}
	g.mu.Lock()
	idx := len(g.calls)
	g.calls = append(g.calls, c)
	g.mu.Unlock()
	defer func() {
		g.mu.Lock()
		g.calls[idx].Status = rec.status
		g.mu.Unlock()
	}()
	if rt.route == RouteBatch {
		writeError(rec, reqCtx, http.StatusBadRequest, "BadRequest", "A batch may not hold a batch.")
		return
	}
	if g.answerFault(rec, reqCtx, rt, c, idx, g.takeRouteFault(rt.route)) {
		return
	}
	if g.throttle(rec, reqCtx, rt.route) {
		g.mu.Lock()
		g.calls[idx].Fault = true
		g.mu.Unlock()
		return
	}
	g.handle(rec, reqCtx, rt, c)
}

// takeRouteFault takes the next fault injected for route itself.
func (g *Graph) takeRouteFault(r Route) *Fault {
	g.mu.Lock()
	defer g.mu.Unlock()
	for i, f := range g.faults {
		if f.Route != r {
			continue
		}
		f.Times--
		if f.Times <= 0 {
			g.faults = append(g.faults[:i], g.faults[i+1:]...)
		}
		return f
	}
	return nil
}

// isWrite reports whether a route changes the directory (and counts
// against the write quota).
func isWrite(r Route) bool { return r == RouteAddMember || r == RouteRemoveMember }

// SetWriteQuota makes the fake enforce a write quota like Graph's identity
// and access quota (3,000 writes per 150 s per application and tenant):
// once writes writes (adds and removals, alone or in batches) were carried
// out in the last window, every further write is answered 429 with a
// Retry-After until the oldest leaves the window. writes <= 0 turns it off.
func (g *Graph) SetWriteQuota(writes int, window time.Duration) {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.quota, g.quotaWindow, g.writes = writes, window, nil
}

// ThrottleEvery makes the fake answer every n-th member call (add, remove,
// get member; alone or in batches) 429 with Retry-After retryAfter
// (seconds); n <= 0 turns it off.
func (g *Graph) ThrottleEvery(n int, retryAfter string) {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.throttleEvery, g.throttleRetry, g.throttleSeen = n, retryAfter, 0
}

// throttle answers 429 when a throttling rule says so, and otherwise
// counts a write against the quota.
func (g *Graph) throttle(w http.ResponseWriter, req *request, route Route) bool {
	g.mu.Lock()
	retry := ""
	if g.throttleEvery > 0 && (isWrite(route) || route == RouteGetMember) {
		g.throttleSeen++
		if g.throttleSeen%g.throttleEvery == 0 {
			retry = cmp.Or(g.throttleRetry, "1")
		}
	}
	if retry == "" && g.quota > 0 && isWrite(route) {
		now := time.Now()
		i := 0
		for i < len(g.writes) && now.Sub(g.writes[i]) >= g.quotaWindow {
			i++
		}
		g.writes = g.writes[i:]
		if len(g.writes) >= g.quota {
			wait := g.quotaWindow - now.Sub(g.writes[0])
			retry = strconv.Itoa(max(1, int(math.Ceil(wait.Seconds()))))
		} else {
			g.writes = append(g.writes, now)
		}
	}
	g.mu.Unlock()
	if retry == "" {
		return false
	}
	w.Header().Set("Retry-After", retry)
	code, msg := defaultError(http.StatusTooManyRequests)
	writeError(w, req, http.StatusTooManyRequests, code, msg)
	return true
}

// answerFault answers with fault f, if any, and reports whether it did.
func (g *Graph) answerFault(rec *recorder, req *request, rt route, c Call, idx int, f *Fault) bool {
	if f == nil {
		return false
	}
	g.mu.Lock()
	g.calls[idx].Fault = true
	g.mu.Unlock()
	if f.Delay > 0 {
		t := time.NewTimer(f.Delay)
		select {
		case <-req.r.Context().Done():
			t.Stop()
			return true
		case <-t.C:
		}
	}
	if f.Status == 0 {
		return false
	}
	if f.Commit {
		g.handle(discard{}, req, rt, c)
	}
	if f.RetryAfter != "" {
		rec.Header().Set("Retry-After", f.RetryAfter)
	}
	if f.Body != "" {
		rec.Header().Set("Content-Type", cmp.Or(f.ContentType, "application/json"))
		rec.WriteHeader(f.Status)
		_, _ = io.WriteString(rec, f.Body)
		return true
	}
	code, msg := f.Code, f.Message
	if code == "" || msg == "" {
		dc, dm := defaultError(f.Status)
		code, msg = cmp.Or(code, dc), cmp.Or(msg, dm)
	}
	writeError(rec, req, f.Status, code, msg)
	return true
}

// Requests returns every request received so far, alone or inside a
// batch, without the batches themselves, oldest first: the calls as the
// client made them.
func (g *Graph) Requests() []Call {
	var out []Call
	for _, c := range g.Calls() {
		if c.Route != RouteBatch {
			out = append(out, c)
		}
	}
	return out
}

// BatchSizes returns the number of requests of each batch received, in
// order.
func (g *Graph) BatchSizes() []int {
	var out []int
	for _, c := range g.Calls() {
		if c.Route == RouteBatch {
			var in batchIn
			if json.Unmarshal(c.Body, &in) == nil {
				out = append(out, len(in.Requests))
			} else {
				out = append(out, 0)
			}
		}
	}
	return out
}
