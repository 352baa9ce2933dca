package connector

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"
)

// maxErrorBodyInMessage bounds how much of a response body Error() shows.
const maxErrorBodyInMessage = 512

// maxRetryAfter bounds the Retry-After we report (values beyond are clamped).
const maxRetryAfter = 24 * time.Hour

// StatusError is a non-2xx answer from the Bot Connector.
type StatusError struct {
	Method     string
	URL        string
	StatusCode int
	// RetryAfter is the parsed Retry-After header (seconds or HTTP date), 0
	// if absent or invalid.
	RetryAfter time.Duration
	// Code and Message come from an {"error":{"code","message"}} body (or
	// a top-level "message"), when present.
	Code    string
	Message string
	// Body is the response body (bounded by Options.MaxResponseBytes).
	Body []byte
}

func (e *StatusError) Error() string {
	var b strings.Builder
	fmt.Fprintf(&b, "connector: %s %s: status %d", e.Method, e.URL, e.StatusCode)
	if e.Code != "" {
		fmt.Fprintf(&b, " %s", e.Code)
	}
	if e.Message != "" {
		fmt.Fprintf(&b, ": %s", e.Message)
	} else if len(e.Body) > 0 {
		body := string(e.Body)
		if len(body) > maxErrorBodyInMessage {
			body = body[:maxErrorBodyInMessage] + "..."
		}
		fmt.Fprintf(&b, ": %s", body)
	}
	if e.RetryAfter > 0 {
		fmt.Fprintf(&b, " (retry after %s)", e.RetryAfter)
	}
	return b.String()
}

// Temporary reports whether the request may succeed later: 429 and 5xx.
func (e *StatusError) Temporary() bool {
	return e.StatusCode == http.StatusTooManyRequests || e.StatusCode >= 500
}

// RetryAfter returns the Retry-After carried by err (if it is, or wraps, a
// *StatusError with one).
func RetryAfter(err error) (time.Duration, bool) {
	var se *StatusError
	if errors.As(err, &se) && se.RetryAfter > 0 {
		return se.RetryAfter, true
	}
	return 0, false
}

// StatusCode returns the HTTP status carried by err, or 0.
func StatusCode(err error) int {
	var se *StatusError
	if errors.As(err, &se) {
		return se.StatusCode
	}
	return 0
}

func newStatusError(method, rawURL string, resp *http.Response, body []byte, now time.Time) *StatusError {
	e := &StatusError{
		Method:     method,
		URL:        rawURL,
		StatusCode: resp.StatusCode,
		RetryAfter: parseRetryAfter(resp.Header.Get("Retry-After"), now),
		Body:       body,
	}
	var eb struct {
		Error *struct {
			Code    string `json:"code"`
			Message string `json:"message"`
		} `json:"error"`
		Message string `json:"message"`
	}
	if json.Unmarshal(body, &eb) == nil {
		if eb.Error != nil {
			e.Code, e.Message = eb.Error.Code, eb.Error.Message
		}
		if e.Message == "" {
			e.Message = eb.Message
		}
	}
	return e
}

// parseRetryAfter parses delay-seconds or an HTTP date; 0 when absent or
// invalid, clamped to maxRetryAfter.
func parseRetryAfter(v string, now time.Time) time.Duration {
	v = strings.TrimSpace(v)
	if v == "" {
		return 0
	}
	var d time.Duration
	if secs, err := strconv.ParseInt(v, 10, 64); err == nil {
		if secs <= 0 {
			return 0
		}
		if secs > int64(maxRetryAfter/time.Second) {
			return maxRetryAfter
		}
		d = time.Duration(secs) * time.Second
	} else if t, err := http.ParseTime(v); err == nil {
		d = t.Sub(now)
		if d <= 0 {
			return 0
		}
	} else {
		return 0
	}
	return min(d, maxRetryAfter)
}
