package kafka

import (
	"fmt"
	"math/rand/v2"
	"testing"

	"github.com/twmb/franz-go/pkg/kgo"
)

// Kafka's own murmur2 vectors (clients' UtilsTest): the Java producer must
// put a key where this sink does.
func TestMurmur2MatchesKafka(t *testing.T) {
	tests := []struct {
		in   string
		want int32
	}{
		{"21", -973932308},
		{"foobar", -790332482},
		{"a-little-bit-long-string", -985981536},
		{"a-little-bit-longer-string", -1486304829},
		{"lkjh234lh9fiuh90y23oiuhsafujhadof229phr9h19h89h8", -58897971},
		{"abc", 479470107},
	}
	for _, tt := range tests {
		if got := murmur2([]byte(tt.in)); got != tt.want {
			t.Errorf("murmur2(%q) = %d, want %d", tt.in, got, tt.want)
		}
	}
}

// franz-go's default key partitioner also follows the Java client; ours
// must agree with it on every key length and partition count.
func TestKeyPartitionMatchesFranzGo(t *testing.T) {
	ref := kgo.StickyKeyPartitioner(nil).ForTopic("t")
	rng := rand.New(rand.NewPCG(1, 2))
	for i := range 5000 {
		key := make([]byte, i%67+1)
		for j := range key {
			key[j] = byte(rng.Uint32())
		}
		n := i%31 + 1
		want := ref.Partition(&kgo.Record{Key: key}, n)
		if got := KeyPartition(key, n); got != want {
			t.Fatalf("key %x, %d partitions: got %d, franz-go %d", key, n, got, want)
		}
	}
}

func TestPartitioners(t *testing.T) {
	const n = 4
	tests := []struct {
		mode    string
		subtask int
		key     string
		want    []int // partitions of five records in a row
		consist bool
	}{
		{PartitionKeyHash, 0, "abc", repeat(KeyPartition([]byte("abc"), n), 5), true},
		{PartitionRoundRobin, 0, "abc", []int{1, 2, 3, 0, 1}, false},
		{PartitionFixed, 6, "abc", []int{2, 2, 2, 2, 2}, true},
	}
	for _, tt := range tests {
		t.Run(fmt.Sprintf("%s/%q", tt.mode, tt.key), func(t *testing.T) {
			tp := newPartitioner(tt.mode, tt.subtask).ForTopic("t")
			r := &kgo.Record{}
			if tt.key != "" {
				r.Key = []byte(tt.key)
			}
			var got []int
			for range 5 {
				got = append(got, tp.Partition(r, n))
			}
			if fmt.Sprint(got) != fmt.Sprint(tt.want) {
				t.Errorf("partitions %v, want %v", got, tt.want)
			}
			if c := tp.RequiresConsistency(r); c != tt.consist {
				t.Errorf("RequiresConsistency = %v, want %v", c, tt.consist)
			}
		})
	}
}

func repeat(v, n int) []int {
	out := make([]int, n)
	for i := range out {
		out[i] = v
	}
	return out
}

func BenchmarkMurmur2(b *testing.B) {
	key := []byte("user-0123456789")
	b.ReportAllocs()
	for b.Loop() {
		murmur2(key)
	}
}
