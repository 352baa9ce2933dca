package graph

import (
	"strings"
	"sync"
	"time"
)

// maxGroupsSeen bounds the groups remembered; past it, those seen longest
// ago are forgotten first (in practice a deployment has a few groups: one
// per profile).
const maxGroupsSeen = 1024

// groupsSeen remembers, for a while, the groups Graph showed to exist (a
// member found in it, a member added to it, the group read). It lets
// IsMember take a 404 on the member of such a group as "not a member"
// without asking for the group: a group deleted meanwhile is taken for one
// without the member, which it is, and the add that may follow fails on
// the missing group as it would have. A group never seen, or not seen for
// the TTL, is asked for, so a profile naming a wrong group still fails
// with "group not found". Safe for concurrent use.
type groupsSeen struct {
	ttl time.Duration // <= 0: remember nothing
	now func() time.Time

	mu sync.Mutex
	at map[string]time.Time // lower-case group id -> when it was seen
}

func newGroupsSeen(ttl time.Duration, now func() time.Time) *groupsSeen {
	if ttl == 0 {
		ttl = DefaultGroupSeenFor
	}
	if now == nil {
		now = time.Now
	}
	return &groupsSeen{ttl: ttl, now: now, at: map[string]time.Time{}}
}

// saw records that groupID exists now.
func (s *groupsSeen) saw(groupID string) {
	if s.ttl <= 0 {
		return
	}
	now := s.now()
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, ok := s.at[strings.ToLower(groupID)]; !ok && len(s.at) >= maxGroupsSeen {
		oldest, first := "", time.Time{}
		for id, t := range s.at {
			if oldest == "" || t.Before(first) {
				oldest, first = id, t
			}
		}
		delete(s.at, oldest)
	}
	s.at[strings.ToLower(groupID)] = now
}

// recently reports whether groupID was seen within the TTL.
func (s *groupsSeen) recently(groupID string) bool {
	if s.ttl <= 0 {
		return false
	}
	now := s.now()
	s.mu.Lock()
	defer s.mu.Unlock()
	t, ok := s.at[strings.ToLower(groupID)]
	return ok && now.Sub(t) < s.ttl
}
