package recfmt

import (
	"encoding/json"
	"testing"

	"github.com/freshet/freshet/engine/api"
)

func TestAppend(t *testing.T) {
	tests := []struct {
		name string
		f    Format
		r    api.Record
		want string
	}{
		{"value", Value, api.Record{Key: []byte("k"), Value: []byte("v 1"), Timestamp: 5}, "v 1\n"},
		{"key-value", KeyValue, api.Record{Key: []byte("k"), Value: []byte("v")}, "k\tv\n"},
		{"json object value", JSON, api.Record{Key: []byte("k"), Value: []byte(`{"a":1}`), Timestamp: 7}, `{"key":"k","value":{"a":1},"timestamp":7}` + "\n"},
		{"json text value", JSON, api.Record{Value: []byte("hi \"x\"\n"), Timestamp: api.NoTimestamp}, `{"value":"hi \"x\"\n"}` + "\n"},
		{"json empty value", JSON, api.Record{Timestamp: api.NoTimestamp}, `{"value":""}` + "\n"},
		{"json bad utf8", JSON, api.Record{Value: []byte{'a', 0xff, 0x01}, Timestamp: api.NoTimestamp}, `{"value":"a\ufffd\u0001"}` + "\n"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got := string(Append(nil, tc.f, &tc.r))
			if got != tc.want {
				t.Fatalf("got %q, want %q", got, tc.want)
			}
			if tc.f == JSON && !json.Valid([]byte(got)) {
				t.Fatalf("invalid JSON %q", got)
			}
		})
	}
}

func FuzzAppendString(f *testing.F) {
	f.Add([]byte("plain"))
	f.Add([]byte("é\x00\"\\\xff"))
	f.Fuzz(func(t *testing.T, s []byte) {
		out := AppendString(nil, s)
		var back string
		if err := json.Unmarshal(out, &back); err != nil {
			t.Fatalf("%q -> %q: %v", s, out, err)
		}
	})
}
