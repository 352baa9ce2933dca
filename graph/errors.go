package graph

import (
	"errors"
	"fmt"
	"net/http"
	"strings"
	"time"

	abs "github.com/microsoft/kiota-abstractions-go"
	absser "github.com/microsoft/kiota-abstractions-go/serialization"
	"github.com/microsoftgraph/msgraph-sdk-go/models/odataerrors"

	"github.com/jitbot/jitbot/access"
)

// Graph error codes this package acts on.
const (
	codeBadRequest       = "Request_BadRequest"
	codeResourceNotFound = "Request_ResourceNotFound"
)

// Error is a failed Graph call: Graph's answer if there was one, otherwise
// the transport error. When Permanent is set, errors.Is(err,
// access.ErrPermanent) holds: retrying the same call cannot succeed.
type Error struct {
	StatusCode      int           // HTTP status of the last answer; 0 when none arrived
	Code            string        // Graph's error code, like "Request_ResourceNotFound"
	Message         string        // Graph's error message
	RequestID       string        // Graph's request-id of the last answer
	ClientRequestID string        // the client-request-id sent
	RetryAfter      time.Duration // Retry-After of the last answer; 0 if none
	Attempts        int           // HTTP attempts made, retries included
	Permanent       bool
	Err             error // the transport or decoding error, if any
}

// Error describes the failure, e.g. `graph: 404 Request_ResourceNotFound:
// Resource 'x' does not exist ... (request-id 1f0c..., 1 attempt)`.
func (e *Error) Error() string {
	var b strings.Builder
	b.WriteString("graph: ")
	if e.StatusCode != 0 {
		fmt.Fprintf(&b, "%d", e.StatusCode)
		if e.Code != "" {
			b.WriteString(" " + e.Code)
		}
		if e.Message != "" {
			b.WriteString(": " + e.Message)
		}
		if e.Err != nil {
			b.WriteString(": " + e.Err.Error())
		}
	} else if e.Err != nil {
		b.WriteString(e.Err.Error())
	} else {
		b.WriteString("request failed")
	}
	var extra []string
	if e.RequestID != "" {
		extra = append(extra, "request-id "+e.RequestID)
	} else if e.ClientRequestID != "" {
		extra = append(extra, "client-request-id "+e.ClientRequestID)
	}
	if e.RetryAfter > 0 {
		extra = append(extra, "retry after "+e.RetryAfter.String())
	}
	switch {
	case e.Attempts == 1:
		extra = append(extra, "1 attempt")
	case e.Attempts > 1:
		extra = append(extra, fmt.Sprintf("%d attempts", e.Attempts))
	}
	if len(extra) > 0 {
		b.WriteString(" (" + strings.Join(extra, ", ") + ")")
	}
	return b.String()
}

// Unwrap returns access.ErrPermanent when the error is permanent, and the
// transport error (context.DeadlineExceeded, ...) if any.
func (e *Error) Unwrap() []error {
	var errs []error
	if e.Permanent {
		errs = append(errs, access.ErrPermanent)
	}
	if e.Err != nil {
		errs = append(errs, e.Err)
	}
	return errs
}

// isPermanentStatus reports whether an answer with this status will not
// change when the same request is sent again. 401 (an expired or rotated
// credential), 408, 409 (concurrent change), 423, 429 and 5xx may.
func isPermanentStatus(status int) bool {
	if status < 400 || status >= 500 {
		return false
	}
	switch status {
	case http.StatusUnauthorized, http.StatusRequestTimeout, http.StatusConflict,
		http.StatusLocked, http.StatusTooManyRequests:
		return false
	}
	return true
}

// newError builds an *Error from what the SDK returned and what the call's
// trace saw.
func newError(err error, t *callTrace) *Error {
	attempts, status, header, clientRequestID, _ := t.snapshot()
	e := &Error{Attempts: attempts, ClientRequestID: clientRequestID, StatusCode: status}

	var oe *odataError
	var api abs.ApiErrorable
	switch {
	case errors.As(err, &oe):
		if s := oe.GetStatusCode(); s != 0 {
			e.StatusCode = s
		}
		if m := oe.GetErrorEscaped(); m != nil {
			e.Code = deref(m.GetCode())
			e.Message = deref(m.GetMessage())
			if in := m.GetInnerError(); in != nil {
				e.RequestID = deref(in.GetRequestId())
			}
		}
	case errors.As(err, &api):
		// An error answer without a (parseable) body.
		if s := api.GetStatusCode(); s != 0 {
			e.StatusCode = s
		}
	default:
		// A transport error (status 0), or an answer the SDK could not
		// decode.
		e.Err = err
	}
	if header != nil {
		if e.RequestID == "" {
			e.RequestID = header.Get("request-id")
		}
		if d, ok := retryAfter(header, time.Now()); ok {
			e.RetryAfter = d
		}
	}
	e.Permanent = isPermanentStatus(e.StatusCode)
	return e
}

// alreadyExists reports whether Graph refused to add a member because the
// member already is one: 400 Request_BadRequest "One or more added object
// references already exist for the following modified properties:
// 'members'."
func (e *Error) alreadyExists() bool {
	return e.StatusCode == http.StatusBadRequest &&
		strings.EqualFold(e.Code, codeBadRequest) &&
		strings.Contains(strings.ToLower(e.Message), "already exist")
}

// notFound reports whether Graph answered 404.
func (e *Error) notFound() bool {
	return e.StatusCode == http.StatusNotFound
}

func deref(s *string) string {
	if s == nil {
		return ""
	}
	return *s
}

// odataError is the SDK's ODataError with a nil-safe Error method: the SDK's
// own dereferences a nil pointer when the error body has no error.message,
// and the SDK calls it while handling the answer.
type odataError struct {
	*odataerrors.ODataError
}

// Error implements error.
func (e *odataError) Error() string {
	if e.ODataError == nil {
		return "graph error"
	}
	m := e.GetErrorEscaped()
	if m == nil {
		return fmt.Sprintf("graph error, status %d", e.GetStatusCode())
	}
	return fmt.Sprintf("graph error, status %d: %s: %s", e.GetStatusCode(), deref(m.GetCode()), deref(m.GetMessage()))
}

func newODataError(absser.ParseNode) (absser.Parsable, error) {
	return &odataError{ODataError: odataerrors.NewODataError()}, nil
}

// errorMapping decodes every 4xx and 5xx answer into an odataError.
func errorMapping() abs.ErrorMappings {
	return abs.ErrorMappings{"XXX": newODataError}
}

// RetryAfterHint is how long Graph asked to wait before trying again (zero
// when it did not say); the lifecycle's backoff honours it.
func (e *Error) RetryAfterHint() time.Duration { return e.RetryAfter }
