package heap_test

import (
	"encoding/binary"
	"fmt"
	"testing"

	"github.com/freshet/freshet/engine/api"
	"github.com/freshet/freshet/engine/keygroup"
	"github.com/freshet/freshet/engine/state"
	"github.com/freshet/freshet/engine/state/heap"
	"github.com/freshet/freshet/engine/state/internal/benchcmp"
)

// BenchmarkValueReadModifyWrite increments an 8-byte counter per key through
// ValueState (SetCurrentKey, Get, Put) and, in the same run, through a plain
// map[string][]byte (see benchcmp for the reported metrics).
func BenchmarkValueReadModifyWrite(b *testing.B) {
	for _, tc := range []struct {
		name string
		keys int
	}{
		{"distinct", benchcmp.Keys(b, 100_000)},
		{"hot", 1000},
	} {
		b.Run(fmt.Sprintf("%s-%d", tc.name, tc.keys), func(b *testing.B) {
			keys := make([][]byte, tc.keys)
			for i := range keys {
				keys[i] = []byte(fmt.Sprintf("user-%09d", i))
			}
			be, err := heap.New(state.Options{Operator: "bench", MaxParallelism: 128, KeyGroups: keygroup.Range{Start: 0, End: 127}})
			if err != nil {
				b.Fatal(err)
			}
			defer be.Close()
			v, err := be.Value(api.StateDescriptor{Name: "count"})
			if err != nil {
				b.Fatal(err)
			}
			plain := make(map[string][]byte, len(keys))
			zero := make([]byte, 8)
			for _, k := range keys {
				be.SetCurrentKey(k)
				if err := v.Put(zero); err != nil {
					b.Fatal(err)
				}
				plain[string(k)] = make([]byte, 8)
			}
			var buf [8]byte
			benchcmp.Compare(b, func(from, to int) {
				for i := from; i < to; i++ {
					be.SetCurrentKey(keys[i%len(keys)])
					cur, _, err := v.Get()
					if err != nil {
						b.Fatal(err)
					}
					binary.BigEndian.PutUint64(buf[:], binary.BigEndian.Uint64(cur)+1)
					if err := v.Put(buf[:]); err != nil {
						b.Fatal(err)
					}
				}
			}, func(from, to int) {
				for i := from; i < to; i++ {
					cur := plain[string(keys[i%len(keys)])]
					binary.BigEndian.PutUint64(cur, binary.BigEndian.Uint64(cur)+1)
				}
			})
		})
	}
}
