package auth

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/url"

	"github.com/infracloudio/msbotbuilder-go/schema"

	"github.com/jitbot/jitbot/internal/netutil"
)

// LocalValidator is the inbound "authentication" for local development
// against the Microsoft 365 Agents Playground, which sends no token. It
// accepts an activity only if its serviceUrl is an http(s) URL on a loopback
// host (localhost, 127.0.0.0/8, ::1), so a bot accidentally deployed in
// local mode still refuses activities from real channels, and the bot never
// replies to a non-local service URL it was handed by an unauthenticated
// caller. Any Authorization header is ignored.
type LocalValidator struct {
	logger *slog.Logger
}

// NewLocalValidator returns a LocalValidator; logger nil discards logs.
func NewLocalValidator(logger *slog.Logger) *LocalValidator {
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	logger.Warn("bot auth: LOCAL MODE, inbound requests are not authenticated; only loopback service URLs are accepted")
	return &LocalValidator{logger: logger}
}

// Authenticate accepts act if its serviceUrl is on a loopback host.
func (l *LocalValidator) Authenticate(_ context.Context, _ string, act *schema.Activity) (Claims, error) {
	if act == nil {
		return Claims{}, errors.New("local mode: no activity")
	}
	u, err := url.Parse(act.ServiceURL)
	if err != nil || u.Host == "" || (u.Scheme != "http" && u.Scheme != "https") {
		return Claims{}, fmt.Errorf("local mode: activity serviceUrl %q is not an http(s) URL", act.ServiceURL)
	}
	if !netutil.IsLoopback(u.Hostname()) {
		return Claims{}, fmt.Errorf("local mode: activity serviceUrl %q is not a loopback address", act.ServiceURL)
	}
	return Claims{ServiceURL: act.ServiceURL, ChannelID: act.ChannelID, Local: true}, nil
}
