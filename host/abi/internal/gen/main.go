// Command gen writes every file derived from host/abi/abi.json: Go constants
// for the host and sdk-go, sdk-go's host function imports, sdk-rust's abi.rs
// and the generated tables of docs/abi.md. Run it with `go generate ./host/abi`.
package main

import (
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"sort"

	"github.com/freshet/freshet/host/abi/internal/spec"
)

func main() {
	root := flag.String("root", "../..", "repository root")
	flag.Parse()
	if err := run(*root); err != nil {
		fmt.Fprintln(os.Stderr, "abi gen:", err)
		os.Exit(1)
	}
}

func run(root string) error {
	s, err := spec.Load(filepath.Join(root, spec.SpecFile))
	if err != nil {
		return err
	}
	files, err := s.Render(root)
	if err != nil {
		return err
	}
	paths := make([]string, 0, len(files))
	for p := range files {
		paths = append(paths, p)
	}
	sort.Strings(paths)
	for _, p := range paths {
		full := filepath.Join(root, p)
		if err := os.MkdirAll(filepath.Dir(full), 0o755); err != nil {
			return fmt.Errorf("writing %s: %w", p, err)
		}
		if err := os.WriteFile(full, files[p], 0o644); err != nil {
			return fmt.Errorf("writing %s: %w", p, err)
		}
	}
	return nil
}
