// Package graph is jitbot's client for Microsoft Graph: it adds a user to an
// Entra ID group when a request is approved, removes the user when the grant
// expires, checks direct and transitive group membership, and lists a
// group's direct members. *Directory implements access.Directory.
//
// This is the only package of jitbot that imports the Microsoft Graph SDK
// (msgraph-sdk-go, msgraph-sdk-go-core and the Kiota runtime). It imports
// only the SDK's groups, users, models and models/odataerrors sub-packages,
// never the SDK's root package, which would add minutes and gigabytes to
// every cold build. It also avoids the SDK's polymorphic directoryObject
// decoding, which would link every Graph model type into the binary (about
// 30 MB). Everything else in jitbot talks to the directory through
// access.Directory.
//
// Behaviour worth knowing:
//
//   - Authentication: the access token is requested for <GraphURL>/.default
//     and attached only to requests whose host is the configured Graph host,
//     so a sovereign cloud (https://graph.microsoft.us) or a local test server
//     works without further configuration, and a token is never sent to any
//     other host.
//   - Retries: 429, 503 and 504 answers are retried (default 3 retries),
//     honouring Retry-After. A Retry-After longer than Config.MaxRetryWait is
//     not waited for: the call fails at once with a transient *Error whose
//     RetryAfter says when to try again.
//   - Request bodies are sent uncompressed: the SDK's compression middleware
//     is left out on purpose (with it, a retried request can carry
//     "Content-Encoding: gzip" over a plain body).
//   - Errors: every failed call returns an error that names the operation and
//     wraps an *Error (status, Graph error code and message, request ids,
//     Retry-After). Errors that retrying cannot fix (400, 403, 404 on add,
//     ...) also match access.ErrPermanent with errors.Is.
//   - IsMember asks Graph for the one member (GET
//     /groups/{id}/members/{id}), which reads the directory itself, unlike a
//     $filter on the members list, which needs ConsistencyLevel: eventual and
//     reads an index that may lag behind recent changes. Graph answers 404 both for a non-member and for a missing group, so a
//     404 is followed by a look at the group: a non-member costs two calls.
//   - Checks before going live change nothing: AppRoles reads the
//     application permissions from the "roles" of a Graph token as the
//     calls get it (read, not verified: only Graph can verify it), Group
//     reads a group with isAssignableToRole, and MissingWritePermissions
//     says what changing its members needs beyond them.
//   - Batching: RemoveMember and IsMember (and the group look-up after a
//     404) go to Graph in JSON batches (POST /$batch) of up to MaxBatch
//     requests: the calls made within a couple of milliseconds of each other
//     share one HTTP request. Each request's own answer decides its outcome,
//     as for a call of its own (204 removed, 404 already gone, 403
//     permanent, ...); one Graph throttled (429) or could not serve (503,
//     504) inside the batch is sent again in a later batch after its
//     Retry-After, with the same retry limits as a call of its own. A
//     batch Graph refuses as a whole is retried by the SDK's middleware,
//     then fails each of its requests.
//   - AddMember reports alreadyMember=true only when Graph says the user
//     already is a member on the first attempt, or after attempts Graph
//     certainly did not process (429). If an earlier attempt of the same call
//     may have been applied (for instance a 504), the membership is reported
//     as added by this call, so that it is removed at expiry rather than left
//     in place for good.
package graph
