package windows

import (
	"testing"
)

// FuzzSliderDecode feeds arbitrary bytes to the decoder of the sliding
// window state: it must return an error or a slider that encodes back to
// an equivalent state, never panic.
func FuzzSliderDecode(f *testing.F) {
	s := slider{fs: -5, b: 10, be: 20, last: 15, front: [][]byte{{1, 2}, nil, {3}}, back: []byte{9}}
	f.Add(s.encode(nil))
	f.Add([]byte{})
	f.Add([]byte{0, 0, 0, 0, 5})
	f.Fuzz(func(t *testing.T, data []byte) {
		var got slider
		var buf []byte
		if err := got.decode(data, &buf); err != nil {
			return
		}
		again := got.encode(nil)
		var round slider
		var buf2 []byte
		if err := round.decode(again, &buf2); err != nil {
			t.Fatalf("re-encoded slider does not decode: %v", err)
		}
		if string(round.encode(nil)) != string(again) {
			t.Fatal("slider encoding is not stable")
		}
	})
}

// FuzzPaneSetDecode feeds arbitrary bytes to the decoder of a key's pane
// set: it must return an error or a set that encodes back to an
// equivalent set, never panic.
func FuzzPaneSetDecode(f *testing.F) {
	s := paneSet{done: -1, timer: noTimer, panes: []paneAcc{{start: -4, acc: []byte{1, 2}}, {start: 6, acc: nil}, {start: 8, acc: []byte{3}}}}
	f.Add(s.encode(nil))
	f.Add([]byte{})
	f.Add([]byte{0, 0, 2, 2, 0, 2, 0})
	f.Fuzz(func(t *testing.T, data []byte) {
		var got paneSet
		var buf []byte
		if err := got.decode(data, &buf); err != nil {
			return
		}
		again := got.encode(nil)
		var round paneSet
		var buf2 []byte
		if err := round.decode(again, &buf2); err != nil {
			t.Fatalf("re-encoded pane set does not decode: %v", err)
		}
		if string(round.encode(nil)) != string(again) {
			t.Fatal("pane set encoding is not stable")
		}
	})
}

// FuzzWindowOf checks namespace decoding against encoding.
func FuzzWindowOf(f *testing.F) {
	f.Add(int64(0), int64(10))
	f.Add(int64(-1<<63), int64(1<<63-1))
	f.Fuzz(func(t *testing.T, start, end int64) {
		w := Window{start, end}
		got, err := WindowOf(w.AppendNamespace(nil))
		if err != nil || got != w {
			t.Fatalf("WindowOf(AppendNamespace(%v)) = %v, %v", w, got, err)
		}
		if _, err := WindowOf(w.AppendNamespace(nil)[1:]); err == nil {
			t.Fatal("a short namespace decoded")
		}
	})
}
