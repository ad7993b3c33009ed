// Package nexmark is Freshet's Nexmark benchmark suite: the queries as
// Freshet jobs, a runner that measures them, a hand-written Go program per
// query that bounds what any engine can do on this machine (the limit), and
// the report (a Markdown table and an SVG plot).
//
// # Queries
//
// Each query is a job file under queries/ (embedded in the package), written
// after the Nexmark project's SQL for Flink and run by the same engine code
// as any job file: the nexmark source, built-in operators (filter, join,
// json-extract, watermarks, window, avg), WebAssembly modules for q1 and q2,
// and a few operators this package registers for what is Nexmark-specific
// user logic (see Register):
//
//   - nexmark-view: the nexmark project's person, auction and bid views over
//     the source's binary events: keeps one kind, projects columns to JSON,
//     CSV or binary rows (integer columns as little-endian int64, what q1's
//     and q2's modules read) and sets the record key. It is chained to the
//     source, so it also stamps the latency markers the probe sink reads.
//   - nexmark-csv: turns binary rows into the CSV rows the view would have
//     written (q2, after the module's filter).
//   - local-count: counts records per key and event-time pane in memory and
//     hands the partial counts on at each watermark (q5's two-phase count).
//   - top: keyed, keeps per key and timestamp the records with the largest
//     value of a field and emits them when the watermark passes (q5's hottest
//     auctions per window, q7's highest bids).
//   - window-top: the local (per subtask) half of q7's two-phase maximum per
//     tumbling window, and of q5's top per window result (1 ms windows).
//   - bid-top: the same for q7's bids, read straight from the source's
//     binary events: a bid's row (JSON) is encoded only when it is a
//     candidate.
//   - closing-price: q4's join of an auction with its bids, emitting the
//     highest bid within the auction's lifetime when it expires.
//   - new-users: q8's window join of persons and the auctions they opened,
//     over the engine's window join (engine/windows).
//   - nexmark-probe (sink): counts results and samples their latency.
//
// docs/nexmark.md says what each query computes and how it departs from the
// SQL; each job file quotes the SQL it implements.
//
// # Measuring
//
// Run executes queries on an in-process cluster and reports, per query,
// throughput (events/s, and events/s per core of process CPU time from
// getrusage), latency percentiles, peak RSS (VmHWM), checkpoint sizes, and
// the ratio to the limit measured in the same run. docs/nexmark.md explains
// every figure and what dominates each query.
//
//	freshet bench nexmark --query q5 --events 10000000 --parallelism 2
//	make bench-nexmark
package nexmark
