package nexmark_test

import (
	"bytes"
	"encoding/json"
	"errors"
	"testing"

	"github.com/freshet/freshet/engine/connectors/nexmark"
)

func TestBinaryRoundTrip(t *testing.T) {
	g := newGen(t, bounded(20_000, 11))
	var ev, back nexmark.Event
	var bin, js int
	for g.Next(&ev) {
		b := nexmark.AppendBinary(nil, &ev)
		if err := nexmark.DecodeBinary(b, &back); err != nil {
			t.Fatalf("decoding %x: %v", b, err)
		}
		want, got := nexmark.AppendJSON(nil, &ev), nexmark.AppendJSON(nil, &back)
		if !bytes.Equal(want, got) {
			t.Fatalf("round trip changed the event:\n%s\n%s", want, got)
		}
		bin += len(b)
		js += len(want)
	}
	t.Logf("binary is %.0f%% of JSON", 100*float64(bin)/float64(js))
}

func TestDecodeBinaryRejects(t *testing.T) {
	var ev nexmark.Event
	g := newGen(t, bounded(3, 1))
	g.Next(&ev) // a person
	good := nexmark.AppendBinary(nil, &ev)
	tests := []struct {
		name string
		in   []byte
	}{
		{"empty", nil},
		{"unknown kind", []byte{9, 0}},
		{"truncated", good[:len(good)-1]},
		{"trailing bytes", append(append([]byte(nil), good...), 0)},
		{"length beyond input", []byte{byte(nexmark.KindBid), 2, 2, 2, 0xff, 0x01}},
		{"bad varint", []byte{byte(nexmark.KindAuction), 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if err := nexmark.DecodeBinary(tc.in, &ev); !errors.Is(err, nexmark.ErrCorrupt) {
				t.Fatalf("err = %v, want ErrCorrupt", err)
			}
		})
	}
}

func TestJSONEscapesDecodedStrings(t *testing.T) {
	ev := nexmark.Event{Kind: nexmark.KindBid, Bid: nexmark.Bid{
		Channel: []byte("a\"b\\c\n\x01"), URL: []byte{0xff, 'x'}, Extra: []byte("é"),
	}}
	var m map[string]any
	if err := json.Unmarshal(nexmark.AppendJSON(nil, &ev), &m); err != nil {
		t.Fatal(err)
	}
	if m["channel"] != "a\"b\\c\n\x01" || m["url"] != "\ufffdx" || m["extra"] != "é" {
		t.Fatalf("got %v", m)
	}
}

func FuzzDecodeBinary(f *testing.F) {
	g := newGen(f, bounded(60, 1))
	var ev nexmark.Event
	for g.Next(&ev) {
		f.Add(nexmark.AppendBinary(nil, &ev))
	}
	f.Add([]byte{})
	f.Add([]byte{2, 0x80})
	f.Fuzz(func(t *testing.T, in []byte) {
		var ev nexmark.Event
		if err := nexmark.DecodeBinary(in, &ev); err != nil {
			if !errors.Is(err, nexmark.ErrCorrupt) {
				t.Fatalf("error %v is not ErrCorrupt", err)
			}
			return
		}
		// What decodes re-encodes to something that decodes to the same event.
		again := nexmark.AppendBinary(nil, &ev)
		var ev2 nexmark.Event
		if err := nexmark.DecodeBinary(again, &ev2); err != nil {
			t.Fatalf("re-encoded event does not decode: %v", err)
		}
		if a, b := nexmark.AppendJSON(nil, &ev), nexmark.AppendJSON(nil, &ev2); !bytes.Equal(a, b) {
			t.Fatalf("re-encoding changed the event:\n%s\n%s", a, b)
		}
		if !json.Valid(nexmark.AppendJSON(nil, &ev)) {
			t.Fatal("JSON of a decoded event is invalid")
		}
	})
}
