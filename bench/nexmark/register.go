package nexmark

import (
	"github.com/freshet/freshet/engine/registry"
)

// Register adds this package's operator types and the nexmark-probe sink
// to r. probe (nil: none) receives the latency stamps and results of the
// job built with r; a run builds one registry per probe.
func Register(r *registry.Registry, probe *Probe) {
	r.AddOperator("nexmark-view", "the nexmark person, auction or bid view over the source's binary events (view, columns, key, format)", buildView(probe))
	r.AddOperator("nexmark-csv", "turns nexmark-view's binary rows into CSV rows", buildRowCSV)
	r.AddOperator("top", "keyed: the records with the largest value of a number field per key and event time, emitted when the watermark passes", buildTop)
	r.AddOperator("window-top", "the records with the largest value of a number field per tumbling event-time window of this subtask (the local half of a two-phase top)", buildWindowTop)
	r.AddOperator("bid-top", "the bids with the highest price per tumbling event-time window of this subtask, read from the source's binary events and emitted as bid view rows (size, columns)", buildBidTop(probe))
	r.AddOperator("local-count", "counts records per key and event-time pane in memory and emits the partial counts at each watermark (the local half of a two-phase count)", buildLocalCount)
	r.AddOperator("closing-price", "keyed: Nexmark q4's highest bid within each auction's lifetime, emitted when the auction expires", buildClosingPrice)
	r.AddOperator("new-users", "keyed: Nexmark q8's window join of persons and the auctions they opened", buildNewUsers)
	r.AddSource("nexmark-rows", "the nexmark source with a nexmark-view pushed into it: one view's rows (view, columns, key, format), never the whole events", buildRows(probe))
	r.AddSink("nexmark-probe", "counts results and samples their latency for a Nexmark run", buildProbeSink(probe))
}
