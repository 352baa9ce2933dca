package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"slices"
	"strings"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/policy"

	"github.com/jitbot/jitbot/access"
	"github.com/jitbot/jitbot/graph"
	"github.com/jitbot/jitbot/internal/netutil"
	"github.com/jitbot/jitbot/storage"
)

// Results of one doctor check.
const (
	docOK   = "ok"
	docWarn = "warn"
	docFail = "FAIL"
)

// maxClockSkew is the largest difference between this machine's clock and
// Entra ID's that doctor accepts: grants expire on this clock, and tokens
// are checked against it.
const maxClockSkew = time.Minute

// doctorTimeout bounds the whole of `jitbot doctor`.
const doctorTimeout = 2 * time.Minute

// doctorLine is one line of `jitbot doctor`.
type doctorLine struct {
	result, check, detail, fix string
}

func (l doctorLine) String() string {
	s := fmt.Sprintf("%-4s  %s: %s", l.result, l.check, l.detail)
	if l.fix != "" && l.result != docOK {
		s += "; fix: " + l.fix
	}
	return s
}

// doctorCmd runs `jitbot doctor`.
func doctorCmd(ctx context.Context, args []string, stdout io.Writer, logger *slog.Logger, getenv func(string) (string, bool)) error {
	fs := commandFlags("doctor", stdout)
	configPath := fs.String("config", "jitbot.yaml", "configuration file")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return &usageError{command: "doctor", err: fmt.Errorf("unexpected argument %q", fs.Arg(0))}
	}
	ctx, cancel := context.WithTimeout(ctx, doctorTimeout)
	defer cancel()
	lines := doctor(ctx, *configPath, logger, getenv)
	failed := 0
	for _, l := range lines {
		fmt.Fprintln(stdout, l)
		if l.result == docFail {
			failed++
		}
	}
	if failed > 0 {
		return fmt.Errorf("doctor: %s failed", plural(failed, "check"))
	}
	fmt.Fprintln(stdout, "every check passed")
	return nil
}

// doctor runs the checks and returns their lines.
func doctor(ctx context.Context, configPath string, logger *slog.Logger, getenv func(string) (string, bool)) []doctorLine {
	var out []doctorLine
	add := func(result, check, fix, format string, args ...any) {
		out = append(out, doctorLine{result: result, check: check, detail: fmt.Sprintf(format, args...), fix: fix})
	}
	env := func(k string) string { v, _ := getenv(k); return strings.TrimSpace(v) }

	// The configuration, as `jitbot config check` sees it.
	raw, err := os.ReadFile(configPath)
	if err != nil {
		add(docFail, "config", "give the configuration with --config", "read %s: %v", configPath, err)
		return out
	}
	cfg, findings := checkOffline(raw, getenv)
	for _, f := range findings {
		if f.Severity == sevError {
			add(docFail, "config", f.Fix, "%s: %s", f.Key, f.Problem)
		}
	}
	if cfg == nil {
		add(docFail, "config", "fix the errors above (jitbot config check explains each), then run doctor again", "%s does not load: nothing else checked", configPath)
		return out
	}
	add(docOK, "config", "", "%s is valid (%s; jitbot config check lists them)", configPath, plural(countSeverity(findings, sevWarning), "warning"))

	out = append(out, doctorDatabase(ctx, cfg.Database, logger)...)
	out = append(out, doctorClock(ctx, cfg, env)...)

	// The bot's token for the Bot Connector.
	appID := env("MicrosoftAppId")
	switch botCred, err := botCredentialOrWhy(cfg, appID, env); {
	case err != nil:
		add(docFail, "bot token", "set MicrosoftAppId, MicrosoftAppPassword, MicrosoftAppTenantId and MicrosoftAppType as for serve", "%v", err)
	default:
		if _, err := botCred.GetToken(ctx, policy.TokenRequestOptions{Scopes: []string{cfg.Cloud.BotScope}}); err != nil {
			add(docFail, "bot token", "check MicrosoftAppPassword (the secret's value, not its id), MicrosoftAppTenantId and MicrosoftAppType ("+appType(env)+") against the bot's app registration",
				"no token for %s: %v", cfg.Cloud.BotScope, firstLine(err))
		} else {
			add(docOK, "bot token", "", "obtained for %s (%s app %s)", cfg.Cloud.BotScope, appType(env), appID)
		}
	}

	// Graph: the token and its permissions.
	graphCred, err := graphCredential(cfg.Cloud, env)
	if err != nil {
		add(docFail, "graph token", "set serve's Graph credential (AZURE_TENANT_ID, AZURE_CLIENT_ID and AZURE_CLIENT_SECRET, a certificate or a workload identity)", "%v", err)
		return out
	}
	dir, err := graph.New(graph.Config{GraphURL: cfg.Cloud.GraphURL}, graphCred, logger)
	if err != nil {
		add(docFail, "graph token", "check cloud.graph_url", "%v", err)
		return out
	}
	roles, err := dir.AppRoles(ctx)
	if errors.Is(err, graph.ErrUnreadableToken) {
		add(docFail, "graph token", "check cloud.authority_host and cloud.graph_url: Entra ID issues Graph tokens as JWTs", "obtained, but %v", err)
		return out
	}
	if err != nil {
		add(docFail, "graph token", "check AZURE_TENANT_ID, AZURE_CLIENT_ID and AZURE_CLIENT_SECRET (the secret's value, not its id) against jitbot's app registration",
			"%v", firstLine(err))
		return out
	}
	add(docOK, "graph token", "", "obtained for %s with the application permissions %s", cfg.Cloud.GraphURL, orNone(roles))
	for i, p := range cfg.Profiles {
		key := cfg.profileKey(i)
		info, err := dir.Group(ctx, p.GroupID)
		if err != nil {
			problem, fix := groupProblem(p.GroupID, err)
			add(docFail, key+" group", fix, "%s", problem)
			continue
		}
		kind := "group"
		if info.RoleAssignable {
			kind = "role-assignable group"
		}
		add(docOK, key+" group", "", "%s %s (%s) is readable", kind, p.GroupID, info.DisplayName)
		missing := graph.MissingWritePermissions(roles, info.RoleAssignable)
		pim := access.MembershipMode(p.Membership) == access.MembershipPIM
		if pim && !slices.ContainsFunc(roles, func(r string) bool { return strings.EqualFold(r, access.PIMPermission) }) {
			// Its grants are PIM assignments: without it every one fails.
			missing = append(missing, access.PIMPermission)
		}
		switch {
		case len(missing) > 0:
			add(docFail, key+" membership permission", fmt.Sprintf("grant jitbot's app registration the Microsoft Graph application permission %s (API permissions, Add a permission, Application permissions) and give admin consent", strings.Join(missing, " and ")),
				"jitbot cannot add or remove members of %s %s: the Graph token lacks %s", kind, p.GroupID, strings.Join(missing, " and "))
		case pim:
			add(docOK, key+" membership permission", "", "the Graph token may change the members of %s %s and make its PIM assignments", kind, p.GroupID)
		default:
			add(docOK, key+" membership permission", "", "the Graph token may change the members of %s %s", kind, p.GroupID)
		}
	}

	// Channel ids.
	channels := map[string]string{}
	if cfg.Security.ChannelID != "" {
		channels["security.channel_id"] = cfg.Security.ChannelID
	}
	for i, p := range cfg.Profiles {
		channels[cfg.profileKey(i)+".approvers.channel_id"] = p.Approvers.ChannelID
		if p.Approvers.EscalationChannelID != "" {
			channels[cfg.profileKey(i)+".approvers.escalation_channel_id"] = p.Approvers.EscalationChannelID
		}
	}
	bad := 0
	for key, id := range channels {
		if !teamsChannelID.MatchString(id) {
			bad++
			add(docFail, "channel "+key, "copy the channel's id from Teams (the channel's ... menu, Get link to channel: the part after /channel/, URL-decoded)",
				"%q is not a Teams channel id (19:...@thread.tacv2 or 19:...@thread.skype)", id)
		}
	}
	if bad == 0 {
		add(docOK, "channels", "", "%s well-formed", plural(len(channels), "channel id"))
	}

	// The groups of people, as `jitbot config check --online` asks the
	// tenant, and requester groups that have nobody in them.
	deps, err := envOnline(cfg, env, logger)
	if err != nil {
		add(docFail, "groups", "set the credentials serve uses", "cannot ask the tenant: %v", err)
		return out
	}
	deps.Directory = dir
	var online []finding
	for _, f := range checkOnline(ctx, cfg, deps) {
		// Each profile's own group has its line above.
		if !strings.HasSuffix(f.Key, ".group_id") {
			online = append(online, f)
		}
	}
	for _, f := range online {
		result := map[string]string{sevError: docFail, sevWarning: docWarn, sevNote: docWarn}[f.Severity]
		add(result, f.Key, f.Fix, "%s", f.Problem)
	}
	empty := 0
	for i, p := range cfg.Profiles {
		for j, g := range p.Requesters.Groups {
			ids, err := dir.TransitiveMembers(ctx, g)
			if err == nil && len(ids) == 0 {
				empty++
				add(docFail, fmt.Sprintf("%s.requesters.groups[%d]", cfg.profileKey(i), j), "add the people who may ask for "+p.Name+" to the group, or remove the group",
					"group %s has no members: nobody can ask for %s through it", g, p.Name)
			}
		}
	}
	if countSeverity(online, sevError) == 0 && empty == 0 {
		add(docOK, "groups", "", "the approver and requester groups exist and have members")
	}
	return out
}

// doctorDatabase checks that the database answers, holds jitbot's schema
// (or none yet) and is not a demo database, changing nothing.
func doctorDatabase(ctx context.Context, databaseURL string, logger *slog.Logger) []doctorLine {
	shown := storage.ShowURL(databaseURL)
	in, err := storage.Inspect(ctx, databaseURL, logger)
	switch {
	case err != nil:
		return []doctorLine{{docFail, "database", fmt.Sprintf("cannot reach %s: %v", shown, firstLine(err)), "check `database` (host, port, user, password, sslmode) and that the database server accepts this machine"}}
	case in.Missing:
		return []doctorLine{{docOK, "database", fmt.Sprintf("%s does not exist yet; serve creates it at its first start", shown), ""}}
	case in.Empty:
		return []doctorLine{{docOK, "database", fmt.Sprintf("%s is reachable and empty; serve creates the schema at its first start", shown), ""}}
	case in.Mode == storage.ModeDemo:
		return []doctorLine{{docFail, "database", fmt.Sprintf("%s was created by `jitbot demo` and holds demo data (a simulated directory, self-approval)", shown), "set `database` to a new database, e.g. sqlite:jitbot.db or postgres://..."}}
	case len(in.Outdated) > 0:
		return []doctorLine{{docWarn, "database", fmt.Sprintf("%s is reachable; serve brings its schema up to date at start (adds %s)", shown, strings.Join(in.Outdated, ", ")), "let one replica start first when several share it"}}
	}
	return []doctorLine{{docOK, "database", fmt.Sprintf("%s is reachable and its schema is up to date", shown), ""}}
}

// doctorClock compares this machine's clock with the Date header of the
// token endpoint's host.
func doctorClock(ctx context.Context, cfg *Config, env func(string) string) []doctorLine {
	tenant := cmpOr(cfg.TenantID, env("MicrosoftAppTenantId"), env("AZURE_TENANT_ID"))
	u := strings.TrimRight(cfg.Cloud.AuthorityHost, "/") + "/" + tenant + "/v2.0/.well-known/openid-configuration"
	client := &http.Client{Timeout: 15 * time.Second, Transport: netutil.Transport()}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return []doctorLine{{docFail, "clock", fmt.Sprintf("cannot ask %s: %v", cfg.Cloud.AuthorityHost, err), "check cloud.authority_host"}}
	}
	sent := time.Now()
	resp, err := client.Do(req)
	if err != nil {
		return []doctorLine{{docFail, "clock", fmt.Sprintf("cannot reach the token endpoint's host %s: %v", cfg.Cloud.AuthorityHost, firstLine(err)), "check the network, the proxy settings and cloud.authority_host"}}
	}
	_ = resp.Body.Close()
	got := time.Now()
	date, err := http.ParseTime(resp.Header.Get("Date"))
	if err != nil {
		return []doctorLine{{docWarn, "clock", fmt.Sprintf("%s sent no Date header to compare the clock with", cfg.Cloud.AuthorityHost), ""}}
	}
	return []doctorLine{clockLine(sent.Add(got.Sub(sent)/2), date)}
}

// clockLine judges the skew of the local clock at local against remote (a
// Date header, to the second).
func clockLine(local, remote time.Time) doctorLine {
	// A Date header is truncated to the second: the remote time was
	// within the second after it.
	skew := local.Sub(remote.Add(time.Second / 2))
	abs := max(skew, -skew).Round(time.Second)
	if abs > maxClockSkew {
		way := "ahead of"
		if skew < 0 {
			way = "behind"
		}
		return doctorLine{docFail, "clock", fmt.Sprintf("this machine's clock is %s %s Entra ID's (over %s): grants would end at the wrong time", abs, way, maxClockSkew),
			"synchronise the clock (NTP: timedatectl set-ntp true, or chrony)"}
	}
	return doctorLine{docOK, "clock", fmt.Sprintf("within %s of Entra ID's", max(abs, time.Second)), ""}
}

// botCredentialOrWhy is serve's bot credential, or why there is none.
func botCredentialOrWhy(cfg *Config, appID string, env func(string) string) (azcore.TokenCredential, error) {
	if appID == "" {
		return nil, errors.New("MicrosoftAppId is not set (serve needs the bot's app id and credential)")
	}
	c, err := botCredential(cfg.Cloud, appID, env)
	if err != nil {
		return nil, err
	}
	return c, nil
}

func appType(env func(string) string) string { return cmpOr(env("MicrosoftAppType"), "SingleTenant") }

func orNone(roles []string) string {
	if len(roles) == 0 {
		return "(none)"
	}
	return strings.Join(roles, ", ")
}

// firstLine is the first line of an error (azidentity's run to pages),
// with Entra ID's own AADSTS message when the error carries one.
func firstLine(err error) string {
	lines := strings.Split(err.Error(), "\n")
	s := strings.TrimSpace(lines[0])
	for _, l := range lines[1:] {
		if i := strings.Index(l, "AADSTS"); i >= 0 {
			return s + ": " + strings.Trim(strings.TrimSpace(l[i:]), `",`)
		}
	}
	return s
}

func cmpOr(vals ...string) string {
	for _, v := range vals {
		if v != "" {
			return v
		}
	}
	return ""
}
