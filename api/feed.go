package api

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/jitbot/jitbot/access"
	"github.com/jitbot/jitbot/api/entraauth"
	"github.com/jitbot/jitbot/audit"
	"github.com/jitbot/jitbot/internal/lograte"
)

// AuditFeedPath is where the audit feed is served.
const AuditFeedPath = "/api/audit"

// AuditFeedRole is the app role a caller's token must carry.
const AuditFeedRole = "Audit.Read"

// Limits of one feed response, in events.
const (
	DefaultFeedLimit = 1000
	MaxFeedLimit     = 10000
)

// FeedContentType is the media type of the feed: one JSON object a line.
// With format=json the same objects come as one JSON array
// (FeedArrayContentType), for pollers that read JSON only.
const (
	FeedContentType      = "application/x-ndjson"
	FeedArrayContentType = "application/json"
)

// AuditLog is the part of the audit log the feed reads: both stream, a page
// at a time.
type AuditLog interface {
	EachAudit(ctx context.Context, q access.AuditQuery, fn func(access.AuditEvent) error) error
	EachCheckpoint(ctx context.Context, fn func(access.Checkpoint) error) error
}

// Authenticator checks a caller's Authorization header.
// *entraauth.Validator implements it.
type Authenticator interface {
	Authenticate(ctx context.Context, authHeader string) (entraauth.Claims, error)
}

// AuditFeed serves GET /api/audit?since=<sequence number or RFC 3339
// time>&limit=N: the audit events after that sequence number (or at and
// after that time), oldest first, at most limit (default DefaultFeedLimit,
// at most MaxFeedLimit) of them, as JSON lines with their place in the hash
// chain, each signed checkpoint of a streamed event's sequence number right
// after that event, and the checkpoints of the sequence number given as
// since first (a checkpoint may come again; its seq identifies it). A
// stream that breaks off ends with a line of type "error". With
// format=json the same objects come as one JSON array. Only callers whose
// Entra ID token carries AuditFeedRole are served.
type AuditFeed struct {
	log  AuditLog
	auth Authenticator
	lg   *slog.Logger
	now  func() time.Time

	// Refusals are logged at most once a second.
	rejects lograte.Limiter
}

// NewAuditFeed returns the feed; logger nil uses slog.Default.
func NewAuditFeed(log AuditLog, auth Authenticator, logger *slog.Logger) (*AuditFeed, error) {
	if log == nil || auth == nil {
		return nil, errors.New("api: audit feed needs an audit log and an authenticator")
	}
	if logger == nil {
		logger = slog.Default()
	}
	return &AuditFeed{log: log, auth: auth, lg: logger, now: time.Now}, nil
}

// feedError is the last line of a stream that broke off.
type feedError struct {
	Type    string `json:"type"` // "error"
	Message string `json:"message"`
}

// The feed's lines: an audit event or a signed checkpoint, as the exports
// and the checkpoint file write them, with their type.
func toFeedEvent(ev access.AuditEvent) audit.EventRecord {
	r := audit.Event(ev)
	r.Type = "event"
	return r
}

func toFeedCheckpoint(c access.Checkpoint) audit.CheckpointRecord {
	r := audit.Record(c)
	r.Type = "checkpoint"
	return r
}

// feedQuery is a parsed request.
type feedQuery struct {
	afterSeq int64
	since    time.Time
	limit    int
	array    bool // format=json
}

// parseFeedQuery reads since, limit and format; any other parameter is an
// error.
func parseFeedQuery(r *http.Request) (feedQuery, error) {
	q := feedQuery{limit: DefaultFeedLimit}
	vals := r.URL.Query()
	for k, v := range vals {
		if k != "since" && k != "limit" && k != "format" {
			return q, fmt.Errorf("unknown parameter %q: the feed takes since, limit and format", k)
		}
		if len(v) != 1 {
			return q, fmt.Errorf("parameter %s given %d times", k, len(v))
		}
	}
	if s := vals.Get("since"); s != "" {
		if n, err := strconv.ParseInt(s, 10, 64); err == nil {
			if n < 0 {
				return q, errors.New("since: a sequence number is 0 or more")
			}
			q.afterSeq = n
		} else if t, err := time.Parse(time.RFC3339Nano, s); err == nil {
			q.since = t
		} else {
			return q, fmt.Errorf("since: want a sequence number or an RFC 3339 time (2026-11-01T00:00:00Z), got %q", s)
		}
	}
	switch vals.Get("format") {
	case "", "jsonl":
	case "json":
		q.array = true
	default:
		return q, fmt.Errorf("format: want jsonl (the default) or json, got %q", vals.Get("format"))
	}
	if s := vals.Get("limit"); s != "" {
		n, err := strconv.Atoi(s)
		if err != nil || n < 1 || n > MaxFeedLimit {
			return q, fmt.Errorf("limit: want a number from 1 to %d, got %q", MaxFeedLimit, s)
		}
		q.limit = n
	}
	return q, nil
}

func (f *AuditFeed) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodGet {
		w.Header().Set("Allow", http.MethodGet)
		http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
		return
	}
	claims, err := f.auth.Authenticate(r.Context(), r.Header.Get("Authorization"))
	if err != nil {
		f.logRejected(err, r.RemoteAddr)
		if errors.Is(err, entraauth.ErrForbidden) {
			w.Header().Set("WWW-Authenticate", `Bearer error="insufficient_scope"`)
			http.Error(w, "the token lacks the app role "+AuditFeedRole, http.StatusForbidden)
			return
		}
		w.Header().Set("WWW-Authenticate", `Bearer error="invalid_token"`)
		http.Error(w, "a valid Entra ID access token for this API is required", http.StatusUnauthorized)
		return
	}
	q, err := parseFeedQuery(r)
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	f.lg.Info("audit feed read", "app", claims.AppID, "object_id", claims.ObjectID, "after_seq", q.afterSeq, "since", q.since, "limit", q.limit)
	f.stream(r.Context(), w, q)
}

// stream writes the feed for q. Events are written as EachAudit reads them
// (a page at a time), flushed as they go, so memory stays flat.
func (f *AuditFeed) stream(ctx context.Context, w http.ResponseWriter, q feedQuery) {
	// The checkpoints that may go with this response: of the since
	// sequence number or later (of the since time or later). There is
	// one per checkpoint interval, far fewer than events.
	var cps []access.Checkpoint
	err := f.log.EachCheckpoint(ctx, func(c access.Checkpoint) error {
		if c.Seq >= q.afterSeq && !c.At.Before(q.since) {
			cps = append(cps, c)
		}
		return nil
	})
	if err != nil {
		f.lg.Error("audit feed: read checkpoints", "err", err)
		http.Error(w, "the audit log could not be read; try again", http.StatusInternalServerError)
		return
	}
	enc := &feedWriter{enc: json.NewEncoder(w), w: w, array: q.array}
	w.Header().Set("Content-Type", FeedContentType)
	if q.array {
		w.Header().Set("Content-Type", FeedArrayContentType)
	}
	w.Header().Set("Cache-Control", "no-store")
	w.Header().Set("X-Content-Type-Options", "nosniff")
	w.WriteHeader(http.StatusOK)
	defer enc.close()
	rc := http.NewResponseController(w)
	next := 0 // the next checkpoint of cps to write
	// Checkpoints of the since sequence number itself come first.
	if q.afterSeq > 0 {
		for next < len(cps) && cps[next].Seq <= q.afterSeq {
			if err := enc.Encode(toFeedCheckpoint(cps[next])); err != nil {
				return
			}
			next++
		}
	}
	n := 0
	err = f.log.EachAudit(ctx, access.AuditQuery{AfterSeq: q.afterSeq, Since: q.since, Limit: q.limit}, func(ev access.AuditEvent) error {
		if err := enc.Encode(toFeedEvent(ev)); err != nil {
			return fmt.Errorf("write event %d: %w", ev.Seq, err)
		}
		for next < len(cps) && cps[next].Seq < ev.Seq {
			next++ // of an event outside this response
		}
		for next < len(cps) && cps[next].Seq == ev.Seq {
			if err := enc.Encode(toFeedCheckpoint(cps[next])); err != nil {
				return fmt.Errorf("write checkpoint %d: %w", cps[next].Seq, err)
			}
			next++
		}
		if n++; n%256 == 0 {
			_ = rc.Flush()
		}
		return nil
	})
	if err != nil {
		f.lg.Error("audit feed: stream broke off", "events", n, "err", err)
		_ = enc.Encode(feedError{Type: "error", Message: "the stream broke off; poll again from the last seq received"})
	}
	_ = rc.Flush()
}

// feedWriter writes the feed's objects as JSON lines, or as the elements
// of one JSON array.
type feedWriter struct {
	enc   *json.Encoder
	w     io.Writer
	array bool
	n     int
}

// Encode writes one object.
func (f *feedWriter) Encode(v any) error {
	if f.array {
		sep := ","
		if f.n == 0 {
			sep = "["
		}
		if _, err := io.WriteString(f.w, sep); err != nil {
			return err
		}
	}
	f.n++
	return f.enc.Encode(v)
}

// close ends a JSON array.
func (f *feedWriter) close() {
	if !f.array {
		return
	}
	end := "]\n"
	if f.n == 0 {
		end = "[]\n"
	}
	_, _ = io.WriteString(f.w, end)
}

// logRejected logs a refused request at most once a second, with a count
// of the ones left out, so that a flood of bad tokens cannot flood the log.
func (f *AuditFeed) logRejected(err error, remote string) {
	ok, suppressed := f.rejects.Allow(f.now())
	if !ok {
		return
	}
	f.lg.Warn("audit feed: request refused", "err", err, "remote", strings.TrimSpace(remote), "similar_not_logged", suppressed)
}
