// Package kafka is Freshet's Kafka connector: the `kafka` source and the
// `kafka` sink, exactly-once through checkpoints, built on franz-go (the
// only Freshet package besides engine/internal/kafkatest that imports it).
// docs/kafka.md is the user guide; this comment states what the code
// guarantees and what it relies on.
//
// # Source
//
//	sources:
//	  - name: orders
//	    type: kafka
//	    bootstrap-servers: 127.0.0.1:9092
//	    topic: orders                # or topics: [...], or topic-pattern: "orders-.*"
//	    format: json                 # bytes (default), string, json, int32, int64
//	    start-from: earliest         # latest, timestamp, committed, offsets
//	    bounded: false               # true: stop at the offsets that were latest at start
//	    max-out-of-orderness: 5s
//	    idle-timeout: 30s
//	    on-error: dead-letter
//	    dead-letter-topic: orders-dead
//
// Partitions are assigned by the engine, not by a consumer group: subtask
// Owner(topic, partition, parallelism) reads a partition, through a direct
// franz-go consumer. Positions are the source's checkpointed state (one
// entry per partition, api.UnionDistribution), so a job restored from
// checkpoint n re-reads exactly what followed n, at any parallelism.
// Symbolic start positions (earliest, latest, a timestamp, the group's
// committed offsets) are resolved to offsets when a partition is assigned,
// so they too are exact after a restore. A restored source starts
// partitions its checkpoint does not know at the earliest offset, as it does
// partitions discovered later.
//
// Poll never waits on the network: a goroutine owned by the subtask polls
// the client and hands fetches over a channel (Wake fires when one is
// ready). Records are emitted in offset order per partition. Each partition
// has a bounded-out-of-orderness watermark; the source emits the minimum
// over partitions that are neither finished nor idle, and marks itself idle
// (api.IdleMarker) when no partition is left. Records that cannot be
// deserialized, or lack a usable timestamp, follow the on-error policy
// (engine/onerror), named "topic/partition/offset"; the dead-letter policy
// can write them to a topic, with the reason in headers.
//
// # Sink
//
//	sinks:
//	  - name: out
//	    type: kafka
//	    bootstrap-servers: 127.0.0.1:9092
//	    topic: enriched
//	    delivery-guarantee: exactly-once   # none, at-least-once (default)
//	    transactional-id-prefix: enrich-out
//
// At-least-once flushes in SnapshotState. Exactly-once writes the records of
// each checkpoint interval in one transaction: opened on the first record
// after a checkpoint with transactional id <prefix>-<subtask>-<n> (n from a
// pool of transaction-pool-size per subtask, one fresh producer session per
// transaction), flushed and recorded with its producer id and epoch in
// SnapshotState(n), committed in NotifyCheckpointComplete(n). A subtask
// restored from checkpoint n commits the transactions recorded in n by
// resuming their producer id and epoch (EndTxn), then fences every id of
// its pool (InitProducerID), which aborts what the failed run left open.
// Partitioning by key uses Kafka's murmur2, so keys land where the Java
// producer puts them.
//
// # What the connector relies on from the runtime
//
//   - The call order of engine/api/checkpoint.go, on the task goroutine:
//     RestoreState before Open; SnapshotState(n) after every record before
//     barrier n and before any record after it; NotifyCheckpointComplete(n)
//     only once checkpoint n (with the sink's entries) is durable.
//   - Restores are from completed checkpoints only, within the sink's
//     transaction-timeout of the failure (else the broker aborts the
//     prepared transactions and their records are lost; the restored sink
//     logs it).
//   - Entries are redistributed per StateDistribution (both sides use
//     UnionDistribution) and given back byte for byte.
//   - No checkpoint follows Finish: at the end of input the sink commits its
//     open and prepared transactions itself. A failure after Finish but
//     before the job ends may therefore duplicate that last stretch.
//   - The source's EndOfInput makes the runtime emit MaxWatermark.
//   - Close is called after a failed or cancelled run; the sink then aborts
//     only its open transaction, and leaves prepared ones for the restore.
package kafka
