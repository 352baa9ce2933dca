package graphtest

import (
	"bytes"

	"compress/gzip"
	"encoding/json"
	"fmt"
	"io"
	"mime"
	"net/http"
	"net/http/httptest"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"
)

// DefaultToken is the bearer token a new Graph expects (and its
// StaticCredential returns). A fake Entra ID authority (internal/entratest)
// can be told to issue it with SetToken.
const DefaultToken = "graphtest-token"

// MaxCheckMemberGroups is the most group ids checkMemberGroups accepts.
const MaxCheckMemberGroups = 20

// DefaultPageSize is the largest page of members a new Graph returns
// (Graph's default page size for this call).
const DefaultPageSize = 100

// maxPageSize is Graph's largest $top for listing members.
const maxPageSize = 999

// maxBody bounds a request body the fake reads.
const maxBody = 1 << 20

// Route names a call the fake serves.
type Route string

// The routes. Paths are relative to /v1.0.
const (
	RouteAddMember         Route = "POST /groups/{id}/members/$ref"
	RouteRemoveMember      Route = "DELETE /groups/{id}/members/{id}/$ref"
	RouteCheckMemberGroups Route = "POST /users/{id}/checkMemberGroups"
	RouteListMembers       Route = "GET /groups/{id}/members"
	// RouteTransitiveMembers lists a group's members, directly or through
	// nested groups (the nested groups included), with the same paging.
	RouteTransitiveMembers Route = "GET /groups/{id}/transitiveMembers"
	RouteGetMember         Route = "GET /groups/{id}/members/{id}"
	RouteGetGroup          Route = "GET /groups/{id}"
	RouteGetUser           Route = "GET /users/{id or userPrincipalName}"
	RouteUnknown           Route = "unknown"
)

// Graph error codes and messages, as Microsoft Graph sends them.
const (
	CodeBadRequest        = "Request_BadRequest"
	CodeResourceNotFound  = "Request_ResourceNotFound"
	CodeInvalidToken      = "InvalidAuthenticationToken"
	MessageAlreadyExists  = "One or more added object references already exist for the following modified properties: 'members'."
	messageNotFoundFormat = "Resource '%s' does not exist or one of its queried reference-property objects are not present."
)

// Call is one request the fake received.
type Call struct {
	Method string
	// Path is the request path as sent (escaped), e.g.
	// "/v1.0/groups/g1/members/$ref".
	Path  string
	Query url.Values
	Route Route
	// GroupID is the group in the path (add, remove, get and list
	// members, get group); ObjectID the member in a remove or a get, the
	// user in checkMemberGroups, and the object referenced by the body of
	// an add.
	GroupID  string
	ObjectID string
	Header   http.Header
	// ContentEncoding is the request's Content-Encoding ("gzip" or "").
	ContentEncoding string
	// RawBody is the body as received, Body the body after decoding
	// Content-Encoding. BadGzip is set when the request claimed gzip but
	// its body was not gzip.
	RawBody []byte
	Body    []byte
	BadGzip bool
	// Status is the status code answered; 0 if the client went away first.
	Status int
	// Fault is set when an injected fault or a throttling rule decided
	// the answer.
	Fault bool
	// BatchID is set on a request that came inside a JSON batch: the
	// batch's request-id and the request's id within it.
	BatchID string
	// At is when the call was received.
	At time.Time
}

// JSON decodes the call's (decoded) body into v.
func (c Call) JSON(v any) error {
	return json.Unmarshal(c.Body, v)
}

// Fault is an injected failure. It applies to the next Times calls on
// Route (every route when empty) that pass the token check.
type Fault struct {
	Route Route
	// Times is how many calls the fault applies to; 0 means 1.
	Times int
	// Status is the status answered, with an OData error body (Code and
	// Message, or defaults for the status). 0 answers normally, after
	// Delay.
	Status  int
	Code    string
	Message string
	// Body, when set, is sent verbatim instead of the OData error body,
	// with ContentType (default "application/json"): an error body without
	// a message, an HTML page from a gateway, ...
	Body        string
	ContentType string
	// RetryAfter is the Retry-After header sent with Status, verbatim
	// (seconds, or an HTTP date); empty sends none.
	RetryAfter string
	// Delay holds the answer back; it ends early when the client gives up.
	Delay time.Duration
	// Commit carries out the request before answering with Status: the
	// change is made but the client sees an error, as when Graph's answer
	// is lost (a 504 from a gateway).
	Commit bool
}

// Graph is a fake Microsoft Graph. Configure the client with URL() as its
// Graph endpoint (calls go to URL()+"/v1.0/...") and a credential that
// yields Token().
type Graph struct {
	srv *httptest.Server
	t   testing.TB

	mu           sync.Mutex
	token        string
	users        map[string]string // id -> display name
	upns         map[string]string // lower-case user principal name -> id
	groups       map[string]*group
	sticky       map[[2]string]bool // {group, member} keys whose removal silently fails
	calls        []Call
	faults       []*Fault
	pageSize     int
	nextLinkBase string
	pim          pimState
	// roles are the app roles of the token set by SetRoles; enforceRoles
	// is set from then on.
	roles        []string
	enforceRoles bool

	// Throttling rules (SetWriteQuota, ThrottleEvery).
	quota         int
	quotaWindow   time.Duration
	writes        []time.Time // the writes carried out within the window, oldest first
	throttleEvery int
	throttleRetry string
	throttleSeen  int
}

type group struct {
	name           string
	roleAssignable bool
	members        []string // direct members (users or groups), in the order added
}

// New starts a fake Graph over plain http on 127.0.0.1; it stops when the
// test ends. The Graph SDK sends tokens over http to loopback hosts only, so
// this is the usual choice.
func New(t testing.TB) *Graph {
	t.Helper()
	g := newGraph(t)
	g.srv = httptest.NewServer(http.HandlerFunc(g.serve))
	t.Cleanup(g.srv.Close)
	return g
}

// NewTLS starts a fake Graph over https on 127.0.0.1 with a test
// certificate; give the client Transport() so that it trusts it.
func NewTLS(t testing.TB) *Graph {
	t.Helper()
	g := newGraph(t)
	g.srv = httptest.NewTLSServer(http.HandlerFunc(g.serve))
	t.Cleanup(g.srv.Close)
	return g
}

func newGraph(t testing.TB) *Graph {
	return &Graph{
		t:        t,
		token:    DefaultToken,
		users:    make(map[string]string),
		upns:     make(map[string]string),
		groups:   make(map[string]*group),
		sticky:   make(map[[2]string]bool),
		pageSize: DefaultPageSize,
		pim:      newPIMState(),
	}
}

// URL returns the Graph endpoint without the version, e.g.
// "http://127.0.0.1:41234".
func (g *Graph) URL() string { return g.srv.URL }

// Transport returns a transport that trusts the server's certificate.
func (g *Graph) Transport() http.RoundTripper { return g.srv.Client().Transport }

// Client returns an *http.Client that trusts the server's certificate.
func (g *Graph) Client() *http.Client { return g.srv.Client() }

// SetToken sets the bearer token requests must carry.
func (g *Graph) SetToken(token string) {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.token = token
}

// Token returns the bearer token requests must carry.
func (g *Graph) Token() string {
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.token
}

// Credential returns a credential that yields the current Token().
func (g *Graph) Credential() *StaticCredential { return NewStaticCredential(g.Token()) }

// SetPageSize sets the largest page of members returned; a smaller $top
// gives smaller pages.
func (g *Graph) SetPageSize(n int) {
	if n < 1 {
		g.t.Fatalf("graphtest: page size %d", n)
	}
	g.mu.Lock()
	defer g.mu.Unlock()
	g.pageSize = n
}

// SetNextLinkBase sets the origin (scheme://host:port) put into
// @odata.nextLink; by default it is URL().
func (g *Graph) SetNextLinkBase(base string) {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.nextLinkBase = strings.TrimRight(base, "/")
}

// AddUser creates users.
func (g *Graph) AddUser(ids ...string) {
	g.mu.Lock()
	defer g.mu.Unlock()
	for _, id := range ids {
		g.users[key(id)] = id
	}
}

// SetDisplayName gives an existing user or group its display name (what
// GET /users/{id} and GET /groups/{id} answer as displayName; a new object's
// display name is its id). An empty name makes the object answer without one
// ("displayName": null), as Graph does for an object that has none.
func (g *Graph) SetDisplayName(id, name string) {
	g.t.Helper()
	g.mu.Lock()
	defer g.mu.Unlock()
	k := key(id)
	if _, ok := g.users[k]; ok {
		g.users[k] = name
		return
	}
	if gr, ok := g.groups[k]; ok {
		gr.name = name
		return
	}
	g.t.Fatalf("graphtest: SetDisplayName(%s): no such user or group", id)
}

// SetUPN gives an existing user a user principal name (GET /users/{upn}
// finds them by it, without regard to case).
func (g *Graph) SetUPN(id, upn string) {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.upns[strings.ToLower(upn)] = id
}

// AddGroup creates groups without members.
func (g *Graph) AddGroup(ids ...string) {
	g.mu.Lock()
	defer g.mu.Unlock()
	for _, id := range ids {
		if _, ok := g.groups[key(id)]; !ok {
			g.groups[key(id)] = &group{name: id}
		}
	}
}

// AddMember makes a user or group a direct member of a group, as seeding;
// both must exist. Adding an existing member does nothing.
func (g *Graph) AddMember(groupID, memberID string) {
	g.t.Helper()
	g.mu.Lock()
	defer g.mu.Unlock()
	gr, ok := g.groups[key(groupID)]
	if !ok {
		g.t.Fatalf("graphtest: AddMember: no group %q", groupID)
		return
	}
	if !g.existsLocked(memberID) {
		g.t.Fatalf("graphtest: AddMember: no user or group %q", memberID)
		return
	}
	if !slices.Contains(gr.members, key(memberID)) {
		gr.members = append(gr.members, key(memberID))
	}
}

// RemoveMember removes a direct member of a group, as an administrator
// would outside jitbot. Removing a non-member does nothing.
func (g *Graph) RemoveMember(groupID, memberID string) {
	g.mu.Lock()
	defer g.mu.Unlock()
	if gr, ok := g.groups[key(groupID)]; ok {
		gr.members = slices.DeleteFunc(gr.members, func(m string) bool { return m == key(memberID) })
	}
}

// SetNested makes group child a direct member of group parent.
func (g *Graph) SetNested(parent, child string) {
	g.t.Helper()
	g.mu.Lock()
	_, ok := g.groups[key(child)]
	g.mu.Unlock()
	if !ok {
		g.t.Fatalf("graphtest: SetNested: no group %q", child)
		return
	}
	g.AddMember(parent, child)
}

// StickyMember makes removals of memberID from groupID silently fail: while
// memberID is a member, DELETE /groups/{groupID}/members/{memberID}/$ref
// answers 204 No Content but the membership stays, as when a change is
// lost or undone behind Graph's back (a synchronisation from on-premises,
// another administrator). A non-member still gets 404. Neither needs to
// exist yet.
func (g *Graph) StickyMember(groupID, memberID string) {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.sticky[[2]string{key(groupID), key(memberID)}] = true
}

// UnstickMember undoes StickyMember: removals work again.
func (g *Graph) UnstickMember(groupID, memberID string) {
	g.mu.Lock()
	defer g.mu.Unlock()
	delete(g.sticky, [2]string{key(groupID), key(memberID)})
}

// DeleteUser deletes a user, and with it the user's memberships, as Entra
// ID does. Later calls naming the user get 404.
func (g *Graph) DeleteUser(id string) {
	g.mu.Lock()
	defer g.mu.Unlock()
	delete(g.users, key(id))
	for _, gr := range g.groups {
		gr.members = slices.DeleteFunc(gr.members, func(m string) bool { return m == key(id) })
	}
}

// DeleteGroup deletes a group, as Entra ID does: later calls naming it
// get 404, and it is no longer a member of other groups.
func (g *Graph) DeleteGroup(id string) {
	g.mu.Lock()
	defer g.mu.Unlock()
	delete(g.groups, key(id))
	for _, gr := range g.groups {
		gr.members = slices.DeleteFunc(gr.members, func(m string) bool { return m == key(id) })
	}
}

// IsMember reports whether memberID is a direct member of groupID.
func (g *Graph) IsMember(groupID, memberID string) bool {
	g.mu.Lock()
	defer g.mu.Unlock()
	_, ok := g.groups[key(groupID)]
	return ok && slices.Contains(g.membersLocked(key(groupID)), key(memberID))
}

// Members returns the direct members of a group, in the order added, then
// the users with an active PIM member assignment.
func (g *Graph) Members(groupID string) []string {
	g.mu.Lock()
	defer g.mu.Unlock()
	if _, ok := g.groups[key(groupID)]; !ok {
		return nil
	}
	return g.membersLocked(key(groupID))
}

// InjectFault adds a fault. Faults apply in the order added.
func (g *Graph) InjectFault(f Fault) {
	if f.Times <= 0 {
		f.Times = 1
	}
	g.mu.Lock()
	defer g.mu.Unlock()
	g.faults = append(g.faults, &f)
}

// ClearFaults removes the faults not used up yet.
func (g *Graph) ClearFaults() {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.faults = nil
}

// Calls returns every call received so far, oldest first.
func (g *Graph) Calls() []Call {
	g.mu.Lock()
	defer g.mu.Unlock()
	return slices.Clone(g.calls)
}

// CallsTo returns the calls received on a route.
func (g *Graph) CallsTo(route Route) []Call {
	var out []Call
	for _, c := range g.Calls() {
		if c.Route == route {
			out = append(out, c)
		}
	}
	return out
}

// Count returns how many calls a route received.
func (g *Graph) Count(route Route) int { return len(g.CallsTo(route)) }

// CountFor returns how many calls a route received for a group and
// object (see Call); an empty id matches any.
func (g *Graph) CountFor(route Route, groupID, objectID string) int {
	n := 0
	for _, c := range g.CallsTo(route) {
		if (groupID == "" || strings.EqualFold(c.GroupID, groupID)) &&
			(objectID == "" || strings.EqualFold(c.ObjectID, objectID)) {
			n++
		}
	}
	return n
}

// ResetCalls forgets the calls received so far.
func (g *Graph) ResetCalls() {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.calls = nil
}

// key normalises a directory object id: Graph's ids are case-insensitive.
func key(id string) string { return strings.ToLower(id) }

func (g *Graph) existsLocked(id string) bool {
	if _, ok := g.users[key(id)]; ok {
		return true
	}
	_, ok := g.groups[key(id)]
	return ok
}

// serve handles one request: record, authenticate, inject faults, route.
func (g *Graph) serve(w http.ResponseWriter, r *http.Request) {
	requestID := uuid.NewString()
	w.Header().Set("request-id", requestID)
	if crid := r.Header.Get("client-request-id"); crid != "" {
		w.Header().Set("client-request-id", crid)
	}
	w.Header().Set("x-ms-ags-diagnostic", `{"ServerInfo":{"DataCenter":"Test","Slice":"E","Ring":"0","ScaleUnit":"000","RoleInstance":"graphtest"}}`)

	c := Call{
		Method:          r.Method,
		Path:            r.URL.EscapedPath(),
		Query:           r.URL.Query(),
		Header:          r.Header.Clone(),
		ContentEncoding: r.Header.Get("Content-Encoding"),
		At:              time.Now(),
	}
	raw, err := io.ReadAll(io.LimitReader(r.Body, maxBody))
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	c.RawBody, c.Body = raw, raw
	if strings.EqualFold(c.ContentEncoding, "gzip") {
		if c.Body, err = gunzip(raw); err != nil {
			c.BadGzip, c.Body = true, nil
		}
	}
	rt := parseRoute(r.Method, r.URL.EscapedPath())
	c.Route, c.GroupID, c.ObjectID = rt.route, rt.groupID, rt.objectID
	if rt.route == RouteAddMember {
		if id, ok := referencedID(c.Body); ok {
			c.ObjectID = id
		}
	}

	g.mu.Lock()
	idx := len(g.calls)
	g.calls = append(g.calls, c)
	token := g.token
	g.mu.Unlock()

	rec := &recorder{ResponseWriter: w}
	defer func() {
		g.mu.Lock()
		g.calls[idx].Status = rec.status
		g.mu.Unlock()
	}()
	reqCtx := &request{r: r, body: c.Body, requestID: requestID}

	// Authentication comes first, as in Graph.
	// The scheme is case-insensitive (RFC 9110), the token is not.
	scheme, presented, _ := strings.Cut(r.Header.Get("Authorization"), " ")
	switch {
	case presented == "":
		unauthorized(rec, reqCtx, "Access token is empty.")
		return
	case !strings.EqualFold(scheme, "Bearer") || presented != token:
		unauthorized(rec, reqCtx, "IDX14100: JWT is not well formed, there are no dots (.).")
		return
	}

	if g.answerFault(rec, reqCtx, rt, c, idx, g.takeFault(rt.route)) {
		return
	}
	if rt.route != RouteBatch && g.throttle(rec, reqCtx, rt.route) {
		g.mu.Lock()
		g.calls[idx].Fault = true
		g.mu.Unlock()
		return
	}
	if rt.route == RouteBatch {
		c.BatchID = requestID + "/"
	}
	g.handle(rec, reqCtx, rt, c)
}

// handle answers a routed request that passed authentication and faults.
func (g *Graph) handle(w http.ResponseWriter, req *request, rt route, c Call) {
	if c.BadGzip {
		writeError(w, req, http.StatusBadRequest, "BadRequest", "The request body is not valid gzip although Content-Encoding is gzip.")
		return
	}
	switch rt.route {
	case RouteAddMember:
		if !g.writeDenied(w, req, rt.groupID) {
			g.addMember(w, req, rt.groupID)
		}
	case RouteRemoveMember:
		if !g.writeDenied(w, req, rt.groupID) {
			g.removeMember(w, req, rt.groupID, rt.objectID)
		}
	case RouteCheckMemberGroups:
		g.checkMemberGroups(w, req, rt.objectID)
	case RouteListMembers:
		g.listMembers(w, req, rt.groupID, false)
	case RouteTransitiveMembers:
		g.listMembers(w, req, rt.groupID, true)
	case RouteGetMember:
		g.getMember(w, req, rt.groupID, rt.objectID)
	case RouteGetGroup:
		g.getGroup(w, req, rt.groupID)
	case RouteGetUser:
		g.getUser(w, req, rt.objectID)
	case RoutePIMRequest:
		if !g.roleDenied(w, req, RolePrivilegedAssignmentScheduleReadWriteGroup) {
			g.pimRequest(w, req)
		}
	case RoutePIMInstances:
		if !g.roleDenied(w, req, RolePrivilegedAssignmentScheduleReadGroup, RolePrivilegedAssignmentScheduleReadWriteGroup) {
			g.pimInstances(w, req)
		}
	case RoutePIMPolicy:
		if !g.roleDenied(w, req, RoleRoleManagementPolicyReadGroup, RoleRoleManagementPolicyReadWriteGroup) {
			g.pimPolicy(w, req)
		}
	case RouteBatch:
		g.batch(w, req, c)
	default:
		writeError(w, req, rt.status, rt.code, rt.message)
	}
}

func (g *Graph) takeFault(r Route) *Fault {
	g.mu.Lock()
	defer g.mu.Unlock()
	for i, f := range g.faults {
		if f.Route != "" && f.Route != r {
			continue
		}
		f.Times--
		if f.Times <= 0 {
			g.faults = slices.Delete(g.faults, i, i+1)
		}
		return f
	}
	return nil
}

// POST /groups/{g}/members/$ref {"@odata.id": ".../directoryObjects/{id}"}
func (g *Graph) addMember(w http.ResponseWriter, req *request, groupID string) {
	if !req.isJSON() {
		writeError(w, req, http.StatusUnsupportedMediaType, "BadRequest", "A supported MIME type could not be found that matches the content type of the response.")
		return
	}
	memberID, ok := referencedID(req.body)
	if !ok {
		writeError(w, req, http.StatusBadRequest, CodeBadRequest, "Invalid object identifier: the request body must be {\"@odata.id\": \"https://graph.microsoft.com/v1.0/directoryObjects/{id}\"}.")
		return
	}
	g.mu.Lock()
	defer g.mu.Unlock()
	gr, ok := g.groups[key(groupID)]
	if !ok {
		writeError(w, req, http.StatusNotFound, CodeResourceNotFound, fmt.Sprintf(messageNotFoundFormat, groupID))
		return
	}
	if !g.existsLocked(memberID) {
		writeError(w, req, http.StatusNotFound, CodeResourceNotFound, fmt.Sprintf(messageNotFoundFormat, memberID))
		return
	}
	if slices.Contains(gr.members, key(memberID)) {
		writeError(w, req, http.StatusBadRequest, CodeBadRequest, MessageAlreadyExists)
		return
	}
	gr.members = append(gr.members, key(memberID))
	w.WriteHeader(http.StatusNoContent)
}

// DELETE /groups/{g}/members/{id}/$ref
func (g *Graph) removeMember(w http.ResponseWriter, req *request, groupID, memberID string) {
	g.mu.Lock()
	defer g.mu.Unlock()
	gr, ok := g.groups[key(groupID)]
	if !ok {
		writeError(w, req, http.StatusNotFound, CodeResourceNotFound, fmt.Sprintf(messageNotFoundFormat, groupID))
		return
	}
	i := slices.Index(gr.members, key(memberID))
	if i < 0 {
		writeError(w, req, http.StatusNotFound, CodeResourceNotFound, fmt.Sprintf(messageNotFoundFormat, memberID))
		return
	}
	if !g.sticky[[2]string{key(groupID), key(memberID)}] {
		gr.members = slices.Delete(gr.members, i, i+1)
	}
	w.WriteHeader(http.StatusNoContent)
}

// POST /users/{u}/checkMemberGroups {"groupIds": [...]}
func (g *Graph) checkMemberGroups(w http.ResponseWriter, req *request, userID string) {
	if !req.isJSON() {
		writeError(w, req, http.StatusUnsupportedMediaType, "BadRequest", "A supported MIME type could not be found that matches the content type of the response.")
		return
	}
	var body struct {
		GroupIDs *[]string `json:"groupIds"`
	}
	if err := json.Unmarshal(req.body, &body); err != nil || body.GroupIDs == nil {
		writeError(w, req, http.StatusBadRequest, CodeBadRequest, "Invalid request: the body must be {\"groupIds\": [...]}.")
		return
	}
	if n := len(*body.GroupIDs); n > MaxCheckMemberGroups {
		writeError(w, req, http.StatusBadRequest, CodeBadRequest,
			fmt.Sprintf("Too many groupIds: %d were given, at most %d are allowed.", n, MaxCheckMemberGroups))
		return
	}
	g.mu.Lock()
	if _, ok := g.users[key(userID)]; !ok {
		g.mu.Unlock()
		writeError(w, req, http.StatusNotFound, CodeResourceNotFound, fmt.Sprintf(messageNotFoundFormat, userID))
		return
	}
	value := []string{}
	for _, id := range *body.GroupIDs {
		if g.transitiveLocked(key(id), key(userID), map[string]bool{}) && !slices.Contains(value, id) {
			value = append(value, id)
		}
	}
	g.mu.Unlock()
	writeJSON(w, http.StatusOK, map[string]any{
		"@odata.context": req.base() + "/v1.0/$metadata#Collection(Edm.String)",
		"value":          value,
	})
}

// transitiveLocked reports whether member is in group, directly or through
// nested groups.
func (g *Graph) transitiveLocked(groupKey, memberKey string, visited map[string]bool) bool {
	if visited[groupKey] {
		return false
	}
	visited[groupKey] = true
	if _, ok := g.groups[groupKey]; !ok {
		return false
	}
	for _, m := range g.membersLocked(groupKey) {
		if m == memberKey {
			return true
		}
		if _, isGroup := g.groups[m]; isGroup && g.transitiveLocked(m, memberKey, visited) {
			return true
		}
	}
	return false
}

// GET /groups/{g}/members[?$top=n][&$skiptoken=t][&$select=...], and with
// transitive GET /groups/{g}/transitiveMembers: every member reached
// through nested groups, each once, nested groups included, in the order
// found.
func (g *Graph) listMembers(w http.ResponseWriter, req *request, groupID string, transitive bool) {
	q := req.r.URL.Query()
	size := DefaultPageSize
	if v := q.Get("$top"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 || n > maxPageSize {
			writeError(w, req, http.StatusBadRequest, CodeBadRequest, fmt.Sprintf("Invalid page size specified: '%s'. Must be between 1 and %d inclusive.", v, maxPageSize))
			return
		}
		size = n
	}
	offset := 0
	if v := q.Get("$skiptoken"); v != "" {
		n, err := strconv.Atoi(strings.TrimPrefix(v, "X"))
		if err != nil || n < 0 {
			writeError(w, req, http.StatusBadRequest, CodeBadRequest, "Invalid skip token.")
			return
		}
		offset = n
	}
	selectID := q.Get("$select") == "id"

	g.mu.Lock()
	defer g.mu.Unlock()
	_, ok := g.groups[key(groupID)]
	if !ok {
		writeError(w, req, http.StatusNotFound, CodeResourceNotFound, fmt.Sprintf(messageNotFoundFormat, groupID))
		return
	}
	members, relation := g.membersLocked(key(groupID)), "members"
	if transitive {
		members, relation = g.flattenLocked(key(groupID)), "transitiveMembers"
	}
	size = min(size, g.pageSize)
	end := min(offset+size, len(members))
	value := []map[string]any{}
	for _, m := range members[min(offset, end):end] {
		obj := map[string]any{"id": m}
		if name, isUser := g.users[m]; isUser {
			obj["@odata.type"] = "#microsoft.graph.user"
			if !selectID {
				obj["displayName"] = name
			}
		} else {
			obj["@odata.type"] = "#microsoft.graph.group"
			if !selectID {
				obj["displayName"] = g.groups[m].name
			}
		}
		value = append(value, obj)
	}
	page := map[string]any{
		"@odata.context": req.base() + "/v1.0/$metadata#directoryObjects",
		"value":          value,
	}
	if end < len(members) {
		next := url.Values{}
		for k, vs := range q {
			if k != "$skiptoken" {
				next[k] = vs
			}
		}
		next.Set("$skiptoken", "X"+strconv.Itoa(end))
		base := g.nextLinkBase
		if base == "" {
			base = req.base()
		}
		page["@odata.nextLink"] = base + "/v1.0/groups/" + url.PathEscape(groupID) + "/" + relation + "?" + next.Encode()
	}
	writeJSON(w, http.StatusOK, page)
}

// flattenLocked returns the members of a group and of its nested groups,
// each once, depth first in the order added.
func (g *Graph) flattenLocked(groupKey string) []string {
	var out []string
	seen := map[string]bool{groupKey: true}
	var walk func(string)
	walk = func(k string) {
		if _, ok := g.groups[k]; !ok {
			return
		}
		for _, m := range g.membersLocked(k) {
			if seen[m] {
				continue
			}
			seen[m] = true
			out = append(out, m)
			if _, isGroup := g.groups[m]; isGroup {
				walk(m)
			}
		}
	}
	walk(groupKey)
	return out
}

// GET /groups/{g}/members/{id}[?$select=...]: the member as a directory
// object, or 404 naming the group when the group is missing, the object is
// missing, or the object is not a direct member (Graph names the group in
// all three cases).
func (g *Graph) getMember(w http.ResponseWriter, req *request, groupID, memberID string) {
	sel, ok := selectQuery(w, req)
	if !ok {
		return
	}
	g.mu.Lock()
	defer g.mu.Unlock()
	_, ok = g.groups[key(groupID)]
	if !ok || !slices.Contains(g.membersLocked(key(groupID)), key(memberID)) {
		writeError(w, req, http.StatusNotFound, CodeResourceNotFound, fmt.Sprintf(messageNotFoundFormat, groupID))
		return
	}
	obj := g.objectLocked(key(memberID), sel)
	obj["@odata.context"] = req.base() + "/v1.0/$metadata#directoryObjects" + contextSelect(sel) + "/$entity"
	writeJSON(w, http.StatusOK, obj)
}

// GET /groups/{g}[?$select=...]
func (g *Graph) getGroup(w http.ResponseWriter, req *request, groupID string) {
	sel, ok := selectQuery(w, req, "isAssignableToRole")
	if !ok {
		return
	}
	g.mu.Lock()
	defer g.mu.Unlock()
	if _, ok := g.groups[key(groupID)]; !ok {
		writeError(w, req, http.StatusNotFound, CodeResourceNotFound, fmt.Sprintf(messageNotFoundFormat, groupID))
		return
	}
	obj := g.objectLocked(key(groupID), sel)
	delete(obj, "@odata.type") // the entity set already says it is a group
	obj["@odata.context"] = req.base() + "/v1.0/$metadata#groups" + contextSelect(sel) + "/$entity"
	writeJSON(w, http.StatusOK, obj)
}

// GET /users/{id or upn}[?$select=...]
func (g *Graph) getUser(w http.ResponseWriter, req *request, idOrUPN string) {
	sel, ok := selectQuery(w, req)
	if !ok {
		return
	}
	g.mu.Lock()
	defer g.mu.Unlock()
	id := key(idOrUPN)
	if u, ok := g.upns[strings.ToLower(idOrUPN)]; ok {
		id = key(u)
	}
	if _, ok := g.users[id]; !ok {
		writeError(w, req, http.StatusNotFound, CodeResourceNotFound, fmt.Sprintf(messageNotFoundFormat, idOrUPN))
		return
	}
	obj := g.objectLocked(id, sel)
	delete(obj, "@odata.type")
	obj["@odata.context"] = req.base() + "/v1.0/$metadata#users" + contextSelect(sel) + "/$entity"
	writeJSON(w, http.StatusOK, obj)
}

// objectLocked returns an existing user or group as Graph shows a
// directory object, limited to the selected properties (all when sel is
// empty).
func (g *Graph) objectLocked(id string, sel []string) map[string]any {
	obj := map[string]any{"id": id}
	var name string
	if n, isUser := g.users[id]; isUser {
		obj["@odata.type"] = "#microsoft.graph.user"
		name = n
	} else {
		obj["@odata.type"] = "#microsoft.graph.group"
		name = g.groups[id].name
		if slices.Contains(sel, "isAssignableToRole") {
			obj["isAssignableToRole"] = g.groups[id].roleAssignable
		}
	}
	if len(sel) == 0 || slices.Contains(sel, "displayName") {
		obj["displayName"] = name
		if name == "" {
			obj["displayName"] = nil
		}
	}
	if len(sel) > 0 && !slices.Contains(sel, "id") {
		delete(obj, "id")
	}
	return obj
}

// selectQuery returns the properties of a request's $select, answering 400
// for one the fake does not know.
// extra are the properties of the entity beyond a directory object's.
func selectQuery(w http.ResponseWriter, req *request, extra ...string) ([]string, bool) {
	v := req.r.URL.Query().Get("$select")
	if v == "" {
		return nil, true
	}
	sel := strings.Split(v, ",")
	for _, p := range sel {
		if p != "id" && p != "displayName" && !slices.Contains(extra, p) {
			writeError(w, req, http.StatusBadRequest, CodeBadRequest, fmt.Sprintf("Could not find a property named '%s' on type 'microsoft.graph.directoryObject'.", p))
			return nil, false
		}
	}
	return sel, true
}

// contextSelect returns the @odata.context fragment for a $select:
// "(id,displayName)", or "" for none.
func contextSelect(sel []string) string {
	if len(sel) == 0 {
		return ""
	}
	return "(" + strings.Join(sel, ",") + ")"
}

// referencedID returns the object id at the end of an add-member body's
// @odata.id (".../directoryObjects/{id}", ".../users/{id}" or
// ".../groups/{id}").
func referencedID(body []byte) (string, bool) {
	var ref struct {
		ID string `json:"@odata.id"`
	}
	if err := json.Unmarshal(body, &ref); err != nil || ref.ID == "" {
		return "", false
	}
	u, err := url.Parse(ref.ID)
	if err != nil || u.Scheme == "" || u.Host == "" {
		return "", false
	}
	segs := strings.Split(strings.Trim(u.EscapedPath(), "/"), "/")
	if len(segs) < 2 {
		return "", false
	}
	switch segs[len(segs)-2] {
	case "directoryObjects", "users", "groups":
	default:
		return "", false
	}
	id, err := url.PathUnescape(segs[len(segs)-1])
	if err != nil || id == "" {
		return "", false
	}
	return id, true
}

// route is a parsed request path.
type route struct {
	route         Route
	groupID       string
	objectID      string
	status        int // for RouteUnknown
	code, message string
}

// parseRoute matches method and escaped path against the served routes.
func parseRoute(method, escapedPath string) route {
	rest, ok := strings.CutPrefix(escapedPath, "/v1.0/")
	if !ok {
		version, _, _ := strings.Cut(strings.TrimPrefix(escapedPath, "/"), "/")
		return route{route: RouteUnknown, status: http.StatusBadRequest, code: "BadRequest", message: "Invalid version: " + version}
	}
	raw := strings.Split(strings.TrimSuffix(rest, "/"), "/")
	segs := make([]string, len(raw))
	for i, s := range raw {
		u, err := url.PathUnescape(s)
		if err != nil {
			return route{route: RouteUnknown, status: http.StatusBadRequest, code: "BadRequest", message: "Invalid request path."}
		}
		segs[i] = u
	}
	if rt, ok := parsePIMRoute(method, segs); ok {
		return rt
	}
	var rt route
	switch {
	case len(segs) == 1 && segs[0] == "$batch":
		rt = route{route: RouteBatch}
		if method != http.MethodPost {
			return notAllowed()
		}
	case len(segs) == 2 && segs[0] == "groups":
		rt = route{route: RouteGetGroup, groupID: segs[1]}
		if method != http.MethodGet {
			return notAllowed()
		}
	case len(segs) == 4 && segs[0] == "groups" && segs[2] == "members" && !strings.HasPrefix(segs[3], "$"):
		rt = route{route: RouteGetMember, groupID: segs[1], objectID: segs[3]}
		if method != http.MethodGet {
			return notAllowed()
		}
	case len(segs) == 4 && segs[0] == "groups" && segs[2] == "members" && segs[3] == "$ref":
		rt = route{route: RouteAddMember, groupID: segs[1]}
		if method != http.MethodPost {
			return notAllowed()
		}
	case len(segs) == 5 && segs[0] == "groups" && segs[2] == "members" && segs[4] == "$ref":
		rt = route{route: RouteRemoveMember, groupID: segs[1], objectID: segs[3]}
		if method != http.MethodDelete {
			return notAllowed()
		}
	case len(segs) == 3 && segs[0] == "users" && segs[2] == "checkMemberGroups":
		rt = route{route: RouteCheckMemberGroups, objectID: segs[1]}
		if method != http.MethodPost {
			return notAllowed()
		}
	case len(segs) == 2 && segs[0] == "users":
		rt = route{route: RouteGetUser, objectID: segs[1]}
		if method != http.MethodGet {
			return notAllowed()
		}
	case len(segs) == 3 && segs[0] == "groups" && segs[2] == "transitiveMembers":
		rt = route{route: RouteTransitiveMembers, groupID: segs[1]}
		if method != http.MethodGet {
			return notAllowed()
		}
	case len(segs) == 3 && segs[0] == "groups" && segs[2] == "members":
		rt = route{route: RouteListMembers, groupID: segs[1]}
		if method != http.MethodGet {
			return notAllowed()
		}
	default:
		return route{route: RouteUnknown, status: http.StatusBadRequest, code: "BadRequest",
			message: fmt.Sprintf("Resource not found for the segment '%s'.", segs[len(segs)-1])}
	}
	return rt
}

func notAllowed() route {
	return route{route: RouteUnknown, status: http.StatusMethodNotAllowed, code: CodeBadRequest,
		message: "Specified HTTP method is not allowed for the request uri."}
}

// request is what answers need from the incoming request.
type request struct {
	r         *http.Request
	body      []byte
	requestID string
}

func (q *request) isJSON() bool {
	mt, _, err := mime.ParseMediaType(q.r.Header.Get("Content-Type"))
	return err == nil && mt == "application/json"
}

// base returns the origin the request was addressed to.
func (q *request) base() string {
	scheme := "http"
	if q.r.TLS != nil {
		scheme = "https"
	}
	return scheme + "://" + q.r.Host
}

// defaultError returns Graph's usual code and message for a status.
func defaultError(status int) (code, message string) {
	switch status {
	case http.StatusTooManyRequests:
		return "TooManyRequests", "Too many requests, retry after the interval given in Retry-After."
	case http.StatusServiceUnavailable:
		return "serviceNotAvailable", "The service is temporarily unavailable. Please try again later."
	case http.StatusGatewayTimeout:
		return "UnknownError", "Gateway timeout."
	case http.StatusInternalServerError:
		return "UnknownError", "An internal server error occurred."
	case http.StatusForbidden:
		return "Authorization_RequestDenied", "Insufficient privileges to complete the operation."
	case http.StatusNotFound:
		return CodeResourceNotFound, "Resource does not exist or one of its queried reference-property objects are not present."
	case http.StatusBadRequest:
		return CodeBadRequest, "Bad request."
	}
	return "UnknownError", http.StatusText(status)
}

func unauthorized(w http.ResponseWriter, req *request, message string) {
	w.Header().Set("WWW-Authenticate", `Bearer realm="", authorization_uri="https://login.microsoftonline.com/common/oauth2/authorize", client_id="00000003-0000-0000-c000-000000000000"`)
	writeError(w, req, http.StatusUnauthorized, CodeInvalidToken, message)
}

// writeError answers with Graph's OData error body.
func writeError(w http.ResponseWriter, req *request, status int, code, message string) {
	inner := map[string]any{
		"date":       time.Now().UTC().Format("2006-01-02T15:04:05"),
		"request-id": req.requestID,
	}
	if crid := req.r.Header.Get("client-request-id"); crid != "" {
		inner["client-request-id"] = crid
	}
	writeJSON(w, status, map[string]any{
		"error": map[string]any{"code": code, "message": message, "innerError": inner},
	})
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	b, err := json.Marshal(v)
	if err != nil {
		http.Error(w, err.Error(), http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "application/json;odata.metadata=minimal;odata.streaming=true;IEEE754Compatible=false;charset=utf-8")
	w.Header().Set("Content-Length", strconv.Itoa(len(b)))
	w.WriteHeader(status)
	_, _ = w.Write(b)
}

func gunzip(b []byte) ([]byte, error) {
	zr, err := gzip.NewReader(bytes.NewReader(b))
	if err != nil {
		return nil, err
	}
	defer zr.Close()
	return io.ReadAll(io.LimitReader(zr, maxBody))
}

// recorder remembers the status written.
type recorder struct {
	http.ResponseWriter
	status int
}

func (r *recorder) WriteHeader(status int) {
	if r.status == 0 {
		r.status = status
	}
	r.ResponseWriter.WriteHeader(status)
}

func (r *recorder) Write(b []byte) (int, error) {
	if r.status == 0 {
		r.status = http.StatusOK
	}
	return r.ResponseWriter.Write(b)
}

// discard is a ResponseWriter that drops the answer of a committed fault.
type discard struct{}

func (discard) Header() http.Header         { return http.Header{} }
func (discard) Write(b []byte) (int, error) { return len(b), nil }
func (discard) WriteHeader(int)             {}
