package memory

import (
	"errors"
	"fmt"
	"log/slog"
)

// Defaults of Config.
const (
	DefaultTotalBytes  int64 = 64 << 20
	DefaultSegmentSize int   = 32 << 10
	DefaultArenaBytes  int64 = 8 << 20
)

// minSegmentSize is the smallest segment size Validate accepts; smaller
// segments would spend more on bookkeeping than they carry.
const minSegmentSize = 64

// Config is the configuration of a Manager. Zero fields take their defaults
// in WithDefaults.
type Config struct {
	// TotalBytes is the budget of all pools together (default 64 MiB).
	TotalBytes int64
	// SegmentSize is the size of one network buffer (default 32 KiB).
	SegmentSize int
	// ArenaBytes is how much memory is mapped at a time (default 8 MiB). It
	// must be a multiple of SegmentSize.
	ArenaBytes int64
	// Logger receives double-release reports. It is not read from files;
	// nil means slog.Default().
	Logger *slog.Logger
}

// WithDefaults returns a copy of c with every zero field set to its default.
func (c Config) WithDefaults() Config {
	if c.TotalBytes == 0 {
		c.TotalBytes = DefaultTotalBytes
	}
	if c.SegmentSize == 0 {
		c.SegmentSize = DefaultSegmentSize
	}
	if c.ArenaBytes == 0 {
		c.ArenaBytes = DefaultArenaBytes
	}
	return c
}

// Validate reports every problem of c, each naming its field. Call it on the
// result of WithDefaults; zero fields are errors here.
func (c Config) Validate() error {
	var errs []error
	bad := func(field, format string, args ...any) {
		errs = append(errs, fmt.Errorf("memory config: %s: %s", field, fmt.Sprintf(format, args...)))
	}
	if c.SegmentSize < minSegmentSize {
		bad("SegmentSize", "must be at least %d bytes, got %d", minSegmentSize, c.SegmentSize)
	}
	if c.TotalBytes <= 0 {
		bad("TotalBytes", "must be positive, got %d", c.TotalBytes)
	} else if c.SegmentSize >= minSegmentSize && c.TotalBytes < int64(c.SegmentSize) {
		bad("TotalBytes", "%s is less than one segment (SegmentSize %s)", formatBytes(c.TotalBytes), formatBytes(int64(c.SegmentSize)))
	}
	if c.ArenaBytes <= 0 {
		bad("ArenaBytes", "must be positive, got %d", c.ArenaBytes)
	} else if c.SegmentSize >= minSegmentSize && c.ArenaBytes%int64(c.SegmentSize) != 0 {
		bad("ArenaBytes", "%d is not a multiple of SegmentSize %d", c.ArenaBytes, c.SegmentSize)
	}
	return errors.Join(errs...)
}

// formatBytes renders n as a short human-readable size for messages.
func formatBytes(n int64) string {
	switch {
	case n >= 1<<30 && n%(1<<30) == 0:
		return fmt.Sprintf("%d GiB", n>>30)
	case n >= 1<<20 && n%(1<<20) == 0:
		return fmt.Sprintf("%d MiB", n>>20)
	case n >= 1<<10 && n%(1<<10) == 0:
		return fmt.Sprintf("%d KiB", n>>10)
	}
	return fmt.Sprintf("%d B", n)
}
