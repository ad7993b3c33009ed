// Package nexmark generates the Nexmark benchmark's event stream (an online
// auction site: people join, put items up for auction and bid on them), as a
// library (Generator) and as the `nexmark` source.
//
// # Model
//
// The model is the one published by the Nexmark project and used by Beam's
// and Flink's Nexmark suites; this is an independent implementation:
//
//   - Of every 50 events, 1 is a Person, 3 are Auctions and 46 are Bids, at
//     fixed offsets: event n is a person when n mod 50 = 0, an auction when
//     it is 1..3, a bid otherwise. Proportions are configurable.
//   - Ids are dense: the k-th person has id 1000+k, the k-th auction 1000+k.
//   - Skew: a bid is for a hot auction (the first of the block of 100 newest
//     auctions) with probability 1/2, by a hot bidder with probability 3/4;
//     an auction's seller is hot with probability 3/4. Others pick among the
//     100 auctions in flight or the 1000 active people (a few ids ahead).
//   - An auction expires within about twice the event time it takes for 100
//     more auctions to open.
//   - Event n happens at BaseTime + n / EventsPerSecond (event time). With
//     OutOfOrder, delivery is shuffled within groups of consecutive events,
//     so that no event arrives more than OutOfOrder after a later one.
//   - Strings are random letters; extra pads events to an average size of
//     200 (person), 500 (auction) and 100 (bid) bytes.
//
// Unlike the original, every event is a pure function of (seed, event
// number): a stream splits across subtasks (Generator.Split) and resumes at
// any position (Generator.SetPosition) without changing.
//
// # Source
//
//	sources:
//	  - name: events
//	    type: nexmark
//	    events: 10000000          # absent: unbounded
//	    seed: 1
//	    format: json              # or binary
//	    events-per-second: 10000  # event-time rate
//	    rows-per-second: 0        # wall-clock pacing over all subtasks; absent: flat out
//	    start-time: 2015-07-15T00:00:00Z  # or "now", or ms since the epoch
//	    out-of-order: 0s          # bound on delivery disorder
//	    # model knobs: hot-auction-ratio (2), hot-seller-ratio (4),
//	    # hot-bidder-ratio (4), auctions-in-flight (100), active-people (1000),
//	    # avg-person-size (200), avg-auction-size (500), avg-bid-size (100)
//
// Subtask i of p emits stream positions i, i+p, ...; each record's timestamp
// is the event's dateTime and it has no key. The source emits no watermarks:
// the job's watermark strategy (bounded out-of-orderness of at least
// out-of-order) derives them from the timestamps.
//
// # Encodings
//
// JSON (AppendJSON): one object per event with a "type" field of "person",
// "auction" or "bid" and the standard field names (dateTime and expires in
// ms since the epoch). Binary (AppendBinary, DecodeBinary): a kind byte and
// varint and length-prefixed fields; see AppendBinary.
package nexmark
