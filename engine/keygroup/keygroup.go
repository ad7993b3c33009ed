// Package keygroup maps keys to key groups and key groups to subtasks.
//
// A job has a fixed maximum parallelism M (default 128). Every key hashes to
// one of M key groups; subtask i of a parallelism-p operator owns the
// contiguous range of key groups Range(i, p, M). Rescaling an operator moves
// whole ranges of key groups between subtasks and never rehashes a key, which
// is why keyed state is stored and snapshotted by key group.
//
// The hash (xxhash64 of the key bytes) is part of Freshet's savepoint format:
// changing it would move keys to other key groups and break every savepoint.
package keygroup

import (
	"fmt"

	"github.com/cespare/xxhash/v2"
)

// DefaultMaxParallelism is the number of key groups when a job sets none.
const DefaultMaxParallelism = 128

// UpperBound is the largest maximum parallelism a job may set.
const UpperBound = 1 << 15

// Of returns the key group of key for maxParallelism key groups.
func Of(key []byte, maxParallelism int) int {
	return int(xxhash.Sum64(key) % uint64(maxParallelism))
}

// Subtask returns the subtask that owns key group kg when an operator runs
// with parallelism p and maxParallelism key groups.
func Subtask(kg, p, maxParallelism int) int {
	return kg * p / maxParallelism
}

// SubtaskOf is Subtask(Of(key, maxParallelism), p, maxParallelism).
func SubtaskOf(key []byte, p, maxParallelism int) int {
	return Subtask(Of(key, maxParallelism), p, maxParallelism)
}

// Range is a contiguous, inclusive range of key groups [Start, End].
type Range struct{ Start, End int }

// Contains reports whether kg is in r.
func (r Range) Contains(kg int) bool { return kg >= r.Start && kg <= r.End }

// Len is the number of key groups in r; an empty range has End < Start.
func (r Range) Len() int { return max(0, r.End-r.Start+1) }

func (r Range) String() string { return fmt.Sprintf("[%d, %d]", r.Start, r.End) }

// RangeOf returns the key groups owned by subtask i of p.
// It is the inverse of Subtask: Subtask(kg) == i exactly for kg in RangeOf(i).
func RangeOf(i, p, maxParallelism int) Range {
	start := (i*maxParallelism + p - 1) / p
	end := ((i+1)*maxParallelism+p-1)/p - 1
	return Range{Start: start, End: end}
}

// Validate checks a parallelism against a maximum parallelism.
func Validate(p, maxParallelism int) error {
	if maxParallelism < 1 || maxParallelism > UpperBound {
		return fmt.Errorf("max parallelism %d is out of range [1, %d]", maxParallelism, UpperBound)
	}
	if p < 1 || p > maxParallelism {
		return fmt.Errorf("parallelism %d is out of range [1, max parallelism %d]", p, maxParallelism)
	}
	return nil
}
