package params

import (
	"math"
	"strconv"
	"strings"
	"testing"
	"time"
)

// Job files are user input: ParseSize and ParseDuration must reject what they
// cannot represent, never panic, and never wrap around.
func FuzzParseSize(f *testing.F) {
	for _, s := range []string{"0", "64MiB", "32kb", "1g", "1.5k", " 8 kib ", "8388607t", "8388608t", "-1", "1e3", ".", "", "99999999999t"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		n, err := ParseSize(s)
		if err != nil {
			if n != 0 {
				t.Fatalf("ParseSize(%q) = %d with error %v", s, n, err)
			}
			return
		}
		if n < 0 {
			t.Fatalf("ParseSize(%q) = %d, negative", s, n)
		}
		// A whole number of a unit is exactly that many units.
		t2 := strings.ToLower(strings.TrimSpace(s))
		if k, err := strconv.ParseInt(strings.TrimSuffix(t2, "k"), 10, 64); err == nil && strings.HasSuffix(t2, "k") && k >= 0 && k < 1<<40 {
			if n != k<<10 {
				t.Fatalf("ParseSize(%q) = %d, want %d", s, n, k<<10)
			}
		}
	})
}

func FuzzParseDuration(f *testing.F) {
	for _, s := range []string{"200ms", "1m30s", "7d", "-2d", "106752d", "1500", "9223372036855", "1.5d", "d", ""} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		d, err := ParseDuration(s)
		if err != nil {
			return
		}
		t2 := strings.TrimSpace(s)
		if n, perr := strconv.ParseInt(strings.TrimSuffix(t2, "d"), 10, 64); perr == nil && strings.HasSuffix(t2, "d") {
			if n > math.MaxInt64/int64(24*time.Hour) || n < math.MinInt64/int64(24*time.Hour) || d != time.Duration(n)*24*time.Hour {
				t.Fatalf("ParseDuration(%q) = %v, want %d days or an error", s, d, n)
			}
		}
		if n, perr := strconv.ParseInt(t2, 10, 64); perr == nil {
			if n > math.MaxInt64/int64(time.Millisecond) || n < math.MinInt64/int64(time.Millisecond) || d != time.Duration(n)*time.Millisecond {
				t.Fatalf("ParseDuration(%q) = %v, want %d ms or an error", s, d, n)
			}
		}
		// What Go prints, Freshet parses back.
		if back, err := ParseDuration(d.String()); err != nil || back != d {
			t.Fatalf("ParseDuration(%q) = %v; its String %q parses back as %v, %v", s, d, d.String(), back, err)
		}
	})
}
