package rocksdb

import (
	"encoding/binary"
	"errors"
	"fmt"

	"github.com/freshet/freshet/engine/api"
	"github.com/freshet/freshet/engine/state/internal/keyed"
)

// ErrCorrupt marks bytes read from RocksDB that do not follow Freshet's
// layout: a damaged or foreign database.
var ErrCorrupt = errors.New("corrupt RocksDB state")

const (
	expiryLen = 8 // big-endian ms since the epoch, 0 for none; prefix of every value
	seqLen    = 8 // big-endian list element sequence; suffix of list keys
)

// appendValue appends the stored form of v: expiry, then v.
func appendValue(dst []byte, exp int64, v []byte) []byte {
	dst = binary.BigEndian.AppendUint64(dst, uint64(exp))
	return append(dst, v...)
}

// splitValue splits a stored value into its expiry and payload.
func splitValue(b []byte) (exp int64, v []byte, err error) {
	if len(b) < expiryLen {
		return 0, nil, fmt.Errorf("%w: value of %d bytes has no expiry prefix", ErrCorrupt, len(b))
	}
	return int64(binary.BigEndian.Uint64(b)), b[expiryLen:], nil
}

// decodeKey splits a stored key of a state of kind into its address parts
// and the user key (map state); list keys end in an element sequence.
func decodeKey(kind api.StateKind, b []byte) (kg int, key, ns, uk []byte, err error) {
	kg, key, ns, rest, err := keyed.DecodeAddress(b)
	if err != nil {
		return 0, nil, nil, nil, fmt.Errorf("%w: %w", ErrCorrupt, err)
	}
	switch kind {
	case api.MapStateKind:
		return kg, key, ns, rest, nil
	case api.ListStateKind:
		if len(rest) != seqLen {
			return 0, nil, nil, nil, fmt.Errorf("%w: list key ends in %d bytes, want an %d-byte sequence", ErrCorrupt, len(rest), seqLen)
		}
	default:
		if len(rest) != 0 {
			return 0, nil, nil, nil, fmt.Errorf("%w: %s state key has %d trailing bytes", ErrCorrupt, kind, len(rest))
		}
	}
	return kg, key, ns, nil, nil
}

// keyGroupBound is the first key of key group kg: the start of its range.
func keyGroupBound(kg int) []byte {
	return binary.BigEndian.AppendUint16(nil, uint16(kg))
}
