package memory

import (
	"sync"
	"testing"
)

// BenchmarkPoolRequestRelease measures one TryRequest+Release pair, beside two
// baselines in the same run: a buffered channel used as a free list, and
// sync.Pool (which does not bound anything and keeps buffers on the heap).
func BenchmarkPoolRequestRelease(b *testing.B) {
	newPool := func(b *testing.B) *Pool {
		m, err := NewManager(Config{TotalBytes: 16 << 20, SegmentSize: 32 << 10, ArenaBytes: 8 << 20})
		if err != nil {
			b.Fatal(err)
		}
		b.Cleanup(func() {
			if err := m.Close(); err != nil {
				b.Error(err)
			}
		})
		p, err := m.CreatePool("bench", 512)
		if err != nil {
			b.Fatal(err)
		}
		return p
	}
	b.Run("pool", func(b *testing.B) {
		p := newPool(b)
		b.ReportAllocs()
		for b.Loop() {
			p.TryRequest().Release()
		}
	})
	b.Run("pool-parallel", func(b *testing.B) {
		p := newPool(b)
		b.ReportAllocs()
		b.RunParallel(func(pb *testing.PB) {
			for pb.Next() {
				if s := p.TryRequest(); s != nil {
					s.Release()
				}
			}
		})
	})
	b.Run("baseline-chan", func(b *testing.B) {
		free := make(chan []byte, 512)
		for range 512 {
			free <- make([]byte, 32<<10)
		}
		b.ReportAllocs()
		for b.Loop() {
			buf := <-free
			free <- buf
		}
	})
	b.Run("baseline-syncpool", func(b *testing.B) {
		sp := sync.Pool{New: func() any { return new([32 << 10]byte) }}
		b.ReportAllocs()
		for b.Loop() {
			sp.Put(sp.Get())
		}
	})
}
