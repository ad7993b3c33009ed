package operators

import (
	"fmt"
	"strconv"

	"github.com/freshet/freshet/engine/api"
	"github.com/freshet/freshet/engine/keygroup"
)

// keySet remembers in keyed state which keys an operator subtask has seen,
// so that Finish can visit every key (emit: final): the state interface has
// no way to list keys.
//
// The keys of key group g are the user keys of a MapState stored under one
// sentinel key that hashes into g. Keeping them in keyed state, grouped by key
// group, means they are checkpointed with the values they index, and move
// with them when a job is rescaled or restored: an in-memory set would forget
// the keys seen before a restore. Sentinel keys live in their own state, so
// they never mix with the operator's real keys.
type keySet struct {
	ks        api.KeyedState
	ms        api.MapState
	maxP      int
	kgs       keygroup.Range
	sentinels [][]byte // by key group - kgs.Start; nil until found
	next      uint64   // next sentinel candidate
	cand      []byte
	keys      [][]byte // Finish: keys of one key group
	arena     []byte
}

var present = []byte{1}

// sentinelPrefix starts every sentinel candidate; the candidates are
// deterministic, so a restored job finds the same sentinels.
const sentinelPrefix = "\x00freshet/keyset/"

func newKeySet(ctx api.Context, ks api.KeyedState, state string) (*keySet, error) {
	ms, err := ks.Map(api.StateDescriptor{Name: state, Kind: api.MapStateKind})
	if err != nil {
		return nil, fmt.Errorf("declaring state %q: %w", state, err)
	}
	kgs := keygroup.RangeOf(ctx.Subtask(), ctx.Parallelism(), ctx.MaxParallelism())
	return &keySet{ks: ks, ms: ms, maxP: ctx.MaxParallelism(), kgs: kgs, sentinels: make([][]byte, kgs.Len())}, nil
}

// sentinel returns the sentinel key of key group kg, which must be in the
// subtask's range. Candidates are tried in order and every one that lands in
// the range is kept, so finding all of them costs about M·ln(M) hashes for M
// key groups, spread over the calls.
func (s *keySet) sentinel(kg int) []byte {
	i := kg - s.kgs.Start
	for s.sentinels[i] == nil {
		s.cand = strconv.AppendUint(append(s.cand[:0], sentinelPrefix...), s.next, 36)
		s.next++
		if g := keygroup.Of(s.cand, s.maxP); s.kgs.Contains(g) && s.sentinels[g-s.kgs.Start] == nil {
			s.sentinels[g-s.kgs.Start] = append([]byte(nil), s.cand...)
		}
	}
	return s.sentinels[i]
}

// add records key; the caller has key as the current key and gets it back.
func (s *keySet) add(key []byte) error {
	kg := keygroup.Of(key, s.maxP)
	if !s.kgs.Contains(kg) {
		return fmt.Errorf("key group %d of a key is not in this subtask's range %s (is the input partitioned by key?)", kg, s.kgs)
	}
	s.ks.SetCurrentKey(s.sentinel(kg))
	err := s.ms.Put(key, present)
	s.ks.SetCurrentKey(key)
	return err
}

// each calls fn for every key recorded, with that key current.
func (s *keySet) each(fn func(key []byte) error) error {
	for kg := s.kgs.Start; kg <= s.kgs.End; kg++ {
		s.ks.SetCurrentKey(s.sentinel(kg))
		s.keys, s.arena = s.keys[:0], s.arena[:0]
		var offs []int
		err := s.ms.Iter(func(uk, _ []byte) bool {
			offs = append(offs, len(s.arena))
			s.arena = append(s.arena, uk...)
			return true
		})
		if err != nil {
			return err
		}
		for j, start := range offs {
			end := len(s.arena)
			if j+1 < len(offs) {
				end = offs[j+1]
			}
			s.keys = append(s.keys, s.arena[start:end:end])
		}
		for _, k := range s.keys {
			s.ks.SetCurrentKey(k)
			if err := fn(k); err != nil {
				return err
			}
		}
	}
	return nil
}
