// Package keyed holds what every keyed state backend shares: the current key
// and namespace with their key group, the binary address of an entry,
// descriptor and snapshot-entry validation, and TTL arithmetic.
//
// Address layout (also the prefix of every RocksDB key):
//
//	key group  uint16, big-endian
//	uvarint    len(key)
//	key        bytes
//	uvarint    len(namespace)
//	namespace  bytes
//
// Both lengths are explicit, so one address is never a prefix of another
// address with a different key or namespace, and a map state's user key may
// follow the address without ambiguity. Addresses sort by key group first,
// which is what makes a range of key groups one contiguous range of keys.
package keyed

import (
	"encoding/binary"
	"errors"
	"fmt"
	"time"
	"unsafe"

	"github.com/freshet/freshet/engine/api"
	"github.com/freshet/freshet/engine/keygroup"
	"github.com/freshet/freshet/engine/state"
)

// KeyGroupLen is the size of the key-group prefix of an address.
const KeyGroupLen = 2

// Current is the current key and namespace of one backend, with the key's key
// group and the encoded address. Its zero value is not usable; call Init.
type Current struct {
	operator       string
	maxParallelism int
	keyGroups      keygroup.Range

	key   []byte
	ns    []byte
	kg    int
	addr  []byte
	nsOff int // offset of the namespace length in addr
	err   error
}

// Init prepares c for a backend with opts. Until SetKey is called, Err
// reports state.ErrNoCurrentKey.
func (c *Current) Init(opts state.Options) {
	c.operator = opts.Operator
	c.maxParallelism = opts.MaxParallelism
	c.keyGroups = opts.KeyGroups
	c.err = fmt.Errorf("operator %q: %w", opts.Operator, state.ErrNoCurrentKey)
}

// CheckOptions validates the options every backend needs.
func CheckOptions(opts state.Options) error {
	if opts.MaxParallelism < 1 || opts.MaxParallelism > keygroup.UpperBound {
		return fmt.Errorf("state backend for operator %q: max parallelism %d is out of range [1, %d]",
			opts.Operator, opts.MaxParallelism, keygroup.UpperBound)
	}
	r := opts.KeyGroups
	if r.Len() == 0 || r.Start < 0 || r.End >= opts.MaxParallelism {
		return fmt.Errorf("state backend for operator %q: key groups %s are not a non-empty range within [0, %d]",
			opts.Operator, r, opts.MaxParallelism-1)
	}
	return nil
}

// SetKey makes key current: it copies key, computes its key group once and
// records an error wrapping state.ErrKeyGroupOutOfRange when the key group is
// not owned by this backend.
func (c *Current) SetKey(key []byte) {
	if errors.Is(c.err, state.ErrClosed) {
		return
	}
	c.key = append(c.key[:0], key...)
	c.kg = keygroup.Of(key, c.maxParallelism)
	c.err = nil
	if !c.keyGroups.Contains(c.kg) {
		c.err = fmt.Errorf("operator %q: key %s is in key group %d, outside key groups %s of this subtask (max parallelism %d): %w",
			c.operator, Printable(key), c.kg, c.keyGroups, c.maxParallelism, state.ErrKeyGroupOutOfRange)
	}
	c.addr = binary.BigEndian.AppendUint16(c.addr[:0], uint16(c.kg))
	c.addr = binary.AppendUvarint(c.addr, uint64(len(key)))
	c.addr = append(c.addr, key...)
	c.nsOff = len(c.addr)
	c.appendNamespace()
}

// SetNamespace makes ns the current namespace; it stays current across SetKey.
func (c *Current) SetNamespace(ns []byte) {
	c.ns = append(c.ns[:0], ns...)
	if c.addr != nil {
		c.addr = c.addr[:c.nsOff]
		c.appendNamespace()
	}
}

func (c *Current) appendNamespace() {
	c.addr = binary.AppendUvarint(c.addr, uint64(len(c.ns)))
	c.addr = append(c.addr, c.ns...)
}

// Close makes every later operation fail with state.ErrClosed.
func (c *Current) Close() {
	c.err = fmt.Errorf("operator %q: %w", c.operator, state.ErrClosed)
}

// Err is nil when a key is set, owned by this backend, and the backend is
// open; otherwise it says why state cannot be used.
func (c *Current) Err() error { return c.err }

// Key is the current key (a view; nil before SetKey).
func (c *Current) Key() []byte { return c.key }

// Namespace is the current namespace (a view).
func (c *Current) Namespace() []byte { return c.ns }

// KeyGroup is the current key's key group.
func (c *Current) KeyGroup() int { return c.kg }

// Address is the encoded (key group, key, namespace) of the current key.
// It is valid until the next SetKey or SetNamespace.
func (c *Current) Address() []byte { return c.addr }

// AppendAddress appends the address of (kg, key, ns) to dst.
func AppendAddress(dst []byte, kg int, key, ns []byte) []byte {
	dst = binary.BigEndian.AppendUint16(dst, uint16(kg))
	dst = binary.AppendUvarint(dst, uint64(len(key)))
	dst = append(dst, key...)
	dst = binary.AppendUvarint(dst, uint64(len(ns)))
	return append(dst, ns...)
}

// ErrBadAddress is returned by DecodeAddress for bytes that are not an address.
var ErrBadAddress = errors.New("malformed state address")

// DecodeAddress splits b into the key group, key and namespace of an address
// and the bytes that follow it (a map state's user key). The slices are views
// of b. It never panics, whatever b holds.
func DecodeAddress(b []byte) (kg int, key, ns, rest []byte, err error) {
	if len(b) < KeyGroupLen {
		return 0, nil, nil, nil, fmt.Errorf("%w: %d bytes, shorter than the key group", ErrBadAddress, len(b))
	}
	kg = int(binary.BigEndian.Uint16(b))
	b = b[KeyGroupLen:]
	if key, b, err = lengthPrefixed(b); err != nil {
		return 0, nil, nil, nil, fmt.Errorf("%w: key: %w", ErrBadAddress, err)
	}
	if ns, b, err = lengthPrefixed(b); err != nil {
		return 0, nil, nil, nil, fmt.Errorf("%w: namespace: %w", ErrBadAddress, err)
	}
	return kg, key, ns, b, nil
}

func lengthPrefixed(b []byte) (field, rest []byte, err error) {
	n, w := binary.Uvarint(b)
	if w <= 0 {
		return nil, nil, errors.New("bad length")
	}
	b = b[w:]
	if n > uint64(len(b)) {
		return nil, nil, fmt.Errorf("length %d exceeds the %d bytes left", n, len(b))
	}
	return b[:n:n], b[n:], nil
}

// CheckDescriptor validates d used as a state of kind want and returns it
// with Kind filled in when it was left zero.
func CheckDescriptor(d api.StateDescriptor, want api.StateKind) (api.StateDescriptor, error) {
	if d.Kind == 0 {
		d.Kind = want
	}
	switch {
	case d.Name == "":
		return d, fmt.Errorf("%s state: descriptor has no name: %w", want, state.ErrInvalidDescriptor)
	case d.Kind != want:
		return d, fmt.Errorf("state %q: descriptor says %s state but it is used as %s state: %w",
			d.Name, d.Kind, want, state.ErrStateKindMismatch)
	case d.TTL < 0:
		return d, fmt.Errorf("state %q: negative TTL %v: %w", d.Name, d.TTL, state.ErrInvalidDescriptor)
	case want == api.ReducingStateKind && d.Reduce == nil:
		return d, fmt.Errorf("state %q: reducing state without a Reduce function: %w", d.Name, state.ErrInvalidDescriptor)
	case want == api.AggregatingStateKind && d.Aggregate == nil:
		return d, fmt.Errorf("state %q: aggregating state without an Aggregate function: %w", d.Name, state.ErrInvalidDescriptor)
	}
	return d, nil
}

// KindMismatch is the error for a state declared (or restored) as have and
// now used as want.
func KindMismatch(operator, name string, have, want api.StateKind) error {
	return fmt.Errorf("operator %q: state %q is a %s state and cannot be used as a %s state: %w",
		operator, name, have, want, state.ErrStateKindMismatch)
}

// ValidKind reports whether k is one of the declared state kinds.
func ValidKind(k api.StateKind) bool {
	return k >= api.ValueStateKind && k <= api.AggregatingStateKind
}

// CheckEntry validates a snapshot entry whose key group is owned by the
// restoring backend: a known kind, a name, and a key group that matches the
// key's hash under maxParallelism.
func CheckEntry(e *state.Entry, maxParallelism int) error {
	switch {
	case e.State == "":
		return fmt.Errorf("entry without a state name: %w", state.ErrInvalidEntry)
	case !ValidKind(e.Kind):
		return fmt.Errorf("state %q: entry of unknown kind %d: %w", e.State, e.Kind, state.ErrInvalidEntry)
	}
	if kg := keygroup.Of(e.Key, maxParallelism); kg != e.KeyGroup {
		return fmt.Errorf("state %q: entry for key %s says key group %d but the key hashes to %d with max parallelism %d (snapshot taken with another max parallelism?): %w",
			e.State, Printable(e.Key), e.KeyGroup, kg, maxParallelism, state.ErrInvalidEntry)
	}
	return nil
}

// TTLMillis converts a TTL to whole milliseconds, rounding up so that a
// positive TTL never becomes zero (no expiry).
func TTLMillis(ttl time.Duration) int64 {
	if ttl <= 0 {
		return 0
	}
	return int64((ttl + time.Millisecond - 1) / time.Millisecond)
}

// Expired reports whether an entry expiring at exp (ms since the epoch, 0 for
// never) has expired at now.
func Expired(exp, now int64) bool { return exp != 0 && exp <= now }

// Printable renders a key for an error message: quoted, at most 64 bytes.
func Printable(b []byte) string {
	const limit = 64
	if len(b) > limit {
		return fmt.Sprintf("%q...(%d bytes)", b[:limit], len(b))
	}
	return fmt.Sprintf("%q", b)
}

// Clock returns opts.Now, or time.Now when it is nil.
func Clock(opts state.Options) func() time.Time {
	if opts.Now != nil {
		return opts.Now
	}
	return time.Now
}

// Overlaps reports whether a and b share memory.
func Overlaps(a, b []byte) bool {
	if cap(a) == 0 || cap(b) == 0 {
		return false
	}
	pa := uintptr(unsafe.Pointer(unsafe.SliceData(a)))
	pb := uintptr(unsafe.Pointer(unsafe.SliceData(b)))
	return pa < pb+uintptr(cap(b)) && pb < pa+uintptr(cap(a))
}

// Adopt returns the buffer to pass as dst to the next call of a user
// function (Reduce, Aggregate) that was given buf and returned out: out when
// it grew beyond buf and shares no memory with the call's inputs, else buf.
func Adopt(buf, out, in1, in2 []byte) []byte {
	if cap(out) > cap(buf) && !Overlaps(out, in1) && !Overlaps(out, in2) {
		return out[:0]
	}
	return buf
}
