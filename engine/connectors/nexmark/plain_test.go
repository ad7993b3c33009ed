package nexmark

import (
	"bytes"
	"testing"
)

// TestGeneratedStringsNeedNoEscaping checks the invariant that lets
// AppendJSON skip escaping for generated events.
func TestGeneratedStringsNeedNoEscaping(t *testing.T) {
	cfg := DefaultConfig()
	cfg.Events = 50_000
	g, err := NewGenerator(cfg)
	if err != nil {
		t.Fatal(err)
	}
	var ev Event
	for g.Next(&ev) {
		fast := AppendJSON(nil, &ev)
		ev.plain = false
		if slow := AppendJSON(nil, &ev); !bytes.Equal(fast, slow) {
			t.Fatalf("generated event needs escaping:\n%s\n%s", fast, slow)
		}
	}
}
