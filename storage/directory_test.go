package storage

import (
	"context"
	"reflect"
	"slices"
	"testing"
	"time"
)

func TestDemoDirectory(t *testing.T) {
	forEachBackendURL(t, func(t *testing.T, dbURL string) {
		ctx := context.Background()
		db, err := Open(ctx, dbURL, testLogger(t))
		if err != nil {
			t.Fatal(err)
		}
		dir := db.DemoDirectory()

		already, err := dir.AddMember(ctx, "g-db", alice.ObjectID)
		if err != nil || already {
			t.Fatalf("first AddMember = %v, %v; want added", already, err)
		}
		already, err = dir.AddMember(ctx, "g-db", alice.ObjectID)
		if err != nil || !already {
			t.Fatalf("second AddMember = %v, %v; want already a member", already, err)
		}
		for _, m := range [][2]string{{"g-db", bob.ObjectID}, {"g-web", alice.ObjectID}, {"g-approvers", carol.ObjectID}} {
			if err := dir.SetMember(ctx, m[0], m[1]); err != nil {
				t.Fatal(err)
			}
		}
		if err := dir.SetMember(ctx, "g-db", bob.ObjectID); err != nil {
			t.Errorf("SetMember of an existing member: %v", err)
		}
		members, err := dir.Members(ctx, "g-db")
		if err != nil {
			t.Fatal(err)
		}
		want := []string{alice.ObjectID, bob.ObjectID}
		slices.Sort(want)
		if !equalStrings(members, want) {
			t.Errorf("members of g-db = %v, want sorted %v", members, want)
		}

		groups, err := dir.MemberGroups(ctx, alice.ObjectID, []string{"g-approvers", "g-web", "g-none", "g-db", "g-web"})
		if err != nil {
			t.Fatal(err)
		}
		if want := []string{"g-web", "g-db"}; !equalStrings(groups, want) {
			t.Errorf("MemberGroups(Alice) = %v, want %v", groups, want)
		}
		if groups, err := dir.MemberGroups(ctx, alice.ObjectID, nil); err != nil || len(groups) != 0 {
			t.Errorf("MemberGroups with no groups = %v, %v", groups, err)
		}

		if err := dir.RemoveMember(ctx, "g-db", bob.ObjectID); err != nil {
			t.Fatal(err)
		}
		if err := dir.RemoveMember(ctx, "g-db", bob.ObjectID); err != nil {
			t.Errorf("removing a non-member: %v, want nil", err)
		}
		if _, err := dir.AddMember(ctx, "", alice.ObjectID); err == nil {
			t.Error("AddMember without a group accepted")
		}

		// Memberships survive a restart.
		if err := db.Close(); err != nil {
			t.Fatal(err)
		}
		db = openTest(t, dbURL)
		dir = db.DemoDirectory()
		members, err = dir.Members(ctx, "g-db")
		if err != nil {
			t.Fatal(err)
		}
		if want := []string{alice.ObjectID}; !equalStrings(members, want) {
			t.Errorf("members of g-db after reopening = %v, want %v", members, want)
		}
		groups, err = dir.MemberGroups(ctx, carol.ObjectID, []string{"g-approvers"})
		if err != nil || !equalStrings(groups, []string{"g-approvers"}) {
			t.Errorf("Carol's groups after reopening = %v, %v; want [g-approvers]", groups, err)
		}
	})
}

func TestReopenKeepsRequests(t *testing.T) {
	forEachBackendURL(t, func(t *testing.T, dbURL string) {
		db, err := Open(context.Background(), dbURL, testLogger(t))
		if err != nil {
			t.Fatal(err)
		}
		req := mustCreate(t, db, newRequest(alice, "db-admin", t0))
		approved := mustApprove(t, db, req, t0.Add(time.Minute))
		if err := db.Close(); err != nil {
			t.Fatal(err)
		}
		db = openTest(t, dbURL) // migrating an existing schema again
		got := mustGet(t, db, req.ID)
		if !reflect.DeepEqual(got, approved) {
			t.Errorf("after reopening = %+v, want %+v", got, approved)
		}
	})
}
