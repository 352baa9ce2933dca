package main

import (
	"fmt"
	"os"
	"strconv"
	"strings"

	"github.com/jitbot/jitbot/bot/connectortest"
)

// sdkEnv is the environment a bot built on Microsoft's Bot Framework SDK
// (botbuilder-js's ConfigurationBotFrameworkAuthentication reads these
// settings) needs to run against this run's fakes: where the channel's
// OpenID metadata is and which issuer its tokens name, where the bot gets
// its own token for the connector, and the trust of the fakes' certificate
// for Node.js. A bot attached with -url gets them in its .env file next to
// jitbot's, so that bench/side-by-side.sh can start the SDK's echo bot
// against the same fakes.
func (f *fakes) sdkEnv() []string {
	return []string{
		"ToBotFromChannelOpenIdMetadataUrl=" + f.issuerURL + connectortest.IssuerMetadataPath,
		"ToBotFromEmulatorOpenIdMetadataUrl=" + f.issuerURL + connectortest.IssuerMetadataPath,
		"ToBotFromChannelTokenIssuer=" + connectortest.BotFrameworkIssuer,
		"ToChannelFromBotLoginUrl=" + f.authority.URL() + "/" + tenantID,
		"ToChannelFromBotOAuthScope=https://api.botframework.com",
		"OAuthUrl=" + f.serviceURL,
		"CallerId=urn:botframework:azure",
		"ValidateAuthority=false",
		"NODE_EXTRA_CA_CERTS=" + f.certFile,
	}
}

// readPIDFile returns the process id in file, written by whoever started
// the bot, once the bot answers.
func readPIDFile(file string) (int, error) {
	raw, err := os.ReadFile(file)
	if err != nil {
		return 0, fmt.Errorf("-pid-file: %w", err)
	}
	pid, err := strconv.Atoi(strings.TrimSpace(string(raw)))
	if err != nil || pid <= 0 {
		return 0, fmt.Errorf("-pid-file %s: %q is not a process id", file, strings.TrimSpace(string(raw)))
	}
	if _, err := readProc(pid); err != nil {
		return 0, fmt.Errorf("-pid-file %s: process %d: %w", file, pid, err)
	}
	return pid, nil
}
