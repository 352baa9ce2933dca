package graph

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/google/uuid"
	abs "github.com/microsoft/kiota-abstractions-go"
)

// MaxBatch is the most requests Graph accepts in one JSON batch
// (POST /$batch).
const MaxBatch = 20

// batchWindow is how long the first request of a batch waits for others to
// join it; a batch of MaxBatch goes at once.
const batchWindow = 2 * time.Millisecond

// retryDelay is the wait before retrying a request of a batch that Graph
// throttled or could not serve without saying how long to wait, doubled
// per attempt, like the SDK's retry middleware.
const retryDelay = 3 * time.Second

// batchItem is one request sent through a JSON batch.
type batchItem struct {
	ctx    context.Context
	header map[string]string
	method string
	url    string // relative to the API version, e.g. "/groups/{id}/members/{id}/$ref"
	done   chan batchAnswer
}

// batchAnswer is Graph's answer to one request of a batch, or the error of
// the batch itself (err, an *Error).
type batchAnswer struct {
	status int
	header http.Header
	body   json.RawMessage
	err    error
}

// batcher gathers the requests made at about the same time into JSON
// batches of up to MaxBatch. It holds no goroutine between batches.
type batcher struct {
	d       *Directory
	mu      sync.Mutex
	pending []*batchItem
	timer   *time.Timer
}

// batchRequest and batchResponse are the JSON batch bodies.
type batchRequest struct {
	Requests []batchRequestItem `json:"requests"`
}

type batchRequestItem struct {
	ID      string            `json:"id"`
	Method  string            `json:"method"`
	URL     string            `json:"url"`
	Headers map[string]string `json:"headers,omitempty"`
}

type batchResponse struct {
	Responses []struct {
		ID      string            `json:"id"`
		Status  int               `json:"status"`
		Headers map[string]string `json:"headers"`
		Body    json.RawMessage   `json:"body"`
	} `json:"responses"`
}

// do sends one request through a batch and returns its answer. Requests
// Graph throttles (429) or cannot serve for now (503, 504) are sent again,
// in a later batch, after their Retry-After, as often as Config.MaxRetries
// allows, unless Graph asks for a wait longer than Config.MaxRetryWait.
// attempts is how many times the request was sent.
func (b *batcher) do(ctx context.Context, method, url string) (a batchAnswer, attempts int) {
	// One client-request-id for the call, its retries included, as the
	// SDK sends for a call of its own.
	crid := uuid.NewString()
	for {
		attempts++
		h := map[string]string{"client-request-id": crid}
		if attempts > 1 {
			h["Retry-Attempt"] = strconv.Itoa(attempts - 1)
		}
		item := &batchItem{ctx: ctx, header: h, method: method, url: url, done: make(chan batchAnswer, 1)}
		b.add(item)
		select {
		case <-ctx.Done():
			return batchAnswer{err: &Error{Err: ctx.Err(), Attempts: attempts, ClientRequestID: crid}}, attempts
		case a = <-item.done:
		}
		if a.err != nil || !retriable(a.status) || attempts > b.d.retries {
			return a, attempts
		}
		wait, ok := retryAfter(a.header, time.Now())
		if !ok {
			wait = retryDelay << (attempts - 1)
		}
		if wait > b.d.maxRetryWait {
			return a, attempts
		}
		t := time.NewTimer(wait)
		select {
		case <-ctx.Done():
			t.Stop()
			return a, attempts
		case <-t.C:
		}
	}
}

// retriable reports whether a request answered with status is sent again.
func retriable(status int) bool {
	switch status {
	case http.StatusTooManyRequests, http.StatusServiceUnavailable, http.StatusGatewayTimeout:
		return true
	}
	return false
}

// add queues item: the batch goes when it is full or batchWindow after its
// first request.
func (b *batcher) add(item *batchItem) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.pending = append(b.pending, item)
	if len(b.pending) >= MaxBatch {
		b.flushLocked()
		return
	}
	if b.timer == nil {
		b.timer = time.AfterFunc(batchWindow, func() {
			b.mu.Lock()
			defer b.mu.Unlock()
			b.flushLocked()
		})
	}
}

func (b *batcher) flushLocked() {
	if b.timer != nil {
		b.timer.Stop()
		b.timer = nil
	}
	if len(b.pending) == 0 {
		return
	}
	items := b.pending
	b.pending = nil
	go b.send(items)
}

// send posts one batch and hands each request its answer.
func (b *batcher) send(items []*batchItem) {
	// The batch lives as long as the longest-lived of its requests.
	ctx := context.WithoutCancel(items[0].ctx)
	var deadline time.Time
	for _, it := range items {
		dl, ok := it.ctx.Deadline()
		if !ok {
			deadline = time.Time{}
			break
		}
		if dl.After(deadline) {
			deadline = dl
		}
	}
	if !deadline.IsZero() {
		var cancel context.CancelFunc
		ctx, cancel = context.WithDeadline(ctx, deadline)
		defer cancel()
	}
	answers, err := b.d.sendBatch(ctx, items)
	for i, it := range items {
		if err != nil {
			it.done <- batchAnswer{err: err}
			continue
		}
		it.done <- answers[i]
	}
}

// sendBatch posts items as one JSON batch (POST /$batch) through the SDK's
// adapter (authentication, retries of the whole batch, telemetry) and
// returns the answers in the order of items. A failed batch gives an
// *Error.
func (d *Directory) sendBatch(ctx context.Context, items []*batchItem) ([]batchAnswer, error) {
	req := batchRequest{Requests: make([]batchRequestItem, len(items))}
	for i, it := range items {
		req.Requests[i] = batchRequestItem{ID: strconv.Itoa(i + 1), Method: it.method, URL: it.url, Headers: it.header}
	}
	body, err := json.Marshal(req)
	if err != nil {
		return nil, &Error{Err: fmt.Errorf("encode batch: %w", err)}
	}
	info := abs.NewRequestInformationWithMethodAndUrlTemplateAndPathParameters(abs.POST, "{+baseurl}/$batch",
		map[string]string{"baseurl": d.base.String()})
	info.Headers.TryAdd("Accept", "application/json")
	info.SetStreamContentAndContentType(body, "application/json")

	callCtx, t := withTrace(ctx)
	res, err := d.adapter.SendPrimitive(callCtx, info, "[]byte", errorMapping())
	if err != nil {
		return nil, newError(err, t)
	}
	raw, _ := res.([]byte)
	var out batchResponse
	if err := json.NewDecoder(bytes.NewReader(raw)).Decode(&out); err != nil {
		attempts, status, _, crid, _ := t.snapshot()
		return nil, &Error{StatusCode: status, Attempts: attempts, ClientRequestID: crid, Err: fmt.Errorf("decode batch response: %w", err)}
	}
	answers := make([]batchAnswer, len(items))
	seen := make([]bool, len(items))
	for _, r := range out.Responses {
		i, err := strconv.Atoi(r.ID)
		if err != nil || i < 1 || i > len(items) || seen[i-1] {
			return nil, &Error{StatusCode: http.StatusOK, Err: fmt.Errorf("batch response names request %q, which was not sent or answered twice", r.ID)}
		}
		seen[i-1] = true
		h := make(http.Header, len(r.Headers))
		for k, v := range r.Headers {
			h.Set(k, v)
		}
		answers[i-1] = batchAnswer{status: r.Status, header: h, body: r.Body}
	}
	for i, ok := range seen {
		if !ok {
			return nil, &Error{StatusCode: http.StatusOK, Err: fmt.Errorf("batch response has no answer to request %d", i+1)}
		}
	}
	return answers, nil
}

// answerError is the *Error of an answer within a batch that is not a
// success.
func answerError(a batchAnswer, attempts int) *Error {
	if a.err != nil {
		var e *Error
		if errors.As(a.err, &e) {
			return e
		}
		return &Error{Err: a.err, Attempts: attempts}
	}
	e := &Error{StatusCode: a.status, Attempts: attempts, RequestID: a.header.Get("request-id"), ClientRequestID: a.header.Get("client-request-id")}
	var body struct {
		Error struct {
			Code       string `json:"code"`
			Message    string `json:"message"`
			InnerError struct {
				RequestID string `json:"request-id"`
			} `json:"innerError"`
		} `json:"error"`
	}
	if len(a.body) > 0 && json.Unmarshal(a.body, &body) == nil {
		e.Code, e.Message = body.Error.Code, body.Error.Message
		if e.RequestID == "" {
			e.RequestID = body.Error.InnerError.RequestID
		}
	}
	if d, ok := retryAfter(a.header, time.Now()); ok {
		e.RetryAfter = d
	}
	e.Permanent = isPermanentStatus(a.status)
	return e
}

// batchPath is the path of a request within a batch, relative to the API
// version, from segments escaped one by one.
func batchPath(segments ...string) string {
	var b strings.Builder
	for _, s := range segments {
		b.WriteString("/")
		b.WriteString(s)
	}
	return b.String()
}
