package spec_test

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"testing"

	"github.com/freshet/freshet/host"
	"github.com/freshet/freshet/host/build"
)

// guestWasm is testdata/guest built with the Go SDK, once per test binary
// (the Go build cache makes rebuilds cheap); rt is shared by the tests, with
// a compilation cache that outlives test runs.
var (
	guestWasm string
	rt        *host.Runtime
)

func TestMain(m *testing.M) {
	os.Exit(testMain(m))
}

func testMain(m *testing.M) int {
	dir, err := os.MkdirTemp("", "freshet-spec-test-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	defer os.RemoveAll(dir)
	guestWasm = filepath.Join(dir, "guest.wasm")
	if err := build.Build("testdata/guest", guestWasm); err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	ctx := context.Background()
	rt, err = host.NewRuntime(ctx, host.Config{
		CompilationCacheDir: filepath.Join(os.TempDir(), "freshet-spec-test-compilation-cache"),
		Logger:              slog.New(slog.DiscardHandler),
	})
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	defer rt.Close(ctx)
	return m.Run()
}
