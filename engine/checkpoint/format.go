package checkpoint

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"hash"
	"io"
	"os"

	"github.com/cespare/xxhash/v2"

	"github.com/freshet/freshet/engine/api"
	"github.com/freshet/freshet/engine/state"
)

// ErrCorrupt marks a checkpoint file whose content does not match its checksum
// or its declared size, or that cannot be decoded.
var ErrCorrupt = errors.New("checkpoint data is corrupt")

const (
	fileMagic   = "FRSHSTv1"
	tagEnd      = 0
	tagKeyed    = 1
	tagTimer    = 2
	tagOpState  = 3
	maxFieldLen = 1 << 30
)

// Timer is a snapshotted timer.
type Timer struct {
	Domain    api.TimeDomain
	Timestamp int64
	KeyGroup  int
	Key       []byte
	Namespace []byte
}

// Writer encodes one state file in memory: the snapshot's synchronous part
// encodes, and WriteFile, which may run on another goroutine, stores it.
type Writer struct {
	out bytes.Buffer
	h   hash.Hash64
	w   io.Writer
	buf []byte
	sum uint64
	err error
}

// NewWriter starts an empty state file.
func NewWriter() *Writer {
	w := &Writer{h: xxhash.New()}
	w.w = io.MultiWriter(&w.out, w.h)
	w.write([]byte(fileMagic))
	return w
}

func (w *Writer) write(p []byte) {
	if w.err != nil {
		return
	}
	_, w.err = w.w.Write(p)
}

func (w *Writer) field(p []byte) {
	w.buf = binary.AppendUvarint(w.buf, uint64(len(p)))
	w.buf = append(w.buf, p...)
}

func (w *Writer) flushRec() {
	w.write(w.buf)
	w.buf = w.buf[:0]
}

// Keyed writes one keyed state entry.
func (w *Writer) Keyed(e *state.Entry) {
	w.buf = append(w.buf[:0], tagKeyed)
	w.field([]byte(e.State))
	w.buf = append(w.buf, byte(e.Kind))
	w.buf = binary.AppendUvarint(w.buf, uint64(e.KeyGroup))
	w.field(e.Key)
	w.field(e.Namespace)
	w.field(e.UserKey)
	w.field(e.Value)
	w.buf = binary.AppendVarint(w.buf, e.ExpiresAt)
	w.flushRec()
}

// Timer writes one timer.
func (w *Writer) Timer(t *Timer) {
	w.buf = append(w.buf[:0], tagTimer, byte(t.Domain))
	w.buf = binary.AppendVarint(w.buf, t.Timestamp)
	w.buf = binary.AppendUvarint(w.buf, uint64(t.KeyGroup))
	w.field(t.Key)
	w.field(t.Namespace)
	w.flushRec()
}

// OpState writes one operator state entry.
func (w *Writer) OpState(p []byte) {
	w.buf = append(w.buf[:0], tagOpState)
	w.field(p)
	w.flushRec()
}

// Finish ends the encoding with the checksum and returns the file's size
// and hash for the metadata.
func (w *Writer) Finish() (size int64, sum uint64) {
	w.write([]byte{tagEnd})
	w.sum = w.h.Sum64()
	var tail [8]byte
	binary.BigEndian.PutUint64(tail[:], w.sum)
	w.out.Write(tail[:])
	return int64(w.out.Len()), w.sum
}

// WriteFile stores the finished encoding at path and syncs it.
func (w *Writer) WriteFile(path string) error {
	if w.err != nil {
		return w.err
	}
	f, err := os.OpenFile(path, os.O_CREATE|os.O_TRUNC|os.O_WRONLY, 0o644)
	if err != nil {
		return fmt.Errorf("creating state file: %w", err)
	}
	_, err = f.Write(w.out.Bytes())
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		_ = os.Remove(path)
		return fmt.Errorf("writing state file %s: %w", path, err)
	}
	return nil
}

// Visitor receives the content of a state file. Slices are valid only
// during the call.
type Visitor struct {
	Keyed   func(e *state.Entry) error
	Timer   func(t *Timer) error
	OpState func(p []byte) error
}

// Read verifies the file at path against size and sum (from the metadata),
// then calls v for every record in it.
func Read(path string, size int64, sum uint64, v Visitor) error {
	data, err := os.ReadFile(path)
	if err != nil {
		return fmt.Errorf("reading state file: %w", err)
	}
	if int64(len(data)) != size {
		return fmt.Errorf("%w: %s has %d bytes, the checkpoint metadata says %d", ErrCorrupt, path, len(data), size)
	}
	if len(data) < len(fileMagic)+9 || string(data[:len(fileMagic)]) != fileMagic {
		return fmt.Errorf("%w: %s is not a Freshet state file", ErrCorrupt, path)
	}
	body, tail := data[:len(data)-8], data[len(data)-8:]
	if got := xxhash.Sum64(body); got != sum || binary.BigEndian.Uint64(tail) != sum {
		return fmt.Errorf("%w: %s fails its checksum", ErrCorrupt, path)
	}
	d := decoder{b: body[len(fileMagic):], path: path}
	for {
		tag := d.byte()
		if d.err != nil {
			return d.err
		}
		switch tag {
		case tagEnd:
			return nil
		case tagKeyed:
			e := state.Entry{}
			e.State = string(d.field())
			e.Kind = api.StateKind(d.byte())
			e.KeyGroup = int(d.uvarint())
			e.Key, e.Namespace, e.UserKey, e.Value = d.field(), d.field(), d.field(), d.field()
			e.ExpiresAt = d.varint()
			if d.err != nil {
				return d.err
			}
			if v.Keyed != nil {
				if err := v.Keyed(&e); err != nil {
					return err
				}
			}
		case tagTimer:
			t := Timer{Domain: api.TimeDomain(d.byte())}
			t.Timestamp = d.varint()
			t.KeyGroup = int(d.uvarint())
			t.Key, t.Namespace = d.field(), d.field()
			if d.err != nil {
				return d.err
			}
			if v.Timer != nil {
				if err := v.Timer(&t); err != nil {
					return err
				}
			}
		case tagOpState:
			p := d.field()
			if d.err != nil {
				return d.err
			}
			if v.OpState != nil {
				if err := v.OpState(p); err != nil {
					return err
				}
			}
		default:
			return fmt.Errorf("%w: %s has an unknown record tag %d", ErrCorrupt, path, tag)
		}
	}
}

type decoder struct {
	b    []byte
	err  error
	path string
}

func (d *decoder) fail() {
	if d.err == nil {
		d.err = fmt.Errorf("%w: %s ends inside a record", ErrCorrupt, d.path)
	}
	d.b = nil
}

func (d *decoder) byte() byte {
	if len(d.b) == 0 {
		d.fail()
		return 0
	}
	c := d.b[0]
	d.b = d.b[1:]
	return c
}

func (d *decoder) uvarint() uint64 {
	v, n := binary.Uvarint(d.b)
	if n <= 0 {
		d.fail()
		return 0
	}
	d.b = d.b[n:]
	return v
}

func (d *decoder) varint() int64 {
	v, n := binary.Varint(d.b)
	if n <= 0 {
		d.fail()
		return 0
	}
	d.b = d.b[n:]
	return v
}

func (d *decoder) field() []byte {
	n := d.uvarint()
	if n > maxFieldLen || n > uint64(len(d.b)) {
		d.fail()
		return nil
	}
	p := d.b[:n:n]
	d.b = d.b[n:]
	return p
}
