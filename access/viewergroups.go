package access

import (
	"context"
	"strings"
	"sync"
	"time"
)

// DefaultViewerGroupsFor is how long the answer to which of the approver,
// security and admin groups a card's viewer is in is used again for the
// buttons of their cards (Config.ViewerGroupsFor).
const DefaultViewerGroupsFor = 5 * time.Second

// viewerGroupsMax bounds the answers remembered at once: when full, the
// ones past their time are dropped, and when none is, all of them.
const viewerGroupsMax = 4096

// viewerGroups remembers, for a short while, which of a list of groups a
// person was found in, for Viewer alone: what a card shows. An action
// (Decide, RevokeNow, ForceApprove, ...) always asks the directory afresh,
// so a button shown from a remembered answer is checked again when it is
// pressed. An approver clicks and at once gets their card answered with
// the same question Decide just asked; a card's refresh asks it again.
type viewerGroups struct {
	mu  sync.Mutex
	ttl time.Duration // <= 0: nothing is remembered
	m   map[string]viewerGroupsAnswer
}

type viewerGroupsAnswer struct {
	found []string
	at    time.Time
}

func viewerGroupsKey(userID string, groups []string) string {
	return strings.ToLower(userID) + "\x00" + strings.ToLower(strings.Join(groups, "\x00"))
}

// get returns the answer for userID and groups taken less than ttl before
// now (never one from the future: a clock set back forgets it).
func (c *viewerGroups) get(userID string, groups []string, now time.Time) ([]string, bool) {
	if c.ttl <= 0 {
		return nil, false
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	a, ok := c.m[viewerGroupsKey(userID, groups)]
	if !ok {
		return nil, false
	}
	if age := now.Sub(a.at); age < 0 || age >= c.ttl {
		return nil, false
	}
	return a.found, true
}

// put remembers found as the answer for userID and groups at now.
func (c *viewerGroups) put(userID string, groups, found []string, now time.Time) {
	if c.ttl <= 0 {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.m == nil {
		c.m = map[string]viewerGroupsAnswer{}
	}
	if len(c.m) >= viewerGroupsMax {
		for k, a := range c.m {
			if age := now.Sub(a.at); age < 0 || age >= c.ttl {
				delete(c.m, k)
			}
		}
		if len(c.m) >= viewerGroupsMax {
			clear(c.m)
		}
	}
	c.m[viewerGroupsKey(userID, groups)] = viewerGroupsAnswer{found: append([]string(nil), found...), at: now}
}

// viewerMemberGroups is Directory.MemberGroups for Viewer: an answer given
// less than Config.ViewerGroupsFor ago is used again.
func (s *Service) viewerMemberGroups(ctx context.Context, userID string, groups []string) ([]string, error) {
	now := s.cfg.Clock.Now()
	if found, ok := s.viewerGroups.get(userID, groups, now); ok {
		return found, nil
	}
	found, err := s.cfg.Directory.MemberGroups(ctx, userID, groups)
	if err != nil {
		return nil, err
	}
	s.viewerGroups.put(userID, groups, found, now)
	return found, nil
}
