package bot

import (
	"context"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"time"

	"github.com/infracloudio/msbotbuilder-go/schema"

	"github.com/jitbot/jitbot/access"
	"github.com/jitbot/jitbot/cards"
)

// Who gets their own view of an approval card. Teams asks the bot for the
// card of each user listed in its refresh.userIds (at most 60 Teams ids);
// everyone else sees the card as posted. The list is the requester first,
// then the profile's approvers found in the approvers' channel: the team's
// roster from the Bot Connector (Teams ids with Entra object ids)
// intersected with the transitive members of the approver groups from
// Graph, cached per profile.

// Roster lists a conversation's members (connector.Client).
type Roster interface {
	ConversationMembers(ctx context.Context, serviceURL, conversationID string) ([]schema.ChannelAccount, error)
}

// GroupUsers lists the users who are transitive members of a group
// (graph.Directory).
type GroupUsers interface {
	TransitiveMembers(ctx context.Context, groupID string) ([]string, error)
}

// DefaultAudienceTTL is how long the approvers' Teams ids of a profile are
// reused before the roster is read again.
const DefaultAudienceTTL = 15 * time.Minute

// audienceRetry is how long a failed lookup is remembered, so that an
// unreachable roster is not asked again for every card.
const audienceRetry = time.Minute

// Audience finds the Teams ids of an approval card's refresh.userIds. The
// zero value is not usable; a nil *Audience lists the requester alone.
type Audience struct {
	Roster    Roster
	Directory GroupUsers
	// Now is the clock of the cache.
	Now func() time.Time
	// TTL is how long a profile's approvers are cached (default
	// DefaultAudienceTTL).
	TTL    time.Duration
	Logger *slog.Logger
	// AdminGroups are the groups whose members may force-approve
	// (access.Config.AdminGroups): those in the approvers' team get their
	// own view too, which has Force approve.
	AdminGroups []string

	mu    sync.Mutex
	cache map[string]audienceEntry // by profile name
}

type audienceEntry struct {
	ids   []string // approvers' Teams ids
	until time.Time
}

// UserIDs returns the refresh.userIds of req's card: the requester's Teams
// id, then the Teams ids of the profile's approvers who are in the
// approvers' team, at most cards.MaxRefreshUsers in all. serviceURL is
// where the roster is read. Any failure to find the approvers is logged and
// leaves the requester alone (approvers then act on the card as posted,
// whose every click is checked).
func (a *Audience) UserIDs(ctx context.Context, serviceURL string, req *access.Request, p access.Profile) []string {
	var out []string
	requester := req.RequesterChat.UserID
	if isPerson(requester) {
		out = append(out, requester)
	}
	if a == nil || p.ApproverChannelID == "" {
		return out
	}
	for _, id := range a.approvers(ctx, serviceURL, p) {
		if len(out) == cards.MaxRefreshUsers {
			break
		}
		if id != requester {
			out = append(out, id)
		}
	}
	return out
}

// approvers returns the Teams ids of p's approvers in its channel's team,
// from the cache while it lasts.
func (a *Audience) approvers(ctx context.Context, serviceURL string, p access.Profile) []string {
	now := a.Now()
	a.mu.Lock()
	e, ok := a.cache[p.Name]
	a.mu.Unlock()
	if ok && now.Before(e.until) {
		return e.ids
	}
	ids, err := a.lookup(ctx, serviceURL, p)
	ttl := a.TTL
	if ttl <= 0 {
		ttl = DefaultAudienceTTL
	}
	if err != nil {
		a.log().Warn("approval card: cannot find the approvers' Teams ids; only the requester gets their own view",
			"profile", p.Name, "channel", p.ApproverChannelID, "err", err)
		ids, ttl = nil, min(ttl, audienceRetry)
	}
	a.mu.Lock()
	if a.cache == nil {
		a.cache = map[string]audienceEntry{}
	}
	a.cache[p.Name] = audienceEntry{ids: ids, until: now.Add(ttl)}
	a.mu.Unlock()
	return ids
}

// lookup reads the channel's roster and keeps the members who are
// transitive members of one of the approver groups or the admin groups, in
// roster order.
func (a *Audience) lookup(ctx context.Context, serviceURL string, p access.Profile) ([]string, error) {
	approver := map[string]bool{}
	for _, g := range append(append([]string{}, p.ApproverGroups...), a.AdminGroups...) {
		users, err := a.Directory.TransitiveMembers(ctx, g)
		if err != nil {
			return nil, fmt.Errorf("list the approvers in group %s: %w", g, err)
		}
		for _, u := range users {
			approver[strings.ToLower(u)] = true
		}
	}
	if len(approver) == 0 {
		return nil, nil
	}
	members, err := a.Roster.ConversationMembers(ctx, serviceURL, p.ApproverChannelID)
	if err != nil {
		return nil, fmt.Errorf("read the roster of %s: %w", p.ApproverChannelID, err)
	}
	var ids []string
	seen := map[string]bool{}
	for _, m := range members {
		if isPerson(m.ID) && approver[strings.ToLower(m.AadObjectID)] && !seen[m.ID] {
			seen[m.ID] = true
			ids = append(ids, m.ID)
		}
	}
	return ids, nil
}

// isPerson reports whether a channel account id can be a user's: not
// empty and not a bot's ("28:..."). Teams users are "29:..."; the Agents
// Playground names them "user-id-N".
func isPerson(id string) bool {
	return id != "" && !strings.HasPrefix(id, "28:")
}

func (a *Audience) log() *slog.Logger {
	if a.Logger != nil {
		return a.Logger
	}
	return slog.Default()
}
