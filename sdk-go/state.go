package freshet

import (
	"encoding/binary"
	"errors"
	"fmt"
	"iter"
	"time"

	"github.com/freshet/freshet/sdk-go/internal/abi"
)

// Keyed state lives in the host, per key of a keyed stream: every operation
// reads or writes the entry of the key being handled. Declare state at
// package level and use it from a process function:
//
//	var count = freshet.NewValueState("count")
//
// Slices returned by Get methods are owned by the state handle and valid
// until its next operation; copy what you keep.

// StateOption configures a state.
type StateOption func(*stateHandle)

// WithTTL expires an entry ttl after its last write.
func WithTTL(ttl time.Duration) StateOption {
	return func(s *stateHandle) { s.ttl = ttl.Milliseconds() }
}

type stateHandle struct {
	name string
	kind abi.StateKind
	ttl  int64
	h    int32
	buf  []byte
}

func newHandle(name string, kind abi.StateKind, opts []StateOption) stateHandle {
	s := stateHandle{name: name, kind: kind, h: -1}
	for _, o := range opts {
		o(&s)
	}
	return s
}

func (s *stateHandle) handle() (int32, error) {
	if s.h >= 0 {
		return s.h, nil
	}
	b := []byte(s.name)
	h := abi.StateDeclare(int32(s.kind), ptr(b), int32(len(b)), s.ttl)
	if h < 0 {
		return 0, fmt.Errorf("declaring %s state %q: %w", s.kind, s.name, StatusError(h))
	}
	s.h = h
	return h, nil
}

func (s *stateHandle) fail(op string, st int32) error {
	return fmt.Errorf("%s state %q: %s: %w", s.kind, s.name, op, StatusError(st))
}

type readOp uint8

const (
	opValueGet readOp = iota
	opListGet
	opMapGet
	opMapScan
)

var opNames = [...]string{"get", "get", "get", "scan"}

// read calls a host read function with s.buf, growing it until the result
// fits. (A switch rather than a closure: closures allocate, and allocation
// is what costs most in a Go guest.)
func (s *stateHandle) read(op readOp, h int32, userKey []byte) ([]byte, bool, error) {
	if cap(s.buf) < 64 {
		s.buf = make([]byte, 256)
	}
	for {
		buf := s.buf[:cap(s.buf)]
		var n int32
		switch op {
		case opValueGet:
			n = abi.ValueGet(h, ptr(buf), int32(len(buf)))
		case opListGet:
			n = abi.ListGet(h, ptr(buf), int32(len(buf)))
		case opMapGet:
			n = abi.MapGet(h, ptr(userKey), int32(len(userKey)), ptr(buf), int32(len(buf)))
		case opMapScan:
			n = abi.MapScan(h, ptr(buf), int32(len(buf)))
		}
		switch {
		case n == int32(abi.StatusNotFound):
			return nil, false, nil
		case n < 0:
			return nil, false, s.fail(opNames[op], n)
		case int(n) <= len(buf):
			return buf[:n], true, nil
		}
		s.buf = make([]byte, n)
	}
}

// ValueState holds one value per key.
type ValueState struct{ s stateHandle }

// NewValueState declares a value state.
func NewValueState(name string, opts ...StateOption) *ValueState {
	return &ValueState{newHandle(name, abi.StateValue, opts)}
}

// Get returns the current key's value.
func (v *ValueState) Get() ([]byte, bool, error) {
	h, err := v.s.handle()
	if err != nil {
		return nil, false, err
	}
	return v.s.read(opValueGet, h, nil)
}

// Put sets the current key's value.
func (v *ValueState) Put(value []byte) error {
	h, err := v.s.handle()
	if err != nil {
		return err
	}
	if st := abi.ValuePut(h, ptr(value), int32(len(value))); st != 0 {
		return v.s.fail("put", st)
	}
	return nil
}

// Clear removes the current key's value.
func (v *ValueState) Clear() error { return clearState(&v.s) }

// GetInt64 reads a value written by PutInt64 (8 bytes, little-endian).
func (v *ValueState) GetInt64() (int64, bool, error) {
	b, ok, err := v.Get()
	if err != nil || !ok {
		return 0, ok, err
	}
	if len(b) != 8 {
		return 0, false, fmt.Errorf("value state %q: %d bytes is not an int64", v.s.name, len(b))
	}
	return int64(binary.LittleEndian.Uint64(b)), true, nil
}

// PutInt64 stores n as 8 bytes, little-endian.
func (v *ValueState) PutInt64(n int64) error {
	var b [8]byte
	binary.LittleEndian.PutUint64(b[:], uint64(n))
	return v.Put(b[:])
}

func clearState(s *stateHandle) error {
	h, err := s.handle()
	if err != nil {
		return err
	}
	if st := abi.StateClear(h); st != 0 {
		return s.fail("clear", st)
	}
	return nil
}

// ListState holds a list of values per key.
type ListState struct {
	s     stateHandle
	items [][]byte
}

// NewListState declares a list state.
func NewListState(name string, opts ...StateOption) *ListState {
	return &ListState{s: newHandle(name, abi.StateList, opts)}
}

// Add appends value to the current key's list.
func (l *ListState) Add(value []byte) error {
	h, err := l.s.handle()
	if err != nil {
		return err
	}
	if st := abi.ListAdd(h, ptr(value), int32(len(value))); st != 0 {
		return l.s.fail("add", st)
	}
	return nil
}

// Get returns the current key's list (empty when there is none).
func (l *ListState) Get() ([][]byte, error) {
	h, err := l.s.handle()
	if err != nil {
		return nil, err
	}
	b, _, err := l.s.read(opListGet, h, nil)
	if err != nil {
		return nil, err
	}
	items := l.items[:0]
	for len(b) > 0 {
		if len(b) < 4 {
			return nil, errMalformed
		}
		n := int(binary.LittleEndian.Uint32(b))
		if n > len(b)-4 {
			return nil, errMalformed
		}
		items = append(items, b[4:4+n:4+n])
		b = b[4+n:]
	}
	l.items = items
	return items, nil
}

var errMalformed = errors.New("freshet: malformed state encoding from the host")

// Update replaces the current key's list.
func (l *ListState) Update(values [][]byte) error {
	h, err := l.s.handle()
	if err != nil {
		return err
	}
	var b []byte
	for _, v := range values {
		b = appendBytes(b, v)
	}
	if st := abi.ListUpdate(h, ptr(b), int32(len(b))); st != 0 {
		return l.s.fail("update", st)
	}
	return nil
}

// Clear removes the current key's list.
func (l *ListState) Clear() error { return clearState(&l.s) }

// MapState holds a map from user key to value per key.
type MapState struct{ s stateHandle }

// NewMapState declares a map state.
func NewMapState(name string, opts ...StateOption) *MapState {
	return &MapState{newHandle(name, abi.StateMap, opts)}
}

// Get returns the value of userKey in the current key's map.
func (m *MapState) Get(userKey []byte) ([]byte, bool, error) {
	h, err := m.s.handle()
	if err != nil {
		return nil, false, err
	}
	return m.s.read(opMapGet, h, userKey)
}

// Put sets userKey to value.
func (m *MapState) Put(userKey, value []byte) error {
	h, err := m.s.handle()
	if err != nil {
		return err
	}
	if st := abi.MapPut(h, ptr(userKey), int32(len(userKey)), ptr(value), int32(len(value))); st != 0 {
		return m.s.fail("put", st)
	}
	return nil
}

// Delete removes userKey.
func (m *MapState) Delete(userKey []byte) error {
	h, err := m.s.handle()
	if err != nil {
		return err
	}
	if st := abi.MapDelete(h, ptr(userKey), int32(len(userKey))); st != 0 {
		return m.s.fail("delete", st)
	}
	return nil
}

// All returns the current key's entries sorted by user key, and an error
// if the host could not read them.
func (m *MapState) All() (iter.Seq2[[]byte, []byte], error) {
	h, err := m.s.handle()
	if err != nil {
		return nil, err
	}
	b, _, err := m.s.read(opMapScan, h, nil)
	if err != nil {
		return nil, err
	}
	return func(yield func(k, v []byte) bool) {
		for len(b) >= 8 {
			kl := int(binary.LittleEndian.Uint32(b))
			if kl > len(b)-8 {
				return
			}
			k := b[4 : 4+kl : 4+kl]
			b = b[4+kl:]
			vl := int(binary.LittleEndian.Uint32(b))
			if vl > len(b)-4 {
				return
			}
			v := b[4 : 4+vl : 4+vl]
			b = b[4+vl:]
			if !yield(k, v) {
				return
			}
		}
	}, nil
}

// Clear removes the current key's map.
func (m *MapState) Clear() error { return clearState(&m.s) }
