package graph

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"slices"
	"strings"

	abs "github.com/microsoft/kiota-abstractions-go"
	absser "github.com/microsoft/kiota-abstractions-go/serialization"
	"github.com/microsoftgraph/msgraph-sdk-go/groups"
	"github.com/microsoftgraph/msgraph-sdk-go/models"
	"github.com/microsoftgraph/msgraph-sdk-go/users"

	"github.com/jitbot/jitbot/access"
)

// MaxCheckMemberGroups is the most group ids Graph accepts in one
// checkMemberGroups call; MemberGroups splits larger sets.
const MaxCheckMemberGroups = 20

// membersPageSize is the page size asked for when listing members (Graph's
// maximum for this call).
const membersPageSize int32 = 999

// AddMember adds the user as a direct member of the group
// (POST /groups/{groupID}/members/$ref). When the user already is a direct
// member it returns alreadyMember=true and a nil error; see the package
// documentation for retried calls. A missing user or group, or a missing
// permission, gives an error matching access.ErrPermanent.
func (d *Directory) AddMember(ctx context.Context, groupID, userID string) (alreadyMember bool, err error) {
	if err := checkIDs("group", groupID, "user", userID); err != nil {
		return false, fmt.Errorf("add %s to group %s: %w", userID, groupID, err)
	}
	ref := d.base.String() + "/directoryObjects/" + url.PathEscape(userID)
	body := models.NewReferenceCreate()
	body.SetOdataId(&ref)
	info, err := d.groups().ByGroupId(groupID).Members().Ref().ToPostRequestInformation(ctx, body, nil)
	if err != nil {
		return false, fmt.Errorf("add %s to group %s: build request: %w", userID, groupID, err)
	}

	ctx, t := withTrace(ctx)
	err = d.adapter.SendNoContent(ctx, info, errorMapping())
	if err == nil {
		d.seen.saw(groupID)
		d.logger.InfoContext(ctx, "graph member added", slog.String("group", groupID), slog.String("user", userID))
		return false, nil
	}
	e := newError(err, t)
	if e.alreadyExists() {
		if _, _, _, _, ambiguous := t.snapshot(); ambiguous {
			// An earlier attempt of this call may have added the member
			// before failing: count the membership as ours so that it is
			// removed at expiry.
			d.logger.WarnContext(ctx, "graph member already present after a retried add; treating it as added by this call",
				slog.String("group", groupID), slog.String("user", userID), slog.Int("attempts", e.Attempts))
			return false, nil
		}
		d.logger.InfoContext(ctx, "graph member already present", slog.String("group", groupID), slog.String("user", userID))
		return true, nil
	}
	return false, fmt.Errorf("add %s to group %s: %w", userID, groupID, e)
}

// RemoveMember removes the user from the group's direct members
// (DELETE /groups/{groupID}/members/{userID}/$ref), sent in a JSON batch
// with the other calls made at about the same time (see batcher). A 404
// (the user is not a member, or the group or user no longer exists) counts
// as removed.
func (d *Directory) RemoveMember(ctx context.Context, groupID, userID string) error {
	if err := checkIDs("group", groupID, "user", userID); err != nil {
		return fmt.Errorf("remove %s from group %s: %w", userID, groupID, err)
	}
	a, attempts := d.batch.do(ctx, http.MethodDelete, batchPath("groups", url.PathEscape(groupID), "members", url.PathEscape(userID), "$ref"))
	switch {
	case a.err == nil && a.status == http.StatusNoContent:
		d.logger.InfoContext(ctx, "graph member removed", slog.String("group", groupID), slog.String("user", userID))
		return nil
	case a.err == nil && a.status == http.StatusNotFound:
		e := answerError(a, attempts)
		d.logger.InfoContext(ctx, "graph member already absent", slog.String("group", groupID), slog.String("user", userID),
			slog.String("code", e.Code))
		return nil
	case a.err == nil && a.status >= 200 && a.status < 300:
		return nil
	}
	return fmt.Errorf("remove %s from group %s: %w", userID, groupID, answerError(a, attempts))
}

// MemberGroups returns those of groupIDs the user is a member of, directly
// or through nested groups (POST /users/{userID}/checkMemberGroups), in the
// order and spelling of groupIDs, without duplicates. Graph takes at most
// MaxCheckMemberGroups ids per call; larger sets are split into several
// calls.
func (d *Directory) MemberGroups(ctx context.Context, userID string, groupIDs []string) ([]string, error) {
	if err := checkID("user", userID); err != nil {
		return nil, fmt.Errorf("check group membership of %s: %w", userID, err)
	}
	var ids []string
	seen := make(map[string]bool, len(groupIDs))
	for _, id := range groupIDs {
		if err := checkID("group", id); err != nil {
			return nil, fmt.Errorf("check group membership of %s: %w", userID, err)
		}
		if k := strings.ToLower(id); !seen[k] {
			seen[k] = true
			ids = append(ids, id)
		}
	}
	if len(ids) == 0 {
		return nil, nil
	}

	member := make(map[string]bool)
	for chunk := range slices.Chunk(ids, MaxCheckMemberGroups) {
		body := users.NewItemCheckMemberGroupsPostRequestBody()
		body.SetGroupIds(chunk)
		info, err := d.users().ByUserId(userID).CheckMemberGroups().ToPostRequestInformation(ctx, body, nil)
		if err != nil {
			return nil, fmt.Errorf("check group membership of %s: build request: %w", userID, err)
		}
		callCtx, t := withTrace(ctx)
		res, err := d.adapter.Send(callCtx, info, users.CreateItemCheckMemberGroupsPostResponseFromDiscriminatorValue, errorMapping())
		if err != nil {
			return nil, fmt.Errorf("check group membership of %s: %w", userID, newError(err, t))
		}
		if r, ok := res.(users.ItemCheckMemberGroupsPostResponseable); ok && r != nil {
			for _, id := range r.GetValue() {
				member[strings.ToLower(id)] = true
			}
		}
	}

	var out []string
	for _, id := range ids {
		if member[strings.ToLower(id)] {
			out = append(out, id)
		}
	}
	return out, nil
}

// IsMember reports whether the user is a direct member of the group
// (GET /groups/{groupID}/members/{userID}?$select=id): 200 means a member;
// a 404 means not a member, unless the group itself is missing, which
// GET /groups/{groupID}?$select=id then tells apart (not asked again for a
// group Graph showed to exist within Config.GroupSeenFor). A user who does not
// exist is not a member. A missing group, an invalid id or a missing
// permission gives an error matching access.ErrPermanent; throttling,
// outages and timeouts give a transient error, never false.
//
// Why this call: it reads the directory itself, so it sees a membership
// added or removed a moment ago, and it needs no more than
// GroupMember.Read.All, like listing the members.
//   - Graph serves GET on a member of the members relationship: 200 with the
//     member when it is one, 404 Request_ResourceNotFound when it is not (the
//     message then names the group, although the group exists, so the 404
//     alone cannot tell a missing group apart). The SDK, generated from
//     Graph's v1.0 OpenAPI description, has no method for this GET (Graph's
//     earlier SDKs had one), so the request is built here.
//   - The typed variant .../members/{id}/microsoft.graph.user (the SDK's
//     GraphUser().Get) is answered 400 "Invalid property 'businessPhones'
//     specified in $select" by Graph (msgraph-sdk-dotnet issues 1853 and
//     2093), and would not see other member types anyway.
//   - GET /groups/{id}/members?$filter=id eq '...' needs the advanced query
//     parameters (ConsistencyLevel: eventual and $count=true) on this
//     relationship; it then reads an index that lags behind recent changes,
//     so a membership just added or removed may be reported wrongly.
//   - checkMemberGroups and checkMemberObjects are transitive and need
//     User.Read.All besides.
func (d *Directory) IsMember(ctx context.Context, groupID, userID string) (bool, error) {
	if err := checkIDs("group", groupID, "user", userID); err != nil {
		return false, fmt.Errorf("check membership of %s in group %s: %w", userID, groupID, err)
	}
	a, attempts := d.batch.do(ctx, http.MethodGet, batchPath("groups", url.PathEscape(groupID), "members", url.PathEscape(userID))+"?$select=id")
	switch {
	case a.err == nil && a.status == http.StatusOK:
		d.seen.saw(groupID)
		return true, nil
	case a.err != nil || a.status != http.StatusNotFound:
		return false, fmt.Errorf("check membership of %s in group %s: %w", userID, groupID, answerError(a, attempts))
	}
	// Not a member, or no such group: ask for the group, unless Graph
	// showed it exists a moment ago (see groupsSeen).
	if d.seen.recently(groupID) {
		return false, nil
	}
	if err := d.groupExists(ctx, groupID); err != nil {
		return false, fmt.Errorf("check membership of %s in group %s: %w", userID, groupID, err)
	}
	d.seen.saw(groupID)
	return false, nil
}

// selectQuery is the $select query option of a request built by hand.
type selectQuery struct {
	Select []string `uriparametername:"%24select"`
}

// groupExists returns nil when the group exists (GET /groups/{groupID}?$select=id),
// and the call's *Error otherwise: permanent for a missing group.
func (d *Directory) groupExists(ctx context.Context, groupID string) error {
	a, attempts := d.batch.do(ctx, http.MethodGet, batchPath("groups", url.PathEscape(groupID))+"?$select=id")
	if a.err == nil && a.status == http.StatusOK {
		return nil
	}
	return fmt.Errorf("get group: %w", answerError(a, attempts))
}

// GroupMembers returns the object ids of the group's direct members, of
// every object type (users, groups, devices, ...), each once, following
// Graph's paging; see Members. Graph v1.0 has a documented known issue:
// service principals are not listed as group members.
func (d *Directory) GroupMembers(ctx context.Context, groupID string) ([]string, error) {
	members, err := d.Members(ctx, groupID)
	if err != nil {
		return nil, err
	}
	ids := make([]string, 0, len(members))
	seen := make(map[string]bool, len(members))
	for _, m := range members {
		// A member may show up on two pages when the group changes while
		// it is read.
		if k := strings.ToLower(m.ID); !seen[k] {
			seen[k] = true
			ids = append(ids, m.ID)
		}
	}
	return ids, nil
}

// Member is a direct member of a group.
type Member struct {
	ID string
	// Type is the kind of directory object: "user", "group",
	// "servicePrincipal", "device", "orgContact"; empty if Graph did not say.
	Type string
}

// Members lists the direct members of the group (GET /groups/{groupID}/members),
// following Graph's paging.
func (d *Directory) Members(ctx context.Context, groupID string) ([]Member, error) {
	if err := checkID("group", groupID); err != nil {
		return nil, fmt.Errorf("list members of group %s: %w", groupID, err)
	}
	builder := d.groups().ByGroupId(groupID).Members()
	top := membersPageSize
	info, err := builder.ToGetRequestInformation(ctx, &groups.ItemMembersRequestBuilderGetRequestConfiguration{
		QueryParameters: &groups.ItemMembersRequestBuilderGetQueryParameters{Select: []string{"id"}, Top: &top},
	})
	if err != nil {
		return nil, fmt.Errorf("list members of group %s: build request: %w", groupID, err)
	}
	return d.pages(ctx, "list members of group "+groupID, info, func(next string) (*abs.RequestInformation, error) {
		return builder.WithUrl(next).ToGetRequestInformation(ctx, nil)
	})
}

// TransitiveMembers returns the object ids of the users who are members of
// the group, directly or through nested groups (GET
// /groups/{groupID}/transitiveMembers?$select=id), each once, following
// Graph's paging: one paged call per group, where asking about each of a
// channel's members (checkMemberGroups) would cost a call per member.
func (d *Directory) TransitiveMembers(ctx context.Context, groupID string) ([]string, error) {
	if err := checkID("group", groupID); err != nil {
		return nil, fmt.Errorf("list transitive members of group %s: %w", groupID, err)
	}
	builder := d.groups().ByGroupId(groupID).TransitiveMembers()
	top := membersPageSize
	info, err := builder.ToGetRequestInformation(ctx, &groups.ItemTransitiveMembersRequestBuilderGetRequestConfiguration{
		QueryParameters: &groups.ItemTransitiveMembersRequestBuilderGetQueryParameters{Select: []string{"id"}, Top: &top},
	})
	if err != nil {
		return nil, fmt.Errorf("list transitive members of group %s: build request: %w", groupID, err)
	}
	members, err := d.pages(ctx, "list transitive members of group "+groupID, info, func(next string) (*abs.RequestInformation, error) {
		return builder.WithUrl(next).ToGetRequestInformation(ctx, nil)
	})
	if err != nil {
		return nil, err
	}
	var ids []string
	seen := make(map[string]bool, len(members))
	for _, m := range members {
		// Nested groups are listed too; only users can view a card.
		if k := strings.ToLower(m.ID); m.Type == "user" && !seen[k] {
			seen[k] = true
			ids = append(ids, m.ID)
		}
	}
	return ids, nil
}

// pages sends info and follows the answer's next links, collecting the
// members of every page; what names the call in errors.
func (d *Directory) pages(ctx context.Context, what string, info *abs.RequestInformation, next func(link string) (*abs.RequestInformation, error)) ([]Member, error) {
	var out []Member
	seenLinks := make(map[string]bool)
	for page := 1; ; page++ {
		callCtx, t := withTrace(ctx)
		res, err := d.adapter.Send(callCtx, info, newMemberPage, errorMapping())
		if err != nil {
			return nil, fmt.Errorf("%s, page %d: %w", what, page, newError(err, t))
		}
		r, ok := res.(*memberPage)
		if !ok || r == nil {
			return out, nil
		}
		out = append(out, r.members...)
		link := r.nextLink
		if link == "" {
			return out, nil
		}
		// The next link is followed only on the configured Graph host: the
		// token is not sent elsewhere, and a link back to an earlier page
		// would loop.
		if err := d.checkNextLink(link); err != nil {
			return nil, fmt.Errorf("%s, page %d: %w", what, page, err)
		}
		if seenLinks[link] {
			return nil, fmt.Errorf("%s, page %d: next link repeats an earlier page", what, page)
		}
		seenLinks[link] = true
		if info, err = next(link); err != nil {
			return nil, fmt.Errorf("%s, page %d: build request: %w", what, page+1, err)
		}
	}
}

// checkNextLink accepts a paging link only on the configured Graph origin
// and API version.
func (d *Directory) checkNextLink(link string) error {
	u, err := url.Parse(link)
	if err != nil {
		return fmt.Errorf("next link %q: %w", link, err)
	}
	if !strings.EqualFold(u.Scheme, d.base.Scheme) || !strings.EqualFold(u.Host, d.base.Host) ||
		!strings.HasPrefix(u.Path, d.base.Path+"/") {
		return fmt.Errorf("next link %q leaves %s", link, d.base)
	}
	return nil
}

// checkIDs checks two ids; see checkID.
func checkIDs(kind1, id1, kind2, id2 string) error {
	if err := checkID(kind1, id1); err != nil {
		return err
	}
	return checkID(kind2, id2)
}

// checkID rejects ids that cannot name a directory object. Such a call can
// never succeed, so the error is permanent. (The SDK escapes ids in paths;
// this only catches mistakes early and clearly.)
func checkID(kind, id string) error {
	switch {
	case id == "":
		return fmt.Errorf("empty %s id: %w", kind, access.ErrPermanent)
	case len(id) > 256, id == ".", id == "..", strings.ContainsAny(id, "/\\?#%"),
		strings.ContainsFunc(id, func(r rune) bool { return r < 0x20 || r == 0x7f }):
		return fmt.Errorf("invalid %s id %q: %w", kind, id, access.ErrPermanent)
	}
	return nil
}

// memberPage is one page of GET /groups/{id}/members, decoded into only what
// Members needs. The SDK's own DirectoryObjectCollectionResponse decodes
// each member through a factory that references every directory object type
// of the SDK, which adds about 30 MB to the binary.
type memberPage struct {
	members  []Member
	nextLink string
}

func newMemberPage(absser.ParseNode) (absser.Parsable, error) { return &memberPage{}, nil }

// GetFieldDeserializers implements absser.Parsable.
func (p *memberPage) GetFieldDeserializers() map[string]func(absser.ParseNode) error {
	return map[string]func(absser.ParseNode) error{
		"value": func(n absser.ParseNode) error {
			vals, err := n.GetCollectionOfObjectValues(newMemberRef)
			if err != nil {
				return err
			}
			for _, v := range vals {
				if m, ok := v.(*memberRef); ok && m != nil && m.ID != "" {
					p.members = append(p.members, Member(*m))
				}
			}
			return nil
		},
		"@odata.nextLink": func(n absser.ParseNode) error {
			v, err := n.GetStringValue()
			p.nextLink = deref(v)
			return err
		},
	}
}

// Serialize implements absser.Parsable; a page is never sent.
func (p *memberPage) Serialize(absser.SerializationWriter) error {
	return errors.New("graph: a member page is not serialisable")
}

// memberRef is one member in a memberPage.
type memberRef Member

func newMemberRef(absser.ParseNode) (absser.Parsable, error) { return &memberRef{}, nil }

// GetFieldDeserializers implements absser.Parsable.
func (m *memberRef) GetFieldDeserializers() map[string]func(absser.ParseNode) error {
	return map[string]func(absser.ParseNode) error{
		"id": func(n absser.ParseNode) error {
			v, err := n.GetStringValue()
			m.ID = deref(v)
			return err
		},
		"@odata.type": func(n absser.ParseNode) error {
			v, err := n.GetStringValue()
			m.Type = strings.TrimPrefix(deref(v), "#microsoft.graph.")
			return err
		},
	}
}

// Serialize implements absser.Parsable; a member reference is never sent.
func (m *memberRef) Serialize(absser.SerializationWriter) error {
	return errors.New("graph: a member reference is not serialisable")
}
