package storage

import (
	"context"
	"fmt"
)

// IsMember reports whether the user is a member of the simulated group.
func (d *DemoDirectory) IsMember(ctx context.Context, groupID, userID string) (bool, error) {
	found, err := d.MemberGroups(ctx, userID, []string{groupID})
	if err != nil {
		return false, fmt.Errorf("demo directory: is %s in %s: %w", userID, groupID, err)
	}
	return len(found) == 1, nil
}

// GroupMembers returns the simulated group's members.
func (d *DemoDirectory) GroupMembers(ctx context.Context, groupID string) ([]string, error) {
	return d.Members(ctx, groupID)
}
