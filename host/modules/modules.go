// Package modules is the module registry: a content-addressed store of
// WebAssembly operator modules on disk, with a name and version for each.
//
// Layout under the store's directory:
//
//	blobs/sha256/<hex>.wasm          module bytes, named by their SHA-256
//	index/<name>/<version>.json      metadata: hash, size, ABI version, functions
//
// A module is validated before it is added (it compiles; its imports stay
// within the ABI and the sandbox's WASI; its ABI version is supported; it
// exports what the kinds it describes need; it is not larger than the limit),
// so a job that names `name@version` cannot fail on a malformed module later.
// Blobs are written to a temporary file and renamed, and their hash is
// checked again when read, so a torn or corrupted file is reported as
// ErrCorrupt rather than run.
//
// A Store is safe for concurrent use within one process.
package modules

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/freshet/freshet/host"
)

// Errors, checkable with errors.Is.
var (
	ErrNotFound = errors.New("module not found")
	ErrExists   = errors.New("module version already exists with other content")
	ErrCorrupt  = errors.New("module file is corrupt")
	ErrBadName  = errors.New("invalid module name or version")
)

var (
	nameRE    = regexp.MustCompile(`^[a-z0-9][a-z0-9._-]{0,63}$`)
	versionRE = regexp.MustCompile(`^[0-9A-Za-z][0-9A-Za-z.+_-]{0,63}$`)
)

// Function describes one function of a module.
type Function struct {
	Name string `json:"name"`
	Kind string `json:"kind"`
}

// Info is the metadata of a stored module.
type Info struct {
	Name       string     `json:"name"`
	Version    string     `json:"version"`
	SHA256     string     `json:"sha256"`
	Size       int64      `json:"size"`
	Added      time.Time  `json:"added"`
	ABIVersion int        `json:"abi_version"`
	SDK        string     `json:"sdk"`
	Functions  []Function `json:"functions"`
}

// Ref is "name@version".
func (i Info) Ref() string { return i.Name + "@" + i.Version }

// Store is a module registry in a directory.
type Store struct {
	dir string
	rt  *host.Runtime
	mu  sync.Mutex
}

// Open opens (creating) the store in dir; rt validates and loads modules.
func Open(dir string, rt *host.Runtime) (*Store, error) {
	for _, d := range []string{filepath.Join(dir, "blobs", "sha256"), filepath.Join(dir, "index")} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			return nil, fmt.Errorf("opening module store: %w", err)
		}
	}
	return &Store{dir: dir, rt: rt}, nil
}

// Dir is the store's directory.
func (s *Store) Dir() string { return s.dir }

// CheckRef splits "name@version" and validates both parts.
func CheckRef(ref string) (name, version string, err error) {
	name, version, ok := strings.Cut(ref, "@")
	if !ok {
		return "", "", fmt.Errorf("%w: %q: expected name@version", ErrBadName, ref)
	}
	if !nameRE.MatchString(name) {
		return "", "", fmt.Errorf("%w: name %q: use lower-case letters, digits, '.', '_' and '-' (at most 64)", ErrBadName, name)
	}
	if !versionRE.MatchString(version) {
		return "", "", fmt.Errorf("%w: version %q: use letters, digits, '.', '+', '_' and '-' (at most 64)", ErrBadName, version)
	}
	return name, version, nil
}

// IsPath reports whether ref names a file rather than name@version: it
// contains a path separator or ends in ".wasm".
func IsPath(ref string) bool {
	return strings.ContainsRune(ref, '/') || strings.ContainsRune(ref, filepath.Separator) || strings.HasSuffix(ref, ".wasm")
}

func (s *Store) blobPath(sum string) string {
	return filepath.Join(s.dir, "blobs", "sha256", sum+".wasm")
}

func (s *Store) indexPath(name, version string) string {
	return filepath.Join(s.dir, "index", name, version+".json")
}

// AddFile adds the module at path as name@version.
func (s *Store) AddFile(ctx context.Context, ref, path string) (Info, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return Info{}, fmt.Errorf("adding module %s: %w", ref, err)
	}
	return s.Add(ctx, ref, b)
}

// Add validates wasm and stores it as ref (name@version). Adding the same
// bytes again under the same ref is a no-op; other bytes fail with ErrExists.
func (s *Store) Add(ctx context.Context, ref string, wasm []byte) (Info, error) {
	name, version, err := CheckRef(ref)
	if err != nil {
		return Info{}, fmt.Errorf("adding module: %w", err)
	}
	m, err := s.rt.Load(ctx, ref, wasm)
	if err != nil {
		return Info{}, fmt.Errorf("adding module %s: %w", ref, err)
	}
	sum := sha256.Sum256(wasm)
	info := Info{Name: name, Version: version, SHA256: hex.EncodeToString(sum[:]), Size: int64(len(wasm)),
		Added: time.Now().UTC().Truncate(time.Second), ABIVersion: m.ABIVersion, SDK: m.SDK}
	for _, f := range m.Functions {
		info.Functions = append(info.Functions, Function{Name: f.Name, Kind: f.Kind.String()})
	}

	s.mu.Lock()
	defer s.mu.Unlock()
	if old, err := s.info(name, version); err == nil {
		if old.SHA256 == info.SHA256 {
			return old, nil
		}
		return Info{}, fmt.Errorf("adding module %s: %w (stored sha256 %s, new %s)", ref, ErrExists, old.SHA256[:12], info.SHA256[:12])
	} else if !errors.Is(err, ErrNotFound) {
		return Info{}, err
	}
	if _, err := os.Stat(s.blobPath(info.SHA256)); err != nil {
		if err := writeAtomic(s.blobPath(info.SHA256), wasm); err != nil {
			return Info{}, fmt.Errorf("adding module %s: %w", ref, err)
		}
	}
	meta, err := json.MarshalIndent(info, "", "  ")
	if err != nil {
		return Info{}, fmt.Errorf("adding module %s: %w", ref, err)
	}
	if err := os.MkdirAll(filepath.Dir(s.indexPath(name, version)), 0o755); err != nil {
		return Info{}, fmt.Errorf("adding module %s: %w", ref, err)
	}
	if err := writeAtomic(s.indexPath(name, version), append(meta, '\n')); err != nil {
		return Info{}, fmt.Errorf("adding module %s: %w", ref, err)
	}
	return info, nil
}

func writeAtomic(path string, b []byte) error {
	f, err := os.CreateTemp(filepath.Dir(path), ".tmp-*")
	if err != nil {
		return err
	}
	tmp := f.Name()
	_, err = f.Write(b)
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(tmp, path)
	}
	if err != nil {
		os.Remove(tmp)
	}
	return err
}

func (s *Store) info(name, version string) (Info, error) {
	b, err := os.ReadFile(s.indexPath(name, version))
	if errors.Is(err, fs.ErrNotExist) {
		return Info{}, fmt.Errorf("%w: %s@%s", ErrNotFound, name, version)
	}
	if err != nil {
		return Info{}, fmt.Errorf("reading module %s@%s: %w", name, version, err)
	}
	var info Info
	if err := json.Unmarshal(b, &info); err != nil {
		return Info{}, fmt.Errorf("reading module %s@%s: %w: metadata: %v", name, version, ErrCorrupt, err)
	}
	return info, nil
}

// Info returns the metadata of name@version.
func (s *Store) Info(ref string) (Info, error) {
	name, version, err := CheckRef(ref)
	if err != nil {
		return Info{}, err
	}
	return s.info(name, version)
}

// Read returns the bytes of name@version, checking their hash.
func (s *Store) Read(ref string) (Info, []byte, error) {
	info, err := s.Info(ref)
	if err != nil {
		return Info{}, nil, err
	}
	b, err := os.ReadFile(s.blobPath(info.SHA256))
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return Info{}, nil, fmt.Errorf("reading module %s: %w: blob %s is missing", ref, ErrCorrupt, info.SHA256[:12])
		}
		return Info{}, nil, fmt.Errorf("reading module %s: %w", ref, err)
	}
	if sum := sha256.Sum256(b); hex.EncodeToString(sum[:]) != info.SHA256 {
		return Info{}, nil, fmt.Errorf("reading module %s: %w: content hash %x does not match %s", ref, ErrCorrupt, sum[:6], info.SHA256[:12])
	}
	return info, b, nil
}

// Load resolves ref — name@version, or a file path (see IsPath) — and loads
// the module in the runtime (compiling it once per content hash).
func (s *Store) Load(ctx context.Context, ref string) (*host.Module, error) {
	if IsPath(ref) {
		return s.rt.LoadFile(ctx, ref)
	}
	_, b, err := s.Read(ref)
	if err != nil {
		return nil, err
	}
	return s.rt.Load(ctx, ref, b)
}

// List returns every stored module, sorted by name and version.
func (s *Store) List() ([]Info, error) {
	var out []Info
	root := filepath.Join(s.dir, "index")
	err := filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() || !strings.HasSuffix(path, ".json") {
			return err
		}
		rel, _ := filepath.Rel(root, path)
		name, file := filepath.Split(rel)
		info, err := s.info(filepath.Clean(name), strings.TrimSuffix(file, ".json"))
		if err != nil {
			return err
		}
		out = append(out, info)
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("listing modules: %w", err)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Ref() < out[j].Ref() })
	return out, nil
}

// Remove deletes name@version; its blob goes when no other version uses it.
func (s *Store) Remove(ref string) error {
	info, err := s.Info(ref)
	if err != nil {
		return err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if err := os.Remove(s.indexPath(info.Name, info.Version)); err != nil {
		return fmt.Errorf("removing module %s: %w", ref, err)
	}
	all, err := s.List()
	if err != nil {
		return err
	}
	for _, o := range all {
		if o.SHA256 == info.SHA256 {
			return nil
		}
	}
	if err := os.Remove(s.blobPath(info.SHA256)); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("removing module %s: %w", ref, err)
	}
	return nil
}
