// Package windows owns Freshet's windowed computations on keyed streams:
// window assigners (tumbling, sliding, session, global; event or processing
// time), triggers, the window operator with its window functions, and the
// two joins built on windows and time bounds (window join, interval join).
//
// # Model
//
// A window is a half-open interval of time [Start, End) of one key. An
// Assigner puts each record into zero or more windows by its timestamp (event
// time) or by the wall clock when it arrives (processing time). A Trigger
// decides when a window's contents are evaluated (fired) and when they are
// dropped (purged). The window function turns the contents into output:
// a reduce function or an incremental api.AggregateFunction folds records as
// they arrive, a ProcessWindowFunction sees every element (or the single
// result of an aggregate) when the window fires.
//
// # Invariants
//
//   - Window contents and trigger state live in the operator's keyed state
//     (api.KeyedState) under the window as namespace (see Window.AppendNamespace),
//     so they are checkpointed, restored and rescaled like any keyed state.
//     Timers are registered with the runtime's timer service under the same
//     key and namespace.
//   - A window's output records carry the window's key and the timestamp
//     Window.MaxTimestamp (End-1), so downstream event-time operators can
//     window them again.
//   - Event-time windows fire when the watermark passes their end; with
//     allowed lateness L their state is kept until the watermark passes
//     End-1+L, and each late record that arrives meanwhile fires the window
//     again with the updated contents. A record that belongs to no window any
//     more is late: it goes to the late side output when one is declared,
//     otherwise it is dropped and counted in the numLateRecordsDropped counter.
//     Records are never dropped silently.
//   - Sliding windows with a reduce or aggregate function and the default
//     trigger keep one accumulator per pane (gcd(size, slide)) instead of one
//     per window: a record costs one state update however many windows it
//     belongs to. When a window spans few panes (size and allowed lateness
//     at most 32 panes), all of a key's panes are one value with one timer
//     per key, and a firing emits every window of the key that is due from
//     one read (paneset.go). Otherwise each pane is a value and firings
//     combine panes through a per-key two-stacks aggregate, so a firing
//     merges a few accumulators on average rather than size/pane
//     (panes.go).
//   - Windows fire in time order per key; windows of different keys made
//     due by one watermark may come out key by key.
//   - Session windows merge: the contents of merged sessions are combined
//     with the function's merge (AggregateFunction.Merge, the reduce
//     function, or list concatenation), and their timers moved to the merged
//     window.
//   - In steady state, adding a record to an existing window allocates
//     nothing (TestAddPathAllocs).
//
// Joins are two-input operators (api.TwoInputOperator) over two streams keyed
// the same way: WindowJoin co-groups the elements of both inputs that fall in
// the same window; IntervalJoin pairs each element of the left input with the
// right elements whose timestamps lie within [left+Lower, left+Upper].
package windows
