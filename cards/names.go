package cards

import "strings"

// Names are display names from the directory, by object id (groups and
// users share Entra ID's one space of object ids), for cards to show
// instead of bare ids. The bot looks them up; a card shows the id where
// a name is missing. Build one with Set; the zero value (nil) knows no
// names.
type Names map[string]string

// Set records id's display name; an empty name records nothing.
func (n Names) Set(id, name string) {
	if name = strings.TrimSpace(name); name != "" && id != "" {
		n[strings.ToLower(id)] = name
	}
}

// Name returns id's display name, or "" when it is unknown.
func (n Names) Name(id string) string { return n.name(id) }

// name returns id's display name, or "" when it is unknown.
func (n Names) name(id string) string {
	if n == nil || id == "" {
		return ""
	}
	return n[strings.ToLower(id)]
}

// groupFacts name a group: its display name with the object id as a
// second fact, or the object id alone when the name is unknown.
func groupFacts(groupID string, names Names) []Fact {
	name := names.name(groupID)
	if name == "" || strings.EqualFold(name, groupID) {
		return []Fact{TextFact("Group", orDash(groupID))}
	}
	return []Fact{TextFact("Group", name), TextFact("Group id", groupID)}
}
