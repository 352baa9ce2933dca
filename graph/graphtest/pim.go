package graphtest

import (
	"encoding/json"
	"fmt"
	"net/http"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/google/uuid"
)

// The PIM for Groups routes. Paths are relative to /v1.0.
const (
	// RoutePIMRequest creates an assignment schedule request (adminAssign,
	// adminExtend, adminUpdate, adminRemove).
	RoutePIMRequest Route = "POST /identityGovernance/privilegedAccess/group/assignmentScheduleRequests"
	// RoutePIMInstances lists the active assignment schedule instances.
	RoutePIMInstances Route = "GET /identityGovernance/privilegedAccess/group/assignmentScheduleInstances"
	// RoutePIMPolicy lists role management policy assignments (a group's
	// PIM policy, with $expand=policy($expand=rules)).
	RoutePIMPolicy Route = "GET /policies/roleManagementPolicyAssignments"
)

// PIM error codes and messages, as Graph sends them.
const (
	CodePolicyValidationFailed = "RoleAssignmentRequestPolicyValidationFailed"
	CodeAssignmentExists       = "RoleAssignmentExists"
	CodeAssignmentDoesNotExist = "RoleAssignmentDoesNotExist"
	CodeActiveDurationTooShort = "ActiveDurationTooShort"
	MessagePolicyFailedFormat  = "The following policy rules failed: [\"%s\"]"
)

// PIMMinDuration is the shortest active assignment PIM accepts.
const PIMMinDuration = 5 * time.Minute

// DefaultPIMMaxDuration is the longest active assignment of a new group's
// PIM policy (Entra's default: 180 days, when expiration is required).
const DefaultPIMMaxDuration = 180 * 24 * time.Hour

// PIMPolicy is a group's PIM policy for member assignments, as the fake
// enforces it.
type PIMPolicy struct {
	// MaxDuration is the longest active assignment; 0 allows permanent
	// ones (isExpirationRequired false).
	MaxDuration time.Duration
	// RequireMFA makes an active assignment need multifactor
	// authentication (the MfaRule), which an application cannot give.
	RequireMFA bool
}

// PIMAssignment is an active member assignment the fake holds.
type PIMAssignment struct {
	ID            string // the assignment schedule id
	GroupID       string
	PrincipalID   string
	Start, End    time.Time // End zero: permanent
	Justification string
	TicketNumber  string
	TicketSystem  string
}

type pimState struct {
	now         func() time.Time
	assignments []*PIMAssignment
	onboarded   map[string]bool
	onboardings []string // groups in the order they were onboarded
	policies    map[string]PIMPolicy
}

func newPIMState() pimState {
	return pimState{now: time.Now, onboarded: map[string]bool{}, policies: map[string]PIMPolicy{}}
}

// SetClock sets the fake's own clock: PIM assignments start and end by it
// (default time.Now). A test advances it to see Entra end an assignment
// while jitbot is stopped.
func (g *Graph) SetClock(now func() time.Time) {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.pim.now = now
}

// SetPIMPolicy sets a group's PIM policy for member assignments (the
// default: expiration required, at most DefaultPIMMaxDuration, no MFA).
func (g *Graph) SetPIMPolicy(groupID string, p PIMPolicy) {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.pim.policies[key(groupID)] = p
}

// OnboardPIM onboards a group to PIM, as an administrator would in the
// portal.
func (g *Graph) OnboardPIM(groupID string) {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.onboardLocked(key(groupID))
}

func (g *Graph) onboardLocked(k string) {
	if !g.pim.onboarded[k] {
		g.pim.onboarded[k] = true
		g.pim.onboardings = append(g.pim.onboardings, k)
	}
}

// PIMOnboardings returns the groups onboarded to PIM, in order (the first
// assignment request for a group onboards it; it cannot be undone).
func (g *Graph) PIMOnboardings() []string {
	g.mu.Lock()
	defer g.mu.Unlock()
	return slices.Clone(g.pim.onboardings)
}

// PIMAssignments returns the active member assignments of a group, by the
// fake's clock.
func (g *Graph) PIMAssignments(groupID string) []PIMAssignment {
	g.mu.Lock()
	defer g.mu.Unlock()
	var out []PIMAssignment
	for _, a := range g.activeLocked(key(groupID)) {
		out = append(out, *a)
	}
	return out
}

// AssignPIM seeds an active member assignment from now until end (zero:
// permanent), as one made outside jitbot; it onboards the group.
func (g *Graph) AssignPIM(groupID, userID string, end time.Time) {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.onboardLocked(key(groupID))
	g.pim.assignments = append(g.pim.assignments, &PIMAssignment{
		ID: uuid.NewString(), GroupID: key(groupID), PrincipalID: key(userID), Start: g.pim.now(), End: end,
	})
}

// LapsePIMLicence makes every time-bound assignment permanent, as Entra
// may when the tenant's PIM licence lapses.
func (g *Graph) LapsePIMLicence() {
	g.mu.Lock()
	defer g.mu.Unlock()
	for _, a := range g.pim.assignments {
		a.End = time.Time{}
	}
}

func (g *Graph) policyLocked(k string) PIMPolicy {
	if p, ok := g.pim.policies[k]; ok {
		return p
	}
	return PIMPolicy{MaxDuration: DefaultPIMMaxDuration}
}

// activeLocked returns the group's assignments active now, and drops the
// ones that ended.
func (g *Graph) activeLocked(groupKey string) []*PIMAssignment {
	now := g.pim.now()
	g.pim.assignments = slices.DeleteFunc(g.pim.assignments, func(a *PIMAssignment) bool {
		return !a.End.IsZero() && !now.Before(a.End)
	})
	var out []*PIMAssignment
	for _, a := range g.pim.assignments {
		if a.GroupID == groupKey && !now.Before(a.Start) {
			out = append(out, a)
		}
	}
	return out
}

// membersLocked returns a group's direct members, then the principals with
// an active PIM member assignment who are not direct members too: Entra
// makes them members of the group while the assignment is active.
func (g *Graph) membersLocked(groupKey string) []string {
	gr, ok := g.groups[groupKey]
	if !ok {
		return nil
	}
	out := slices.Clone(gr.members)
	for _, a := range g.activeLocked(groupKey) {
		if !slices.Contains(out, a.PrincipalID) {
			out = append(out, a.PrincipalID)
		}
	}
	return out
}

// pimRequestBody is an assignment schedule request as posted.
type pimRequestBody struct {
	AccessID      string `json:"accessId"`
	PrincipalID   string `json:"principalId"`
	GroupID       string `json:"groupId"`
	Action        string `json:"action"`
	Justification string `json:"justification"`
	TicketInfo    *struct {
		TicketNumber string `json:"ticketNumber"`
		TicketSystem string `json:"ticketSystem"`
	} `json:"ticketInfo"`
	ScheduleInfo *struct {
		StartDateTime string `json:"startDateTime"`
		Expiration    *struct {
			Type        string `json:"type"`
			EndDateTime string `json:"endDateTime"`
			Duration    string `json:"duration"`
		} `json:"expiration"`
	} `json:"scheduleInfo"`
}

// POST /identityGovernance/privilegedAccess/group/assignmentScheduleRequests
func (g *Graph) pimRequest(w http.ResponseWriter, req *request) {
	if !req.isJSON() {
		writeError(w, req, http.StatusUnsupportedMediaType, "BadRequest", "A supported MIME type could not be found that matches the content type of the response.")
		return
	}
	var b pimRequestBody
	if err := json.Unmarshal(req.body, &b); err != nil {
		writeError(w, req, http.StatusBadRequest, "BadRequest", "The request body is not valid JSON: "+err.Error())
		return
	}
	switch {
	case b.AccessID != "member" && b.AccessID != "owner":
		writeError(w, req, http.StatusBadRequest, "BadRequest", "accessId must be member or owner.")
		return
	case b.PrincipalID == "" || b.GroupID == "":
		writeError(w, req, http.StatusBadRequest, "BadRequest", "principalId and groupId are required.")
		return
	}
	g.mu.Lock()
	defer g.mu.Unlock()
	gk, pk := key(b.GroupID), key(b.PrincipalID)
	if _, ok := g.groups[gk]; !ok {
		writeError(w, req, http.StatusNotFound, CodeResourceNotFound, fmt.Sprintf(messageNotFoundFormat, b.GroupID))
		return
	}
	if _, ok := g.users[pk]; !ok {
		writeError(w, req, http.StatusNotFound, CodeResourceNotFound, fmt.Sprintf(messageNotFoundFormat, b.PrincipalID))
		return
	}
	now := g.pim.now().UTC()
	var current *PIMAssignment
	for _, a := range g.activeLocked(gk) {
		if a.PrincipalID == pk {
			current = a
		}
	}
	status := "Provisioned"
	var target *PIMAssignment
	switch b.Action {
	case "adminAssign", "adminExtend", "adminUpdate":
		if b.AccessID != "member" {
			writeError(w, req, http.StatusBadRequest, "BadRequest", "Only member assignments are faked.")
			return
		}
		start, end, ok := g.pimSchedule(w, req, b, now)
		if !ok {
			return
		}
		if b.Action == "adminAssign" && current != nil {
			writeError(w, req, http.StatusBadRequest, CodeAssignmentExists, "The Role assignment already exists.")
			return
		}
		if b.Action != "adminAssign" && current == nil {
			writeError(w, req, http.StatusBadRequest, CodeAssignmentDoesNotExist, "The Role assignment does not exist.")
			return
		}
		if !end.IsZero() && end.Sub(start) < PIMMinDuration {
			writeError(w, req, http.StatusBadRequest, CodeActiveDurationTooShort, "The active duration is too short. The minimum duration is 5 minutes.")
			return
		}
		pol := g.policyLocked(gk)
		switch {
		case pol.RequireMFA:
			writeError(w, req, http.StatusBadRequest, CodePolicyValidationFailed, fmt.Sprintf(MessagePolicyFailedFormat, "MfaRule"))
			return
		case pol.MaxDuration > 0 && (end.IsZero() || end.Sub(start) > pol.MaxDuration):
			writeError(w, req, http.StatusBadRequest, CodePolicyValidationFailed, fmt.Sprintf(MessagePolicyFailedFormat, "ExpirationRule"))
			return
		}
		g.onboardLocked(gk)
		if current == nil {
			current = &PIMAssignment{ID: uuid.NewString(), GroupID: gk, PrincipalID: pk, Start: start}
			g.pim.assignments = append(g.pim.assignments, current)
		}
		current.End = end
		current.Justification = b.Justification
		if b.TicketInfo != nil {
			current.TicketNumber, current.TicketSystem = b.TicketInfo.TicketNumber, b.TicketInfo.TicketSystem
		}
		target = current
	case "adminRemove":
		if current == nil {
			writeError(w, req, http.StatusBadRequest, CodeAssignmentDoesNotExist, "The Role assignment does not exist.")
			return
		}
		g.pim.assignments = slices.DeleteFunc(g.pim.assignments, func(a *PIMAssignment) bool { return a == current })
		status, target = "Revoked", current
	default:
		writeError(w, req, http.StatusBadRequest, "BadRequest", fmt.Sprintf("The action %q is not supported.", b.Action))
		return
	}
	out := map[string]any{
		"@odata.context":    req.base() + "/v1.0/$metadata#identityGovernance/privilegedAccess/group/assignmentScheduleRequests/$entity",
		"id":                uuid.NewString(),
		"status":            status,
		"completedDateTime": now.Format(time.RFC3339),
		"createdDateTime":   now.Format(time.RFC3339),
		"approvalId":        nil,
		"customData":        nil,
		"action":            b.Action,
		"isValidationOnly":  false,
		"justification":     b.Justification,
		"accessId":          b.AccessID,
		"principalId":       b.PrincipalID,
		"groupId":           b.GroupID,
		"targetScheduleId":  target.ID,
		"scheduleInfo":      scheduleJSON(target),
		"ticketInfo":        map[string]any{"ticketNumber": nilIfEmpty(target.TicketNumber), "ticketSystem": nilIfEmpty(target.TicketSystem)},
	}
	writeJSON(w, http.StatusCreated, out)
}

// pimSchedule reads a request's scheduleInfo: start (default now) and end
// (zero for noExpiration).
func (g *Graph) pimSchedule(w http.ResponseWriter, req *request, b pimRequestBody, now time.Time) (start, end time.Time, ok bool) {
	bad := func(msg string) (time.Time, time.Time, bool) {
		writeError(w, req, http.StatusBadRequest, "BadRequest", msg)
		return time.Time{}, time.Time{}, false
	}
	if b.ScheduleInfo == nil || b.ScheduleInfo.Expiration == nil {
		return bad("scheduleInfo with an expiration is required.")
	}
	start = now
	if s := b.ScheduleInfo.StartDateTime; s != "" {
		t, err := time.Parse(time.RFC3339, s)
		if err != nil {
			return bad("startDateTime is not a date and time: " + s)
		}
		start = t
	}
	switch e := b.ScheduleInfo.Expiration; e.Type {
	case "afterDateTime":
		t, err := time.Parse(time.RFC3339, e.EndDateTime)
		if err != nil {
			return bad("endDateTime is not a date and time: " + e.EndDateTime)
		}
		end = t
	case "noExpiration":
	default:
		return bad(fmt.Sprintf("The expiration type %q is not supported by the fake (afterDateTime, noExpiration).", e.Type))
	}
	return start, end, true
}

func scheduleJSON(a *PIMAssignment) map[string]any {
	exp := map[string]any{"type": "noExpiration", "endDateTime": nil, "duration": nil}
	if !a.End.IsZero() {
		exp = map[string]any{"type": "afterDateTime", "endDateTime": a.End.UTC().Format(time.RFC3339), "duration": nil}
	}
	return map[string]any{"startDateTime": a.Start.UTC().Format(time.RFC3339), "recurrence": nil, "expiration": exp}
}

func nilIfEmpty(s string) any {
	if s == "" {
		return nil
	}
	return s
}

// filterTerm matches one "property eq 'value'" of a $filter.
var filterTerm = regexp.MustCompile(`^\s*(\w+)\s+eq\s+'([^']*)'\s*$`)

// parseFilter reads a $filter of "p eq 'v'" terms joined by "and".
func parseFilter(f string) (map[string]string, bool) {
	out := map[string]string{}
	if strings.TrimSpace(f) == "" {
		return out, true
	}
	for _, t := range regexp.MustCompile(`(?i)\s+and\s+`).Split(f, -1) {
		m := filterTerm.FindStringSubmatch(t)
		if m == nil {
			return nil, false
		}
		out[m[1]] = m[2]
	}
	return out, true
}

// GET .../assignmentScheduleInstances?$filter=groupId eq '…'[ and principalId eq '…']
func (g *Graph) pimInstances(w http.ResponseWriter, req *request) {
	f, ok := parseFilter(req.r.URL.Query().Get("$filter"))
	if !ok {
		writeError(w, req, http.StatusBadRequest, "BadRequest", "Invalid filter clause.")
		return
	}
	if f["groupId"] == "" && f["principalId"] == "" {
		writeError(w, req, http.StatusBadRequest, "BadRequest", "A filter on groupId or principalId is required.")
		return
	}
	g.mu.Lock()
	defer g.mu.Unlock()
	value := []map[string]any{}
	for gk := range g.groups {
		if f["groupId"] != "" && gk != key(f["groupId"]) {
			continue
		}
		for _, a := range g.activeLocked(gk) {
			if f["principalId"] != "" && a.PrincipalID != key(f["principalId"]) {
				continue
			}
			var end any
			if !a.End.IsZero() {
				end = a.End.UTC().Format(time.RFC3339)
			}
			value = append(value, map[string]any{
				"id": a.ID + "_instance", "accessId": "member", "principalId": a.PrincipalID, "groupId": a.GroupID,
				"memberType": "direct", "assignmentType": "assigned", "assignmentScheduleId": a.ID,
				"startDateTime": a.Start.UTC().Format(time.RFC3339), "endDateTime": end,
			})
		}
	}
	// Pages of at most the page size, in a stable order, as the members
	// are paged: $skiptoken carries the offset.
	slices.SortFunc(value, func(a, b map[string]any) int { return strings.Compare(a["id"].(string), b["id"].(string)) })
	q := req.r.URL.Query()
	from := 0
	if tok := q.Get("$skiptoken"); tok != "" {
		n, err := strconv.Atoi(strings.TrimPrefix(tok, "X"))
		if err != nil || n < 0 || n > len(value) {
			writeError(w, req, http.StatusBadRequest, "BadRequest", "Invalid skip token.")
			return
		}
		from = n
	}
	end := min(from+g.pageSize, len(value))
	page := map[string]any{
		"@odata.context": req.base() + "/v1.0/$metadata#identityGovernance/privilegedAccess/group/assignmentScheduleInstances",
		"value":          value[from:end],
	}
	if end < len(value) {
		q.Set("$skiptoken", "X"+strconv.Itoa(end))
		base := g.nextLinkBase
		if base == "" {
			base = req.base()
		}
		page["@odata.nextLink"] = base + "/v1.0/identityGovernance/privilegedAccess/group/assignmentScheduleInstances?" + q.Encode()
	}
	writeJSON(w, http.StatusOK, page)
}

// GET /policies/roleManagementPolicyAssignments?$filter=scopeId eq '…' and
// scopeType eq 'Group' and roleDefinitionId eq 'member'&$expand=policy($expand=rules)
// A group not onboarded to PIM has no policy assignment.
func (g *Graph) pimPolicy(w http.ResponseWriter, req *request) {
	q := req.r.URL.Query()
	f, ok := parseFilter(q.Get("$filter"))
	if !ok || f["scopeId"] == "" || f["scopeType"] != "Group" {
		writeError(w, req, http.StatusBadRequest, "BadRequest", "The filter must name scopeId and scopeType 'Group'.")
		return
	}
	g.mu.Lock()
	defer g.mu.Unlock()
	gk := key(f["scopeId"])
	value := []map[string]any{}
	if g.pim.onboarded[gk] {
		for _, role := range []string{"member", "owner"} {
			if r := f["roleDefinitionId"]; r != "" && r != role {
				continue
			}
			policyID := "Group_" + gk + "_" + role
			item := map[string]any{
				"id": policyID + "_" + gk + "_" + role, "policyId": policyID, "scopeId": gk, "scopeType": "Group", "roleDefinitionId": role,
			}
			if strings.Contains(q.Get("$expand"), "policy") {
				pol := map[string]any{"id": policyID, "displayName": "Group", "isOrganizationDefault": false}
				if strings.Contains(q.Get("$expand"), "rules") {
					pol["rules"] = policyRules(g.policyLocked(gk))
				}
				item["policy"] = pol
			}
			value = append(value, item)
		}
	}
	writeJSON(w, http.StatusOK, map[string]any{
		"@odata.context": req.base() + "/v1.0/$metadata#policies/roleManagementPolicyAssignments",
		"value":          value,
	})
}

// policyRules are the rules of admin member assignments Graph returns.
func policyRules(p PIMPolicy) []map[string]any {
	max := p.MaxDuration
	if max == 0 {
		max = DefaultPIMMaxDuration
	}
	enabled := []string{"Justification"}
	if p.RequireMFA {
		enabled = append(enabled, "MultiFactorAuthentication")
	}
	target := map[string]any{"caller": "Admin", "operations": []string{"all"}, "level": "Assignment", "inheritableSettings": []string{}, "enforcedSettings": []string{}}
	return []map[string]any{
		{
			"@odata.type": "#microsoft.graph.unifiedRoleManagementPolicyExpirationRule", "id": "Expiration_Admin_Assignment",
			"isExpirationRequired": p.MaxDuration > 0, "maximumDuration": isoDuration(max), "target": target,
		},
		{
			"@odata.type": "#microsoft.graph.unifiedRoleManagementPolicyEnablementRule", "id": "Enablement_Admin_Assignment",
			"enabledRules": enabled, "target": target,
		},
	}
}

// isoDuration writes d as ISO 8601 (P180D, PT8H, P1DT2H30M).
func isoDuration(d time.Duration) string {
	days := d / (24 * time.Hour)
	d -= days * 24 * time.Hour
	h, m := d/time.Hour, (d%time.Hour)/time.Minute
	s := "P"
	if days > 0 {
		s += fmt.Sprintf("%dD", days)
	}
	if h > 0 || m > 0 {
		s += "T"
		if h > 0 {
			s += fmt.Sprintf("%dH", h)
		}
		if m > 0 {
			s += fmt.Sprintf("%dM", m)
		}
	}
	if s == "P" {
		s = "PT0S"
	}
	return s
}

// parsePIMRoute matches the PIM routes.
func parsePIMRoute(method string, segs []string) (route, bool) {
	path := "/" + strings.Join(segs, "/")
	for _, r := range []Route{RoutePIMRequest, RoutePIMInstances, RoutePIMPolicy} {
		m, p, _ := strings.Cut(string(r), " ")
		if path != p {
			continue
		}
		if method != m {
			return notAllowed(), true
		}
		return route{route: r}, true
	}
	return route{}, false
}
