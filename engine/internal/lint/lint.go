// Package lint enforces Freshet's dependency boundaries and keeps cmd/ thin.
//
// The boundaries (see Rules):
//   - only host/ imports wazero: the WebAssembly runtime stays behind the host;
//   - only engine/state/rocksdb imports grocksdb: cgo and RocksDB stay behind
//     the state backend interface;
//   - only engine/connectors/kafka and engine/internal/kafkatest import
//     franz-go: Kafka stays a connector;
//   - engine/internal/kafkatest is imported only by tests;
//   - engine/api, the shared vocabulary, imports nothing from the project.
//
// And every non-test Go file under cmd/ stays under 40 lines (LineLimits):
// a main parses flags and calls a library, where the code is tested.
//
// Check walks a module's files itself (with go/parser, imports only) rather
// than asking `go list`, so it sees files of every build tag and GOOS, names
// the offending file and line, and runs in milliseconds. The test in this
// package runs Check over the repository as part of `go test ./...`.
package lint

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"go/parser"
	"go/token"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
)

// Rule limits which packages may import a path.
//
// Package patterns are slash-separated directories relative to the module
// root: "engine/api" matches that package only, "host/..." matches host and
// every package below it.
type Rule struct {
	// Import is the import path the rule is about. It matches the path
	// itself and every path below it ("github.com/twmb/franz-go" matches
	// "github.com/twmb/franz-go/pkg/kgo").
	Import string
	// Allow lists the package patterns whose files may import it; nil means
	// every package may (subject to Deny).
	Allow []string
	// Deny lists package patterns whose files may not import it.
	Deny []string
	// TestsOnly lets _test.go files anywhere import it, while other files
	// must still be in Allow.
	TestsOnly bool
	// Why is the reason, shown with every violation.
	Why string
}

// LineLimit bounds the size of the non-test Go files under a pattern.
type LineLimit struct {
	Pattern string // package pattern, as in Rule
	Under   int    // each file must have fewer lines than this
	Why     string
}

// Violation is one broken rule in one file.
type Violation struct {
	File string // slash-separated, relative to the module root
	Line int
	Msg  string
}

func (v Violation) String() string { return fmt.Sprintf("%s:%d: %s", v.File, v.Line, v.Msg) }

const module = "github.com/freshet/freshet"

// Rules are Freshet's import rules.
var Rules = []Rule{
	{
		Import: "github.com/tetratelabs/wazero",
		Allow:  []string{"host/..."},
		Why:    "the WebAssembly runtime stays behind host/; the engine talks to operators through engine/api",
	},
	{
		Import: "github.com/linxGnu/grocksdb",
		Allow:  []string{"engine/state/rocksdb/..."},
		Why:    "cgo and RocksDB stay behind the engine/state backend interface",
	},
	{
		Import: "github.com/twmb/franz-go",
		Allow:  []string{"engine/connectors/kafka/...", "engine/internal/kafkatest/..."},
		Why:    "Kafka is a connector; tests reach a cluster through engine/internal/kafkatest",
	},
	{
		Import:    module + "/engine/internal/kafkatest",
		Allow:     []string{"engine/internal/kafkatest/..."},
		TestsOnly: true,
		Why:       "kafkatest is a test helper; production code must not depend on it",
	},
	{
		Import: module,
		Deny:   []string{"engine/api"},
		Why:    "engine/api is the shared vocabulary every package imports, so it imports nothing from the project",
	},
}

// LineLimits are Freshet's file size limits.
var LineLimits = []LineLimit{
	{Pattern: "cmd/...", Under: 40, Why: "cmd/ mains stay thin: parse flags and call a library, where the code is tested"},
}

// ErrNoModule reports that Check was not pointed at a module root.
var ErrNoModule = errors.New("no go.mod module line")

// Check walks the Go files of the module rooted at root, skipping nested
// modules, testdata, vendor, target (Rust), node_modules and directories
// starting with "." or "_", and
// returns every violation of rules and limits, sorted by file and line.
// A file that does not parse is a violation too. The error is for failures
// to read the tree, not for violations.
func Check(root string, rules []Rule, limits []LineLimit) ([]Violation, error) {
	modPath, err := modulePath(filepath.Join(root, "go.mod"))
	if err != nil {
		return nil, fmt.Errorf("checking imports under %s: %w", root, err)
	}
	var out []Violation
	fset := token.NewFileSet()
	err = filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() {
			if p == root {
				return nil
			}
			name := d.Name()
			if strings.HasPrefix(name, ".") || strings.HasPrefix(name, "_") || name == "testdata" || name == "vendor" || name == "target" || name == "node_modules" {
				return filepath.SkipDir
			}
			if _, err := os.Stat(filepath.Join(p, "go.mod")); err == nil {
				return filepath.SkipDir // a nested module (sdk-go) has its own rules
			}
			return nil
		}
		if !strings.HasSuffix(p, ".go") {
			return nil
		}
		rel, err := filepath.Rel(root, p)
		if err != nil {
			return err
		}
		rel = filepath.ToSlash(rel)
		vs, err := checkFile(fset, p, rel, modPath, rules, limits)
		if err != nil {
			return err
		}
		out = append(out, vs...)
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("checking imports under %s: %w", root, err)
	}
	slices.SortFunc(out, func(a, b Violation) int {
		if c := strings.Compare(a.File, b.File); c != 0 {
			return c
		}
		return a.Line - b.Line
	})
	return out, nil
}

func checkFile(fset *token.FileSet, p, rel, modPath string, rules []Rule, limits []LineLimit) ([]Violation, error) {
	src, err := os.ReadFile(p)
	if err != nil {
		return nil, fmt.Errorf("reading %s: %w", rel, err)
	}
	dir := path.Dir(rel)
	if dir == "." {
		dir = ""
	}
	isTest := strings.HasSuffix(rel, "_test.go")
	var out []Violation

	f, err := parser.ParseFile(fset, rel, src, parser.ImportsOnly)
	if err != nil {
		return []Violation{{File: rel, Line: 1, Msg: fmt.Sprintf("does not parse: %v (so its imports cannot be checked)", err)}}, nil
	}
	self := modPath
	if dir != "" {
		self += "/" + dir
	}
	for _, spec := range f.Imports {
		imp, err := strconv.Unquote(spec.Path.Value)
		if err != nil {
			continue // the parser accepted it, so this cannot happen
		}
		if imp == self {
			continue // an external test (package x_test) importing its own package
		}
		for _, r := range rules {
			if !underPath(imp, r.Import) {
				continue
			}
			if msg := r.judge(dir, isTest); msg != "" {
				out = append(out, Violation{
					File: rel,
					Line: fset.Position(spec.Pos()).Line,
					Msg:  fmt.Sprintf("imports %s: %s (%s)", imp, msg, r.Why),
				})
			}
		}
	}

	if !isTest {
		for _, l := range limits {
			if !matchPattern(l.Pattern, dir) {
				continue
			}
			if n := countLines(src); n >= l.Under {
				out = append(out, Violation{
					File: rel,
					Line: n,
					Msg:  fmt.Sprintf("has %d lines, files under %s must have fewer than %d (%s)", n, l.Pattern, l.Under, l.Why),
				})
			}
		}
	}
	return out, nil
}

// judge returns why a file in dir may not import the rule's path, or "".
func (r Rule) judge(dir string, isTest bool) string {
	for _, pat := range r.Deny {
		if matchPattern(pat, dir) {
			return "packages matching " + pat + " may not import it"
		}
	}
	if r.Allow == nil || slices.ContainsFunc(r.Allow, func(pat string) bool { return matchPattern(pat, dir) }) {
		return ""
	}
	if r.TestsOnly {
		if isTest {
			return ""
		}
		return "only _test.go files and " + strings.Join(r.Allow, ", ") + " may import it"
	}
	return "only " + strings.Join(r.Allow, ", ") + " may import it"
}

// matchPattern reports whether the package directory dir (relative, slash-
// separated, "" for the root) matches pat ("a/b" exactly, "a/b/..." for a/b
// and below).
func matchPattern(pat, dir string) bool {
	if base, ok := strings.CutSuffix(pat, "/..."); ok {
		return underPath(dir, base)
	}
	return dir == pat
}

// underPath reports whether p is base or below it.
func underPath(p, base string) bool {
	return p == base || strings.HasPrefix(p, base+"/")
}

func countLines(src []byte) int {
	n := bytes.Count(src, []byte("\n"))
	if len(src) > 0 && src[len(src)-1] != '\n' {
		n++
	}
	return n
}

func modulePath(gomod string) (string, error) {
	f, err := os.Open(gomod)
	if err != nil {
		return "", err
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		fields := strings.Fields(sc.Text())
		if len(fields) >= 2 && fields[0] == "module" {
			return strings.Trim(fields[1], `"`), nil
		}
	}
	if err := sc.Err(); err != nil {
		return "", fmt.Errorf("reading %s: %w", gomod, err)
	}
	return "", fmt.Errorf("%s: %w", gomod, ErrNoModule)
}
