package storage

import (
	"context"
	"errors"
	"fmt"
	"time"

	"gorm.io/gorm/clause"

	"github.com/jitbot/jitbot/access"
)

var _ access.Directory = (*DemoDirectory)(nil)

// DemoDirectory is a stand-in for Entra ID in demo mode: group memberships
// kept in the demo_memberships table, so they survive restarts. Only direct
// membership exists: MemberGroups treats it as transitive.
type DemoDirectory struct {
	db *DB
}

// DemoDirectory returns the demo directory kept in this database.
func (db *DB) DemoDirectory() *DemoDirectory { return &DemoDirectory{db: db} }

// AddMember adds the user to the group; alreadyMember is true when the user
// was a member before.
func (d *DemoDirectory) AddMember(ctx context.Context, groupID, userID string) (bool, error) {
	if err := checkMembership(groupID, userID); err != nil {
		return false, fmt.Errorf("add %s to group %s: %w", userID, groupID, err)
	}
	res := d.db.gorm.WithContext(ctx).Clauses(clause.OnConflict{DoNothing: true}).
		Create(&membershipRow{GroupID: groupID, UserID: userID, CreatedAt: dbTime(time.Now())})
	if res.Error != nil {
		return false, fmt.Errorf("add %s to group %s: %w", userID, groupID, res.Error)
	}
	return res.RowsAffected == 0, nil
}

// RemoveMember removes the user from the group; a non-member counts as
// removed.
func (d *DemoDirectory) RemoveMember(ctx context.Context, groupID, userID string) error {
	if err := checkMembership(groupID, userID); err != nil {
		return fmt.Errorf("remove %s from group %s: %w", userID, groupID, err)
	}
	err := d.db.gorm.WithContext(ctx).Where("group_id = ? AND user_id = ?", groupID, userID).
		Delete(&membershipRow{}).Error
	if err != nil {
		return fmt.Errorf("remove %s from group %s: %w", userID, groupID, err)
	}
	return nil
}

// MemberGroups returns those of groupIDs the user is a member of, in the
// order asked, without repeats.
func (d *DemoDirectory) MemberGroups(ctx context.Context, userID string, groupIDs []string) ([]string, error) {
	if len(groupIDs) == 0 {
		return nil, nil
	}
	var have []string
	err := d.db.gorm.WithContext(ctx).Model(&membershipRow{}).
		Where("user_id = ? AND group_id IN ?", userID, groupIDs).Pluck("group_id", &have).Error
	if err != nil {
		return nil, fmt.Errorf("groups of %s: %w", userID, err)
	}
	member := make(map[string]bool, len(have))
	for _, g := range have {
		member[g] = true
	}
	var out []string
	for _, g := range groupIDs {
		if member[g] {
			out = append(out, g)
			delete(member, g)
		}
	}
	return out, nil
}

// SetMember makes the user a member of the group, whether or not they were
// one already (for seeding the demo).
func (d *DemoDirectory) SetMember(ctx context.Context, groupID, userID string) error {
	_, err := d.AddMember(ctx, groupID, userID)
	return err
}

// Members returns the user ids in the group, sorted.
func (d *DemoDirectory) Members(ctx context.Context, groupID string) ([]string, error) {
	var users []string
	err := d.db.gorm.WithContext(ctx).Model(&membershipRow{}).
		Where("group_id = ?", groupID).Order("user_id").Pluck("user_id", &users).Error
	if err != nil {
		return nil, fmt.Errorf("members of group %s: %w", groupID, err)
	}
	return users, nil
}

// TransitiveMembers returns the user ids in the group, sorted: the demo
// directory has no nested groups, so they are its members.
func (d *DemoDirectory) TransitiveMembers(ctx context.Context, groupID string) ([]string, error) {
	return d.Members(ctx, groupID)
}

func checkMembership(groupID, userID string) error {
	if groupID == "" || userID == "" {
		return errors.New("group id and user id are required")
	}
	return nil
}
