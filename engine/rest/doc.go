// Package rest is the JobManager's REST API: a versioned JSON API in the
// shape of Flink's, to submit, watch and operate jobs on a running cluster
// and to manage its WebAssembly modules. docs/rest-api.md describes it for
// users and docs/openapi.yaml is its OpenAPI 3 contract; a test keeps both in
// step with the routes the Server registers.
//
// The package owns:
//
//   - Server, the http.Handler that serves /v1, over two interfaces: Cluster
//     (what the API needs from a JobManager) and ModuleStore (the module
//     registry, host/modules.Store). A Cluster may also implement
//     ModuleSwapper to hot-swap the module of a running vertex.
//   - LocalCluster, the Cluster of an in-process cluster.MiniCluster: it
//     turns job files into job graphs with the cluster's component registry
//     and submits them. `freshet run` and `freshet cluster` serve it.
//   - Client, the Go client of the API, and the request and response types
//     both sides share (api.go), so the wire format is written down once.
//
// Errors are JSON objects {"code": "...", "message": "..."} with the HTTP
// status of their category (see the Code constants). Long operations —
// savepoints, stop-with-savepoint, module swaps — answer 202 with a request
// ID to poll.
//
// The API has no authentication: serve it on a loopback address (the
// default) or behind a proxy that authenticates. A submitted job file runs
// with the rights of the cluster's process: its sources and sinks read and
// write that machine's files.
package rest
