package cards

import (
	"strings"
	"testing"

	"github.com/jitbot/jitbot/access"
)

var deployPipeline = access.APIClient{AppID: "7d1f3a2b-0000-4000-8000-00000000c1d0", Name: "deploy pipeline"}

func apiRequest() *access.Request {
	r := pendingRequest()
	r.ID = "req-0100"
	r.Client = deployPipeline
	return r
}

func apiGoldens() map[string]Card {
	active := activeRequest()
	active.Client = deployPipeline
	return map[string]Card{
		"approval_api_pending": Approval(apiRequest(), profileProdDB(), refreshUsers),
		"approval_api_active":  Approval(active, profileProdDB(), refreshUsers),
	}
}

// The approval card of a request made through the API says which client
// made it for whom, in every state, as inert text; a Teams request's card
// does not mention the API.
func TestApprovalCardNamesTheAPIClient(t *testing.T) {
	hostile := apiRequest()
	hostile.Client.Name = hostileName
	for name, tc := range map[string]struct {
		req    *access.Request
		client string
	}{
		"pending": {apiRequest(), "deploy pipeline"},
		"hostile": {hostile, oneLine(hostileName, maxLine)},
	} {
		t.Run(name, func(t *testing.T) {
			c := Approval(tc.req, profileProdDB(), refreshUsers)
			var line richTextBlock
			found := false
			for _, el := range c.Body {
				if rb, ok := el.(richTextBlock); ok && len(rb.Inlines) == 4 && strings.HasPrefix(rb.Inlines[0].Text, "Requested through jitbot's API") {
					line, found = rb, true
				}
			}
			if !found {
				t.Fatalf("no API line on the card: %s", render(t, c))
			}
			if got := line.Inlines[1].Text; got != tc.client {
				t.Errorf("client shown as %q, want %q", got, tc.client)
			}
			if got := line.Inlines[3].Text; got != "Jane Doe" {
				t.Errorf("requester shown as %q", got)
			}
			if line.Inlines[1].Type != "TextRun" || strings.Contains(line.Inlines[1].Text, "](") || strings.ContainsRune(line.Inlines[1].Text, '\u202e') {
				t.Errorf("the client name is not inert: %q", line.Inlines[1].Text)
			}
		})
	}
	if strings.Contains(string(render(t, Approval(pendingRequest(), profileProdDB(), refreshUsers))), "jitbot's API") {
		t.Error("a Teams request's card mentions the API")
	}
}
