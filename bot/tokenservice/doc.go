// Package tokenservice is the bot's client for the Bot Framework Token
// Service (https://token.botframework.com in the public cloud), which keeps
// the user tokens of an Azure Bot resource's OAuth connections.
//
// jitbot uses two of its calls, for the sign-in button of a step-up
// approval (the OAuth card's fallback when Teams single sign-on is not
// available):
//
//   - GET /api/botsignin/GetSignInResource?state=<state>, where state is the
//     base64 of the JSON token-exchange state {connectionName, conversation,
//     relatesTo, msAppId}; the answer's signInLink is the URL of the signin
//     button.
//   - GET /api/usertoken/GetToken?userId=&connectionName=&channelId=&code=,
//     with the magic code Teams sends back (value.state) once the user signed
//     in; 404 means no token for that user and code.
//
// Every call carries the bot's own app token (an azcore.TokenCredential, the
// Bot Framework scope) and goes only to the configured https base URL;
// redirects are not followed, responses are read with a size limit.
//
// This package imports no Bot Framework SDK and knows nothing of grants.
package tokenservice
