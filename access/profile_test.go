package access_test

import (
	"strings"
	"testing"

	"github.com/jitbot/jitbot/access"
	"github.com/jitbot/jitbot/access/accesstest"
)

func TestProfileAliasesAreCheckedAtStart(t *testing.T) {
	admin := prodProfile()
	admin.Name, admin.GroupID = "prod-db-admin", "aaaaaaaa-0000-4000-8000-000000000009"
	cases := []struct {
		name          string
		first, second []string
		want          string
	}{
		{"valid", []string{"db", "database"}, []string{"dba"}, ""},
		{"upper case", []string{"DB"}, nil, `aliases[0] "DB": use lower-case letters`},
		{"a space", []string{"prod db"}, nil, `aliases[0] "prod db"`},
		{"its own name", []string{"prod-db"}, nil, `aliases[0] "prod-db" repeats the name`},
		{"twice", []string{"db", "db"}, nil, `aliases[1] "db" repeats`},
		{"another profile's name", nil, []string{"prod-db"}, `profile prod-db-admin: "prod-db" is already a name or alias of profile prod-db`},
		{"another profile's alias", []string{"db"}, []string{"db"}, `profile prod-db-admin: "db" is already a name or alias of profile prod-db`},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			p, q := prodProfile(), admin
			p.Aliases, q.Aliases = c.first, c.second
			_, err := access.New(access.Config{
				TenantID: tenant, Profiles: []access.Profile{p, q}, Store: accesstest.NewStore(),
				Directory: &mapDirectory{}, Notifier: accesstest.NewNotifier(), Clock: accesstest.NewClock(start),
				NewID: func() string { return "id" },
			})
			if c.want == "" {
				if err != nil {
					t.Fatal(err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), c.want) {
				t.Fatalf("want an error containing %q, got %v", c.want, err)
			}
		})
	}
}
