package cli

import (
	"context"
	"fmt"
	"log/slog"

	"github.com/freshet/freshet/engine/job"
	"github.com/freshet/freshet/engine/registry"
	"github.com/freshet/freshet/host"
	"github.com/freshet/freshet/host/modules"
	"github.com/freshet/freshet/host/wasmop"
)

// jobRegistry returns the default registry plus the `wasm` operator type,
// backed by a WebAssembly runtime (with the on-disk compilation cache) and,
// when moduleDir is set, the module store there (for name@version
// references; paths work without it). Call the returned function when done.
func jobRegistry(log *slog.Logger, moduleDir string) (*registry.Registry, *modules.Store, func(), error) {
	ctx := context.Background()
	rt, err := host.NewRuntime(ctx, host.Config{Logger: log})
	if err != nil {
		return nil, nil, nil, fmt.Errorf("starting the WebAssembly runtime: %w", err)
	}
	loader := wasmop.Loader{Runtime: rt}
	if moduleDir != "" {
		store, err := modules.Open(moduleDir, rt)
		if err != nil {
			_ = rt.Close(ctx)
			return nil, nil, nil, fmt.Errorf("--module-dir: %w", err)
		}
		loader.Store = store
	}
	reg := job.DefaultRegistry()
	wasmop.Register(reg, loader)
	return reg, loader.Store, func() { _ = rt.Close(ctx) }, nil
}
