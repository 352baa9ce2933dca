// Package graphtest provides test doubles for jitbot's Microsoft Graph
// dependency, faithful on the wire so that tests can drive the real Graph SDK
// through them:
//
//   - Graph: a fake Microsoft Graph serving the group membership calls
//     jitbot makes (add and remove a member, get one member, list members,
//     get a group, checkMemberGroups), with Graph's status codes and OData
//     error bodies, bearer token checks, gzip request bodies, a record of
//     every call, and fault injection (throttling, outages, slow answers,
//     answers lost after the change was made, removals that silently fail).
//     JSON batches (POST /$batch, at most MaxBatch requests, 400 above)
//     are answered like Graph's, {"responses": [{id, status, headers,
//     body}]}, each request inside carried out and recorded as a call of
//     its own; faults on a route, every-n-th throttling (ThrottleEvery) and
//     a write quota like Graph's (SetWriteQuota) apply to each request
//     inside a batch as to one sent alone.
//   - StaticCredential: an azcore.TokenCredential returning a fixed token,
//     for tests that do not exercise token acquisition.
//
// The fake Entra ID authority that issues tokens for a real
// azidentity.ClientSecretCredential is internal/entratest.
//
// Typical use:
//
//	g := graphtest.New(t)
//	g.AddUser("u1")
//	g.AddGroup("g1")
//	dir, err := graph.New(graph.Config{GraphURL: g.URL()}, g.Credential(), nil)
//
// A Graph's state (users, groups, members, faults) may be changed at any
// time, including while requests are served.
package graphtest
