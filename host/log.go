package host

import (
	"bytes"
	"context"
	"log/slog"
	"strings"
	"time"

	"github.com/freshet/freshet/engine/api"
)

// Guest logging limits: at most logBurst lines at once and logRate lines per
// second on average; lines are cut at logLineMax bytes.
const (
	logBurst   = 20
	logRate    = 10
	logLineMax = 1024
	tailMax    = 512
)

// guestLog receives a guest's stdout and stderr (fd_write) and its log host
// calls, and passes them to the task's logger, rate-limited. It keeps the
// last bytes written so that a trap's error can show what the guest printed
// (a Go panic message, say).
type guestLog struct {
	logger  *slog.Logger
	line    []byte
	tailBuf []byte
	// headline is the guest's last "panic: ..." or "fatal error: ..." line.
	headline string
	tokens   float64
	last     time.Time
	dropped  int
}

func newGuestLog(actx api.Context, fallback *slog.Logger, module string) *guestLog {
	l := fallback
	if actx != nil && actx.Logger() != nil {
		l = actx.Logger()
	}
	return &guestLog{logger: l.With("wasm_module", module), tokens: logBurst}
}

// Write implements io.Writer for the guest's stdout and stderr.
func (g *guestLog) Write(p []byte) (int, error) {
	n := len(p)
	g.remember(p)
	for len(p) > 0 {
		i := bytes.IndexByte(p, '\n')
		if i < 0 {
			if len(g.line) < logLineMax {
				g.line = append(g.line, p[:min(len(p), logLineMax-len(g.line))]...)
			}
			break
		}
		if len(g.line) < logLineMax {
			g.line = append(g.line, p[:min(i, logLineMax-len(g.line))]...)
		}
		if bytes.HasPrefix(g.line, []byte("panic: ")) || bytes.HasPrefix(g.line, []byte("fatal error: ")) {
			g.headline = string(g.line)
		}
		g.log(slog.LevelInfo, g.line)
		g.line = g.line[:0]
		p = p[i+1:]
	}
	return n, nil
}

func (g *guestLog) remember(p []byte) {
	if len(p) >= tailMax {
		g.tailBuf = append(g.tailBuf[:0], p[len(p)-tailMax:]...)
		return
	}
	if over := len(g.tailBuf) + len(p) - tailMax; over > 0 {
		g.tailBuf = append(g.tailBuf[:0], g.tailBuf[over:]...)
	}
	g.tailBuf = append(g.tailBuf, p...)
}

// log emits one message if the rate limit allows.
func (g *guestLog) log(level slog.Level, msg []byte) {
	now := time.Now()
	if !g.last.IsZero() {
		g.tokens = min(logBurst, g.tokens+now.Sub(g.last).Seconds()*logRate)
	}
	g.last = now
	if g.tokens < 1 {
		g.dropped++
		return
	}
	g.tokens--
	if len(msg) > logLineMax {
		msg = msg[:logLineMax]
	}
	if g.dropped > 0 {
		g.logger.Log(context.Background(), level, string(msg), "source", "guest", "dropped_before", g.dropped)
		g.dropped = 0
		return
	}
	g.logger.Log(context.Background(), level, string(msg), "source", "guest")
}

// tail returns what the guest printed last, on one line, or "": its panic
// message if it panicked, else its last bytes of output.
func (g *guestLog) tail() string {
	if g.headline != "" {
		return g.headline
	}
	s := strings.TrimSpace(string(g.tailBuf))
	return strings.Join(strings.Fields(s), " ")
}

func (g *guestLog) suffix() string {
	if t := g.tail(); t != "" {
		return "; guest output: " + t
	}
	return ""
}
