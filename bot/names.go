package bot

import (
	"context"
	"log/slog"
	"strings"
	"sync"
	"time"

	"github.com/jitbot/jitbot/access"
	"github.com/jitbot/jitbot/cards"
)

// NameLookup finds display names in the directory. *graph.Directory
// implements it.
type NameLookup interface {
	GroupName(ctx context.Context, groupID string) (string, error)
	UserName(ctx context.Context, userID string) (string, error)
}

// Defaults of NamesOptions.
const (
	DefaultNameTTL        = time.Hour
	DefaultNameFailureTTL = time.Minute
	DefaultNameCacheSize  = 1000
	DefaultNameTimeout    = 2 * time.Second
)

// NamesOptions tunes a Names cache. Zero values take the defaults.
type NamesOptions struct {
	// TTL is how long a name found is kept (DefaultNameTTL).
	TTL time.Duration
	// FailureTTL is how long a failed lookup is remembered, so that a
	// directory outage does not cost every card a call (DefaultNameFailureTTL).
	FailureTTL time.Duration
	// Size bounds the entries kept (DefaultNameCacheSize); when full the
	// entry that expires first makes room.
	Size int
	// Timeout bounds all the lookups made for one card together
	// (DefaultNameTimeout): a card is never held back longer.
	Timeout time.Duration
	// Now tells the time (time.Now).
	Now    func() time.Time
	Logger *slog.Logger
}

// Names is the one cache of display names the bot's cards show: group and
// user names by object id, each kept for a TTL, at most Size of them. A
// lookup that fails or takes too long shows the object id instead; it is
// logged and never fatal. It is safe for concurrent use; a nil *Names
// knows no names.
type Names struct {
	lookup NameLookup
	opts   NamesOptions

	mu      sync.Mutex
	entries map[string]nameEntry
}

type nameEntry struct {
	name    string // "" when the lookup failed or the object has no name
	expires time.Time
}

// NewNames returns a cache over lookup.
func NewNames(lookup NameLookup, opts NamesOptions) *Names {
	if opts.TTL <= 0 {
		opts.TTL = DefaultNameTTL
	}
	if opts.FailureTTL <= 0 {
		opts.FailureTTL = min(DefaultNameFailureTTL, opts.TTL)
	}
	if opts.Size <= 0 {
		opts.Size = DefaultNameCacheSize
	}
	if opts.Timeout <= 0 {
		opts.Timeout = DefaultNameTimeout
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if opts.Logger == nil {
		opts.Logger = slog.Default()
	}
	return &Names{lookup: lookup, opts: opts, entries: map[string]nameEntry{}}
}

// For returns the display names of the groups and users, for a card,
// within the options' Timeout altogether; those it cannot tell are left
// out (the card shows their object ids).
func (n *Names) For(ctx context.Context, groupIDs, userIDs []string) cards.Names {
	out := cards.Names{}
	if n == nil || n.lookup == nil {
		return out
	}
	ctx, cancel := context.WithTimeout(ctx, n.opts.Timeout)
	defer cancel()
	for _, id := range groupIDs {
		out.Set(id, n.name(ctx, "group", id, n.lookup.GroupName))
	}
	for _, id := range userIDs {
		out.Set(id, n.name(ctx, "user", id, n.lookup.UserName))
	}
	return out
}

func (n *Names) name(ctx context.Context, kind, id string, get func(context.Context, string) (string, error)) string {
	if id == "" {
		return ""
	}
	k := kind + ":" + strings.ToLower(id)
	now := n.opts.Now()
	n.mu.Lock()
	e, ok := n.entries[k]
	n.mu.Unlock()
	if ok && now.Before(e.expires) {
		return e.name
	}
	if ctx.Err() != nil {
		// The card's time for lookups is up: show the id, remember nothing.
		return ""
	}
	name, err := get(ctx, id)
	ttl := n.opts.TTL
	if err != nil {
		n.opts.Logger.Warn("look up display name; showing the object id", "kind", kind, "id", id, "err", err)
		name, ttl = "", n.opts.FailureTTL
	}
	n.store(k, nameEntry{name: name, expires: n.opts.Now().Add(ttl)})
	return name
}

// store keeps e, making room first when the cache is full: expired
// entries go, else the one that expires first.
func (n *Names) store(k string, e nameEntry) {
	n.mu.Lock()
	defer n.mu.Unlock()
	if _, ok := n.entries[k]; !ok && len(n.entries) >= n.opts.Size {
		now := n.opts.Now()
		var first string
		for key, old := range n.entries {
			if !now.Before(old.expires) {
				delete(n.entries, key)
				continue
			}
			if first == "" || old.expires.Before(n.entries[first].expires) {
				first = key
			}
		}
		if len(n.entries) >= n.opts.Size && first != "" {
			delete(n.entries, first)
		}
	}
	n.entries[k] = e
}

// Len is the number of names kept.
func (n *Names) Len() int {
	n.mu.Lock()
	defer n.mu.Unlock()
	return len(n.entries)
}

// forRequests returns the display names of the requests' groups.
func (n *Names) forRequests(ctx context.Context, reqs ...*access.Request) cards.Names {
	ids := make([]string, 0, len(reqs))
	seen := map[string]bool{}
	for _, r := range reqs {
		if k := strings.ToLower(r.GroupID); r.GroupID != "" && !seen[k] {
			seen[k] = true
			ids = append(ids, r.GroupID)
		}
	}
	return n.For(ctx, ids, nil)
}

// forAlert returns the display names an alert card shows: the group's,
// and the user's when the alert does not name them (a drift finding knows
// only the object id).
func (n *Names) forAlert(ctx context.Context, a access.Alert) cards.Names {
	var users []string
	if a.User.Name == "" && a.User.ObjectID != "" {
		users = []string{a.User.ObjectID}
	}
	return n.For(ctx, []string{a.GroupID}, users)
}
