package main

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"runtime"
	"runtime/pprof"
	"strings"
	"syscall"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/cloud"
	"github.com/Azure/azure-sdk-for-go/sdk/azidentity"

	"github.com/jitbot/jitbot/access"
	"github.com/jitbot/jitbot/api"
	"github.com/jitbot/jitbot/api/entraauth"
	"github.com/jitbot/jitbot/audit"
	"github.com/jitbot/jitbot/bot"
	"github.com/jitbot/jitbot/bot/auth"
	"github.com/jitbot/jitbot/bot/connector"
	"github.com/jitbot/jitbot/graph"
	"github.com/jitbot/jitbot/internal/netutil"
	"github.com/jitbot/jitbot/metrics"
	"github.com/jitbot/jitbot/storage"
)

// What assemble needs for the approval cards' refresh audience, in both
// modes.
var (
	_ bot.GroupUsers = (*graph.Directory)(nil)
	_ bot.GroupUsers = (*storage.DemoDirectory)(nil)
	_ bot.Roster     = (*connector.Client)(nil)
)

func serve(ctx context.Context, args []string, stdout io.Writer, logger *slog.Logger, getenv func(string) (string, bool)) error {
	fs := commandFlags("serve", stdout)
	configPath := fs.String("config", "jitbot.yaml", "configuration file")
	local := fs.Bool("local", false, "accept unauthenticated activities on 127.0.0.1 only (for Microsoft's Agents Playground)")
	cpuProfile := fs.String("cpuprofile", "", "write a CPU profile (go tool pprof) to this file until the bot stops; off by default")
	memProfile := fs.String("memprofile", "", "write a heap profile (go tool pprof) to this file when the bot stops; off by default")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *memProfile != "" {
		// Fail before serving rather than after: the file is created now
		// and written at shutdown.
		write, err := heapProfileAtExit(*memProfile)
		if err != nil {
			return err
		}
		defer func() {
			if err := write(); err != nil {
				logger.Error("heap profile", "err", err)
			}
		}()
	}
	if *cpuProfile != "" {
		stop, err := startCPUProfile(*cpuProfile)
		if err != nil {
			return err
		}
		defer stop()
	}
	cfg, err := LoadConfig(*configPath, getenv)
	if err != nil {
		return err
	}
	env := func(k string) string { v, _ := getenv(k); return strings.TrimSpace(v) }
	appID := env("MicrosoftAppId")
	listen := cfg.Listen
	if *local {
		listen, err = loopbackOf(cfg.Listen)
		if err != nil {
			return err
		}
		logger.Warn("LOCAL MODE: inbound activities are NOT authenticated; listening on loopback only. Never use this in production.",
			"listen", listen)
	} else if appID == "" {
		return fmt.Errorf("MicrosoftAppId is not set: set the bot's app id (and MicrosoftAppPassword, MicrosoftAppTenantId, MicrosoftAppType), or run with --local for the Agents Playground")
	}

	var profiles []access.Profile
	for _, p := range cfg.Profiles {
		ap, err := p.Profile()
		if err != nil {
			return fmt.Errorf("profile %s: %w", p.Name, err)
		}
		profiles = append(profiles, ap)
	}

	// The health and metrics endpoints; the outside calls are counted
	// from the first.
	var mon *metrics.Metrics
	graphTransport, connTransport := http.RoundTripper(netutil.Transport()), http.RoundTripper(netutil.Transport())
	if cfg.metricsListen() != "" {
		mon = metrics.New(logger)
		graphTransport = mon.Transport(metrics.ServiceGraph, graphTransport)
		connTransport = mon.Transport(metrics.ServiceConnector, connTransport)
	}

	graphCred, err := graphCredential(cfg.Cloud, env)
	if err != nil {
		return fmt.Errorf("graph credential: %w", err)
	}
	dir, err := graph.New(graph.Config{GraphURL: cfg.Cloud.GraphURL, Transport: graphTransport}, graphCred, logger)
	if err != nil {
		return fmt.Errorf("graph client: %w", err)
	}
	warnPIMOnboarding(ctx, dir, profiles, logger)

	connOpts := connector.Options{Logger: logger, Scope: cfg.Cloud.BotScope, MaxRetries: 3, ServiceHosts: cfg.Cloud.BotServiceHosts,
		HTTPClient: &http.Client{Timeout: connector.DefaultTimeout, Transport: connTransport}}
	var botCred azcore.TokenCredential
	var validator *auth.Validator
	if appID != "" {
		botCred, err = botCredential(cfg.Cloud, appID, env)
		if err != nil {
			return fmt.Errorf("bot credential: %w", err)
		}
	} else {
		connOpts.LocalMode = true
	}
	if *local {
		// Unauthenticated activities must not make the bot write anywhere
		// but to this machine, with or without a bot credential.
		if err := netutil.URLHostAllowed(cfg.Cloud.BotServiceURL, nil, true); err != nil {
			return fmt.Errorf("cloud.bot_service_url: %w", err)
		}
	}
	if !*local {
		validator, err = auth.NewValidator(auth.Config{
			AppID: appID, OpenIDMetadataURL: cfg.Cloud.BotOpenIDMetadataURL, Issuer: cfg.Cloud.BotTokenIssuer,
			KeyHosts: cfg.Cloud.BotSigningKeyHosts,
		}, &http.Client{Timeout: 15 * time.Second}, logger)
		if err != nil {
			return fmt.Errorf("token validator: %w", err)
		}
	}
	conn, err := connector.New(botCred, connOpts)
	if err != nil {
		return fmt.Errorf("connector: %w", err)
	}

	signer, err := signingKey(cfg, getenv)
	if err != nil {
		return err
	}
	db, err := openForServing(ctx, cfg.Database, storage.ModeServe, logger)
	if err != nil {
		return err
	}
	replica := cfg.ReplicaID
	if replica == "" {
		replica, _ = os.Hostname()
	}
	failpoint := ""
	if *local {
		// Crash injection for the recovery tests; honoured in local mode only.
		if failpoint = env("JITBOT_FAILPOINT"); failpoint != "" {
			logger.Warn("failpoint armed: the process kills itself there", "failpoint", failpoint)
		}
	}
	a := assembly{
		tenantID: cfg.TenantID, profiles: profiles, store: db, dir: dir, conn: conn,
		local: *local, botID: appID, serviceURL: cfg.Cloud.BotServiceURL, serviceHosts: cfg.Cloud.BotServiceHosts, logger: logger,
		tune: func(c *access.Config) {
			c.Owner = replica
			c.Lease = time.Duration(cfg.Revoke.Lease)
			c.MaxAttempts = cfg.Revoke.MaxAttempts
			c.RevokeBackoff = time.Duration(cfg.Revoke.Backoff)
			c.RevokeBackoffMax = time.Duration(cfg.Revoke.BackoffMax)
			c.SweepInterval = time.Duration(cfg.Revoke.SweepInterval)
			c.RevokeConcurrency = cfg.Revoke.Concurrency
			if !cfg.WriteQuota.Disabled {
				c.Budget = db
				c.WriteQuota = cfg.WriteQuota.Writes
				c.WriteQuotaWindow = time.Duration(cfg.WriteQuota.Window)
				c.WriteReserve = cfg.WriteQuota.Reserve
			}
			c.SecurityChannelID = cfg.Security.ChannelID
			c.SecurityGroups = cfg.Security.Groups
			c.AdminGroups = cfg.Security.AdminGroups
			if !cfg.Drift.Disabled {
				c.DriftInterval = time.Duration(cfg.Drift.Interval)
			}
			c.DriftRemove = cfg.Drift.RemoveUnexplained
			c.AuditReaderGroups = cfg.Audit.ReaderGroups
			if mon != nil {
				c.Monitor = mon
			}
			if failpoint != "" {
				c.Failpoint = func(name string) {
					if name == failpoint {
						logger.Warn("failpoint reached: killing the process", "failpoint", name)
						_ = syscall.Kill(os.Getpid(), syscall.SIGKILL)
						select {}
					}
				}
			}
		},
	}
	if validator != nil {
		a.auth = validator
	}
	if a.links, err = downloadSigner(cfg.Audit, env, logger); err != nil {
		_ = db.Close()
		return err
	}
	a.publicURL = cfg.PublicURL
	if a.sso, err = userTokens(cfg, time.Now, nil, botCred, appID, logger); err != nil {
		_ = db.Close()
		return err
	}
	if len(cfg.Audit.ReaderGroups) > 0 && cfg.PublicURL == "" {
		logger.Warn("public_url is not set: audit reports in Teams have no Download CSV link")
	}
	parts, err := assemble(a)
	if err != nil {
		_ = db.Close()
		return err
	}
	parts.listen = listen
	parts.closeDB = db.Close
	if mon != nil {
		db.OnAudit(mon.Audit)
		mon.WatchGrants(db)
		parts.metrics, parts.metricsListen = mon, cfg.metricsListen()
		parts.ready = append(parts.ready, readyCheck{name: "database", check: db.Ping})
		if validator != nil {
			parts.ready = append(parts.ready, readyCheck{name: "signing keys", check: validator.Ready})
		}
	}
	if parts.auditFeed, err = auditFeed(cfg, db, nil, logger); err != nil {
		_ = db.Close()
		return err
	}
	if parts.requests, err = requestsAPI(cfg, parts.service, nil, logger); err != nil {
		_ = db.Close()
		return err
	}
	cp, err := checkpointer(cfg, signer, db, logger)
	if err != nil {
		_ = db.Close()
		return err
	}
	if cp != nil {
		logger.Info("audit log hash-chained; checkpoints signed", "key_id", cp.KeyID(), "every", time.Duration(cfg.Audit.CheckpointInterval))
		parts.jobs = append(parts.jobs, func(ctx context.Context) { _ = cp.Run(ctx, time.Duration(cfg.Audit.CheckpointInterval)) })
	} else {
		logger.Warn("audit log is hash-chained but UNSIGNED: no checkpoint is signed; set audit.signing_key_file or " + signingKeyEnv + " (see jitbot audit keygen)")
	}
	return runServer(ctx, parts, logger, nil)
}

// startCPUProfile profiles the process into file until stop is called.
func startCPUProfile(file string) (stop func(), err error) {
	f, err := os.Create(file)
	if err != nil {
		return nil, fmt.Errorf("--cpuprofile: %w", err)
	}
	if err := pprof.StartCPUProfile(f); err != nil {
		_ = f.Close()
		return nil, fmt.Errorf("--cpuprofile: %w", err)
	}
	return func() { pprof.StopCPUProfile(); _ = f.Close() }, nil
}

// heapProfileAtExit creates file and returns the function that writes the
// heap profile into it (after a garbage collection, so that it shows the
// memory in use, and with the allocations since the start).
func heapProfileAtExit(file string) (write func() error, err error) {
	f, err := os.Create(file)
	if err != nil {
		return nil, fmt.Errorf("--memprofile: %w", err)
	}
	return func() error {
		runtime.GC()
		err := pprof.Lookup("heap").WriteTo(f, 0)
		if cerr := f.Close(); err == nil {
			err = cerr
		}
		if err != nil {
			return fmt.Errorf("--memprofile: %w", err)
		}
		return nil
	}, nil
}

// auditFeed builds GET /api/audit from audit.feed, or returns nil (and says
// so) when no audience is configured. httpClient fetches the tenant's keys
// (nil: a client with a 15 s timeout).
func auditFeed(cfg *Config, log api.AuditLog, httpClient *http.Client, logger *slog.Logger) (http.Handler, error) {
	if len(cfg.Audit.Feed.Audiences) == 0 {
		logger.Info("audit feed off: no audit.feed.audiences configured", "path", api.AuditFeedPath)
		return nil, nil
	}
	if httpClient == nil {
		httpClient = &http.Client{Timeout: 15 * time.Second}
	}
	v, err := entraauth.New(entraauth.Config{
		TenantID: cfg.TenantID, MetadataURL: cfg.FeedMetadataURL(),
		Issuers: cfg.Audit.Feed.Issuers, Audiences: cfg.Audit.Feed.Audiences, Role: api.AuditFeedRole,
	}, httpClient, logger)
	if err != nil {
		return nil, fmt.Errorf("audit feed: %w", err)
	}
	feed, err := api.NewAuditFeed(log, v, logger)
	if err != nil {
		return nil, err
	}
	logger.Info("audit feed on", "path", api.AuditFeedPath, "role", api.AuditFeedRole, "audiences", cfg.Audit.Feed.Audiences)
	return feed, nil
}

// loopbackOf keeps the port of a listen address and binds it to 127.0.0.1.
func loopbackOf(listen string) (string, error) {
	_, port, err := net.SplitHostPort(listen)
	if err != nil {
		return "", fmt.Errorf("listen %q: %w", listen, err)
	}
	return net.JoinHostPort("127.0.0.1", port), nil
}

func clientOptions(c CloudConfig) azcore.ClientOptions {
	return azcore.ClientOptions{Cloud: cloud.Configuration{ActiveDirectoryAuthorityHost: c.AuthorityHost}}
}

// graphCredential picks the credential for Microsoft Graph from azidentity's
// environment variables: workload identity (AZURE_FEDERATED_TOKEN_FILE), a
// client secret or certificate (AZURE_CLIENT_SECRET /
// AZURE_CLIENT_CERTIFICATE_PATH), else managed identity.
func graphCredential(c CloudConfig, env func(string) string) (azcore.TokenCredential, error) {
	opts := clientOptions(c)
	noDiscovery := c.CustomAuthority()
	switch {
	case env("AZURE_FEDERATED_TOKEN_FILE") != "":
		return azidentity.NewWorkloadIdentityCredential(&azidentity.WorkloadIdentityCredentialOptions{
			ClientOptions: opts, DisableInstanceDiscovery: noDiscovery,
		})
	case env("AZURE_CLIENT_SECRET") != "" || env("AZURE_CLIENT_CERTIFICATE_PATH") != "":
		return azidentity.NewEnvironmentCredential(&azidentity.EnvironmentCredentialOptions{
			ClientOptions: opts, DisableInstanceDiscovery: noDiscovery,
		})
	default:
		mi := &azidentity.ManagedIdentityCredentialOptions{ClientOptions: opts}
		if id := env("AZURE_CLIENT_ID"); id != "" {
			mi.ID = azidentity.ClientID(id)
		}
		return azidentity.NewManagedIdentityCredential(mi)
	}
}

// botCredential is the credential for the bot's own calls to the Bot
// Connector, chosen by MicrosoftAppType.
func botCredential(c CloudConfig, appID string, env func(string) string) (azcore.TokenCredential, error) {
	opts := clientOptions(c)
	noDiscovery := c.CustomAuthority()
	secret := env("MicrosoftAppPassword")
	switch appType := env("MicrosoftAppType"); strings.ToLower(appType) {
	case "", "singletenant":
		tenant := env("MicrosoftAppTenantId")
		if tenant == "" || secret == "" {
			return nil, fmt.Errorf("a SingleTenant bot needs MicrosoftAppTenantId and MicrosoftAppPassword")
		}
		return azidentity.NewClientSecretCredential(tenant, appID, secret, &azidentity.ClientSecretCredentialOptions{
			ClientOptions: opts, DisableInstanceDiscovery: noDiscovery,
		})
	case "multitenant":
		if secret == "" {
			return nil, fmt.Errorf("a MultiTenant bot needs MicrosoftAppPassword")
		}
		return azidentity.NewClientSecretCredential("botframework.com", appID, secret, &azidentity.ClientSecretCredentialOptions{
			ClientOptions: opts, DisableInstanceDiscovery: noDiscovery,
		})
	case "userassignedmsi":
		return azidentity.NewManagedIdentityCredential(&azidentity.ManagedIdentityCredentialOptions{
			ClientOptions: opts, ID: azidentity.ClientID(appID),
		})
	default:
		return nil, fmt.Errorf("MicrosoftAppType %q: want SingleTenant, MultiTenant or UserAssignedMSI", appType)
	}
}

// downloadSigner returns the signer of report download links: the key of
// audit.download_key_file or JITBOT_AUDIT_DOWNLOAD_KEY, else a random key
// for this process alone.
func downloadSigner(c AuditConfig, env func(string) string, logger *slog.Logger) (*audit.LinkSigner, error) {
	text, from, err := secret("audit.download_key_file", c.DownloadKeyFile, "JITBOT_AUDIT_DOWNLOAD_KEY", env)
	if err != nil {
		return nil, err
	}
	if text == "" {
		logger.Info("audit download links are signed with a key of this process only: with several replicas, give them one audit.download_key_file")
		return audit.NewRandomLinkSigner()
	}
	key, err := audit.ParseLinkKey(text)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", from, err)
	}
	return audit.NewLinkSigner(key)
}

// warnPIMOnboarding logs, at start, each group of a pim profile that is
// not onboarded to PIM for Groups yet (its first grant onboards it, which
// cannot be undone), and a policy that cannot be read. It never stops the
// start: the requests of such a profile are checked against the policy.
func warnPIMOnboarding(ctx context.Context, dir *graph.Directory, profiles []access.Profile, logger *slog.Logger) {
	seen := map[string]bool{}
	for _, p := range profiles {
		k := strings.ToLower(p.GroupID)
		if p.MembershipMode() != access.MembershipPIM || seen[k] {
			continue
		}
		seen[k] = true
		cctx, cancel := context.WithTimeout(ctx, 10*time.Second)
		pol, err := dir.PIMPolicy(cctx, p.GroupID)
		cancel()
		switch {
		case err != nil:
			logger.Warn("cannot read the PIM policy of a pim profile's group; its requests are refused until it can be read",
				"profile", p.Name, "group", p.GroupID, "err", err)
		case !pol.Onboarded:
			logger.Warn("group not onboarded to PIM for Groups: the first grant onboards it, which cannot be undone",
				"profile", p.Name, "group", p.GroupID)
		}
	}
}
