package bot

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"mime"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/infracloudio/msbotbuilder-go/schema"

	"github.com/jitbot/jitbot/access"
	"github.com/jitbot/jitbot/bot/auth"
	"github.com/jitbot/jitbot/bot/connector"
	"github.com/jitbot/jitbot/cards"
	"github.com/jitbot/jitbot/internal/chatcmd"
	"github.com/jitbot/jitbot/internal/lograte"
	"github.com/jitbot/jitbot/internal/netutil"
)

// MaxBody is the largest activity accepted, in bytes.
const MaxBody = 256 << 10

// TeamsChannelID is the channelId of Microsoft Teams, the only channel the
// bot accepts activities from.
const TeamsChannelID = "msteams"

// Service is the part of the access lifecycle the bot drives.
// *access.Service implements it.
type Service interface {
	EligibleProfiles(ctx context.Context, tenantID string, user access.Person) ([]access.Profile, error)
	Profile(name string) (access.Profile, bool)
	Profiles() []access.Profile
	Submit(ctx context.Context, sub access.Submission) (*access.Request, error)
	Decide(ctx context.Context, in access.DecisionInput) (*access.Request, error)
	Status(ctx context.Context, tenantID string, user access.Person) ([]access.Request, error)
	Request(ctx context.Context, tenantID, id string) (*access.Request, error)
	RetryNow(ctx context.Context, tenantID, grantID string, who access.Person) (access.Alert, error)
	AlertView(ctx context.Context, tenantID, grantID string, who access.Person) (access.AlertView, error)
	AuditReport(ctx context.Context, in access.ReportInput) (*access.Report, error)
	Feedback(ctx context.Context, in access.FeedbackInput) (*access.Request, error)
	Release(ctx context.Context, in access.EndInput) (*access.Request, error)
	RevokeNow(ctx context.Context, in access.EndInput) (*access.Request, error)
	Cancel(ctx context.Context, in access.CancelInput) (*access.Request, error)
	Viewer(ctx context.Context, tenantID string, req *access.Request, who access.Person) (access.Viewer, error)
	Extend(ctx context.Context, in access.ExtendInput) (*access.ExtendResult, error)
	MayExtend(req *access.Request) bool
	Acknowledge(ctx context.Context, in access.ReviewInput) (*access.Request, error)
	ForceApprove(ctx context.Context, in access.DecisionInput) (*access.Request, error)
}

// LinkSigner signs a report's download link (audit.LinkSigner).
type LinkSigner interface {
	Sign(l access.DownloadLink) (string, error)
}

// DownloadPath is the path under which the bot's listener serves report
// downloads: DownloadPath + token.
const DownloadPath = "/api/audit/download/"

var _ Service = (*access.Service)(nil)

// Config wires a Bot.
type Config struct {
	// Service is the access lifecycle the bot drives.
	Service Service
	// Auth checks inbound tokens. It may be nil only when Local is set:
	// then a local validator accepts activities from this machine only.
	Auth auth.Authenticator
	// Local accepts unauthenticated activities (Agents Playground): only
	// JSON bodies, sent to a loopback Host without an Origin header, whose
	// service URL is on a loopback host.
	Local bool
	// ServiceHosts are the hosts an activity's serviceUrl may name outside
	// local mode (see netutil.HostAllowed; default
	// connector.DefaultServiceHost only). An activity naming another host is
	// refused, so the bot never replies to it.
	ServiceHosts []string
	Connector    Connector
	Logger       *slog.Logger
	// HandlerTimeout bounds the work done for one activity.
	HandlerTimeout time.Duration
	// Links signs the download links of audit reports, and PublicURL is
	// the https base they are served from (public_url); without either,
	// a report card has no Download CSV button.
	Links     LinkSigner
	PublicURL string
	// Names gives the display names of groups and users on the cards; nil
	// shows object ids.
	Names *Names
	// Audience finds the Teams ids whose clients ask for their own view of
	// an approval card; nil: the requester alone.
	Audience *Audience
	// SSO validates the single sign-on tokens approvers' clicks bring for
	// profiles with a step-up rule, and names what a sign-in request asks
	// for; nil: no click brings one, and such profiles cannot be approved.
	SSO *SSO
}

// Bot handles the activities Teams posts to /api/messages.
type Bot struct {
	cfg Config
	log *slog.Logger

	// Rejections are logged at most once a second, with a count of the
	// ones left out, so that a flood of forged requests cannot flood the log.
	rejects lograte.Limiter

	// unknown bounds the activities whose token has not been checked
	// before, checked at once (see admission).
	unknown *admission
}

// logRejected logs a refused activity, rate-limited.
func (b *Bot) logRejected(msg string, err error, remote string) {
	ok, suppressed := b.rejects.Allow(time.Now())
	if !ok {
		return
	}
	b.log.Warn(msg, "err", err, "remote", remote, "similar_not_logged", suppressed)
}

// New returns a Bot. It refuses to run without token checks unless local
// mode was asked for explicitly.
func New(cfg Config) (*Bot, error) {
	if cfg.Service == nil || cfg.Connector == nil {
		return nil, errors.New("bot: service and connector are required")
	}
	if cfg.Auth == nil && !cfg.Local {
		return nil, errors.New("bot: inbound authentication is required outside local mode")
	}
	if cfg.SSO != nil && (cfg.SSO.Tokens == nil || strings.TrimSpace(cfg.SSO.Resource) == "") {
		return nil, errors.New("bot: Config.SSO needs Tokens and Resource")
	}
	if len(cfg.ServiceHosts) == 0 {
		cfg.ServiceHosts = []string{connector.DefaultServiceHost}
	}
	for _, h := range cfg.ServiceHosts {
		if err := netutil.CheckHostPattern(h); err != nil {
			return nil, fmt.Errorf("bot: Config.ServiceHosts: %w", err)
		}
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	if cfg.HandlerTimeout <= 0 {
		cfg.HandlerTimeout = 25 * time.Second
	}
	if cfg.Local && cfg.Auth == nil {
		cfg.Auth = auth.NewLocalValidator(cfg.Logger)
	}
	return &Bot{cfg: cfg, log: cfg.Logger, unknown: newAdmission()}, nil
}

// ServeHTTP implements the Bot Framework messaging endpoint.
func (b *Bot) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodPost {
		w.Header().Set("Allow", http.MethodPost)
		http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
		return
	}
	if b.cfg.Local {
		if status, err := localRequest(r); err != nil {
			b.logRejected("rejected activity in local mode", err, r.RemoteAddr)
			http.Error(w, http.StatusText(status), status)
			return
		}
	}
	// A token the validator has checked before lets the activity through
	// at once. Any other waits for one of a few slots (see admission), and
	// is screened on its claims before the body is read, so that a flood
	// of forged tokens is worked on a few at a time.
	checked := func() {}
	if s, ok := b.cfg.Auth.(auth.Screener); ok {
		header := r.Header.Get("Authorization")
		if !s.Known(header, TeamsChannelID) {
			release, ok := b.unknown.acquire(r.Context())
			if !ok {
				b.logRejected("rejected activity: too many unchecked tokens at once", errBusy, r.RemoteAddr)
				w.Header().Set("Retry-After", "1")
				http.Error(w, "busy", http.StatusServiceUnavailable)
				return
			}
			checked = sync.OnceFunc(release)
			defer checked()
			if err := s.Screen(header); err != nil {
				b.logRejected("rejected activity: authentication failed", err, r.RemoteAddr)
				http.Error(w, "unauthorized", http.StatusUnauthorized)
				return
			}
		}
	}
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, MaxBody))
	if err != nil {
		var tooBig *http.MaxBytesError
		if errors.As(err, &tooBig) {
			http.Error(w, "activity too large", http.StatusRequestEntityTooLarge)
			return
		}
		http.Error(w, "cannot read body", http.StatusBadRequest)
		return
	}
	var act schema.Activity
	if err := json.Unmarshal(body, &act); err != nil {
		http.Error(w, "malformed activity", http.StatusBadRequest)
		return
	}
	if err := b.checkActivity(&act); err != nil {
		b.logRejected("rejected activity", err, r.RemoteAddr)
		http.Error(w, "unauthorized", http.StatusUnauthorized)
		return
	}
	// The token check runs on the activity decoded above (in local mode the
	// local validator, which wants a loopback service URL and no token).
	_, err = b.cfg.Auth.Authenticate(r.Context(), r.Header.Get("Authorization"), &act)
	checked()
	if err != nil {
		b.logRejected("rejected activity: authentication failed", err, r.RemoteAddr)
		http.Error(w, "unauthorized", http.StatusUnauthorized)
		return
	}
	if act.LocalTimezone == "" {
		// Read only once the activity is authenticated.
		act.LocalTimezone = clientInfoTimezone(body)
	}
	ctx, cancel := context.WithTimeout(r.Context(), b.cfg.HandlerTimeout)
	defer cancel()
	switch act.Type {
	case schema.Message:
		b.onMessage(ctx, &act)
		w.WriteHeader(http.StatusOK)
	case schema.Invoke:
		status, resp := b.onInvoke(ctx, &act)
		writeJSON(w, status, resp)
	default:
		// conversationUpdate, installationUpdate, typing, ...: nothing to do.
		w.WriteHeader(http.StatusOK)
	}
}

// localRequest checks what local mode's endpoint accepts, so that no web
// page the user visits can drive it: a JSON body (which a browser sends
// cross-site only after a CORS preflight the bot never answers), a loopback
// Host header (a DNS-rebound name is refused) and no Origin header (browsers
// send one with every cross-origin POST; the Agents Playground sends none).
// It returns the status to answer with when the request is refused.
func localRequest(r *http.Request) (int, error) {
	if len(r.Header.Values("Origin")) > 0 {
		return http.StatusForbidden, fmt.Errorf("request from a web page (Origin %q)", r.Header.Get("Origin"))
	}
	if !netutil.IsLoopbackHostPort(r.Host) {
		return http.StatusForbidden, fmt.Errorf("Host %q is not a loopback address", r.Host)
	}
	ct := r.Header.Get("Content-Type")
	if mt, _, err := mime.ParseMediaType(ct); err != nil || mt != "application/json" {
		return http.StatusUnsupportedMediaType, fmt.Errorf("Content-Type %q is not application/json", ct)
	}
	return 0, nil
}

// checkActivity refuses what no token check covers: a channel other than
// Teams (Bot Framework keys are endorsed for channels whose clients choose
// their own from and channelData), two different tenant ids, and a service
// URL on a host outside the configured list (nothing is sent to it).
func (b *Bot) checkActivity(act *schema.Activity) error {
	if act.ChannelID != TeamsChannelID {
		return fmt.Errorf("channel %q is not %s", act.ChannelID, TeamsChannelID)
	}
	if conv, data := act.Conversation.TenantID, channelDataTenant(act); conv != "" && data != "" && !strings.EqualFold(conv, data) {
		return fmt.Errorf("conversation.tenantId %q and channelData.tenant.id %q differ", conv, data)
	}
	if err := netutil.URLHostAllowed(act.ServiceURL, b.cfg.ServiceHosts, b.cfg.Local); err != nil {
		return fmt.Errorf("serviceUrl: %w", err)
	}
	return nil
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.WriteHeader(status)
	if v != nil {
		_ = json.NewEncoder(w).Encode(v)
	}
}

// channelDataTenant is channelData.tenant.id ("" when absent).
func channelDataTenant(act *schema.Activity) string {
	if t, ok := act.ChannelData["tenant"].(map[string]any); ok {
		if id, ok := t["id"].(string); ok {
			return id
		}
	}
	return ""
}

// tenantOf returns the Entra tenant an activity comes from (checkActivity
// made sure its two places agree).
func tenantOf(act *schema.Activity) string {
	if id := channelDataTenant(act); id != "" {
		return id
	}
	return act.Conversation.TenantID
}

func personOf(act *schema.Activity) access.Person {
	return access.Person{ObjectID: act.From.AadObjectID, Name: act.From.Name}
}

// requesterChat is where the requester will be told about progress: the
// personal chat when they wrote there, else a 1:1 chat the bot opens later.
func requesterChat(act *schema.Activity) access.ConversationRef {
	ref := access.ConversationRef{
		ServiceURL: act.ServiceURL, ChannelID: act.ChannelID, TenantID: tenantOf(act),
		BotID: act.Recipient.ID, BotName: act.Recipient.Name, UserID: act.From.ID, UserName: act.From.Name,
	}
	if act.Conversation.ConversationType == "personal" || (act.Conversation.ConversationType == "" && !act.Conversation.IsGroup) {
		ref.ConversationID = act.Conversation.ID
	}
	return ref
}

func (b *Bot) onMessage(ctx context.Context, act *schema.Activity) {
	if len(act.Value) > 0 && strings.TrimSpace(act.Text) == "" {
		// An Action.Submit from an older client: treat like the form's Execute.
		card := b.submitForm(ctx, act, act.Value)
		b.reply(ctx, act, "", &card)
		return
	}
	cmd, err := parseCommand(act.Text, b.isTicket)
	if cmd.Plain != "" && b.answerPlain(ctx, act, cmd.Plain) {
		return
	}
	if err != nil {
		b.reply(ctx, act, err.Error(), nil)
		return
	}
	tenant := tenantOf(act)
	user := personOf(act)
	switch cmd.Verb {
	case commandHelp:
		b.reply(ctx, act, helpText(), nil)
	case commandProfiles:
		if ps, ok := b.eligible(ctx, act, tenant, user); ok {
			b.replyPrivately(ctx, act, cards.Profiles(ps))
		}
	case commandStatus:
		card, err := b.statusCard(ctx, tenant, user, cards.StatusOptions{})
		if err != nil {
			b.reply(ctx, act, b.userError(err), nil)
			return
		}
		b.replyPrivately(ctx, act, card)
	case commandAudit:
		b.auditReport(ctx, act, cmd)
	case commandRelease:
		b.releaseCommand(ctx, act, cmd)
	case commandRequest:
		if cmd.Form {
			if ps, ok := b.eligible(ctx, act, tenant, user); ok {
				b.replyPrivately(ctx, act, cards.RequestForm(ps, cards.FormOptions{}))
			}
			return
		}
		b.submitLine(ctx, act, cmd)
	case commandCancel:
		b.cancelCommand(ctx, act, cmd)
	case commandExtend:
		b.extendCommand(ctx, act, cmd)
	}
}

// submitLine submits a request written in one message (the one-liner, or
// plain words understood with confidence) and answers with the "request
// received" card or the refusal.
func (b *Bot) submitLine(ctx context.Context, act *schema.Activity, cmd Command) {
	cmd = b.takeSeverity(cmd)
	req, err := b.cfg.Service.Submit(ctx, access.Submission{
		TenantID: tenantOf(act), Requester: personOf(act), Profile: cmd.Profile, Duration: cmd.Duration,
		Ticket: cmd.Ticket, Justification: cmd.Justification, Severity: cmd.Severity, Chat: requesterChat(act),
		ConversationID: act.Conversation.ID, ActivityID: act.ID,
		Start: cmd.Start, TimeZone: act.LocalTimezone,
	})
	if err != nil {
		b.reply(ctx, act, b.userError(err), nil)
		return
	}
	if requesterChat(act).ConversationID == "" {
		// The "request received" card went to the personal chat.
		b.reply(ctx, act, SentPrivately, nil)
		return
	}
	b.reply(ctx, act, "", ptr(cards.Submitted(req, b.cfg.Names.forRequests(ctx, req))))
}

// auditReport answers `audit` with the report card, in the asker's
// personal chat only: the card's download link is for the asker alone, so
// it is never posted where others can see it.
func (b *Bot) auditReport(ctx context.Context, act *schema.Activity, cmd Command) {
	rep, err := b.cfg.Service.AuditReport(ctx, access.ReportInput{
		TenantID: tenantOf(act), Who: personOf(act), Period: cmd.Period, Profile: cmd.Profile,
		Private:        requesterChat(act).ConversationID != "",
		ConversationID: act.Conversation.ID, ActivityID: act.ID,
	})
	if err != nil {
		b.reply(ctx, act, b.userError(err), nil)
		return
	}
	var opts cards.ReportOptions
	if b.cfg.Links != nil && b.cfg.PublicURL != "" {
		token, err := b.cfg.Links.Sign(rep.Link)
		if err != nil {
			b.log.Error("sign download link", "err", err)
		} else {
			opts.DownloadURL = strings.TrimRight(b.cfg.PublicURL, "/") + DownloadPath + token
		}
	}
	b.reply(ctx, act, "", ptr(cards.Report(rep, opts)))
}

// eligible returns the profiles the user may request; when there are none,
// or they cannot be listed, it tells the user so and reports false.
func (b *Bot) eligible(ctx context.Context, act *schema.Activity, tenant string, user access.Person) ([]access.Profile, bool) {
	ps, err := b.cfg.Service.EligibleProfiles(ctx, tenant, user)
	if err != nil {
		b.reply(ctx, act, b.userError(err), nil)
		return nil, false
	}
	if len(ps) == 0 {
		b.reply(ctx, act, "There is no profile you may request. Ask your manager to add you to a requester group.", nil)
		return nil, false
	}
	return ps, true
}

// isTicket tells whether word matches the named profile's ticket pattern.
func (b *Bot) isTicket(profile, word string) (bool, bool) {
	p, ok := b.cfg.Service.Profile(profile)
	if !ok {
		return false, false
	}
	return p.TicketPattern != nil && p.TicketPattern.MatchString(word), true
}

// userError turns an error into what the user is told: a refusal's reason as
// is, anything else as a generic failure (the details go to the log).
func (b *Bot) userError(err error) string {
	var r *access.Refusal
	if errors.As(err, &r) {
		return r.Reason
	}
	b.log.Error("handling activity", "err", err)
	return "Something went wrong on my side and nothing was changed. Try again in a minute; if it keeps failing, tell your Teams administrator."
}

// reply answers in the conversation the activity came from.
func (b *Bot) reply(ctx context.Context, act *schema.Activity, text string, card *cards.Card) {
	out := &schema.Activity{Type: schema.Message, Text: text}
	if card != nil {
		out.Attachments = []schema.Attachment{attachment(*card)}
	}
	var err error
	if act.Conversation.IsGroup && act.ID != "" {
		_, err = b.cfg.Connector.ReplyToActivity(ctx, act.ServiceURL, act.Conversation.ID, act.ID, out)
	} else {
		_, err = b.cfg.Connector.SendActivity(ctx, act.ServiceURL, act.Conversation.ID, out)
	}
	if err != nil {
		b.log.Error("reply", "conversation", act.Conversation.ID, "err", err)
	}
}

// field returns a card input or action data value as trimmed text ("" when
// absent or not text).
func field(data map[string]any, k string) string {
	s, _ := data[k].(string)
	return strings.TrimSpace(s)
}

// invokeAdaptiveCardAction is the name of the invoke Teams sends for an
// Action.Execute.
const invokeAdaptiveCardAction = "adaptiveCard/action"

// invokeValue is the value of an adaptiveCard/action invoke.
type invokeValue struct {
	Action struct {
		Type string         `json:"type"`
		Verb string         `json:"verb"`
		Data map[string]any `json:"data"`
	} `json:"action"`
	// Authentication is the single sign-on token Teams sends with the
	// action after a sign-in request (see decisionAnswer).
	Authentication *invokeAuthentication `json:"authentication"`
	// State is the magic code Teams sends with the action after the
	// approver signed in with the sign-in button (see decisionAnswer).
	State string `json:"state"`
}

func (b *Bot) onInvoke(ctx context.Context, act *schema.Activity) (int, any) {
	if act.Name != invokeAdaptiveCardAction {
		return http.StatusOK, nil
	}
	raw, _ := json.Marshal(act.Value)
	var v invokeValue
	if err := json.Unmarshal(raw, &v); err != nil {
		return http.StatusBadRequest, cards.MessageResponse("This card action could not be read.")
	}
	data := v.Action.Data
	str := func(k string) string { return field(data, k) }
	switch v.Action.Verb {
	case cards.VerbApprove, cards.VerbDeny:
		verdict := access.Approve
		if v.Action.Verb == cards.VerbDeny {
			verdict = access.Deny
		}
		in := access.DecisionInput{
			TenantID: tenantOf(act), RequestID: str(cards.DataRequestID), Approver: personOf(act),
			Verdict: verdict, Reason: str(cards.InputReason), ConversationID: act.Conversation.ID, ActivityID: act.ReplyToID,
		}
		var si signInProof
		if verdict == access.Approve {
			si = b.stepUpProof(ctx, act, v.Authentication, v.State)
			in.StepUp, in.StepUpMissing = si.proof, si.missing
		}
		req, err := b.cfg.Service.Decide(ctx, in)
		return b.decisionAnswer(ctx, act, str(cards.DataRequestID), v.Authentication, v.State, si, req, err)
	case cards.VerbForceApprove:
		in := access.DecisionInput{
			TenantID: tenantOf(act), RequestID: str(cards.DataRequestID), Approver: personOf(act),
			Verdict: access.Approve, Reason: str(cards.InputReason), ConversationID: act.Conversation.ID, ActivityID: act.ReplyToID,
		}
		si := b.stepUpProof(ctx, act, v.Authentication, v.State)
		in.StepUp, in.StepUpMissing = si.proof, si.missing
		req, err := b.cfg.Service.ForceApprove(ctx, in)
		return b.decisionAnswer(ctx, act, str(cards.DataRequestID), v.Authentication, v.State, si, req, err)
	case cards.VerbRefresh:
		return http.StatusOK, b.refreshCard(ctx, act, str(cards.DataRequestID))
	case cards.VerbRetryRevoke, cards.VerbRefreshAlert:
		return http.StatusOK, b.alertAction(ctx, act, v.Action.Verb, str(cards.DataGrantID))
	case cards.VerbFeedback:
		req, err := b.cfg.Service.Feedback(ctx, access.FeedbackInput{
			TenantID: tenantOf(act), RequestID: str(cards.DataRequestID), Who: personOf(act),
			Useful: str(cards.InputUseful), FastEnough: str(cards.InputFastEnough), Comment: str(cards.InputComment),
			ConversationID: act.Conversation.ID, ActivityID: act.ReplyToID,
		})
		if err != nil {
			return http.StatusOK, cards.MessageResponse(b.userError(err))
		}
		return http.StatusOK, cards.InvokeResponse(cards.FeedbackRecorded(req))
	case cards.VerbSubmitRequest:
		return http.StatusOK, cards.InvokeResponse(b.submitForm(ctx, act, data))
	case cards.VerbRelease, cards.VerbCancel:
		if str(cards.DataCard) == cards.CardStatus {
			return http.StatusOK, b.statusClick(ctx, act, v.Action.Verb, str(cards.DataRequestID))
		}
		if v.Action.Verb == cards.VerbCancel {
			return b.cancelClick(ctx, act, str(cards.DataRequestID), str(cards.DataCard) == cards.CardApproval)
		}
		return http.StatusOK, b.endEarly(ctx, act, v.Action.Verb, data)
	case cards.VerbRevokeNow:
		if str(cards.DataCard) == cards.CardReview {
			return http.StatusOK, b.reviewClick(ctx, act, v.Action.Verb, data)
		}
		return http.StatusOK, b.endEarly(ctx, act, v.Action.Verb, data)
	case cards.VerbAcknowledge:
		return http.StatusOK, b.reviewClick(ctx, act, v.Action.Verb, data)
	case cards.VerbExtend:
		if from := str(cards.DataCard); from == cards.CardStatus || from == cards.CardApproval {
			// Extend on the status card or the requester's view of the
			// approval card: the form that asks how much longer and why.
			return http.StatusOK, b.extendForm(ctx, act, from, str(cards.DataRequestID))
		}
		return http.StatusOK, b.extendClick(ctx, act, data)
	default:
		return http.StatusOK, cards.MessageResponse(fmt.Sprintf("Unknown card action %s.", access.Quote(v.Action.Verb)))
	}
}

// submitForm handles the request form's Submit. It returns the card that
// replaces the form: the submitted summary, or the form again with the reason
// it was refused.
func (b *Bot) submitForm(ctx context.Context, act *schema.Activity, data map[string]any) cards.Card {
	str := func(k string) string { return field(data, k) }
	tenant, user := tenantOf(act), personOf(act)
	form := cards.FormOptions{
		Profile: str(cards.InputProfile), Duration: str(cards.InputDuration),
		Ticket: str(cards.InputTicket), Justification: str(cards.InputJustification),
		Severity: str(cards.InputSeverity), Start: str(cards.InputStart),
	}
	again := func(msg string) cards.Card {
		form.Error = msg
		ps, err := b.cfg.Service.EligibleProfiles(ctx, tenant, user)
		if err != nil {
			return cards.Notice(b.userError(err))
		}
		return cards.RequestForm(ps, form)
	}
	d, err := time.ParseDuration(strings.ToLower(form.Duration))
	if err != nil {
		return again(fmt.Sprintf("%s is not a duration; write it like 45m, 2h or 1h30m.", access.Quote(form.Duration)))
	}
	req, err := b.cfg.Service.Submit(ctx, access.Submission{
		TenantID: tenant, Requester: user, Profile: form.Profile, Duration: d, Ticket: form.Ticket,
		Justification: form.Justification, Severity: form.Severity, Chat: requesterChat(act),
		ConversationID: act.Conversation.ID, ActivityID: act.ReplyToID,
		Start: form.Start, TimeZone: act.LocalTimezone,
	})
	if err != nil {
		if errors.Is(err, access.ErrWrongTenant) {
			return cards.Notice(b.userError(err))
		}
		return again(b.userError(err))
	}
	return cards.Submitted(req, b.cfg.Names.forRequests(ctx, req))
}

// helpText is the answer to `help`: every command's forms (chatcmd.All),
// and how to ask in plain words after the request forms.
func helpText() string {
	var b strings.Builder
	b.WriteString("I grant temporary access to production systems, approved by your managers in Teams.\n\n")
	for _, c := range chatcmd.All() {
		for _, f := range c.Forms {
			fmt.Fprintf(&b, "- **%s**: %s\n", f.Usage, f.Help)
		}
		if c.Name == chatcmd.Request {
			b.WriteString("- or ask in plain words, e.g. `I need prod-db for 2 hours for INC-4711, checkout is slow`: when I am not sure what you mean, I answer with the form filled in\n")
		}
	}
	b.WriteString("\nApprovers decide on a card in their channel; you are told here when access is granted and when it ends.")
	return b.String()
}

func ptr[T any](v T) *T { return &v }

// attachment wraps a card for a message activity.
func attachment(c cards.Card) schema.Attachment {
	return schema.Attachment{ContentType: cards.ContentType, Content: c}
}
