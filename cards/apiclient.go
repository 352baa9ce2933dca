package cards

import "github.com/jitbot/jitbot/access"

// viaAPI is the approval card's line for a request an API client made on
// the requester's behalf: "Requested through jitbot's API by <client> on
// behalf of <requester>". Both names are inert text runs.
func viaAPI(req *access.Request) richTextBlock {
	return rich(
		run("Requested through jitbot's API by "), bold(oneLine(req.Client.Name, maxLine)),
		run(" on behalf of "), bold(oneLine(req.Requester.Name, maxLine)),
	)
}
