package manifest_test

import (
	"bytes"
	"fmt"

	"github.com/jitbot/jitbot/manifest"
)

func ExamplePackage() {
	var zip bytes.Buffer
	err := manifest.Package(manifest.Options{
		AppID:        "9b1c7f5e-2d4a-4e8b-8c6f-1a2b3c4d5e6f",
		WebsiteURL:   "https://sre.contoso.example/jit",
		ValidDomains: []string{"jitbot.contoso.example"},
	}, &zip)
	fmt.Println(err)
	// Output: <nil>
}

func ExampleOptions_Validate() {
	err := manifest.Options{
		AppID:      "jitbot",
		WebsiteURL: "http://sre.contoso.example/jit",
		PrivacyURL: "https://contoso.example/privacy",
		Version:    "1.0",
	}.Validate()
	fmt.Println(err)
	// Output:
	// manifest: AppID (id, bots[0].botId) "jitbot": must be a GUID like 9b1c7f5e-2d4a-4e8b-8c6f-1a2b3c4d5e6f
	// manifest: WebsiteURL (developer.websiteUrl) "http://sre.contoso.example/jit": must be an https:// URL
	// manifest: TermsOfUseURL (developer.termsOfUseUrl) "http://sre.contoso.example/jit": must be an https:// URL
	// manifest: Version (version) "1.0": must be MAJOR.MINOR.PATCH, e.g. 1.0.0, without leading zeros
}
