package main

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"regexp"
	"time"

	"github.com/jitbot/jitbot/access"
	"github.com/jitbot/jitbot/api"
	"github.com/jitbot/jitbot/audit"
	"github.com/jitbot/jitbot/bot"
	"github.com/jitbot/jitbot/bot/auth"
	"github.com/jitbot/jitbot/bot/connector"
	"github.com/jitbot/jitbot/graph"
	"github.com/jitbot/jitbot/internal/netutil"
	"github.com/jitbot/jitbot/storage"
)

// The demo's fixed identities. They match .m365agentsplayground.yml, so
// Microsoft's Agents Playground can play the tenant, the users and the team.
const (
	demoTenantID        = "4f3c2b1a-0d9e-4c8b-9a7f-6e5d4c3b2a10"
	demoBotID           = "9b1c7f5e-2d4a-4e8b-8c6f-1a2b3c4d5e6f"
	demoGroupID         = "6d656d6f-0000-4000-8000-000000000001" // "demo-debug-access"
	demoApproverGroupID = "6d656d6f-0000-4000-8000-000000000002" // "demo-approvers"
	demoApproverID      = "22222222-2222-4222-8222-222222222222" // Alex Approver
	demoChannelID       = "19:jitbot-approvers@thread.tacv2"
	demoServiceURL      = "http://localhost:56150/_connector"
)

// demoNames are the display names of the demo's groups and people, as the
// Agents Playground's configuration names the people.
var demoNames = map[string]string{
	demoGroupID:                            "demo-debug-access",
	demoApproverGroupID:                    "demo-approvers",
	"11111111-1111-4111-8111-111111111111": "Riley Responder",
	demoApproverID:                         "Alex Approver",
	"33333333-3333-4333-8333-333333333333": "Casey Oncall",
	"44444444-4444-4444-8444-444444444444": "Dana Security",
	"55555555-5555-4555-8555-555555555555": "Morgan Manager",
	"66666666-6666-4666-8666-666666666666": "Sam Observer",
}

// demoDirectory is the demo's simulated directory with the display names
// of its groups and people, so that the demo's cards name them as a real
// tenant's would.
type demoDirectory struct {
	*storage.DemoDirectory
}

var _ bot.NameLookup = demoDirectory{}

// GroupName is the demo group's display name.
func (d demoDirectory) GroupName(_ context.Context, groupID string) (string, error) {
	return demoName(groupID)
}

// UserName is the demo person's display name.
func (d demoDirectory) UserName(_ context.Context, userID string) (string, error) {
	return demoName(userID)
}

func demoName(id string) (string, error) {
	if n, ok := demoNames[id]; ok {
		return n, nil
	}
	return "", fmt.Errorf("demo directory: no object %s: %w", id, access.ErrPermanent)
}

// demoProfile is the one profile of the demo. It alone may allow
// self-approval, so that one person can try the whole loop.
func demoProfile(channelID string) access.Profile {
	return access.Profile{
		Name:              "demo",
		Description:       "Debug access to the demo environment (simulated directory)",
		GroupID:           demoGroupID,
		MinDuration:       10 * time.Second,
		MaxDuration:       8 * time.Hour,
		TicketPattern:     regexp.MustCompile(`^INC-[0-9]+$`),
		ApproverGroups:    []string{demoApproverGroupID},
		ApproverChannelID: channelID,
		AllowSelfApproval: true,
		// Short enough for the demo's minutes-long grants: the expiry
		// reminder comes a minute before the end, and an extension of up
		// to 15m applies at once, while a longer one goes to the approvers.
		RemindBefore:  time.Minute,
		SelfExtendMax: 15 * time.Minute,
	}
}

func demo(ctx context.Context, args []string, stdout, stderr io.Writer, logger *slog.Logger, getenv func(string) (string, bool)) error {
	fs := commandFlags("demo", stdout)
	listen := fs.String("listen", "127.0.0.1:3978", "address to listen on (loopback only)")
	database := fs.String("database", "sqlite:jitbot-demo.db", "database URL")
	serviceURL := fs.String("service-url", demoServiceURL, "Bot Connector URL for conversations the bot starts (the Agents Playground's)")
	channel := fs.String("approvers-channel", demoChannelID, "Teams channel id where approval cards are posted")
	openPlayground := fs.Bool("open-playground", false, "also start Microsoft's Agents Playground (through npx, Node.js 20 or later) and stop it with the demo")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if err := requireLoopback(*listen); err != nil {
		return err
	}
	if storage.DriverOf(*database) != storage.DriverSQLite {
		return fmt.Errorf("--database %s: the demo runs on a SQLite file of its own (e.g. sqlite:jitbot-demo.db), never on a PostgreSQL database, which is for serve", storage.ShowURL(*database))
	}
	if err := netutil.URLHostAllowed(*serviceURL, nil, true); err != nil {
		return fmt.Errorf("--service-url: %w", err)
	}
	pgPort, err := playgroundPort(*serviceURL)
	if err != nil {
		return err
	}
	logger.Warn("DEMO MODE: local mode, no inbound authentication, simulated directory; never expose this port",
		"listen", *listen, "database", *database)

	db, err := openForServing(ctx, *database, storage.ModeDemo, logger)
	if err != nil {
		return err
	}
	dir := demoDirectory{db.DemoDirectory()}
	if err := dir.SetMember(ctx, demoApproverGroupID, demoApproverID); err != nil {
		_ = db.Close()
		return fmt.Errorf("seed demo directory: %w", err)
	}
	profile := demoProfile(*channel)
	conn, err := connector.New(nil, connector.Options{LocalMode: true, Logger: logger})
	if err != nil {
		_ = db.Close()
		return fmt.Errorf("connector: %w", err)
	}
	// The demo's approvers may read audit reports; their download links
	// point at this listener.
	links, err := audit.NewRandomLinkSigner()
	if err != nil {
		_ = db.Close()
		return err
	}
	parts, err := assemble(assembly{
		tenantID: demoTenantID, profiles: []access.Profile{profile}, store: db, dir: dir,
		conn: conn, local: true, botID: demoBotID, serviceURL: *serviceURL, logger: logger,
		links: links, publicURL: "http://" + *listen,
		tune: func(c *access.Config) {
			c.DriftInterval = time.Minute
			c.AuditReaderGroups = []string{demoApproverGroupID}
		},
	})
	if err != nil {
		_ = db.Close()
		return err
	}
	parts.listen = *listen
	parts.closeDB = db.Close
	var pg *playground
	defer func() { pg.stop(logger) }()
	ready := func(addr string) {
		b := demoBanner{addr: addr, database: *database, dbFile: demoFile(*database), playgroundPort: pgPort, open: *openPlayground}
		if *openPlayground {
			b.npx, b.npxErr = lookNpx(getenv)
		}
		b.write(stdout)
		if b.npx != "" {
			var perr error
			if pg, perr = startPlayground(b.npx, b.playgroundArgs(), stderr, getenv, logger); perr != nil {
				logger.Error("start the Agents Playground", "err", perr)
			}
		}
	}
	return runServer(ctx, parts, logger, ready)
}

// requireLoopback refuses a listen address that is not on the loopback
// interface: unauthenticated modes must not be reachable from elsewhere.
func requireLoopback(addr string) error {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return fmt.Errorf("listen address %q: %w", addr, err)
	}
	if netutil.IsLoopback(host) {
		return nil
	}
	return fmt.Errorf("listen address %q: local mode listens on the loopback interface only (e.g. 127.0.0.1:3978)", addr)
}

// assembly is what both serve and demo wire together.
type assembly struct {
	tune       func(*access.Config)
	tenantID   string
	profiles   []access.Profile
	store      access.Store
	dir        access.Directory
	conn       bot.Connector
	auth       auth.Authenticator
	local      bool
	botID      string
	serviceURL string
	// serviceHosts are the Bot Connector hosts activities may name outside
	// local mode.
	serviceHosts []string
	logger       *slog.Logger
	// links signs report download links, served under publicURL.
	links     *audit.LinkSigner
	publicURL string
	// sso validates approvers' single sign-on tokens (nil: off).
	sso *bot.SSO
}

// Microsoft Graph tells the cards display names (serve); the demo's
// directory knows its own (demoDirectory).
var _ bot.NameLookup = (*graph.Directory)(nil)

// serve's directory and connector give the approval card's audience (the
// users who get their own view), as the demo's do.
var (
	_ bot.GroupUsers = (*graph.Directory)(nil)
	_ bot.Roster     = (*connector.Client)(nil)
	_ bot.GroupUsers = demoDirectory{}
)

func assemble(a assembly) (runtimeParts, error) {
	// Display names on the cards come from the directory when it can tell
	// them (Microsoft Graph; the demo's simulated directory cannot).
	var names *bot.Names
	if lookup, ok := a.dir.(bot.NameLookup); ok {
		names = bot.NewNames(lookup, bot.NamesOptions{Logger: a.logger})
	}
	notifier := &bot.Notifier{
		Connector: a.conn, TenantID: a.tenantID, BotID: a.botID, BotName: "jitbot", ServiceURL: a.serviceURL,
		Names: names,
	}
	cfg := access.Config{
		TenantID: a.tenantID, Profiles: a.profiles, Store: a.store, Directory: a.dir,
		Notifier: notifier, Clock: access.SystemClock{}, Logger: a.logger, NewID: newID,
	}
	if a.tune != nil {
		a.tune(&cfg)
	}
	svc, err := access.New(cfg)
	if err != nil {
		return runtimeParts{}, fmt.Errorf("configure access service: %w", err)
	}
	notifier.Profile = svc.Profile
	bc := bot.Config{Service: svc, Auth: a.auth, Local: a.local, ServiceHosts: a.serviceHosts, Connector: a.conn, Logger: a.logger, Names: names, SSO: a.sso}
	// Who gets their own view of an approval card: the requester and the
	// approvers in the channel's team (one lookup per profile, cached).
	users, hasUsers := a.dir.(bot.GroupUsers)
	roster, hasRoster := a.conn.(bot.Roster)
	if hasUsers && hasRoster {
		audience := &bot.Audience{Roster: roster, Directory: users, Now: access.SystemClock{}.Now, Logger: a.logger}
		notifier.Audience, bc.Audience = audience, audience
	}
	var download http.Handler
	if a.links != nil {
		bc.Links, bc.PublicURL = a.links, a.publicURL
		download = &api.Download{Links: a.links, Reports: svc, Logger: a.logger}
	}
	h, err := bot.New(bc)
	if err != nil {
		return runtimeParts{}, fmt.Errorf("configure bot: %w", err)
	}
	return runtimeParts{handler: h, service: svc, download: download}, nil
}
