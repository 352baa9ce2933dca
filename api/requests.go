package api

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"mime"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/jitbot/jitbot/access"
	"github.com/jitbot/jitbot/api/entraauth"
	"github.com/jitbot/jitbot/internal/lograte"
)

// RequestsPath is where pipelines and tools make requests (POST) and read
// them back (GET RequestsPath/{id}).
const RequestsPath = "/api/requests"

// RequestCreateRole is the app role a client's token must carry to use the
// requests API.
const RequestCreateRole = "Request.Create"

// MaxRequestBody bounds the JSON body of a request, in bytes: room for the
// longest justification and ticket, escaped.
const MaxRequestBody = 16 << 10

// How long a client is asked to wait (Retry-After) before it reads a request
// again: while it waits for a decision or its membership, and while its
// grant is active.
const (
	PollPending = 10 * time.Second
	PollActive  = time.Minute
	// RetryUnavailable is the wait after a 503 (signing keys or the
	// approvers' channel unreachable).
	RetryUnavailable = 30 * time.Second
)

// maxRequestID bounds the id in GET RequestsPath/{id}; longer ids, and ids
// with other characters than letters, digits and '-', are not looked up.
const maxRequestID = 64

// RequestService is the part of the domain the requests API uses.
// *access.Service implements it.
type RequestService interface {
	// Submit validates and stores a request and posts its approval card.
	Submit(ctx context.Context, sub access.Submission) (*access.Request, error)
	// ClientRequest returns a request the client made, or refuses with
	// access.ErrNotFound.
	ClientRequest(ctx context.Context, tenantID string, client access.APIClient, id string) (*access.Request, error)
}

var _ RequestService = (*access.Service)(nil)

// Client is a program allowed to make requests through the API, and the
// person it makes them for.
type Client struct {
	// AppID is the client id of its Entra ID workload identity (app
	// registration, managed identity): its tokens' "azp" or "appid".
	AppID string
	// ObjectID, when set, must also be its tokens' "oid" (the service
	// principal's object id in the tenant).
	ObjectID string
	// Name is what approvers and the requester are shown.
	Name string
	// Requester is the person the client's requests are made as: every
	// policy rule (eligibility, one pending request per profile, ...)
	// applies to them.
	Requester access.Person
}

// RequestsConfig configures [NewRequests].
type RequestsConfig struct {
	Service RequestService
	// Auth validates the callers' tokens; it must require RequestCreateRole.
	Auth Authenticator
	// TenantID is the tenant requests are made in.
	TenantID string
	Clients  []Client
	// Logger nil uses slog.Default; Now nil uses time.Now.
	Logger *slog.Logger
	Now    func() time.Time
}

// Requests serves the requests API: POST RequestsPath makes a request on
// behalf of the calling client's requester, through access.Service.Submit
// like a request typed in Teams (same policy, same approval card), and GET
// RequestsPath/{id} returns a request the client made, so that a pipeline
// can wait for its approval. Callers authenticate with an Entra ID app-only
// token carrying RequestCreateRole, and must be one of the configured
// clients. Every answer is JSON; errors are {"error", "message"} with
// "field" for a bad body and "request_id" for a duplicate.
type Requests struct {
	svc      RequestService
	auth     Authenticator
	tenantID string
	clients  map[string]Client // by lower-case app id
	lg       *slog.Logger
	now      func() time.Time

	// Refusals are logged at most once a second, with a count of the rest.
	rejects lograte.Limiter
}

// NewRequests checks the configuration and returns the handler.
func NewRequests(cfg RequestsConfig) (*Requests, error) {
	if cfg.Service == nil || cfg.Auth == nil {
		return nil, errors.New("api: the requests API needs a service and an authenticator")
	}
	if !access.IsObjectID(cfg.TenantID) {
		return nil, fmt.Errorf("api: requests API: tenant id %q is not a GUID", cfg.TenantID)
	}
	h := &Requests{svc: cfg.Service, auth: cfg.Auth, tenantID: cfg.TenantID, clients: map[string]Client{}, lg: cfg.Logger, now: cfg.Now}
	if h.lg == nil {
		h.lg = slog.Default()
	}
	if h.now == nil {
		h.now = time.Now
	}
	for i, c := range cfg.Clients {
		switch {
		case !access.IsObjectID(c.AppID):
			return nil, fmt.Errorf("api: requests API: client %d: app id %q is not a client id (a GUID)", i, c.AppID)
		case c.ObjectID != "" && !access.IsObjectID(c.ObjectID):
			return nil, fmt.Errorf("api: requests API: client %d: object id %q is not a GUID", i, c.ObjectID)
		case strings.TrimSpace(c.Name) == "":
			return nil, fmt.Errorf("api: requests API: client %d has no name", i)
		case !access.IsObjectID(c.Requester.ObjectID):
			return nil, fmt.Errorf("api: requests API: client %d: requester %q is not an Entra object id (a GUID)", i, c.Requester.ObjectID)
		}
		k := strings.ToLower(c.AppID)
		if _, dup := h.clients[k]; dup {
			return nil, fmt.Errorf("api: requests API: client %s is configured twice", c.AppID)
		}
		if c.Requester.Name == "" {
			c.Requester.Name = c.Requester.ObjectID
		}
		h.clients[k] = c
	}
	return h, nil
}

// SubmitBody is the JSON body of POST RequestsPath.
type SubmitBody struct {
	Profile       *string `json:"profile"`
	Duration      *string `json:"duration"` // Go syntax: 45m, 2h, 1h30m
	Ticket        *string `json:"ticket"`
	Justification *string `json:"justification"`
	// Severity is one of the profile's severities (required where the
	// profile requires one).
	Severity *string `json:"severity"`
}

// RequestView is a request as the API shows it. Times are RFC 3339 in UTC.
type RequestView struct {
	ID    string              `json:"id"`
	State access.RequestState `json:"state"`
	// Final is set once nothing more will happen to the request (denied,
	// failed, expired, cancelled, timed out): stop polling.
	Final         bool       `json:"final"`
	Profile       string     `json:"profile"`
	Requester     PersonView `json:"requester"`
	Client        string     `json:"client"`
	Duration      string     `json:"duration"`
	Ticket        string     `json:"ticket,omitempty"`
	Justification string     `json:"justification"`
	Severity      string     `json:"severity,omitempty"`
	CreatedAt     time.Time  `json:"created_at"`
	DecideBy      *time.Time `json:"decide_by,omitempty"`
	// StartsAt is when a scheduled request's access starts (absent: on
	// approval).
	StartsAt  *time.Time     `json:"starts_at,omitempty"`
	Decisions []DecisionView `json:"decisions"`
	Grant     *GrantView     `json:"grant,omitempty"`
}

// PersonView names a person.
type PersonView struct {
	ObjectID string `json:"object_id"`
	Name     string `json:"name"`
}

// DecisionView is one decision on a request.
type DecisionView struct {
	Verdict  access.Verdict `json:"verdict"`
	Approver string         `json:"approver"`
	Reason   string         `json:"reason,omitempty"`
	At       time.Time      `json:"at"`
}

// GrantView is the membership granted for an approved request.
type GrantView struct {
	State      access.GrantState `json:"state"`
	ApprovedAt time.Time         `json:"approved_at"`
	GrantedAt  *time.Time        `json:"granted_at,omitempty"`
	ExpiresAt  time.Time         `json:"expires_at"`
	EndedAt    *time.Time        `json:"ended_at,omitempty"`
	// EndedEarly is "released" (the requester) or "revoked_early" (an
	// approver or the security team) for a grant ended before its expiry.
	EndedEarly access.EndKind `json:"ended_early,omitempty"`
	// PreExisting: the requester already was a member; the membership is
	// left in place when the grant ends.
	PreExisting bool `json:"pre_existing"`
}

// ErrorBody is the JSON of every error answer.
type ErrorBody struct {
	Error   string `json:"error"`
	Message string `json:"message"`
	// Field names the body field at fault (400).
	Field string `json:"field,omitempty"`
	// RequestID is the client's pending request for the same profile (409).
	RequestID string `json:"request_id,omitempty"`
}

// View renders a request for the API.
func View(req *access.Request) RequestView {
	v := RequestView{
		ID: req.ID, State: req.State, Final: req.State.Final(), Profile: req.Profile,
		Requester: PersonView{ObjectID: req.Requester.ObjectID, Name: req.Requester.Name},
		Client:    req.Client.Name, Duration: access.FormatDuration(req.Duration),
		Ticket: req.Ticket, Justification: req.Justification, Severity: req.Severity, CreatedAt: req.CreatedAt.UTC(),
		DecideBy: optional(req.DecideBy), StartsAt: optional(req.StartsAt), Decisions: []DecisionView{},
	}
	if req.State != access.RequestPending {
		v.DecideBy = nil
	}
	for _, d := range req.Decisions {
		v.Decisions = append(v.Decisions, DecisionView{Verdict: d.Verdict, Approver: d.Approver.Name, Reason: d.Reason, At: d.DecidedAt.UTC()})
	}
	if g := req.Grant; g != nil {
		v.Grant = &GrantView{
			State: g.State, ApprovedAt: g.ApprovedAt.UTC(), GrantedAt: optional(g.GrantedAt), ExpiresAt: g.ExpiresAt.UTC(),
			EndedAt: optional(g.RevokedAt), EndedEarly: g.Early.Kind, PreExisting: g.PreExisting,
		}
	}
	return v
}

func optional(t time.Time) *time.Time {
	if t.IsZero() {
		return nil
	}
	u := t.UTC()
	return &u
}

// pollAfter is how long a client should wait before reading req again (0:
// the request is final).
func pollAfter(req *access.Request) time.Duration {
	switch {
	case req.State.Final():
		return 0
	case req.State == access.RequestActive:
		return PollActive
	}
	return PollPending
}

func (h *Requests) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	hd := w.Header()
	hd.Set("Cache-Control", "no-store")
	hd.Set("X-Content-Type-Options", "nosniff")
	var id string
	switch {
	case r.URL.Path == RequestsPath:
		if r.Method != http.MethodPost {
			hd.Set("Allow", http.MethodPost)
			h.fail(w, http.StatusMethodNotAllowed, ErrorBody{Error: "method_not_allowed", Message: "POST a request here; read one with GET " + RequestsPath + "/{id}"})
			return
		}
	case strings.HasPrefix(r.URL.Path, RequestsPath+"/"):
		id = strings.TrimPrefix(r.URL.Path, RequestsPath+"/")
		if r.Method != http.MethodGet {
			hd.Set("Allow", http.MethodGet)
			h.fail(w, http.StatusMethodNotAllowed, ErrorBody{Error: "method_not_allowed", Message: "a request is read with GET; make one with POST " + RequestsPath})
			return
		}
	default:
		h.fail(w, http.StatusNotFound, ErrorBody{Error: "not_found", Message: "no such endpoint"})
		return
	}
	client, claims, ok := h.authenticate(w, r)
	if !ok {
		return
	}
	if r.Method == http.MethodPost {
		h.submit(w, r, client, claims)
		return
	}
	h.get(w, r, client, id)
}

// authenticate checks the caller's token and finds its client, or answers
// 401, 403 or 503.
func (h *Requests) authenticate(w http.ResponseWriter, r *http.Request) (Client, entraauth.Claims, bool) {
	claims, err := h.auth.Authenticate(r.Context(), r.Header.Get("Authorization"))
	switch {
	case err == nil:
	case errors.Is(err, entraauth.ErrForbidden):
		h.refused(r, "", err)
		w.Header().Set("WWW-Authenticate", `Bearer error="insufficient_scope"`)
		h.fail(w, http.StatusForbidden, ErrorBody{Error: "insufficient_scope", Message: "the token lacks the app role " + RequestCreateRole})
		return Client{}, claims, false
	case errors.Is(err, entraauth.ErrKeysUnavailable):
		h.lg.Error("requests API: the tenant's signing keys are unavailable", "err", err)
		w.Header().Set("Retry-After", seconds(RetryUnavailable))
		h.fail(w, http.StatusServiceUnavailable, ErrorBody{Error: "unavailable", Message: "the token cannot be checked right now; try again"})
		return Client{}, claims, false
	default:
		h.refused(r, "", err)
		if errors.Is(err, entraauth.ErrNoToken) {
			w.Header().Set("WWW-Authenticate", `Bearer`)
		} else {
			w.Header().Set("WWW-Authenticate", `Bearer error="invalid_token"`)
		}
		h.fail(w, http.StatusUnauthorized, ErrorBody{Error: "invalid_token", Message: "a valid Entra ID access token for this API is required"})
		return Client{}, claims, false
	}
	c, known := h.clients[strings.ToLower(claims.AppID)]
	if known && c.ObjectID != "" && !strings.EqualFold(c.ObjectID, claims.ObjectID) {
		h.refused(r, claims.AppID, fmt.Errorf("service principal %s is not the configured %s", claims.ObjectID, c.ObjectID))
		known = false
	} else if !known {
		h.refused(r, claims.AppID, errors.New("not in api.clients"))
	}
	if !known {
		w.Header().Set("WWW-Authenticate", `Bearer error="insufficient_scope"`)
		h.fail(w, http.StatusForbidden, ErrorBody{Error: "unknown_client", Message: "this application is not configured to make requests (api.clients)"})
		return Client{}, claims, false
	}
	return c, claims, true
}

// submit handles POST RequestsPath.
func (h *Requests) submit(w http.ResponseWriter, r *http.Request, c Client, claims entraauth.Claims) {
	if mt, _, err := mime.ParseMediaType(r.Header.Get("Content-Type")); err != nil || mt != "application/json" {
		h.refused(r, c.AppID, errors.New("content type "+r.Header.Get("Content-Type")))
		h.fail(w, http.StatusUnsupportedMediaType, ErrorBody{Error: "unsupported_media_type", Message: "send the request as Content-Type: application/json"})
		return
	}
	sub, bad := decodeSubmission(w, r)
	if bad != nil {
		h.refused(r, c.AppID, errors.New(bad.Message))
		h.fail(w, http.StatusBadRequest, *bad)
		return
	}
	client := access.APIClient{AppID: c.AppID, Name: c.Name}
	sub.TenantID, sub.Requester, sub.Client = h.tenantID, c.Requester, client
	sub.ConversationID, sub.ActivityID = client.AuditConversation(), claims.TokenID
	req, err := h.svc.Submit(r.Context(), sub)
	if err != nil {
		h.submitError(w, r, c, sub, err)
		return
	}
	h.lg.Info("request made through the API", "request", req.ID, "client", c.AppID, "client_name", c.Name,
		"requester", c.Requester.ObjectID, "profile", req.Profile, "duration", req.Duration)
	w.Header().Set("Location", RequestsPath+"/"+req.ID)
	h.write(w, http.StatusCreated, req)
}

// submitError answers a submission the domain did not accept.
func (h *Requests) submitError(w http.ResponseWriter, r *http.Request, c Client, sub access.Submission, err error) {
	var ref *access.Refusal
	if !errors.As(err, &ref) {
		h.lg.Error("requests API: submit", "client", c.AppID, "profile", sub.Profile, "err", err)
		h.fail(w, http.StatusInternalServerError, ErrorBody{Error: "internal", Message: "the request could not be made because of a failure on jitbot's side; try again"})
		return
	}
	h.refused(r, c.AppID, err)
	switch {
	case errors.Is(err, access.ErrDuplicate):
		body := ErrorBody{Error: "duplicate", Message: fmt.Sprintf("%s already has a pending request for %s; wait for it to be decided", c.Requester.Name, sub.Profile)}
		if (access.APIClient{AppID: c.AppID}).Made(ref.Request) {
			body.RequestID = ref.Request.ID
			w.Header().Set("Location", RequestsPath+"/"+ref.Request.ID)
			body.Message = fmt.Sprintf("this client already has a pending request for %s: %s; read it with GET %s/%s", sub.Profile, ref.Request.ID, RequestsPath, ref.Request.ID)
		} else {
			body.Message += " (it was made in Teams or by another client)"
		}
		h.fail(w, http.StatusConflict, body)
	case errors.Is(err, access.ErrApproversUnreachable):
		w.Header().Set("Retry-After", seconds(RetryUnavailable))
		h.fail(w, http.StatusServiceUnavailable, ErrorBody{Error: "approvers_unreachable", Message: ref.Reason})
	default:
		h.fail(w, http.StatusUnprocessableEntity, ErrorBody{Error: "refused", Message: ref.Reason})
	}
}

// get handles GET RequestsPath/{id}.
func (h *Requests) get(w http.ResponseWriter, r *http.Request, c Client, id string) {
	notFound := ErrorBody{Error: "not_found", Message: "this client made no request with this id"}
	if !plausibleID(id) {
		h.refused(r, c.AppID, errors.New("malformed request id"))
		h.fail(w, http.StatusNotFound, notFound)
		return
	}
	req, err := h.svc.ClientRequest(r.Context(), h.tenantID, access.APIClient{AppID: c.AppID, Name: c.Name}, id)
	if err != nil {
		var ref *access.Refusal
		if errors.As(err, &ref) {
			h.refused(r, c.AppID, err)
			h.fail(w, http.StatusNotFound, notFound)
			return
		}
		h.lg.Error("requests API: read request", "client", c.AppID, "request", id, "err", err)
		h.fail(w, http.StatusInternalServerError, ErrorBody{Error: "internal", Message: "the request could not be read because of a failure on jitbot's side; try again"})
		return
	}
	h.write(w, http.StatusOK, req)
}

// plausibleID reports whether id could be a request id: letters, digits and
// '-', at most maxRequestID of them.
func plausibleID(id string) bool {
	if id == "" || len(id) > maxRequestID {
		return false
	}
	for _, c := range id {
		if !('a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c == '-') {
			return false
		}
	}
	return true
}

// decodeSubmission reads the body strictly: a JSON object of SubmitBody's
// fields and nothing else, at most MaxRequestBody bytes, with profile,
// duration and justification given.
func decodeSubmission(w http.ResponseWriter, r *http.Request) (access.Submission, *ErrorBody) {
	bad := func(field, format string, args ...any) (access.Submission, *ErrorBody) {
		return access.Submission{}, &ErrorBody{Error: "bad_request", Field: field, Message: fmt.Sprintf(format, args...)}
	}
	dec := json.NewDecoder(http.MaxBytesReader(w, r.Body, MaxRequestBody))
	dec.DisallowUnknownFields()
	var b SubmitBody
	err := dec.Decode(&b)
	if err == nil {
		// One object, nothing after it.
		if _, terr := dec.Token(); terr != io.EOF {
			err = terr
			if terr == nil {
				return bad("", "the body holds more than one JSON object")
			}
		}
	}
	var tooBig *http.MaxBytesError
	var typeErr *json.UnmarshalTypeError
	switch {
	case err == nil:
	case errors.As(err, &tooBig):
		return bad("", "the body is over %d bytes", MaxRequestBody)
	case errors.As(err, &typeErr):
		if typeErr.Field == "" {
			return bad("", "the body must be a JSON object with profile, duration, ticket and justification")
		}
		return bad(typeErr.Field, "%s must be a string", typeErr.Field)
	case strings.HasPrefix(err.Error(), `json: unknown field "`):
		name := strings.TrimSuffix(strings.TrimPrefix(err.Error(), `json: unknown field "`), `"`)
		return bad(name, "unknown field %q: a request has profile, duration, ticket and justification", name)
	case errors.Is(err, io.EOF):
		return bad("", "the body is empty; send a JSON object with profile, duration, ticket and justification")
	default:
		return bad("", "the body is not valid JSON: %v", err)
	}
	str := func(p *string) string {
		if p == nil {
			return ""
		}
		return *p
	}
	switch {
	case strings.TrimSpace(str(b.Profile)) == "":
		return bad("profile", "profile is required: the name of the profile to request")
	case strings.TrimSpace(str(b.Duration)) == "":
		return bad("duration", "duration is required, e.g. \"2h\" or \"45m\"")
	case strings.TrimSpace(str(b.Justification)) == "":
		return bad("justification", "justification is required: why the access is needed")
	}
	d, err := time.ParseDuration(strings.TrimSpace(*b.Duration))
	if err != nil || d <= 0 {
		return bad("duration", "duration %q is not a duration; write 45m, 2h or 1h30m", *b.Duration)
	}
	return access.Submission{Profile: strings.TrimSpace(*b.Profile), Duration: d, Ticket: str(b.Ticket), Justification: *b.Justification, Severity: str(b.Severity)}, nil
}

// write answers with a request, and when it is not final with how long to
// wait before reading it again.
func (h *Requests) write(w http.ResponseWriter, status int, req *access.Request) {
	if d := pollAfter(req); d > 0 {
		w.Header().Set("Retry-After", seconds(d))
	}
	h.json(w, status, View(req))
}

func (h *Requests) fail(w http.ResponseWriter, status int, body ErrorBody) {
	h.json(w, status, body)
}

func (h *Requests) json(w http.ResponseWriter, status int, v any) {
	b, err := json.Marshal(v)
	if err != nil {
		h.lg.Error("requests API: encode answer", "err", err)
		status, b = http.StatusInternalServerError, []byte(`{"error":"internal","message":"the answer could not be encoded"}`)
	}
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.WriteHeader(status)
	_, _ = w.Write(append(b, '\n'))
}

// refused logs a refused call at most once a second, with a count of the
// ones left out, so that a flood of bad calls cannot flood the log.
func (h *Requests) refused(r *http.Request, appID string, err error) {
	ok, suppressed := h.rejects.Allow(h.now())
	if !ok {
		return
	}
	h.lg.Warn("requests API: call refused", "method", r.Method, "path", r.URL.Path, "client", appID, "err", err,
		"remote", strings.TrimSpace(r.RemoteAddr), "similar_not_logged", suppressed)
}

func seconds(d time.Duration) string { return strconv.Itoa(int(d / time.Second)) }
