package kafka

import (
	"github.com/twmb/franz-go/pkg/kgo"
)

// Partitioners of the sink, the values of its `partitioner` field.
const (
	// PartitionKeyHash sends a record with a key to partition
	// murmur2(key) mod n, as Kafka's Java producer does, so records keyed
	// by Freshet and by Java clients land together; records without a key
	// stick to one partition per batch, then move on (the Java producer's
	// default, KIP-480), which makes larger batches than round robin. The
	// default.
	PartitionKeyHash = "key-hash"
	// PartitionRoundRobin spreads records evenly, ignoring keys.
	PartitionRoundRobin = "round-robin"
	// PartitionFixed sends everything sink subtask i writes to partition
	// i mod n (Flink's FlinkFixedPartitioner).
	PartitionFixed = "fixed"
)

var partitioners = []string{PartitionKeyHash, PartitionRoundRobin, PartitionFixed}

// murmur2 is Kafka's hash of record keys (org.apache.kafka.common.utils.
// Utils.murmur2): MurmurHash2, 32 bits, seed 0x9747b28c, little-endian words.
func murmur2(data []byte) int32 {
	const (
		seed uint32 = 0x9747b28c
		m    uint32 = 0x5bd1e995
		r           = 24
	)
	n := len(data)
	h := seed ^ uint32(n)
	i := 0
	for ; i+4 <= n; i += 4 {
		k := uint32(data[i]) | uint32(data[i+1])<<8 | uint32(data[i+2])<<16 | uint32(data[i+3])<<24
		k *= m
		k ^= k >> r
		k *= m
		h *= m
		h ^= k
	}
	switch n - i {
	case 3:
		h ^= uint32(data[i+2]) << 16
		fallthrough
	case 2:
		h ^= uint32(data[i+1]) << 8
		fallthrough
	case 1:
		h ^= uint32(data[i])
		h *= m
	}
	h ^= h >> 13
	h *= m
	h ^= h >> 15
	return int32(h)
}

// KeyPartition is the partition, among n, that the key-hash partitioner
// (and Kafka's Java producer) picks for a record with key: the murmur2 hash
// made positive, modulo n.
func KeyPartition(key []byte, n int) int {
	return int(uint32(murmur2(key))&0x7fffffff) % n
}

// newPartitioner returns the kgo.Partitioner of mode for sink subtask
// subtask. Key hashing is franz-go's sticky key partitioner, whose hash
// TestKeyPartitionMatchesFranzGo checks against KeyPartition (and so
// against Kafka's own vectors).
func newPartitioner(mode string, subtask int) kgo.Partitioner {
	if mode == PartitionKeyHash {
		return kgo.StickyKeyPartitioner(nil)
	}
	return partitioner{mode: mode, subtask: subtask}
}

// partitioner implements the round-robin and fixed partitioners.
type partitioner struct {
	mode    string
	subtask int
}

func (p partitioner) ForTopic(string) kgo.TopicPartitioner {
	return &topicPartitioner{mode: p.mode, subtask: p.subtask}
}

// topicPartitioner is used by one record at a time (kgo guarantees it), so
// its round-robin counter needs no lock.
type topicPartitioner struct {
	mode    string
	subtask int
	next    int
}

// RequiresConsistency keeps fixed records on their partition even while it
// is unavailable: they wait (and retry) rather than move.
func (t *topicPartitioner) RequiresConsistency(*kgo.Record) bool { return t.mode == PartitionFixed }

func (t *topicPartitioner) Partition(_ *kgo.Record, n int) int {
	if t.mode == PartitionFixed {
		return t.subtask % n
	}
	t.next++
	if t.next >= n {
		t.next = 0
	}
	return t.next
}
