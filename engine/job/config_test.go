package job_test

import (
	"strings"
	"testing"

	"github.com/freshet/freshet/engine/job"
	"github.com/freshet/freshet/engine/jobspec"
	"github.com/freshet/freshet/engine/stream"
)

// One job file runs on either state backend: its rocksdb section is
// checked with the heap backend too (a mistake in it is named), and used
// only by RocksDB.
func TestRocksDBSectionWithEitherBackend(t *testing.T) {
	const file = `apiVersion: freshet/v1
name: either
config:
  state-backend: %s
  rocksdb:
    %s: 64MiB
sources:
  - name: in
    type: datagen
    count: 10
sinks:
  - name: out
    type: discard
`
	for _, tc := range []struct {
		backend, field, wantErr string
	}{
		{"heap", "state-cache-size", ""},
		{"rocksdb", "state-cache-size", ""},
		{"heap", "state-cache-sise", "config.rocksdb.state-cache-sise: unknown field"},
		{"rocksdb", "state-cache-sise", "config.rocksdb.state-cache-sise: unknown field"},
	} {
		spec, err := jobspec.Parse("either.yaml", []byte(strings.NewReplacer("%s: 64MiB", tc.field+": 64MiB", "state-backend: %s", "state-backend: "+tc.backend).Replace(file)))
		if err != nil {
			t.Fatal(err)
		}
		_, err = job.Build(spec, stream.Config{})
		switch {
		case tc.wantErr == "" && err != nil:
			t.Errorf("%s backend, rocksdb.%s: %v", tc.backend, tc.field, err)
		case tc.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tc.wantErr)):
			t.Errorf("%s backend, rocksdb.%s: error %v, want %q", tc.backend, tc.field, err, tc.wantErr)
		}
	}
}
