package bot

import "encoding/json"

// clientInfoTimezone returns the IANA time zone a Teams client reports in
// the activity's clientInfo entity
// (`"entities": [{"type": "clientInfo", "timezone": "Europe/Berlin", ...}]`),
// or "" when there is none. Teams sends the same zone in
// activity.localTimezone, which is read first; this covers clients that
// send only the entity. The schema's Entity keeps only the type, so the
// body is read again for it.
func clientInfoTimezone(body []byte) string {
	var act struct {
		Entities []struct {
			Type     string `json:"type"`
			Timezone string `json:"timezone"`
		} `json:"entities"`
	}
	if json.Unmarshal(body, &act) != nil {
		return ""
	}
	for _, e := range act.Entities {
		if e.Type == "clientInfo" && e.Timezone != "" {
			return e.Timezone
		}
	}
	return ""
}
