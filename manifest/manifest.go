package manifest

import (
	"bytes"
	"encoding/json"
	"fmt"
	"strings"
	"unicode/utf8"

	"github.com/jitbot/jitbot/internal/chatcmd"
)

// The manifest schema jitbot's manifest follows.
const (
	ManifestVersion = "1.30"
	SchemaURL       = "https://developer.microsoft.com/json-schemas/teams/v1.30/MicrosoftTeams.schema.json"
)

// File names inside the app package.
const (
	ManifestFile    = "manifest.json"
	ColorIconFile   = "color.png"
	OutlineIconFile = "outline.png"
)

// AccentColor is the background of the colour icon and the colour Teams
// shows around it.
const AccentColor = "#0F6CBD"

// Limits on the generated texts. The schema allows longer command titles and
// descriptions; Teams shows no more than these.
const (
	maxShortDescription   = 80
	maxFullDescription    = 4000
	maxCommandTitle       = 32
	maxCommandDescription = 128
)

// Command is one entry of a bot command list: what Teams suggests when a
// user types in a conversation with the bot.
type Command struct {
	Title       string `json:"title"`
	Description string `json:"description"`
}

// Commands returns the commands the bot lists in scope ("personal",
// "team" or "groupChat"), in order: the bot's own (chatcmd.All), those
// Teams suggests there.
func Commands(scope string) []Command {
	var cs []Command
	for _, c := range chatcmd.All() {
		if c.InScope(scope) {
			cs = append(cs, Command{Title: c.Name, Description: c.Description})
		}
	}
	return cs
}

// DefaultShortDescription is description.short unless Options set it.
const DefaultShortDescription = "Temporary Entra group access, requested and approved in Teams"

// defaultFullDescription is description.full unless Options set it; it
// names the bot's commands.
func defaultFullDescription(name string) string {
	var names []string
	for _, c := range chatcmd.All() {
		names = append(names, c.Name)
	}
	return name + " grants just-in-time access: temporary membership in Microsoft Entra groups, " +
		"requested and approved in Teams.\n\n" +
		"Ask for one of your access profiles for a limited time with a justification, and a ticket " +
		"where the profile needs one. Approvers decide on a card in their Teams channel. Once approved, " +
		name + " adds you to the profile's groups and removes you again when the time is up; you are " +
		"told in chat when access starts and ends.\n\n" +
		"Commands: " + strings.Join(names[:len(names)-1], ", ") + " and " + names[len(names)-1] +
		" (for audit readers); send help for how to write them."
}

// The manifest as serialised; field order is the order in manifest.json.
type appManifest struct {
	Schema          string      `json:"$schema"`
	ManifestVersion string      `json:"manifestVersion"`
	Version         string      `json:"version"`
	ID              string      `json:"id"`
	Developer       developer   `json:"developer"`
	Name            name        `json:"name"`
	Description     description `json:"description"`
	Icons           icons       `json:"icons"`
	AccentColor     string      `json:"accentColor"`
	Bots            []bot       `json:"bots"`
	Permissions     []string    `json:"permissions"`
	ValidDomains    []string    `json:"validDomains"`
	// WebApplicationInfo names the app registration Teams single sign-on
	// gets tokens for; absent without single sign-on.
	WebApplicationInfo *webApplicationInfo `json:"webApplicationInfo,omitempty"`
}

type webApplicationInfo struct {
	ID       string `json:"id"`
	Resource string `json:"resource"`
}

type developer struct {
	Name          string `json:"name"`
	WebsiteURL    string `json:"websiteUrl"`
	PrivacyURL    string `json:"privacyUrl"`
	TermsOfUseURL string `json:"termsOfUseUrl"`
}

type name struct {
	Short string `json:"short"`
	Full  string `json:"full"`
}

type description struct {
	Short string `json:"short"`
	Full  string `json:"full"`
}

type icons struct {
	Color   string `json:"color"`
	Outline string `json:"outline"`
}

type bot struct {
	BotID              string        `json:"botId"`
	Scopes             []string      `json:"scopes"`
	SupportsFiles      bool          `json:"supportsFiles"`
	IsNotificationOnly bool          `json:"isNotificationOnly"`
	CommandLists       []commandList `json:"commandLists"`
}

type commandList struct {
	Scopes   []string  `json:"scopes"`
	Commands []Command `json:"commands"`
}

// Build validates opts and returns the app's manifest.json: indented JSON
// ending in a newline. An invalid option yields an error joining one
// *FieldError per problem.
func Build(opts Options) ([]byte, error) {
	o := opts.withDefaults()
	if err := o.validate(); err != nil {
		return nil, err
	}
	m := newManifest(o)
	if err := m.check(); err != nil {
		return nil, err
	}
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false) // keep <profile> readable
	enc.SetIndent("", "  ")
	if err := enc.Encode(m); err != nil {
		return nil, fmt.Errorf("manifest: encode: %w", err)
	}
	return buf.Bytes(), nil
}

// newManifest fills the manifest from validated options with defaults.
func newManifest(o Options) appManifest {
	var lists []commandList
	for _, s := range chatcmd.AllScopes() {
		lists = append(lists, commandList{Scopes: []string{s}, Commands: Commands(s)})
	}
	domains := o.ValidDomains
	if domains == nil {
		domains = []string{}
	}
	var sso *webApplicationInfo
	if o.SSOResource != "" {
		sso = &webApplicationInfo{ID: o.AppID, Resource: o.SSOResource}
	}
	return appManifest{
		WebApplicationInfo: sso,
		Schema:             SchemaURL,
		ManifestVersion:    ManifestVersion,
		Version:            o.Version,
		ID:                 o.AppID,
		Developer: developer{
			Name:          o.DeveloperName,
			WebsiteURL:    o.WebsiteURL,
			PrivacyURL:    o.PrivacyURL,
			TermsOfUseURL: o.TermsOfUseURL,
		},
		Name:        name{Short: o.Name, Full: o.FullName},
		Description: description{Short: o.ShortDescription, Full: o.FullDescription},
		Icons:       icons{Color: ColorIconFile, Outline: OutlineIconFile},
		AccentColor: AccentColor,
		Bots: []bot{{
			BotID:              o.AppID,
			Scopes:             chatcmd.AllScopes(),
			SupportsFiles:      false,
			IsNotificationOnly: false,
			CommandLists:       lists,
		}},
		Permissions:  []string{"identity", "messageTeamMembers"},
		ValidDomains: domains,
	}
}

// check verifies the generated texts against the limits Teams shows.
func (m appManifest) check() error {
	tooLong := func(what, s string, max int) error {
		if n := utf8.RuneCountInString(s); n > max {
			return fmt.Errorf("manifest: %s is %d characters long, at most %d allowed", what, n, max)
		}
		return nil
	}
	if err := tooLong("description.short", m.Description.Short, maxShortDescription); err != nil {
		return err
	}
	if err := tooLong("description.full", m.Description.Full, maxFullDescription); err != nil {
		return err
	}
	for _, l := range m.Bots[0].CommandLists {
		for _, c := range l.Commands {
			where := fmt.Sprintf("command %q (scope %s)", c.Title, strings.Join(l.Scopes, ","))
			if err := tooLong(where+" title", c.Title, maxCommandTitle); err != nil {
				return err
			}
			if err := tooLong(where+" description", c.Description, maxCommandDescription); err != nil {
				return err
			}
		}
	}
	return nil
}
