package memory_test

import (
	"context"
	"fmt"

	"github.com/freshet/freshet/engine/memory"
)

func Example() {
	m, err := memory.NewManager(memory.Config{TotalBytes: 1 << 20, SegmentSize: 32 << 10})
	if err != nil {
		panic(err)
	}
	gate, err := m.CreatePool("map (1/2) input", 24)
	if err != nil {
		panic(err)
	}
	_, err = m.CreatePool("map (1/2) output", 16)
	fmt.Println(err)

	seg, err := gate.Request(context.Background())
	if err != nil {
		panic(err)
	}
	n := copy(seg.Bytes(), "records go here")
	fmt.Println(n, len(seg.Bytes()), m.Stats().Used)
	seg.Release()

	gate.Destroy()
	fmt.Println(m.Close())
	// Output:
	// creating memory pool "map (1/2) output": needs 16 segments (512 KiB) but only 8 segments (256 KiB) of the 1 MiB budget are left: memory budget exceeded
	// 15 32768 32768
	// <nil>
}
