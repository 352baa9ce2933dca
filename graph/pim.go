package graph

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"regexp"
	"strconv"
	"strings"
	"time"

	abs "github.com/microsoft/kiota-abstractions-go"

	"github.com/jitbot/jitbot/access"
)

// Privileged Identity Management for Groups: jitbot makes time-bound
// active member assignments (POST
// /identityGovernance/privilegedAccess/group/assignmentScheduleRequests),
// lists the active ones (GET .../assignmentScheduleInstances) and reads a
// group's PIM policy for members (GET
// /policies/roleManagementPolicyAssignments with the policy's rules). The
// requests and answers are built and read here with encoding/json, sent
// through the SDK's request adapter (authentication, retries, the
// observer), so that no model of the SDK's identityGovernance package is
// linked.

// PIM paths, relative to the API base.
const (
	pathAssignmentRequests  = "/identityGovernance/privilegedAccess/group/assignmentScheduleRequests"
	pathAssignmentInstances = "/identityGovernance/privilegedAccess/group/assignmentScheduleInstances"
	pathPolicyAssignments   = "/policies/roleManagementPolicyAssignments"
)

// PIM actions and the access id of a member assignment.
const (
	pimAdminAssign = "adminAssign"
	pimAdminExtend = "adminExtend"
	pimAdminRemove = "adminRemove"
	pimMember      = "member"
	// pimTicketSystem names jitbot as the ticket system of an assignment
	// whose request carried a ticket.
	pimTicketSystem = "jitbot"
)

// PIM error codes Graph answers 400 with.
const (
	codeAssignmentExists       = "RoleAssignmentExists"
	codeAssignmentDoesNotExist = "RoleAssignmentDoesNotExist"
	codePolicyValidationFailed = "RoleAssignmentRequestPolicyValidationFailed"
)

// PIM policy rule ids (member assignments by an administrator).
const (
	ruleExpirationAdminAssignment = "Expiration_Admin_Assignment"
	ruleEnablementAdminAssignment = "Enablement_Admin_Assignment"
	enabledRuleMFA                = "MultiFactorAuthentication"
)

// pimRequest is the body of an assignment schedule request.
type pimRequest struct {
	AccessID      string       `json:"accessId"`
	PrincipalID   string       `json:"principalId"`
	GroupID       string       `json:"groupId"`
	Action        string       `json:"action"`
	Justification string       `json:"justification,omitempty"`
	TicketInfo    *pimTicket   `json:"ticketInfo,omitempty"`
	ScheduleInfo  *pimSchedule `json:"scheduleInfo,omitempty"`
	Status        string       `json:"status,omitempty"`
	TargetID      string       `json:"targetScheduleId,omitempty"`
	ID            string       `json:"id,omitempty"`
}

type pimTicket struct {
	TicketNumber string `json:"ticketNumber,omitempty"`
	TicketSystem string `json:"ticketSystem,omitempty"`
}

type pimSchedule struct {
	StartDateTime string        `json:"startDateTime,omitempty"`
	Expiration    *pimExpiresAt `json:"expiration,omitempty"`
}

type pimExpiresAt struct {
	Type        string `json:"type"`
	EndDateTime string `json:"endDateTime,omitempty"`
}

// AssignPIM makes an active, time-bound member assignment of the user to
// the group (action adminAssign, from a.Start to a.End, with the
// justification and ticket). An assignment that exists already (400
// RoleAssignmentExists: an earlier attempt of this call, or a PIM
// membership made meanwhile) counts as made. A policy refusal (400
// RoleAssignmentRequestPolicyValidationFailed) names the failed rule and
// matches access.ErrPIMPolicy and access.ErrPermanent; a 403 names the
// permission.
func (d *Directory) AssignPIM(ctx context.Context, a access.PIMAssignment) error {
	what := fmt.Sprintf("assign %s to group %s through PIM", a.UserID, a.GroupID)
	if err := checkIDs("group", a.GroupID, "user", a.UserID); err != nil {
		return fmt.Errorf("%s: %w", what, err)
	}
	body := pimRequest{
		AccessID: pimMember, PrincipalID: a.UserID, GroupID: a.GroupID, Action: pimAdminAssign,
		Justification: a.Justification,
		ScheduleInfo:  schedule(a.Start, a.End),
	}
	if a.Ticket != "" {
		body.TicketInfo = &pimTicket{TicketNumber: a.Ticket, TicketSystem: pimTicketSystem}
	}
	res, err := d.pimSend(ctx, body)
	if err != nil {
		var e *Error
		if errors.As(err, &e) && e.StatusCode == http.StatusBadRequest && strings.EqualFold(e.Code, codeAssignmentExists) {
			d.logger.InfoContext(ctx, "graph PIM assignment already present", slog.String("group", a.GroupID), slog.String("user", a.UserID))
			return nil
		}
		return fmt.Errorf("%s: %w", what, err)
	}
	d.logger.InfoContext(ctx, "graph PIM assignment made", slog.String("group", a.GroupID), slog.String("user", a.UserID),
		slog.String("status", res.Status), slog.String("schedule", res.TargetID), slog.Time("end", a.End))
	return nil
}

// ExtendPIM moves the end of the user's active member assignment to a.End
// (action adminExtend).
func (d *Directory) ExtendPIM(ctx context.Context, a access.PIMAssignment) error {
	what := fmt.Sprintf("extend the PIM assignment of %s in group %s", a.UserID, a.GroupID)
	if err := checkIDs("group", a.GroupID, "user", a.UserID); err != nil {
		return fmt.Errorf("%s: %w", what, err)
	}
	body := pimRequest{
		AccessID: pimMember, PrincipalID: a.UserID, GroupID: a.GroupID, Action: pimAdminExtend,
		Justification: "jitbot: the grant was extended",
		ScheduleInfo:  schedule(a.Start, a.End),
	}
	if _, err := d.pimSend(ctx, body); err != nil {
		return fmt.Errorf("%s: %w", what, err)
	}
	d.logger.InfoContext(ctx, "graph PIM assignment extended", slog.String("group", a.GroupID), slog.String("user", a.UserID), slog.Time("end", a.End))
	return nil
}

// RemovePIM ends the user's active member assignment of the group (action
// adminRemove). No assignment (400 RoleAssignmentDoesNotExist, or a 404:
// it ended already, by its end time or by someone else) counts as removed.
func (d *Directory) RemovePIM(ctx context.Context, groupID, userID string) error {
	what := fmt.Sprintf("remove the PIM assignment of %s in group %s", userID, groupID)
	if err := checkIDs("group", groupID, "user", userID); err != nil {
		return fmt.Errorf("%s: %w", what, err)
	}
	body := pimRequest{AccessID: pimMember, PrincipalID: userID, GroupID: groupID, Action: pimAdminRemove,
		Justification: "jitbot: the grant ended"}
	if _, err := d.pimSend(ctx, body); err != nil {
		var e *Error
		if errors.As(err, &e) && (e.notFound() || e.StatusCode == http.StatusBadRequest && strings.EqualFold(e.Code, codeAssignmentDoesNotExist)) {
			d.logger.InfoContext(ctx, "graph PIM assignment already ended", slog.String("group", groupID), slog.String("user", userID))
			return nil
		}
		return fmt.Errorf("%s: %w", what, err)
	}
	d.logger.InfoContext(ctx, "graph PIM assignment removed", slog.String("group", groupID), slog.String("user", userID))
	return nil
}

// PIMActive reports whether the user has an active member assignment of
// the group (an assignment schedule instance).
func (d *Directory) PIMActive(ctx context.Context, groupID, userID string) (bool, error) {
	if err := checkIDs("group", groupID, "user", userID); err != nil {
		return false, fmt.Errorf("check the PIM assignment of %s in group %s: %w", userID, groupID, err)
	}
	list, err := d.pimInstances(ctx, groupID, userID)
	if err != nil {
		return false, fmt.Errorf("check the PIM assignment of %s in group %s: %w", userID, groupID, err)
	}
	return len(list) > 0, nil
}

// PIMAssignments lists the group's active member assignments (assignment
// schedule instances with accessId member), with their ends (zero: no end).
func (d *Directory) PIMAssignments(ctx context.Context, groupID string) ([]access.PIMAssignment, error) {
	if err := checkID("group", groupID); err != nil {
		return nil, fmt.Errorf("list the PIM assignments of group %s: %w", groupID, err)
	}
	list, err := d.pimInstances(ctx, groupID, "")
	if err != nil {
		return nil, fmt.Errorf("list the PIM assignments of group %s: %w", groupID, err)
	}
	return list, nil
}

// PIMPolicy reads the group's PIM policy for member assignments: no
// policy assignment means the group is not onboarded to PIM yet; the rule
// Expiration_Admin_Assignment gives the longest active assignment, and
// Enablement_Admin_Assignment whether it needs multifactor authentication.
func (d *Directory) PIMPolicy(ctx context.Context, groupID string) (access.PIMPolicy, error) {
	what := "read the PIM policy of group " + groupID
	if err := checkID("group", groupID); err != nil {
		return access.PIMPolicy{}, fmt.Errorf("%s: %w", what, err)
	}
	filter := fmt.Sprintf("scopeId eq '%s' and scopeType eq 'Group' and roleDefinitionId eq '%s'", groupID, pimMember)
	raw, err := d.pimGet(ctx, pathPolicyAssignments, filter, "policy($expand=rules)")
	if err != nil {
		return access.PIMPolicy{}, fmt.Errorf("%s: %w", what, err)
	}
	var page struct {
		Value []struct {
			Policy struct {
				Rules []struct {
					Type                 string   `json:"@odata.type"`
					ID                   string   `json:"id"`
					IsExpirationRequired bool     `json:"isExpirationRequired"`
					MaximumDuration      string   `json:"maximumDuration"`
					EnabledRules         []string `json:"enabledRules"`
				} `json:"rules"`
			} `json:"policy"`
		} `json:"value"`
	}
	if err := json.Unmarshal(raw, &page); err != nil {
		return access.PIMPolicy{}, fmt.Errorf("%s: decode: %w", what, err)
	}
	var out access.PIMPolicy
	if len(page.Value) == 0 {
		return out, nil
	}
	out.Onboarded = true
	for _, r := range page.Value[0].Policy.Rules {
		switch r.ID {
		case ruleExpirationAdminAssignment:
			if !r.IsExpirationRequired || r.MaximumDuration == "" {
				continue
			}
			max, err := parseISODuration(r.MaximumDuration)
			if err != nil {
				return access.PIMPolicy{}, fmt.Errorf("%s: rule %s: %w", what, r.ID, err)
			}
			out.MaxDuration = max
		case ruleEnablementAdminAssignment:
			for _, e := range r.EnabledRules {
				if strings.EqualFold(e, enabledRuleMFA) {
					out.RequireMFA = true
				}
			}
		}
	}
	return out, nil
}

// schedule is an assignment's scheduleInfo: from start, expiring at end.
func schedule(start, end time.Time) *pimSchedule {
	return &pimSchedule{
		StartDateTime: start.UTC().Format(time.RFC3339),
		Expiration:    &pimExpiresAt{Type: "afterDateTime", EndDateTime: end.UTC().Format(time.RFC3339)},
	}
}

// pimSend posts an assignment schedule request and decodes Graph's 201.
func (d *Directory) pimSend(ctx context.Context, body pimRequest) (*pimRequest, error) {
	raw, err := json.Marshal(body)
	if err != nil {
		return nil, fmt.Errorf("encode request: %w", err)
	}
	info := abs.NewRequestInformationWithMethodAndUrlTemplateAndPathParameters(
		abs.POST, "{+baseurl}"+pathAssignmentRequests, map[string]string{"baseurl": d.base.String()})
	info.Headers.TryAdd("Accept", "application/json")
	info.SetStreamContentAndContentType(raw, "application/json")
	callCtx, t := withTrace(ctx)
	res, err := d.adapter.SendPrimitive(callCtx, info, "[]byte", errorMapping())
	if err != nil {
		return nil, pimError(newError(err, t))
	}
	var out pimRequest
	if b, ok := res.([]byte); ok && len(b) > 0 {
		if err := json.Unmarshal(b, &out); err != nil {
			return nil, fmt.Errorf("decode answer: %w", err)
		}
	}
	if strings.EqualFold(out.Status, "Failed") || strings.EqualFold(out.Status, "Denied") {
		return nil, fmt.Errorf("request %s answered with status %s: %w", out.ID, out.Status, access.ErrPermanent)
	}
	return &out, nil
}

// pimGet sends a GET with $filter (and $expand) to path and returns the
// body; it does not follow next links (a group's active assignments and
// its policy fit in one page).
func (d *Directory) pimGet(ctx context.Context, path, filter, expand string) ([]byte, error) {
	tpl := "{+baseurl}" + path + "{?%24filter,%24expand}"
	info := abs.NewRequestInformationWithMethodAndUrlTemplateAndPathParameters(abs.GET, tpl, map[string]string{"baseurl": d.base.String()})
	q := pimQuery{Filter: &filter}
	if expand != "" {
		q.Expand = &expand
	}
	info.AddQueryParameters(q)
	return d.pimRead(ctx, info)
}

// pimRead sends the GET of info and returns the body.
func (d *Directory) pimRead(ctx context.Context, info *abs.RequestInformation) ([]byte, error) {
	info.Headers.TryAdd("Accept", "application/json")
	callCtx, t := withTrace(ctx)
	res, err := d.adapter.SendPrimitive(callCtx, info, "[]byte", errorMapping())
	if err != nil {
		return nil, pimError(newError(err, t))
	}
	b, _ := res.([]byte)
	return b, nil
}

// pimQuery is the query of pimGet.
type pimQuery struct {
	Filter *string `uriparametername:"%24filter"`
	Expand *string `uriparametername:"%24expand"`
}

// pimInstances lists the group's active member assignment instances, of
// one user when userID is set, following Graph's paging (@odata.nextLink,
// on the configured Graph origin only).
func (d *Directory) pimInstances(ctx context.Context, groupID, userID string) ([]access.PIMAssignment, error) {
	filter := fmt.Sprintf("groupId eq '%s'", groupID)
	if userID != "" {
		filter += fmt.Sprintf(" and principalId eq '%s'", userID)
	}
	raw, err := d.pimGet(ctx, pathAssignmentInstances, filter, "")
	if err != nil {
		return nil, err
	}
	var out []access.PIMAssignment
	seenLinks := map[string]bool{}
	for page := 1; ; page++ {
		list, next, err := pimInstancePage(raw)
		if err != nil {
			return nil, fmt.Errorf("page %d: %w", page, err)
		}
		out = append(out, list...)
		if next == "" {
			return out, nil
		}
		if err := d.checkNextLink(next); err != nil {
			return nil, fmt.Errorf("page %d: %w", page, err)
		}
		if seenLinks[next] {
			return nil, fmt.Errorf("page %d: next link repeats an earlier page", page)
		}
		seenLinks[next] = true
		u, err := url.Parse(next)
		if err != nil {
			return nil, fmt.Errorf("page %d: next link: %w", page, err)
		}
		info := abs.NewRequestInformation()
		info.Method = abs.GET
		info.SetUri(*u)
		if raw, err = d.pimRead(ctx, info); err != nil {
			return nil, fmt.Errorf("page %d: %w", page+1, err)
		}
	}
}

// pimInstancePage decodes one page of assignment schedule instances: the
// member assignments on it and the next page's link ("" on the last).
func pimInstancePage(raw []byte) ([]access.PIMAssignment, string, error) {
	var page struct {
		NextLink string `json:"@odata.nextLink"`
		Value    []struct {
			AccessID             string  `json:"accessId"`
			PrincipalID          string  `json:"principalId"`
			GroupID              string  `json:"groupId"`
			StartDateTime        *string `json:"startDateTime"`
			EndDateTime          *string `json:"endDateTime"`
			AssignmentScheduleID string  `json:"assignmentScheduleId"`
		} `json:"value"`
	}
	if err := json.Unmarshal(raw, &page); err != nil {
		return nil, "", fmt.Errorf("decode: %w", err)
	}
	var out []access.PIMAssignment
	for _, v := range page.Value {
		if !strings.EqualFold(v.AccessID, pimMember) {
			continue
		}
		a := access.PIMAssignment{GroupID: v.GroupID, UserID: v.PrincipalID, ScheduleID: v.AssignmentScheduleID}
		if v.StartDateTime != nil {
			a.Start, _ = time.Parse(time.RFC3339, *v.StartDateTime)
		}
		if v.EndDateTime != nil {
			a.End, _ = time.Parse(time.RFC3339, *v.EndDateTime)
		}
		out = append(out, a)
	}
	return out, page.NextLink, nil
}

// pimError adds what to do to PIM's refusals: a policy rule that failed is
// named and matches access.ErrPIMPolicy, a 403 names the permission.
func pimError(e *Error) error {
	switch {
	case e.StatusCode == http.StatusBadRequest && strings.EqualFold(e.Code, codePolicyValidationFailed):
		rule := "a policy rule"
		switch {
		case strings.Contains(e.Message, "MfaRule"):
			rule = "MfaRule (the group's PIM settings require multifactor authentication on active assignment, which an application cannot give: turn it off)"
		case strings.Contains(e.Message, "ExpirationRule"):
			rule = "ExpirationRule (the assignment is longer than the group's PIM settings allow: \"Expire active assignment after\")"
		}
		return fmt.Errorf("%w: %s: %w", access.ErrPIMPolicy, rule, e)
	case e.StatusCode == http.StatusForbidden:
		return fmt.Errorf("jitbot's app registration needs the Graph application permission %s (and %s), with admin consent: %w",
			access.PIMPermission, access.PIMPolicyPermission, e)
	}
	return e
}

// isoDuration matches the ISO 8601 durations PIM policies use: P15D,
// PT8H, P1DT12H, PT30M.
var isoDuration = regexp.MustCompile(`^P(?:(\d+)W)?(?:(\d+)D)?(?:T(?:(\d+)H)?(?:(\d+)M)?(?:(\d+)S)?)?$`)

// parseISODuration reads an ISO 8601 duration of weeks, days, hours,
// minutes and seconds.
func parseISODuration(s string) (time.Duration, error) {
	m := isoDuration.FindStringSubmatch(strings.ToUpper(s))
	if m == nil || s == "P" || strings.HasSuffix(s, "T") {
		return 0, fmt.Errorf("duration %q is not an ISO 8601 duration of weeks, days, hours, minutes and seconds", s)
	}
	units := []time.Duration{7 * 24 * time.Hour, 24 * time.Hour, time.Hour, time.Minute, time.Second}
	var d time.Duration
	for i, u := range units {
		if m[i+1] == "" {
			continue
		}
		n, err := strconv.Atoi(m[i+1])
		if err != nil {
			return 0, fmt.Errorf("duration %q: %w", s, err)
		}
		d += time.Duration(n) * u
	}
	return d, nil
}

var _ access.PIM = (*Directory)(nil)
