package cards

// LoginRequestType is the invoke-response type that asks Teams to sign the
// user in (Universal Actions single sign-on); its status code is 401.
const LoginRequestType = "application/vnd.microsoft.activity.loginRequest"

// LoginRequest is the value of a loginRequest invoke response: an OAuth
// card whose tokenExchangeResource makes Teams try single sign-on first.
type LoginRequest struct {
	Text           string `json:"text"`
	ConnectionName string `json:"connectionName"`
	// TokenExchangeResource designates single sign-on: Teams obtains a
	// token for URI and sends the action again with it.
	TokenExchangeResource TokenExchangeResource `json:"tokenExchangeResource"`
	// Buttons are the sign-in buttons of the nominal OAuth flow, if any.
	Buttons []SignInButton `json:"buttons,omitempty"`
}

// TokenExchangeResource names the resource Teams gets a single sign-on
// token for: the app's application id URI (URI) and a unique id of the
// exchange (ID).
type TokenExchangeResource struct {
	ID         string `json:"id"`
	URI        string `json:"uri"`
	ProviderID string `json:"providerId,omitempty"`
}

// SignInButtonType is the type of an OAuth card's sign-in button.
const SignInButtonType = "signin"

// SignInButton is a button of type "signin" that opens Value, a sign-in URL.
type SignInButton struct {
	Type  string `json:"type"`
	Title string `json:"title"`
	Text  string `json:"text"`
	Value string `json:"value"`
}

// LoginResponse answers an Action.Execute with a request to sign in:
// Teams signs the user in (silently with single sign-on when it can) and
// sends the same action again, now with value.authentication.token.
func LoginResponse(text string, req LoginRequest) Response {
	req.Text = text
	return Response{StatusCode: 401, Type: LoginRequestType, Value: req}
}
