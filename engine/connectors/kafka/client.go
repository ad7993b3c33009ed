package kafka

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"strings"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/freshet/freshet/engine/params"
)

// ErrBrokerUnavailable is the category of errors of a source or sink that
// reached no broker of its bootstrap servers within its connect timeout.
var ErrBrokerUnavailable = errors.New("no Kafka broker reachable")

// ErrTopicNotFound is the category of errors naming a topic that does not
// exist.
var ErrTopicNotFound = errors.New("topic does not exist")

// ClientConfig is what sources and sinks share: where the cluster is and
// how to reach it.
type ClientConfig struct {
	// BootstrapServers are host:port addresses of some brokers of the
	// cluster (`bootstrap-servers`: "a:9092,b:9092" or a list).
	BootstrapServers []string
	// ClientID names the client in broker logs and quotas (`client-id`,
	// default "freshet").
	ClientID string
	// ConnectTimeout bounds how long Open retries, with backoff, to reach a
	// broker before failing with ErrBrokerUnavailable (`connect-timeout`,
	// default 30s).
	ConnectTimeout time.Duration
	// Dialer, when set, opens the connections to brokers (TLS, proxies,
	// fault injection in tests). Go API only.
	Dialer func(ctx context.Context, network, addr string) (net.Conn, error)
}

const (
	defaultClientID       = "freshet"
	defaultConnectTimeout = 30 * time.Second
)

func (c *ClientConfig) defaults() {
	if c.ClientID == "" {
		c.ClientID = defaultClientID
	}
	if c.ConnectTimeout == 0 {
		c.ConnectTimeout = defaultConnectTimeout
	}
}

// validate reports problems through bad(field, message).
func (c *ClientConfig) validate(bad func(field, format string, args ...any)) {
	if len(c.BootstrapServers) == 0 {
		bad("bootstrap-servers", "required field is missing")
	}
	for _, s := range c.BootstrapServers {
		if _, port, err := net.SplitHostPort(s); err != nil || port == "" {
			bad("bootstrap-servers", "%q is not host:port", s)
		}
	}
	if c.ConnectTimeout < 0 {
		bad("connect-timeout", "must not be negative")
	}
}

// read reads the client fields of a job file's source or sink.
func (c *ClientConfig) read(p *params.Params) {
	if p.Required("bootstrap-servers") {
		for _, s := range p.StringList("bootstrap-servers") {
			for _, part := range strings.Split(s, ",") {
				if part = strings.TrimSpace(part); part != "" {
					c.BootstrapServers = append(c.BootstrapServers, part)
				}
			}
		}
	}
	c.ClientID = p.String("client-id", defaultClientID)
	c.ConnectTimeout = p.Duration("connect-timeout", defaultConnectTimeout)
}

func (c *ClientConfig) servers() string { return strings.Join(c.BootstrapServers, ",") }

// opts are the franz-go options every client of the connector starts with.
func (c *ClientConfig) opts(log *slog.Logger) []kgo.Opt {
	o := []kgo.Opt{
		kgo.SeedBrokers(c.BootstrapServers...),
		kgo.ClientID(c.ClientID),
		kgo.WithLogger(kgoLogger{log}),
		kgo.RetryBackoffFn(backoff(100*time.Millisecond, 2*time.Second)),
		// Refresh metadata soon after a broker comes back or partitions
		// are added (franz-go waits at least 5s by default).
		kgo.MetadataMinAge(250 * time.Millisecond),
	}
	if c.Dialer != nil {
		o = append(o, kgo.Dialer(c.Dialer))
	}
	return o
}

// backoff returns an exponential backoff from lo to hi with ±20% jitter.
func backoff(lo, hi time.Duration) func(int) time.Duration {
	return func(tries int) time.Duration {
		d := lo
		for i := 1; i < tries && d < hi; i++ {
			d *= 2
		}
		d = min(d, hi)
		// Deterministic jitter from the try count: enough to spread
		// subtasks that fail together, no shared random source needed.
		j := time.Duration(tries*7919%41-20) * d / 100
		return d + j
	}
}

// waitForBroker pings the cluster until a broker answers, backing off
// between attempts, for at most the connect timeout. what names the caller
// in the error ("kafka source \"orders\"").
func waitForBroker(ctx context.Context, cl *kgo.Client, c *ClientConfig, what string) error {
	start := time.Now()
	deadline := start.Add(c.ConnectTimeout)
	wait := 100 * time.Millisecond
	var last error
	attempts := 0
	for {
		attempts++
		actx, cancel := context.WithDeadline(ctx, minTime(deadline, time.Now().Add(5*time.Second)))
		err := cl.Ping(actx)
		cancel()
		if err == nil {
			return nil
		}
		last = err
		if ctx.Err() != nil {
			return fmt.Errorf("%s: connecting to %s: %w", what, c.servers(), ctx.Err())
		}
		left := time.Until(deadline)
		if left <= 0 {
			break
		}
		t := time.NewTimer(min(wait, left))
		select {
		case <-ctx.Done():
			t.Stop()
			return fmt.Errorf("%s: connecting to %s: %w", what, c.servers(), ctx.Err())
		case <-t.C:
		}
		wait = min(2*wait, 2*time.Second)
	}
	return fmt.Errorf("%s: %w: no broker of bootstrap-servers %s answered within %s (%d attempts, last error: %v)",
		what, ErrBrokerUnavailable, c.servers(), time.Since(start).Round(time.Millisecond), attempts, last)
}

func minTime(a, b time.Time) time.Time {
	if a.Before(b) {
		return a
	}
	return b
}

// topicPartitions lists the partitions of topics, failing with
// ErrTopicNotFound for a topic the cluster does not have. A topic created a
// moment ago may not be in every broker's metadata yet, so a missing topic
// is asked for again for up to wait (at most 10s) before it counts as
// missing.
func topicPartitions(ctx context.Context, adm *kadm.Client, topics []string, wait time.Duration) (map[string][]int32, error) {
	deadline := time.Now().Add(min(wait, 10*time.Second))
	pause := 50 * time.Millisecond
	for {
		out, err := listTopicPartitions(ctx, adm, topics)
		if err == nil || !errors.Is(err, ErrTopicNotFound) || time.Now().Add(pause).After(deadline) {
			return out, err
		}
		t := time.NewTimer(pause)
		select {
		case <-ctx.Done():
			t.Stop()
			return nil, err
		case <-t.C:
		}
		pause = min(2*pause, 500*time.Millisecond)
	}
}

func listTopicPartitions(ctx context.Context, adm *kadm.Client, topics []string) (map[string][]int32, error) {
	md, err := adm.Metadata(ctx, topics...)
	if err != nil {
		return nil, fmt.Errorf("reading metadata of topics %v: %w", topics, err)
	}
	out := make(map[string][]int32, len(topics))
	for _, t := range topics {
		d, ok := md.Topics[t]
		if !ok || errors.Is(d.Err, kerr.UnknownTopicOrPartition) {
			return nil, fmt.Errorf("%w: %s", ErrTopicNotFound, t)
		}
		if d.Err != nil {
			return nil, fmt.Errorf("reading metadata of topic %s: %w", t, d.Err)
		}
		for p := range d.Partitions {
			out[t] = append(out[t], p)
		}
	}
	return out, nil
}

// kgoLogger sends franz-go's warnings and errors to the subtask's logger.
type kgoLogger struct{ l *slog.Logger }

func (kgoLogger) Level() kgo.LogLevel { return kgo.LogLevelWarn }

func (k kgoLogger) Log(level kgo.LogLevel, msg string, keyvals ...any) {
	lvl := slog.LevelInfo
	switch level {
	case kgo.LogLevelError:
		lvl = slog.LevelError
	case kgo.LogLevelWarn:
		lvl = slog.LevelWarn
	case kgo.LogLevelDebug:
		lvl = slog.LevelDebug
	}
	k.l.Log(context.Background(), lvl, "kafka client: "+msg, keyvals...)
}
