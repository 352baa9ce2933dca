package auth

import "strings"

// Identity presents Claims through the method set of msbotbuilder-go's
// auth.ClaimsIdentity (GetClaimValue, IsAuthenticated), so it can be handed
// to code written against that interface. Unlike that package's own
// implementation, GetClaimValue never panics: an unknown claim yields "".
type Identity struct {
	Claims Claims
}

// GetClaimValue returns the named claim ("aud", "appid", "iss",
// "serviceurl", "kid", "channelid"; case-insensitive) or "".
func (i Identity) GetClaimValue(name string) string {
	switch strings.ToLower(name) {
	case "aud", "appid":
		return i.Claims.AppID
	case "iss":
		return i.Claims.Issuer
	case "serviceurl":
		return i.Claims.ServiceURL
	case "kid":
		return i.Claims.KeyID
	case "channelid":
		return i.Claims.ChannelID
	}
	return ""
}

// IsAuthenticated is true for a token-verified identity and false for one
// accepted in local mode.
func (i Identity) IsAuthenticated() bool { return !i.Claims.Local }
