package kafka

import (
	"encoding/binary"
	"errors"
	"math"
	"strconv"
	"testing"

	"github.com/freshet/freshet/engine/onerror"
)

func be32(v int32) []byte { return binary.BigEndian.AppendUint32(nil, uint32(v)) }
func be64(v int64) []byte { return binary.BigEndian.AppendUint64(nil, uint64(v)) }

func TestDeserializers(t *testing.T) {
	tests := []struct {
		format  string
		in      []byte
		want    string
		malform bool
	}{
		{FormatBytes, []byte{0xff, 0}, "\xff\x00", false},
		{FormatString, []byte("héllo"), "héllo", false},
		{FormatString, []byte{0xff}, "", true},
		{FormatJSON, []byte(`{"a":[1,2]}`), `{"a":[1,2]}`, false},
		{FormatJSON, []byte(`{"a":`), "", true},
		{FormatJSON, []byte(`1 2`), "", true},
		{FormatInt32, be32(-42), "-42", false},
		{FormatInt32, be32(math.MaxInt32), "2147483647", false},
		{FormatInt32, []byte{1, 2, 3}, "", true},
		{FormatInt64, be64(math.MinInt64), "-9223372036854775808", false},
		{FormatInt64, be32(7), "", true},
		// Empty bytes (no key, a tombstone) pass through in every format.
		{FormatJSON, nil, "", false},
		{FormatInt64, []byte{}, "", false},
	}
	for _, tt := range tests {
		d, err := NewDeserializer(tt.format)
		if err != nil {
			t.Fatal(err)
		}
		got, err := d.Deserialize(nil, tt.in)
		if tt.malform {
			if !errors.Is(err, onerror.ErrMalformed) {
				t.Errorf("%s(%x): err = %v, want one wrapping ErrMalformed", tt.format, tt.in, err)
			}
			continue
		}
		if err != nil || string(got) != tt.want {
			t.Errorf("%s(%x) = %q, %v; want %q", tt.format, tt.in, got, err, tt.want)
		}
	}
	if _, err := NewDeserializer("avro"); err == nil {
		t.Error("unknown format accepted")
	}
}

func TestSerializersMirrorDeserializers(t *testing.T) {
	tests := []struct {
		format string
		in     string
		want   []byte
		bad    bool
	}{
		{FormatBytes, "x\x00", []byte("x\x00"), false},
		{FormatString, "héllo", []byte("héllo"), false},
		{FormatString, "\xff", nil, true},
		{FormatJSON, `[1]`, []byte(`[1]`), false},
		{FormatJSON, `[1`, nil, true},
		{FormatInt32, "-42", be32(-42), false},
		{FormatInt32, "2147483648", nil, true},
		{FormatInt32, "4x", nil, true},
		{FormatInt64, "9223372036854775807", be64(math.MaxInt64), false},
		{FormatInt64, "", nil, false},
	}
	for _, tt := range tests {
		s, _ := NewSerializer(tt.format)
		got, err := s.Serialize([]byte("prefix:"), []byte(tt.in))
		if tt.bad {
			if !errors.Is(err, onerror.ErrMalformed) {
				t.Errorf("%s(%q): err = %v, want ErrMalformed", tt.format, tt.in, err)
			}
			continue
		}
		if err != nil || string(got) != "prefix:"+string(tt.want) {
			t.Errorf("%s(%q) = %x, %v; want prefix:%x", tt.format, tt.in, got, err, tt.want)
		}
		// Round trip through the deserializer.
		d, _ := NewDeserializer(tt.format)
		back, err := d.Deserialize(nil, got[len("prefix:"):])
		if err != nil || string(back) != tt.in {
			t.Errorf("%s: %q round-tripped to %q, %v", tt.format, tt.in, back, err)
		}
	}
}

func TestDeserializeAllocatesNothing(t *testing.T) {
	for _, f := range builtinFormats {
		d, _ := NewDeserializer(f)
		in := map[string][]byte{FormatInt32: be32(12345), FormatInt64: be64(-99)}[f]
		if in == nil {
			in = []byte(`{"user":"ann","amount":12}`)
		}
		buf := make([]byte, 0, 64)
		allocs := testing.AllocsPerRun(100, func() {
			if _, err := d.Deserialize(buf, in); err != nil {
				t.Fatal(err)
			}
		})
		if allocs != 0 {
			t.Errorf("%s: %v allocations per record", f, allocs)
		}
	}
}

// FuzzDeserializers: no input makes a built-in deserializer panic, and the
// integer formats round-trip through their serializers.
func FuzzDeserializers(f *testing.F) {
	f.Add([]byte(`{"a":1}`))
	f.Add(be32(-1))
	f.Add(be64(1 << 40))
	f.Add([]byte{0xff, 0xfe})
	f.Fuzz(func(t *testing.T, raw []byte) {
		for _, format := range builtinFormats {
			d, _ := NewDeserializer(format)
			out, err := d.Deserialize(nil, raw)
			if err != nil {
				if !errors.Is(err, onerror.ErrMalformed) {
					t.Fatalf("%s: error %v is not ErrMalformed", format, err)
				}
				continue
			}
			if format == FormatInt32 || format == FormatInt64 {
				if len(raw) == 0 {
					continue
				}
				if _, err := strconv.ParseInt(string(out), 10, 64); err != nil {
					t.Fatalf("%s gave %q", format, out)
				}
				s, _ := NewSerializer(format)
				back, err := s.Serialize(nil, out)
				if err != nil || string(back) != string(raw) {
					t.Fatalf("%s: %x -> %q -> %x, %v", format, raw, out, back, err)
				}
			}
		}
	})
}
