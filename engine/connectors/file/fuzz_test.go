package file_test

import (
	"bytes"
	"os"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/freshet/freshet/engine/connectors/conntest"
)

func FuzzFileLines(f *testing.F) {
	f.Add([]byte("one\ntwo\r\n\nthree"), uint8(10))
	f.Add([]byte("a very long line indeed\nok\n"), uint8(4))
	f.Add([]byte("\r\n\r\r\n"), uint8(1))
	f.Fuzz(func(t *testing.T, data []byte, maxLine uint8) {
		ml := int(maxLine)%40 + 1
		in := filepath.Join(t.TempDir(), "in.txt")
		if err := os.WriteFile(in, data, 0o644); err != nil {
			t.Fatal(err)
		}
		newSrc, err := registryWithFile().Source("file", atLine(map[string]any{"path": in, "max-line-size": ml, "on-error": "skip"}))
		if err != nil {
			t.Fatal(err)
		}
		src, _ := newSrc()
		got, _, err := conntest.RunSource(conntest.NewContext("in", 0, 1), src, 3, 10*time.Second)
		if err != nil {
			t.Fatal(err)
		}
		// Lines split at '\n', a final unterminated line included, one
		// trailing '\r' dropped, lines longer than the limit skipped.
		parts := bytes.Split(data, []byte{'\n'})
		if len(parts[len(parts)-1]) == 0 {
			parts = parts[:len(parts)-1]
		}
		var want []string
		for _, p := range parts {
			if p = bytes.TrimSuffix(p, []byte{'\r'}); len(p) <= ml {
				want = append(want, string(p))
			}
		}
		if got := conntest.Values(got.Batch); !slices.Equal(got, want) {
			t.Fatalf("max %d: got %q, want %q", ml, got, want)
		}
	})
}
