package rocksdb

import (
	"fmt"
	"testing"
)

// A key filter holds every key added, across the parts it grows, answers
// few false positives, and gives up past its limit.
func TestKeyFilter(t *testing.T) {
	f := newKeyFilterOf(1<<10, 1<<20)
	const n = 100_000
	for i := range n {
		if !f.add(fmt.Appendf(nil, "key-%d", i)) {
			t.Fatalf("add %d: filter gave up below its limit", i)
		}
	}
	for i := range n {
		if !f.mayHold(fmt.Appendf(nil, "key-%d", i)) {
			t.Fatalf("key-%d added but not held", i)
		}
	}
	if len(f.parts) < 2 {
		t.Fatalf("%d parts for %d keys from a first part of 1024", len(f.parts), n)
	}
	fp := 0
	for i := range n {
		if f.mayHold(fmt.Appendf(nil, "other-%d", i)) {
			fp++
		}
	}
	if rate := float64(fp) / n; rate > 0.05 {
		t.Fatalf("false positive rate %.3f with %d parts", rate, len(f.parts))
	}
	// Adding a held key again does not grow it.
	before := f.total
	for range 10 {
		for i := range n {
			f.add(fmt.Appendf(nil, "key-%d", i))
		}
	}
	if f.total != before {
		t.Fatalf("re-adding held keys grew the filter from %d to %d keys", before, f.total)
	}

	small := newKeyFilterOf(16, 100)
	gaveUp := -1
	for i := range 1000 {
		if !small.add(fmt.Appendf(nil, "k%d", i)) {
			gaveUp = i
			break
		}
	}
	if gaveUp < 16+64 || gaveUp > 100 {
		t.Fatalf("a filter limited to 100 keys gave up at key %d", gaveUp)
	}
}
