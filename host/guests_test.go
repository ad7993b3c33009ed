package host_test

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"testing"

	"github.com/freshet/freshet/host"
)

// Guests are built once per test binary; the Go build cache makes rebuilds
// cheap. The runtime's compilation cache lives under the temp dir so that
// repeated test runs skip compiling the guests to machine code.

var guests struct {
	once sync.Once
	dir  string
	err  error
}

var goGuests = map[string][2]string{ // name -> module dir, package
	"kitchen":      {"testdata/guests", "./kitchen"},
	"tokenizer":    {"../plugins/go", "./tokenizer"},
	"json-extract": {"../plugins/go", "./json-extract"},
	"fraud":        {"../plugins/go", "./fraud"},
	"nexmark":      {"../plugins/go", "./nexmark"},
	"window-stats": {"../plugins/go", "./window-stats"},
}

func buildGuests() {
	guests.dir, guests.err = os.MkdirTemp("", "freshet-host-guests-")
	if guests.err != nil {
		return
	}
	var wg sync.WaitGroup
	var mu sync.Mutex
	for name, src := range goGuests {
		wg.Add(1)
		go func() {
			defer wg.Done()
			cmd := exec.Command("go", "build", "-buildmode=c-shared", "-o", filepath.Join(guests.dir, name+".wasm"), src[1])
			cmd.Dir = src[0]
			cmd.Env = append(os.Environ(), "GOOS=wasip1", "GOARCH=wasm")
			if out, err := cmd.CombinedOutput(); err != nil {
				mu.Lock()
				guests.err = &buildError{name: name, out: string(out), err: err}
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
}

type buildError struct {
	name, out string
	err       error
}

func (e *buildError) Error() string {
	return "building guest " + e.name + ": " + e.err.Error() + "\n" + e.out
}

// guest returns the path of a built Go guest.
func guest(t testing.TB, name string) string {
	t.Helper()
	guests.once.Do(buildGuests)
	if guests.err != nil {
		t.Fatal(guests.err)
	}
	return filepath.Join(guests.dir, name+".wasm")
}

var shared struct {
	once sync.Once
	rt   *host.Runtime
	err  error
}

// runtime returns a runtime shared by the package's tests.
func runtime(t testing.TB) *host.Runtime {
	t.Helper()
	shared.once.Do(func() {
		shared.rt, shared.err = host.NewRuntime(context.Background(), host.Config{
			CompilationCacheDir: filepath.Join(os.TempDir(), "freshet-host-test-compilation-cache"),
			BatchTimeout:        2e9,
		})
	})
	if shared.err != nil {
		t.Fatal(shared.err)
	}
	return shared.rt
}

func loadGuest(t testing.TB, name string) *host.Module {
	t.Helper()
	m, err := runtime(t).LoadFile(context.Background(), guest(t, name))
	if err != nil {
		t.Fatal(err)
	}
	return m
}
