package codec_test

import (
	"fmt"

	"github.com/freshet/freshet/engine/api"
	"github.com/freshet/freshet/engine/internal/codec"
)

// A record larger than a buffer spans several; the reader hands it over when
// its last byte arrives.
func Example() {
	var sent [][]byte
	var w codec.Writer
	next := func() { w.SetBuffer(make([]byte, 64)) }
	next()
	records := []api.Record{
		{Key: []byte("a"), Value: []byte("small"), Timestamp: 1},
		{Key: []byte("b"), Value: make([]byte, 150), Timestamp: api.NoTimestamp},
	}
	for i := range records {
		if w.Write(&records[i]) {
			sent = append(sent, w.Filled())
			for next(); w.Continue(); next() {
				sent = append(sent, w.Filled())
			}
		}
	}
	sent = append(sent, w.Filled())

	var r codec.Reader
	batch := api.NewBatch(0)
	for i, buf := range sent {
		batch.Reset()
		if err := r.Read(buf, batch); err != nil {
			panic(err)
		}
		for _, rec := range batch.Records {
			fmt.Printf("buffer %d (%d bytes): key %s, %d-byte value\n", i, len(buf), rec.Key, len(rec.Value))
		}
	}
	// Output:
	// buffer 0 (64 bytes): key a, 5-byte value
	// buffer 2 (40 bytes): key b, 150-byte value
}
