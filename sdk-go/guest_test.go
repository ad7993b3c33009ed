package freshet

import (
	"bytes"
	"encoding/binary"
	"errors"
	"slices"
	"testing"

	"github.com/freshet/freshet/sdk-go/internal/abi"
)

// These tests drive the guest side of the ABI natively: the host is played
// by the test, which writes entries into the input buffer and reads the
// output buffer. Host functions are stubs off wasip1 (they report
// unsupported), so only stateless functions run here; the host's tests run
// the SDK for real in WebAssembly.

func init() {
	Map("t-upper", func(c *Context, r *Record) ([]byte, error) {
		if string(r.Value) == "bad" {
			return nil, errors.New("bad value")
		}
		return bytes.ToUpper(r.Value), nil
	}, OnOpen(func(config []byte) error {
		if string(config) != "{}" {
			return errors.New("unexpected config")
		}
		return nil
	}))
	Map("t-same", func(c *Context, r *Record) ([]byte, error) { return r.Value, nil })
	Filter("t-keep-a", func(c *Context, r *Record) (bool, error) { return bytes.HasPrefix(r.Value, []byte("a")), nil })
	FlatMap("t-words", func(c *Context, r *Record) error {
		for _, w := range bytes.Fields(r.Value) {
			c.Emit(w, nil)
		}
		return nil
	})
	KeySelector("t-first", func(c *Context, r *Record) ([]byte, error) { return r.Value[:1], nil })
	// Emits its words, then fails on "!": a failed record's outputs are
	// taken back, as the ABI says (an error entry instead of its outputs).
	FlatMap("t-words-or-fail", func(c *Context, r *Record) error {
		for _, w := range bytes.Fields(r.Value) {
			if string(w) == "!" {
				return errors.New("bang")
			}
			c.Emit(w, nil)
		}
		return nil
	})
}

func fnIndex(t *testing.T, name string) int32 {
	for i, f := range functions {
		if f.name == name {
			return int32(i)
		}
	}
	t.Fatalf("no function %q", name)
	return 0
}

type testEntry struct {
	kind    abi.EntryKind
	extra   uint32
	key     string
	value   string
	ts      int64
	headers []Header
}

func putEntries(b []byte, es []testEntry) int {
	off := 0
	for _, e := range es {
		b[off] = byte(e.kind)
		b[off+1] = 0
		binary.LittleEndian.PutUint16(b[off+2:], uint16(len(e.headers)))
		binary.LittleEndian.PutUint32(b[off+4:], uint32(len(e.key)))
		binary.LittleEndian.PutUint32(b[off+8:], uint32(len(e.value)))
		binary.LittleEndian.PutUint32(b[off+12:], e.extra)
		binary.LittleEndian.PutUint64(b[off+16:], uint64(e.ts))
		off += abi.EntryHeaderSize
		off += copy(b[off:], e.key)
		off += copy(b[off:], e.value)
		off += copy(b[off:], encodeHeaders(nil, e.headers))
	}
	return off
}

func readEntries(t *testing.T, b []byte) []testEntry {
	var out []testEntry
	for len(b) > 0 {
		var e entry
		if !decodeEntry(b, &e) {
			t.Fatalf("undecodable output %x", b)
		}
		te := testEntry{kind: e.kind, extra: e.extra, key: string(e.rec.Key), value: string(e.rec.Value), ts: e.rec.Timestamp}
		for k, v := range e.rec.Headers() {
			te.headers = append(te.headers, Header{Key: bytes.Clone(k), Value: bytes.Clone(v)})
		}
		out = append(out, te)
		b = b[e.size:]
	}
	return out
}

func call(t *testing.T, name string, in []testEntry) []testEntry {
	t.Helper()
	if doInit(1<<16, 1<<16) <= 0 {
		t.Fatal("init failed")
	}
	fi := fnIndex(t, name)
	copy(guest.in, "{}")
	if st := doOpen(fi, 2); st != 0 {
		t.Fatalf("open: %s", abi.Status(st))
	}
	n := putEntries(guest.in, in)
	res := doProcess(fi, int32(n), int32(len(in)))
	if res < 0 {
		t.Fatalf("process: %s", abi.Status(res))
	}
	if cur := guest.ctrl[abi.OffCtrlCurrentEntry/4]; cur != abi.NoEntry {
		t.Errorf("current_entry left at %d", cur)
	}
	return readEntries(t, guest.out[:res])
}

func TestFunctions(t *testing.T) {
	hdr := []Header{{Key: []byte("h"), Value: []byte("v")}}
	tests := []struct {
		name string
		in   []testEntry
		want []testEntry
	}{
		{"t-upper", []testEntry{{kind: abi.EntryData, key: "k", value: "ab", ts: 7, headers: hdr}, {kind: abi.EntryData, value: "bad"}},
			[]testEntry{{kind: abi.EntryOutput, key: "k", value: "AB", ts: 7, headers: hdr}, {kind: abi.EntryError, extra: 1, value: "bad value", ts: NoTimestamp}}},
		{"t-same", []testEntry{{kind: abi.EntryData, value: "x"}, {kind: abi.EntryData, value: "y"}},
			[]testEntry{{kind: abi.EntryForward}, {kind: abi.EntryForward, extra: 1}}},
		{"t-keep-a", []testEntry{{kind: abi.EntryData, value: "b"}, {kind: abi.EntryData, value: "ab"}},
			[]testEntry{{kind: abi.EntryForward, extra: 1}}},
		{"t-words", []testEntry{{kind: abi.EntryData, value: "a bc", ts: 3}},
			[]testEntry{{kind: abi.EntryOutput, key: "a", ts: 3}, {kind: abi.EntryOutput, key: "bc", ts: 3}}},
		{"t-first", []testEntry{{kind: abi.EntryData, value: "xyz", ts: 1}},
			[]testEntry{{kind: abi.EntryKey, key: "x", ts: 1}}},
		{"t-words-or-fail", []testEntry{{kind: abi.EntryData, value: "a b", ts: 1}, {kind: abi.EntryData, value: "c ! d", ts: 2}, {kind: abi.EntryData, value: "e", ts: 3}},
			[]testEntry{{kind: abi.EntryOutput, key: "a", ts: 1}, {kind: abi.EntryOutput, key: "b", ts: 1},
				{kind: abi.EntryError, extra: 1, value: "bang", ts: NoTimestamp}, {kind: abi.EntryOutput, key: "e", ts: 3}}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got := call(t, tc.name, tc.in)
			if !slices.EqualFunc(got, tc.want, func(a, b testEntry) bool {
				return a.kind == b.kind && a.extra == b.extra && a.key == b.key && a.value == b.value && a.ts == b.ts &&
					slices.EqualFunc(a.headers, b.headers, func(x, y Header) bool { return bytes.Equal(x.Key, y.Key) && bytes.Equal(x.Value, y.Value) })
			}) {
				t.Fatalf("got %+v\nwant %+v", got, tc.want)
			}
		})
	}
}

func TestDescribe(t *testing.T) {
	doInit(4096, 4096)
	n := doDescribe()
	if n <= 0 {
		t.Fatalf("describe: %d", n)
	}
	b := guest.out[:n]
	sdkLen := binary.LittleEndian.Uint32(b)
	if string(b[4:4+sdkLen]) != "freshet-sdk-go "+Version {
		t.Fatalf("sdk %q", b[4:4+sdkLen])
	}
	if count := binary.LittleEndian.Uint32(b[4+sdkLen:]); int(count) != len(functions) {
		t.Fatalf("%d functions described, %d registered", count, len(functions))
	}
}

func TestBadCalls(t *testing.T) {
	doInit(4096, 4096)
	if st := doOpen(int32(len(functions)), 0); st != int32(abi.StatusUnknownFunction) {
		t.Errorf("open of an unknown function: %d", st)
	}
	fi := fnIndex(t, "t-same")
	copy(guest.in, "{}")
	doOpen(fi, 2)
	if st := doProcess(fi, 10, 1); st != int32(abi.StatusBadInput) { // truncated entry
		t.Errorf("truncated input: %d", st)
	}
	if st := doProcess(fi+1, 0, 0); st != int32(abi.StatusUnknownFunction) {
		t.Errorf("process of another function: %d", st)
	}
	if st := doAgg(aggCreate, fi, 0, 0); st != int32(abi.StatusUnknownFunction) {
		t.Errorf("aggregate call on a map: %d", st)
	}
}

// FuzzDecodeEntry: the input comes from the host, but decoding must not
// panic on any bytes.
func FuzzDecodeEntry(f *testing.F) {
	b := make([]byte, 64)
	n := putEntries(b, []testEntry{{kind: abi.EntryData, key: "k", value: "v", headers: []Header{{Key: []byte("a")}}}})
	f.Add(b[:n])
	f.Fuzz(func(t *testing.T, b []byte) {
		var e entry
		if decodeEntry(b, &e) {
			if e.size > len(b) || len(e.rec.Key)+len(e.rec.Value) > len(b) {
				t.Fatalf("entry of %d bytes from %d", e.size, len(b))
			}
			for range e.rec.Headers() {
			}
		}
	})
}
