package rng

import "testing"

func TestIntnIsUniformEnough(t *testing.T) {
	r := New(1)
	const n, draws = 10, 100_000
	var counts [n]int
	for range draws {
		v := r.Intn(n)
		if v < 0 || v >= n {
			t.Fatalf("Intn(%d) = %d", n, v)
		}
		counts[v]++
	}
	for i, c := range counts {
		if c < draws/n*9/10 || c > draws/n*11/10 {
			t.Fatalf("bucket %d has %d of %d draws", i, c, draws)
		}
	}
}

func TestMixSeparatesNeighbours(t *testing.T) {
	seen := map[uint64]bool{}
	for i := range uint64(10_000) {
		r := New(Mix(42, i))
		v := r.Uint64()
		if seen[v] {
			t.Fatalf("row %d repeats a value", i)
		}
		seen[v] = true
	}
}

func TestFloat64Range(t *testing.T) {
	r := New(7)
	for range 10_000 {
		if f := r.Float64(); f < 0 || f >= 1 {
			t.Fatalf("Float64 = %v", f)
		}
	}
}
