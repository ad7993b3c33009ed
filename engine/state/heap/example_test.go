package heap_test

import (
	"encoding/binary"
	"fmt"

	"github.com/freshet/freshet/engine/api"
	"github.com/freshet/freshet/engine/keygroup"
	"github.com/freshet/freshet/engine/state"
	"github.com/freshet/freshet/engine/state/heap"
)

// A keyed operator counts events per key with a ValueState.
func ExampleNew() {
	b, err := heap.New(state.Options{
		Operator:       "count",
		MaxParallelism: 128,
		KeyGroups:      keygroup.RangeOf(0, 1, 128), // subtask 0 of 1 owns every key group
	})
	if err != nil {
		panic(err)
	}
	defer b.Close()
	count, err := b.Value(api.StateDescriptor{Name: "count"})
	if err != nil {
		panic(err)
	}
	var buf [8]byte
	for _, user := range []string{"ada", "bob", "ada"} {
		b.SetCurrentKey([]byte(user))
		n := uint64(0)
		if v, ok, err := count.Get(); err != nil {
			panic(err)
		} else if ok {
			n = binary.BigEndian.Uint64(v)
		}
		binary.BigEndian.PutUint64(buf[:], n+1)
		if err := count.Put(buf[:]); err != nil {
			panic(err)
		}
	}
	b.SetCurrentKey([]byte("ada"))
	v, _, _ := count.Get()
	fmt.Println("ada:", binary.BigEndian.Uint64(v))
	// Output: ada: 2
}
