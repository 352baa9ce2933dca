package main

import (
	"errors"
	"net"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/jitbot/jitbot/bot/connectortest"
	"github.com/jitbot/jitbot/graph/graphtest"
)

// runDoctor runs `jitbot doctor` against the rig's fakes with serve's
// credentials (the bot's and Graph's) and extra environment, and returns
// its output and exit code.
func runDoctor(t *testing.T, r *rig, config string, extraEnv ...string) (string, int) {
	t.Helper()
	env := r.env(append([]string{
		"MicrosoftAppId=" + fClientID, "MicrosoftAppPassword=" + fSecret,
		"MicrosoftAppTenantId=" + fTenant, "MicrosoftAppType=SingleTenant",
	}, extraEnv...)...)
	cmd := exec.Command(r.bin, "doctor", "--config", config)
	cmd.Env = env
	out, err := cmd.CombinedOutput()
	var exit *exec.ExitError
	switch {
	case err == nil:
		return string(out), 0
	case errors.As(err, &exit):
		return string(out), exit.ExitCode()
	}
	t.Fatalf("doctor: %v\n%s", err, out)
	return "", 0
}

// withTLSConnector rewrites config to reach the rig's connector over https
// (the bot reads a channel's members with its token) and returns it.
func withTLSConnector(t *testing.T, r *rig, config string) string {
	t.Helper()
	u, _ := url.Parse(r.conn.ServiceURL())
	front := r.ca.front(t, u.Scheme+"://"+u.Host, nil)
	raw, err := os.ReadFile(config)
	if err != nil {
		t.Fatal(err)
	}
	raw = []byte(strings.ReplaceAll(string(raw), u.Scheme+"://"+u.Host, front))
	if err := os.WriteFile(config, raw, 0o600); err != nil {
		t.Fatal(err)
	}
	return config
}

// lineOf is the output line of check (its text up to the colon).
func lineOf(out, check string) string {
	for line := range strings.SplitSeq(out, "\n") {
		if len(line) > 6 && strings.HasPrefix(line[6:], check+":") {
			return line
		}
	}
	return ""
}

func TestDoctor(t *testing.T) {
	if testing.Short() {
		t.Skip("runs the binary")
	}
	r := newRig(t, faultBinary(t), 1)
	r.authority.SetToken(r.graph.SetRoles(graphtest.RoleGroupMemberReadWriteAll, graphtest.RoleGroupMemberReadAll))
	// The bot reads the channel's members over https, with its token.
	r.conn.SetRoster(fApproversChan, connectortest.Member{ID: "29:approver", Name: "Approver", AadObjectID: fApprover})
	withTLSConnector := func(config string) string { return withTLSConnector(t, r, config) }
	config := withTLSConnector(r.config(botOpts{database: "sqlite:" + filepath.Join(r.dir, "jitbot.db"), replica: "bot"}))
	start := time.Now()
	calls := len(r.graph.Calls())

	out, code := runDoctor(t, r, config)
	if code != 0 {
		t.Fatalf("doctor against working fakes: exit %d\n%s", code, out)
	}
	for _, check := range []string{"config", "database", "clock", "bot token", "graph token", "profiles[0] (prod-db-0) group",
		"profiles[0] (prod-db-0) membership permission", "channels", "groups"} {
		if l := lineOf(out, check); !strings.HasPrefix(l, "ok ") {
			t.Errorf("line %q: %q, want ok\n%s", check, l, out)
		}
	}
	for _, c := range r.graph.Calls()[calls:] {
		if c.Method != "GET" {
			t.Errorf("doctor changed the directory: %s %s", c.Method, c.Path)
		}
	}
	t.Logf("doctor took %s", time.Since(start).Round(time.Millisecond))

	t.Run("role-assignable group without RoleManagement.ReadWrite.Directory", func(t *testing.T) {
		r.graph.SetRoleAssignable(fGroup(0), true)
		defer r.graph.SetRoleAssignable(fGroup(0), false)
		out, code := runDoctor(t, r, config)
		l := lineOf(out, "profiles[0] (prod-db-0) membership permission")
		if code != 1 || !strings.HasPrefix(l, "FAIL") || !strings.Contains(l, "fix: grant jitbot's app registration the Microsoft Graph application permission RoleManagement.ReadWrite.Directory") {
			t.Errorf("exit %d, line %q\n%s", code, l, out)
		}
	})

	t.Run("no membership write permission", func(t *testing.T) {
		r.authority.SetToken(r.graph.SetRoles(graphtest.RoleGroupMemberReadAll))
		defer func() {
			r.authority.SetToken(r.graph.SetRoles(graphtest.RoleGroupMemberReadWriteAll, graphtest.RoleGroupMemberReadAll))
		}()
		out, code := runDoctor(t, r, config)
		l := lineOf(out, "profiles[0] (prod-db-0) membership permission")
		if code != 1 || !strings.HasPrefix(l, "FAIL") || !strings.Contains(l, "fix: grant jitbot's app registration the Microsoft Graph application permission GroupMember.ReadWrite.All") {
			t.Errorf("exit %d, line %q\n%s", code, l, out)
		}
		if l := lineOf(out, "graph token"); !strings.HasPrefix(l, "ok ") {
			t.Errorf("graph token line %q, want ok", l)
		}
	})

	t.Run("pim profile without the PIM assignment permission", func(t *testing.T) {
		pim := withTLSConnector(r.config(botOpts{database: "sqlite:" + filepath.Join(r.dir, "jitbot.db"), replica: "bot", membership: "pim"}))
		out, code := runDoctor(t, r, pim)
		l := lineOf(out, "profiles[0] (prod-db-0) membership permission")
		if code != 1 || !strings.HasPrefix(l, "FAIL") || !strings.Contains(l, "PrivilegedAssignmentSchedule.ReadWrite.AzureADGroup") {
			t.Errorf("exit %d, line %q\n%s", code, l, out)
		}
		r.authority.SetToken(r.graph.SetRoles(graphtest.RoleGroupMemberReadWriteAll, graphtest.RoleGroupMemberReadAll, "PrivilegedAssignmentSchedule.ReadWrite.AzureADGroup"))
		defer func() {
			r.authority.SetToken(r.graph.SetRoles(graphtest.RoleGroupMemberReadWriteAll, graphtest.RoleGroupMemberReadAll))
		}()
		out, _ = runDoctor(t, r, pim)
		if l := lineOf(out, "profiles[0] (prod-db-0) membership permission"); !strings.HasPrefix(l, "ok ") || !strings.Contains(l, "PIM") {
			t.Errorf("with the PIM permission: line %q\n%s", l, out)
		}
	})

	t.Run("wrong Graph secret", func(t *testing.T) {
		out, code := runDoctor(t, r, config, "AZURE_CLIENT_SECRET=not-the-secret")
		l := lineOf(out, "graph token")
		if code != 1 || !strings.HasPrefix(l, "FAIL") || !strings.Contains(l, "AADSTS7000215") || !strings.Contains(l, "fix: check AZURE_TENANT_ID, AZURE_CLIENT_ID and AZURE_CLIENT_SECRET") {
			t.Errorf("exit %d, line %q\n%s", code, l, out)
		}
	})

	t.Run("wrong bot secret", func(t *testing.T) {
		out, code := runDoctor(t, r, config, "MicrosoftAppPassword=not-the-secret")
		l := lineOf(out, "bot token")
		if code != 1 || !strings.HasPrefix(l, "FAIL") || !strings.Contains(l, "fix: check MicrosoftAppPassword") {
			t.Errorf("exit %d, line %q\n%s", code, l, out)
		}
	})

	t.Run("database unreachable", func(t *testing.T) {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		closed := ln.Addr().String()
		ln.Close()
		out, code := runDoctor(t, r, withTLSConnector(r.config(botOpts{database: "postgres://jitbot:pw@" + closed + "/jitbot?sslmode=disable", replica: "no-db"})))
		l := lineOf(out, "database")
		if code != 1 || !strings.HasPrefix(l, "FAIL") || !strings.Contains(l, "fix: check `database`") || strings.Contains(l, ":pw@") {
			t.Errorf("exit %d, line %q\n%s", code, l, out)
		}
	})

	t.Run("password in the database URL's query", func(t *testing.T) {
		// PostgreSQL URLs may carry the password as a parameter
		// (?password=...), which the output must not show either.
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		closed := ln.Addr().String()
		ln.Close()
		const pw = "hunter2-query-secret"
		out, _ := runDoctor(t, r, withTLSConnector(r.config(botOpts{database: "postgres://jitbot@" + closed + "/jitbot?sslmode=disable&password=" + pw + "&sslpassword=" + pw, replica: "query-pw"})))
		if l := lineOf(out, "database"); !strings.HasPrefix(l, "FAIL") || strings.Contains(out, pw) {
			t.Errorf("the password is shown: line %q\n%s", l, out)
		}
	})

	t.Run("no bot app id", func(t *testing.T) {
		out, code := runDoctor(t, r, config, "MicrosoftAppId=")
		if l := lineOf(out, "bot token"); code != 1 || !strings.HasPrefix(l, "FAIL") || !strings.Contains(l, "MicrosoftAppId is not set") {
			t.Errorf("exit %d, line %q\n%s", code, l, out)
		}
	})

	t.Run("demo database", func(t *testing.T) {
		demoDB := "sqlite:" + filepath.Join(r.dir, "demo.db")
		st := openStore(t, demoDB)
		if _, err := st.Mode(t.Context(), "demo"); err != nil {
			t.Fatal(err)
		}
		_ = st.Close()
		out, code := runDoctor(t, r, withTLSConnector(r.config(botOpts{database: demoDB, replica: "demo-db"})))
		if l := lineOf(out, "database"); code != 1 || !strings.HasPrefix(l, "FAIL") || !strings.Contains(l, "jitbot demo") {
			t.Errorf("exit %d, line %q\n%s", code, l, out)
		}
	})
}

// TestDoctorPIM: for a profile with membership pim, doctor checks the Graph
// token's permission to make PIM assignments instead of the direct write
// permission, and the group's PIM policy on lines of its own: readable,
// onboarded (a warning with the fix when not: the first grant would
// onboard it for good), no MFA on active assignment, a maximum that allows
// max_duration. Nothing is assigned or onboarded by the check.
func TestDoctorPIM(t *testing.T) {
	if testing.Short() {
		t.Skip("runs the binary")
	}
	r := newRig(t, faultBinary(t), 1)
	allRoles := []string{graphtest.RoleGroupMemberReadAll, graphtest.RolePrivilegedAssignmentScheduleReadWriteGroup, graphtest.RoleRoleManagementPolicyReadGroup}
	setRoles := func(roles ...string) { r.authority.SetToken(r.graph.SetRoles(roles...)) }
	setRoles(allRoles...)
	r.conn.SetRoster(fApproversChan, connectortest.Member{ID: "29:approver", Name: "Approver", AadObjectID: fApprover})
	config := withTLSConnector(t, r, r.config(botOpts{database: "sqlite:" + filepath.Join(r.dir, "jitbot.db"), replica: "bot", membership: "pim"}))
	const key = "profiles[0] (prod-db-0) "
	expect := func(t *testing.T, out string, check, result string, want ...string) {
		t.Helper()
		l := lineOf(out, key+check)
		if !strings.HasPrefix(l, result+" ") {
			t.Errorf("line %q: %q, want %s\n%s", check, l, result, out)
		}
		for _, w := range want {
			if !strings.Contains(l, w) {
				t.Errorf("line %q: %q, want it to say %q", check, l, w)
			}
		}
	}

	t.Run("not onboarded", func(t *testing.T) {
		out, code := runDoctor(t, r, config)
		if code != 0 {
			t.Errorf("exit %d, want 0 (a warning)\n%s", code, out)
		}
		expect(t, out, "membership permission", "ok", "may make PIM assignments of group "+fGroup(0))
		expect(t, out, "PIM policy", "ok", "readable")
		expect(t, out, "PIM onboarding", "warn", "not onboarded to PIM for Groups", "cannot be undone", "fix: onboard the group yourself")
		if l := lineOf(out, key+"PIM MFA rule"); l != "" {
			t.Errorf("a group without a PIM policy yet has an MFA line: %q", l)
		}
	})

	r.graph.OnboardPIM(fGroup(0))
	t.Run("onboarded, default policy", func(t *testing.T) {
		out, code := runDoctor(t, r, config)
		if code != 0 {
			t.Errorf("exit %d, want 0\n%s", code, out)
		}
		expect(t, out, "PIM onboarding", "ok", "is onboarded")
		expect(t, out, "PIM MFA rule", "ok", "does not require multifactor authentication")
		expect(t, out, "PIM maximum", "ok", "up to 4320h", "max_duration 4h0m0s fits")
	})

	t.Run("MFA on active assignment", func(t *testing.T) {
		r.graph.SetPIMPolicy(fGroup(0), graphtest.PIMPolicy{MaxDuration: graphtest.DefaultPIMMaxDuration, RequireMFA: true})
		defer r.graph.SetPIMPolicy(fGroup(0), graphtest.PIMPolicy{MaxDuration: graphtest.DefaultPIMMaxDuration})
		out, code := runDoctor(t, r, config)
		if code != 1 {
			t.Errorf("exit %d, want 1\n%s", code, out)
		}
		expect(t, out, "PIM MFA rule", "FAIL", "requires multifactor authentication on active assignment",
			`fix: turn off "Require Azure Multi-Factor Authentication on active assignment"`)
	})

	t.Run("policy maximum below max_duration", func(t *testing.T) {
		r.graph.SetPIMPolicy(fGroup(0), graphtest.PIMPolicy{MaxDuration: time.Hour})
		defer r.graph.SetPIMPolicy(fGroup(0), graphtest.PIMPolicy{MaxDuration: graphtest.DefaultPIMMaxDuration})
		out, code := runDoctor(t, r, config)
		if code != 1 {
			t.Errorf("exit %d, want 1\n%s", code, out)
		}
		expect(t, out, "PIM maximum", "FAIL", "4h0m0s is longer than the 1h", "fix: lower max_duration, or raise \"Expire active assignment after\"")
	})

	t.Run("no PIM assignment permission", func(t *testing.T) {
		setRoles(graphtest.RoleGroupMemberReadAll, graphtest.RoleGroupMemberReadWriteAll, graphtest.RoleRoleManagementPolicyReadGroup)
		defer setRoles(allRoles...)
		out, code := runDoctor(t, r, config)
		if code != 1 {
			t.Errorf("exit %d, want 1\n%s", code, out)
		}
		expect(t, out, "membership permission", "FAIL", "lacks PrivilegedAssignmentSchedule.ReadWrite.AzureADGroup",
			"fix: grant jitbot's app registration the Microsoft Graph application permission PrivilegedAssignmentSchedule.ReadWrite.AzureADGroup")
	})

	t.Run("PIM policy unreadable", func(t *testing.T) {
		setRoles(graphtest.RoleGroupMemberReadAll, graphtest.RolePrivilegedAssignmentScheduleReadWriteGroup)
		defer setRoles(allRoles...)
		out, code := runDoctor(t, r, config)
		if code != 1 {
			t.Errorf("exit %d, want 1\n%s", code, out)
		}
		expect(t, out, "PIM policy", "FAIL", "cannot read the PIM policy of group "+fGroup(0), "RoleManagementPolicy.Read.AzureADGroup")
	})

	if n := r.graph.Count(graphtest.RoutePIMRequest); n != 0 {
		t.Errorf("doctor sent %d PIM assignment requests", n)
	}
	if got := r.graph.PIMOnboardings(); len(got) != 1 {
		t.Errorf("onboarded groups %v, want only the one the test onboarded", got)
	}
}
