package graph

import (
	"context"
	"log/slog"
	"net/http"
	"strconv"
	"sync"
	"time"

	khttp "github.com/microsoft/kiota-http-go"
)

// callTrace collects what the HTTP attempts of one Directory call saw. The
// SDK turns a failed response into an error that may lack the status (an
// unparseable body) and never says how many attempts were made; the trace
// fills those gaps.
type callTrace struct {
	mu              sync.Mutex
	attempts        int
	status          int         // of the latest response, 0 if none
	header          http.Header // of the latest response
	clientRequestID string
	// ambiguous is set when an attempt before the latest one may have been
	// carried out by Graph although it was answered with an error: a 5xx
	// (a 504 in particular) may come after the change was made. A 429 or a
	// redirect is sent before anything is done.
	ambiguous bool
}

type traceKey struct{}

// withTrace returns a context carrying a new trace for one call.
func withTrace(ctx context.Context) (context.Context, *callTrace) {
	t := &callTrace{}
	return context.WithValue(ctx, traceKey{}, t), t
}

func (t *callTrace) snapshot() (attempts, status int, header http.Header, clientRequestID string, ambiguous bool) {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.attempts, t.status, t.header, t.clientRequestID, t.ambiguous
}

// observer is the innermost middleware: it records every attempt into the
// call's trace and logs it.
type observer struct {
	logger *slog.Logger
}

var _ khttp.Middleware = (*observer)(nil)

// Intercept implements khttp.Middleware.
func (o *observer) Intercept(pipeline khttp.Pipeline, middlewareIndex int, req *http.Request) (*http.Response, error) {
	t, _ := req.Context().Value(traceKey{}).(*callTrace)
	start := time.Now()
	resp, err := pipeline.Next(req, middlewareIndex)
	elapsed := time.Since(start)

	attempt := 1
	if t != nil {
		t.mu.Lock()
		if t.attempts > 0 && (t.status == 0 || t.status >= 500) {
			t.ambiguous = true
		}
		t.attempts++
		attempt = t.attempts
		t.clientRequestID = req.Header.Get("client-request-id")
		if resp != nil {
			t.status, t.header = resp.StatusCode, resp.Header.Clone()
		} else {
			// A transport error: the request may or may not have arrived.
			t.status, t.header = 0, nil
		}
		t.mu.Unlock()
	}

	attrs := []slog.Attr{
		slog.String("method", req.Method),
		slog.String("path", req.URL.Path),
		slog.Int("attempt", attempt),
		slog.Duration("elapsed", elapsed),
		slog.String("client_request_id", req.Header.Get("client-request-id")),
	}
	ctx := req.Context()
	switch {
	case err != nil:
		o.logger.LogAttrs(ctx, slog.LevelDebug, "graph request failed", append(attrs, slog.Any("err", err))...)
	case resp.StatusCode == http.StatusTooManyRequests || resp.StatusCode == http.StatusServiceUnavailable || resp.StatusCode == http.StatusGatewayTimeout:
		attrs = append(attrs, slog.Int("status", resp.StatusCode), slog.String("request_id", resp.Header.Get("request-id")))
		if ra := resp.Header.Get("Retry-After"); ra != "" {
			attrs = append(attrs, slog.String("retry_after", ra))
		}
		o.logger.LogAttrs(ctx, slog.LevelWarn, "graph throttled or unavailable", attrs...)
	default:
		o.logger.LogAttrs(ctx, slog.LevelDebug, "graph request",
			append(attrs, slog.Int("status", resp.StatusCode), slog.String("request_id", resp.Header.Get("request-id")))...)
	}
	return resp, err
}

// retryAfter parses a Retry-After header the way the SDK's retry middleware
// does: delay in seconds, or an HTTP date.
func retryAfter(h http.Header, now time.Time) (time.Duration, bool) {
	v := h.Get("Retry-After")
	if v == "" {
		return 0, false
	}
	if secs, err := strconv.ParseFloat(v, 64); err == nil {
		if secs < 0 {
			return 0, false
		}
		return time.Duration(secs * float64(time.Second)), true
	}
	if t, err := http.ParseTime(v); err == nil {
		return max(t.Sub(now), 0), true
	}
	return 0, false
}
