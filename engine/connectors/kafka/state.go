package kafka

import (
	"encoding/binary"
	"errors"
	"fmt"
)

// ErrCorruptState is the category of checkpoint entries that cannot be
// decoded as this connector's state.
var ErrCorruptState = errors.New("corrupt Kafka connector state")

// State entries are small self-contained byte strings (api.CheckpointedFunction):
//
//	version (1 byte, stateVersion) | kind (1 byte) | fields
//
// Integers are varints (zig-zag for signed values), strings a uvarint
// length and the bytes. Decoders reject trailing bytes, so a new field
// needs a new version.
const stateVersion = 1

// Entry kinds.
const (
	kindOffset byte = 1 // source: the read position of one partition
	kindPool   byte = 2 // sink: the transactional ids of one subtask
	kindTxn    byte = 3 // sink: a prepared transaction waiting for its commit
)

// maxStateString bounds strings in state entries (topics and transactional
// ids are far shorter), so a corrupt length cannot make a huge allocation.
const maxStateString = 64 << 10

// offsetEntry is the position of one partition in a source's state.
type offsetEntry struct {
	Topic     string
	Partition int32
	Next      int64 // offset of the next record to emit
	Stop      int64 // bounded mode: stop before this offset; -1 unbounded
}

// poolEntry names the transactional ids a sink subtask used:
// Prefix-Subtask-0 ... Prefix-Subtask-(Size-1).
type poolEntry struct {
	Subtask     int
	Parallelism int
	Size        int
	Prefix      string
}

// txnEntry is a transaction prepared (flushed) for checkpoint Checkpoint
// and committed when that checkpoint completes.
type txnEntry struct {
	Checkpoint int64
	Subtask    int
	TxnID      string
	ProducerID int64
	Epoch      int16
}

func header(kind byte) []byte { return []byte{stateVersion, kind} }

func appendString(b []byte, s string) []byte {
	b = binary.AppendUvarint(b, uint64(len(s)))
	return append(b, s...)
}

func (e offsetEntry) encode() []byte {
	b := header(kindOffset)
	b = appendString(b, e.Topic)
	b = binary.AppendVarint(b, int64(e.Partition))
	b = binary.AppendVarint(b, e.Next)
	return binary.AppendVarint(b, e.Stop)
}

func (e poolEntry) encode() []byte {
	b := header(kindPool)
	b = binary.AppendVarint(b, int64(e.Subtask))
	b = binary.AppendVarint(b, int64(e.Parallelism))
	b = binary.AppendVarint(b, int64(e.Size))
	return appendString(b, e.Prefix)
}

func (e txnEntry) encode() []byte {
	b := header(kindTxn)
	b = binary.AppendVarint(b, e.Checkpoint)
	b = binary.AppendVarint(b, int64(e.Subtask))
	b = appendString(b, e.TxnID)
	b = binary.AppendVarint(b, e.ProducerID)
	return binary.AppendVarint(b, int64(e.Epoch))
}

// decoder reads one entry; the first problem sticks in err.
type decoder struct {
	b   []byte
	err error
}

func (d *decoder) fail(what string) {
	if d.err == nil {
		d.err = fmt.Errorf("%w: %s", ErrCorruptState, what)
	}
}

func (d *decoder) varint(what string, lo, hi int64) int64 {
	if d.err != nil {
		return 0
	}
	v, n := binary.Varint(d.b)
	var canon [binary.MaxVarintLen64]byte
	if n <= 0 || binary.PutVarint(canon[:], v) != n {
		d.fail("bad " + what)
		return 0
	}
	d.b = d.b[n:]
	if v < lo || v > hi {
		d.fail(fmt.Sprintf("%s %d out of range [%d, %d]", what, v, lo, hi))
		return 0
	}
	return v
}

func (d *decoder) str(what string) string {
	if d.err != nil {
		return ""
	}
	n, k := binary.Uvarint(d.b)
	var canon [binary.MaxVarintLen64]byte
	if k <= 0 || binary.PutUvarint(canon[:], n) != k || n > maxStateString || n > uint64(len(d.b)-k) {
		d.fail("bad " + what)
		return ""
	}
	s := string(d.b[k : k+int(n)])
	d.b = d.b[k+int(n):]
	return s
}

func (d *decoder) end() error {
	if d.err == nil && len(d.b) != 0 {
		d.fail(fmt.Sprintf("%d trailing bytes", len(d.b)))
	}
	return d.err
}

const (
	maxInt32 = 1<<31 - 1
	maxInt64 = 1<<63 - 1
	minInt64 = -1 << 63
)

// entryKind returns the kind of entry b after checking its version.
func entryKind(b []byte) (byte, error) {
	if len(b) < 2 {
		return 0, fmt.Errorf("%w: entry of %d bytes", ErrCorruptState, len(b))
	}
	if b[0] != stateVersion {
		return 0, fmt.Errorf("%w: entry version %d, this build reads version %d", ErrCorruptState, b[0], stateVersion)
	}
	return b[1], nil
}

func decodeOffset(b []byte) (offsetEntry, error) {
	d := decoder{b: b[2:]}
	e := offsetEntry{
		Topic:     d.str("topic"),
		Partition: int32(d.varint("partition", 0, maxInt32)),
		Next:      d.varint("offset", 0, maxInt64),
		Stop:      d.varint("stop offset", -1, maxInt64),
	}
	if e.Topic == "" && d.err == nil {
		d.fail("empty topic")
	}
	return e, d.end()
}

func decodePool(b []byte) (poolEntry, error) {
	d := decoder{b: b[2:]}
	e := poolEntry{
		Subtask:     int(d.varint("subtask", 0, maxInt32)),
		Parallelism: int(d.varint("parallelism", 1, maxInt32)),
		Size:        int(d.varint("pool size", 0, maxPoolSize)),
		Prefix:      d.str("prefix"),
	}
	if d.err == nil && e.Subtask >= e.Parallelism {
		d.fail(fmt.Sprintf("subtask %d of parallelism %d", e.Subtask, e.Parallelism))
	}
	return e, d.end()
}

func decodeTxn(b []byte) (txnEntry, error) {
	d := decoder{b: b[2:]}
	e := txnEntry{
		Checkpoint: d.varint("checkpoint", minInt64, maxInt64),
		Subtask:    int(d.varint("subtask", 0, maxInt32)),
		TxnID:      d.str("transactional id"),
		ProducerID: d.varint("producer id", 0, maxInt64),
		Epoch:      int16(d.varint("producer epoch", 0, 1<<15-1)),
	}
	if e.TxnID == "" && d.err == nil {
		d.fail("empty transactional id")
	}
	return e, d.end()
}
