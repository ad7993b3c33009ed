package rocksdb

import (
	"errors"
	"testing"

	"github.com/freshet/freshet/engine/api"
	"github.com/freshet/freshet/engine/state/internal/keyed"
)

func TestValueRoundTrip(t *testing.T) {
	for _, c := range []struct {
		exp int64
		v   string
	}{{0, ""}, {1, "x"}, {1 << 62, "longer value"}} {
		exp, v, err := splitValue(appendValue(nil, c.exp, []byte(c.v)))
		if err != nil || exp != c.exp || string(v) != c.v {
			t.Fatalf("%+v came back as %d %q %v", c, exp, v, err)
		}
	}
	if _, _, err := splitValue([]byte{1, 2, 3}); !errors.Is(err, ErrCorrupt) {
		t.Fatalf("short value: %v", err)
	}
}

func TestDecodeKeyByKind(t *testing.T) {
	addr := keyed.AppendAddress(nil, 7, []byte("k"), []byte("ns"))
	cases := []struct {
		kind   api.StateKind
		suffix string
		uk     string
		ok     bool
	}{
		{api.ValueStateKind, "", "", true},
		{api.ValueStateKind, "x", "", false},
		{api.MapStateKind, "user key", "user key", true},
		{api.MapStateKind, "", "", true},
		{api.ListStateKind, "12345678", "", true},
		{api.ListStateKind, "1234", "", false},
	}
	for _, c := range cases {
		kg, key, ns, uk, err := decodeKey(c.kind, append(append([]byte(nil), addr...), c.suffix...))
		if (err == nil) != c.ok {
			t.Fatalf("%s with suffix %q: %v", c.kind, c.suffix, err)
		}
		if err != nil {
			if !errors.Is(err, ErrCorrupt) {
				t.Fatalf("error not marked corrupt: %v", err)
			}
			continue
		}
		if kg != 7 || string(key) != "k" || string(ns) != "ns" || string(uk) != c.uk {
			t.Fatalf("%s: %d %q %q %q", c.kind, kg, key, ns, uk)
		}
	}
}

// Keys and values read from a checkpoint are untrusted bytes: decoding them
// must fail with ErrCorrupt, never panic.
func FuzzDecodeStored(f *testing.F) {
	f.Add(byte(1), keyed.AppendAddress(nil, 1, []byte("k"), nil), appendValue(nil, 5, []byte("v")))
	f.Add(byte(2), append(keyed.AppendAddress(nil, 1, []byte("k"), nil), make([]byte, 8)...), []byte{})
	f.Add(byte(3), []byte{0, 1, 0x80}, []byte{1})
	f.Fuzz(func(t *testing.T, kind byte, key, value []byte) {
		k := api.StateKind(kind%5 + 1)
		if _, _, _, _, err := decodeKey(k, key); err != nil && !errors.Is(err, ErrCorrupt) {
			t.Fatalf("decodeKey error not marked corrupt: %v", err)
		}
		if _, _, err := splitValue(value); err != nil && !errors.Is(err, ErrCorrupt) {
			t.Fatalf("splitValue error not marked corrupt: %v", err)
		}
	})
}
