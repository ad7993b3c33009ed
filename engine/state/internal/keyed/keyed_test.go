package keyed

import (
	"bytes"
	"errors"
	"testing"
	"time"

	"github.com/freshet/freshet/engine/api"
	"github.com/freshet/freshet/engine/keygroup"
	"github.com/freshet/freshet/engine/state"
)

func TestAddressRoundTrip(t *testing.T) {
	cases := []struct {
		kg          int
		key, ns, uk string
	}{
		{0, "", "", ""},
		{1, "a", "", ""},
		{32767, "key", "ns", "user key"},
		{5, string(make([]byte, 300)), "\x00\x01", "\xff"},
	}
	for _, c := range cases {
		b := AppendAddress(nil, c.kg, []byte(c.key), []byte(c.ns))
		b = append(b, c.uk...)
		kg, key, ns, rest, err := DecodeAddress(b)
		if err != nil || kg != c.kg || string(key) != c.key || string(ns) != c.ns || string(rest) != c.uk {
			t.Fatalf("%+v decoded as %d %q %q %q %v", c, kg, key, ns, rest, err)
		}
	}
}

func TestCurrentEncodesLikeAppendAddress(t *testing.T) {
	var c Current
	c.Init(state.Options{Operator: "op", MaxParallelism: 128, KeyGroups: keygroup.Range{Start: 0, End: 127}})
	if !errors.Is(c.Err(), state.ErrNoCurrentKey) {
		t.Fatalf("Err before SetKey = %v", c.Err())
	}
	c.SetNamespace([]byte("early"))
	for _, k := range []string{"", "a", "longer key"} {
		c.SetKey([]byte(k))
		for _, ns := range []string{"early", "", "window"} {
			if ns != "early" {
				c.SetNamespace([]byte(ns))
			}
			want := AppendAddress(nil, keygroup.Of([]byte(k), 128), []byte(k), []byte(ns))
			if !bytes.Equal(c.Address(), want) || c.Err() != nil {
				t.Fatalf("key %q ns %q: address %x, want %x (err %v)", k, ns, c.Address(), want, c.Err())
			}
		}
		c.SetNamespace([]byte("early"))
	}
}

func TestTTLMillisRoundsUp(t *testing.T) {
	for _, c := range []struct {
		d    time.Duration
		want int64
	}{{0, 0}, {-time.Second, 0}, {time.Nanosecond, 1}, {time.Millisecond, 1}, {1500 * time.Microsecond, 2}, {time.Hour, 3600000}} {
		if got := TTLMillis(c.d); got != c.want {
			t.Fatalf("TTLMillis(%v) = %d, want %d", c.d, got, c.want)
		}
	}
}

func TestCheckOptions(t *testing.T) {
	for _, c := range []struct {
		maxPar int
		r      keygroup.Range
		ok     bool
	}{
		{128, keygroup.Range{Start: 0, End: 127}, true},
		{128, keygroup.Range{Start: 64, End: 127}, true},
		{0, keygroup.Range{Start: 0, End: 0}, false},
		{128, keygroup.Range{Start: 0, End: 128}, false},
		{128, keygroup.Range{Start: 5, End: 4}, false},
		{keygroup.UpperBound + 1, keygroup.Range{Start: 0, End: 1}, false},
	} {
		err := CheckOptions(state.Options{Operator: "op", MaxParallelism: c.maxPar, KeyGroups: c.r})
		if (err == nil) != c.ok {
			t.Fatalf("max parallelism %d, range %s: %v", c.maxPar, c.r, err)
		}
	}
}

func TestCheckDescriptorFillsKind(t *testing.T) {
	d, err := CheckDescriptor(api.StateDescriptor{Name: "x"}, api.ListStateKind)
	if err != nil || d.Kind != api.ListStateKind {
		t.Fatalf("%+v %v", d, err)
	}
}

func FuzzDecodeAddress(f *testing.F) {
	f.Add(AppendAddress(nil, 3, []byte("key"), []byte("ns")))
	f.Add([]byte{0, 1, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01})
	f.Add([]byte{0})
	f.Fuzz(func(t *testing.T, b []byte) {
		kg, key, ns, rest, err := DecodeAddress(b)
		if err != nil {
			return
		}
		// Re-encoding gives an address that decodes to the same parts
		// (varints in the input may be non-minimal, so bytes may differ).
		again := append(AppendAddress(nil, kg, key, ns), rest...)
		kg2, key2, ns2, rest2, err := DecodeAddress(again)
		if err != nil || kg2 != kg || !bytes.Equal(key2, key) || !bytes.Equal(ns2, ns) || !bytes.Equal(rest2, rest) {
			t.Fatalf("%x re-encoded as %x does not decode to the same parts: %v", b, again, err)
		}
	})
}
