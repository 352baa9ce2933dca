package auth_test

import (
	"context"
	"testing"

	"github.com/infracloudio/msbotbuilder-go/schema"

	"github.com/jitbot/jitbot/bot/auth"
)

func TestLocalValidator(t *testing.T) {
	l := auth.NewLocalValidator(nil)
	ok := []string{
		"http://localhost:56150/_connector",
		"http://LOCALHOST:56150/_connector/",
		"http://127.0.0.1:3978/",
		"http://127.9.9.9/",
		"http://[::1]:56150/_connector",
		"https://localhost/",
	}
	for _, u := range ok {
		c, err := l.Authenticate(context.Background(), "", &schema.Activity{ServiceURL: u, ChannelID: "msteams"})
		if err != nil {
			t.Errorf("%s: %v", u, err)
			continue
		}
		if !c.Local || c.ServiceURL != u || c.AppID != "" {
			t.Errorf("%s: claims %+v", u, c)
		}
	}
	bad := []string{
		"",
		"https://smba.trafficmanager.net/amer/",
		"http://localhost.evil.example/",
		"http://127.0.0.1.nip.io/",
		"http://10.0.0.1/",
		"http://0.0.0.0/",
		"ftp://localhost/",
		"localhost:56150",
		"//localhost/",
		"http://%zz/",
	}
	for _, u := range bad {
		if _, err := l.Authenticate(context.Background(), "Bearer whatever", &schema.Activity{ServiceURL: u}); err == nil {
			t.Errorf("%q accepted in local mode", u)
		}
	}
	if _, err := l.Authenticate(context.Background(), "", nil); err == nil {
		t.Error("nil activity accepted")
	}
}
