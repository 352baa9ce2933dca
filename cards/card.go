package cards

// The schema, version and content types of what this package builds.
const (
	// SchemaURL is the Adaptive Cards JSON schema every card names.
	SchemaURL = "http://adaptivecards.io/schemas/adaptive-card.json"
	// Version is the Adaptive Cards version of every card: the newest that
	// Teams renders.
	Version = "1.5"
	// ContentType is the attachment and invoke-response type of an Adaptive Card.
	ContentType = "application/vnd.microsoft.card.adaptive"
	// MessageContentType is the invoke-response type of a plain message.
	MessageContentType = "application/vnd.microsoft.activity.message"
)

// Card is an Adaptive Card. It marshals to the card's JSON; the body and
// actions are built by this package's functions only.
type Card struct {
	Schema  string    `json:"$schema,omitempty"`
	Type    string    `json:"type"`
	Version string    `json:"version,omitempty"`
	Refresh *Refresh  `json:"refresh,omitempty"`
	MSTeams *MSTeams  `json:"msteams,omitempty"`
	Body    []Element `json:"body"`
	Actions []Action  `json:"actions,omitempty"`
}

// Refresh makes Teams ask the bot for the card's current state (a
// Universal Actions refresh) whenever one of UserIDs views it; with no
// UserIDs, every viewer of a small enough conversation does.
type Refresh struct {
	Action  Action   `json:"action"`
	UserIDs []string `json:"userIds,omitempty"`
}

// MSTeams holds the Teams-only card properties.
type MSTeams struct {
	Width string `json:"width,omitempty"`
}

// Element is an item of a card's body.
type Element interface{ isElement() }

// Action is a card button (or the refresh action).
type Action interface{ isAction() }

// CardAttachment is a Bot Framework attachment that carries a card in an
// activity's attachments.
type CardAttachment struct {
	ContentType string `json:"contentType"`
	Content     Card   `json:"content"`
}

// Attachment wraps a card for an outgoing activity.
func Attachment(card Card) CardAttachment {
	return CardAttachment{ContentType: ContentType, Content: card}
}

// Response is the body of an HTTP response to a Teams adaptiveCard/action
// invoke.
type Response struct {
	StatusCode int    `json:"statusCode"`
	Type       string `json:"type"`
	Value      any    `json:"value"`
}

// InvokeResponse answers an Action.Execute with a card that replaces the
// card the user acted on.
func InvokeResponse(card Card) Response {
	return Response{StatusCode: 200, Type: ContentType, Value: card}
}

// MessageResponse answers an Action.Execute with a short message that Teams
// shows the user, leaving the card unchanged.
func MessageResponse(text string) Response {
	return Response{StatusCode: 200, Type: MessageContentType, Value: text}
}

// newCard starts a top-level card at full width.
func newCard(body ...Element) Card {
	return Card{
		Schema:  SchemaURL,
		Type:    "AdaptiveCard",
		Version: Version,
		MSTeams: &MSTeams{Width: "Full"},
		Body:    body,
	}
}

// Body elements. Each is built by a constructor below that sets its type, so
// no element leaves this package without one.

type textBlock struct {
	Type      string `json:"type"`
	Text      string `json:"text"`
	Wrap      bool   `json:"wrap,omitempty"`
	Size      string `json:"size,omitempty"`
	Weight    string `json:"weight,omitempty"`
	Color     string `json:"color,omitempty"`
	IsSubtle  bool   `json:"isSubtle,omitempty"`
	Spacing   string `json:"spacing,omitempty"`
	Separator bool   `json:"separator,omitempty"`
}

func (textBlock) isElement() {}

// richTextBlock holds text runs, which no client reads as markdown: the
// place for text people typed.
type richTextBlock struct {
	Type      string    `json:"type"`
	Inlines   []textRun `json:"inlines"`
	Spacing   string    `json:"spacing,omitempty"`
	Separator bool      `json:"separator,omitempty"`
}

func (richTextBlock) isElement() {}

type textRun struct {
	Type     string `json:"type"`
	Text     string `json:"text"`
	Size     string `json:"size,omitempty"`
	Weight   string `json:"weight,omitempty"`
	Color    string `json:"color,omitempty"`
	IsSubtle bool   `json:"isSubtle,omitempty"`
	Italic   bool   `json:"italic,omitempty"`
	FontType string `json:"fontType,omitempty"`
}

type factSet struct {
	Type    string `json:"type"`
	Facts   []Fact `json:"facts"`
	Spacing string `json:"spacing,omitempty"`
}

func (factSet) isElement() {}

type container struct {
	Type      string    `json:"type"`
	Style     string    `json:"style,omitempty"`
	Items     []Element `json:"items"`
	Spacing   string    `json:"spacing,omitempty"`
	Separator bool      `json:"separator,omitempty"`
}

func (container) isElement() {}

// actionSet holds buttons inside the body, next to what they act on.
type actionSet struct {
	Type    string   `json:"type"`
	Actions []Action `json:"actions"`
}

func (actionSet) isElement() {}

type inputText struct {
	Type         string `json:"type"`
	ID           string `json:"id"`
	Label        string `json:"label,omitempty"`
	Placeholder  string `json:"placeholder,omitempty"`
	Value        string `json:"value,omitempty"`
	IsMultiline  bool   `json:"isMultiline,omitempty"`
	MaxLength    int    `json:"maxLength,omitempty"`
	IsRequired   bool   `json:"isRequired,omitempty"`
	ErrorMessage string `json:"errorMessage,omitempty"`
	Spacing      string `json:"spacing,omitempty"`
}

func (inputText) isElement() {}

type inputChoiceSet struct {
	Type         string   `json:"type"`
	ID           string   `json:"id"`
	Label        string   `json:"label,omitempty"`
	Style        string   `json:"style,omitempty"`
	Placeholder  string   `json:"placeholder,omitempty"`
	Value        string   `json:"value,omitempty"`
	IsRequired   bool     `json:"isRequired,omitempty"`
	ErrorMessage string   `json:"errorMessage,omitempty"`
	Choices      []choice `json:"choices"`
	Spacing      string   `json:"spacing,omitempty"`
}

func (inputChoiceSet) isElement() {}

type choice struct {
	Title string `json:"title"`
	Value string `json:"value"`
}

// executeAction is a Universal Action (Action.Execute): Teams sends it to the
// bot as an adaptiveCard/action invoke with Data and the card's inputs.
type executeAction struct {
	Type             string            `json:"type"`
	Title            string            `json:"title,omitempty"`
	Verb             string            `json:"verb"`
	Data             map[string]string `json:"data,omitempty"`
	Style            string            `json:"style,omitempty"`
	AssociatedInputs string            `json:"associatedInputs,omitempty"`
}

func (executeAction) isAction() {}

// Verbs of the Action.Execute actions on jitbot's cards, as the bot receives
// them.
const (
	VerbApprove       = "approve"
	VerbDeny          = "deny"
	VerbRefresh       = "refresh"
	VerbSubmitRequest = "submitRequest"
	// VerbRetryRevoke is the Retry now button of an irrevocable alert.
	VerbRetryRevoke = "retryRevoke"
	// VerbRefreshAlert is the refresh action of an irrevocable alert.
	VerbRefreshAlert = "refreshAlert"
	// VerbFeedback sends the feedback card's answers.
	VerbFeedback = "feedback"
	// VerbRelease is the I'm done button of the requester's access
	// granted card: they end their grant early.
	VerbRelease = "release"
	// VerbRevokeNow is the Revoke now button of the approval card, with
	// InputRevokeReason.
	VerbRevokeNow = "revokeNow"
	// VerbCancel is the requester's Cancel on their "request received"
	// card.
	VerbCancel = "cancelRequest"
	// VerbExtend is the requester's Extend on their expiry reminder, with
	// InputExtendDuration and InputExtendReason.
	VerbExtend = "extendGrant"
)

// Input ids: the keys under which the bot receives what a user entered.
const (
	InputProfile       = "profile"
	InputDuration      = "duration"
	InputStart         = "start"
	InputTicket        = "ticket"
	InputJustification = "justification"
	// InputSeverity is the request form's severity (profiles that declare
	// severities).
	InputSeverity = "severity"
	InputReason   = "reason"
	// The feedback card's inputs.
	InputUseful     = "useful"
	InputFastEnough = "fastEnough"
	InputComment    = "comment"
	// InputRevokeReason is why an approver revokes an active grant
	// (required).
	InputRevokeReason = "revokeReason"
	// InputExtendDuration and InputExtendReason are how much longer the
	// requester needs their access and why (both required).
	InputExtendDuration = "extendDuration"
	InputExtendReason   = "extendReason"
)

// Keys of an action's data.
const (
	// DataRequestID is the key of the request id (approval card actions).
	DataRequestID = "requestId"
	// DataGrantID is the key of the grant id (alert card actions).
	DataGrantID = "grantId"
	// DataExtendsFrom is the key of the grant's end (RFC 3339) that the
	// card with an Extend form showed: the extension applies only while
	// the grant still ends then, so a double-click extends it once.
	DataExtendsFrom = "extendsFrom"
	// DataCard names the card a button is on when the same verb is on
	// several cards and the answer depends on it: CardApproval for the
	// request's card in the approvers' channel (the answer is the
	// clicker's view of it), CardStatus for the status card (the answer
	// is the status card refreshed).
	DataCard = "card"
)

// The values of DataCard.
const (
	CardApproval = "approval"
	CardStatus   = "status"
)

func requestAction(title, verb, requestID string) executeAction {
	return executeAction{
		Type:  "Action.Execute",
		Title: title,
		Verb:  verb,
		Data:  map[string]string{DataRequestID: requestID},
	}
}

func grantAction(title, verb, grantID string) executeAction {
	return executeAction{
		Type:  "Action.Execute",
		Title: title,
		Verb:  verb,
		Data:  map[string]string{DataGrantID: grantID},
	}
}

// Constructors. Their text arguments are the package's own words (or already
// rendered inert by text.go); run never applies markdown.

func heading(text string) textBlock {
	return textBlock{Type: "TextBlock", Text: text, Wrap: true, Size: "Medium", Weight: "Bolder"}
}

func para(s string) textBlock {
	return textBlock{Type: "TextBlock", Text: s, Wrap: true}
}

func subtle(s string) textBlock {
	return textBlock{Type: "TextBlock", Text: s, Wrap: true, IsSubtle: true, Spacing: "None"}
}

func label(s string) textBlock {
	return textBlock{Type: "TextBlock", Text: s, Wrap: true, Weight: "Bolder", Spacing: "Medium"}
}

func rich(runs ...textRun) richTextBlock {
	return richTextBlock{Type: "RichTextBlock", Inlines: runs}
}

func run(s string) textRun {
	return textRun{Type: "TextRun", Text: s}
}

func bold(s string) textRun {
	return textRun{Type: "TextRun", Text: s, Weight: "Bolder"}
}

func box(style string, items ...Element) container {
	return container{Type: "Container", Style: style, Items: items, Spacing: "Medium"}
}

func facts(fs ...Fact) factSet {
	return factSet{Type: "FactSet", Facts: fs}
}
