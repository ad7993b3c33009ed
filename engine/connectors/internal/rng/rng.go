// Package rng is the random number generator of the data-generating sources
// (datagen, nexmark).
//
// Those sources derive every row from (seed, row number) alone, so a row is
// the same whatever the parallelism and whichever subtask produces it. That
// needs a generator whose state is one word, seeded per row at no cost: Rand
// is wyrand, and Mix turns a (seed, row) pair into a well-spread seed.
package rng

import "math/bits"

// Rand is a small, fast, non-cryptographic generator (wyrand). Its zero value
// is usable; copy it to fork a stream.
type Rand struct{ s uint64 }

// New returns a generator seeded with seed.
func New(seed uint64) Rand { return Rand{s: seed} }

// Mix hashes a and b into a seed (splitmix64 finalizer over a combination
// of both), so that neighbouring rows get unrelated streams.
func Mix(a, b uint64) uint64 {
	z := a ^ (b+0x9e3779b97f4a7c15)*0xbf58476d1ce4e5b9
	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9
	z = (z ^ (z >> 27)) * 0x94d049bb133111eb
	return z ^ (z >> 31)
}

// Uint64 returns 64 random bits.
func (r *Rand) Uint64() uint64 {
	r.s += 0xa0761d6478bd642f
	hi, lo := bits.Mul64(r.s, r.s^0xe7037ed1a0b428db)
	return hi ^ lo
}

// Intn returns a number in [0, n); n must be positive (it returns 0 otherwise).
// It uses Lemire's multiply-shift; the bias is below 2^-32 for n < 2^32.
func (r *Rand) Intn(n int64) int64 {
	if n <= 0 {
		return 0
	}
	hi, _ := bits.Mul64(r.Uint64(), uint64(n))
	return int64(hi)
}

// Float64 returns a number in [0, 1).
func (r *Rand) Float64() float64 {
	return float64(r.Uint64()>>11) / (1 << 53)
}
