package stdio

import (
	"bytes"
	"io"
	"slices"
	"testing"
	"time"

	"github.com/freshet/freshet/engine/connectors/conntest"
	"github.com/freshet/freshet/engine/connectors/internal/lines"
	"github.com/freshet/freshet/engine/onerror"
)

// pieceReader returns data in pieces of the sizes given (cycled, 1 to 256).
type pieceReader struct {
	data  []byte
	sizes []byte
	i     int
}

func (r *pieceReader) Read(p []byte) (int, error) {
	if len(r.data) == 0 {
		return 0, io.EOF
	}
	n := 7
	if len(r.sizes) > 0 {
		n = int(r.sizes[r.i%len(r.sizes)]) + 1
		r.i++
	}
	n = min(n, len(p), len(r.data))
	copy(p, r.data[:n])
	r.data = r.data[n:]
	return n, nil
}

// referenceLines is what a line source must emit for data with on-error
// skip: lines split at '\n', a final unterminated line included, one
// trailing '\r' dropped, lines longer than maxLine skipped.
func referenceLines(data []byte, maxLine int) []string {
	parts := bytes.Split(data, []byte{'\n'})
	if len(parts[len(parts)-1]) == 0 {
		parts = parts[:len(parts)-1]
	}
	var out []string
	for _, p := range parts {
		p = bytes.TrimSuffix(p, []byte{'\r'})
		if len(p) <= maxLine {
			out = append(out, string(p))
		}
	}
	return out
}

func FuzzStdinLines(f *testing.F) {
	f.Add([]byte("one\ntwo\r\n\nthree"), []byte{0, 2, 5}, uint8(10))
	f.Add([]byte("a very long line indeed\nok\n"), []byte{3}, uint8(4))
	f.Add([]byte("\r\n\r\r\n"), []byte{0}, uint8(1))
	f.Fuzz(func(t *testing.T, data, sizes []byte, maxLine uint8) {
		ml := int(maxLine)%40 + 1
		src := NewStdin(&pieceReader{data: data, sizes: sizes}, lines.Text, onerror.Policy{Action: onerror.Skip}, ml)
		got, _, err := conntest.RunSource(conntest.NewContext("in", 0, 1), src, 3, 10*time.Second)
		if err != nil {
			t.Fatal(err)
		}
		if want := referenceLines(data, ml); !slices.Equal(conntest.Values(got.Batch), want) {
			t.Fatalf("max %d: got %q, want %q", ml, conntest.Values(got.Batch), want)
		}
	})
}
