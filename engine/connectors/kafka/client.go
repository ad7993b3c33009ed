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

// ErrPartitionNotFound is the category of errors of a bounded source whose
// checkpoint holds a partition the cluster does not list (any longer): it
// cannot read that partition to its stop offset, so it fails rather than
// end without it.
var ErrPartitionNotFound = errors.New("partition does not exist")

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

// errNotReady marks an answer of the cluster that is not complete yet (a
// topic listed without partitions, a gap in its partition numbers, an
// offset it cannot give yet): asked for again, never taken as the truth.
var errNotReady = errors.New("the cluster's answer is not complete yet")

// transient reports whether err may go away when the request is made
// again: a retriable Kafka error code, an answer that was not complete, or
// a request that got no answer (a lost connection, a broker restarting).
// Cancellation, a closed client and Kafka errors that are not retriable
// (authorization, an invalid request) are not transient.
func transient(err error) bool {
	switch {
	case err == nil, errors.Is(err, context.Canceled), errors.Is(err, context.DeadlineExceeded), errors.Is(err, kgo.ErrClientClosed):
		return false
	case errors.Is(err, errNotReady):
		return true
	}
	if ke, ok := errors.AsType[*kerr.Error](err); ok {
		return ke.Retriable
	}
	return true
}

// retryFor calls fn until it succeeds, returns an error for which budget is
// zero, or budget(err) has passed since the first call; it backs off
// between calls (50ms doubling to 1s) and stops as soon as ctx is done. It
// returns fn's last error, with ctx's error when that ended the wait.
func retryFor(ctx context.Context, budget func(error) time.Duration, fn func() error) error {
	start := time.Now()
	pause := 50 * time.Millisecond
	for {
		err := fn()
		if err == nil {
			return nil
		}
		if ctx.Err() != nil || time.Since(start)+pause > budget(err) {
			return err
		}
		t := time.NewTimer(pause)
		select {
		case <-ctx.Done():
			t.Stop()
			return fmt.Errorf("%w (then %w)", err, ctx.Err())
		case <-t.C:
		}
		pause = min(2*pause, time.Second)
	}
}

// whileTransient is a retryFor budget: d for transient errors, none for others.
func whileTransient(d time.Duration) func(error) time.Duration {
	return func(err error) time.Duration {
		if transient(err) {
			return d
		}
		return 0
	}
}

// topicPartitions lists the partitions of topics, each sorted. The answer
// is complete or an error: transient errors and incomplete answers are
// asked for again for up to wait, and a topic the cluster does not have for
// up to wait but at most 10s (a topic created a moment ago may not be in
// every broker's metadata yet) before it fails with ErrTopicNotFound.
func topicPartitions(ctx context.Context, adm *kadm.Client, topics []string, wait time.Duration) (map[string][]int32, error) {
	var out map[string][]int32
	budget := func(err error) time.Duration {
		if errors.Is(err, ErrTopicNotFound) {
			return min(wait, 10*time.Second)
		}
		return whileTransient(wait)(err)
	}
	err := retryFor(ctx, budget, func() (err error) {
		out, err = listTopicPartitions(ctx, adm, topics)
		return err
	})
	return out, err
}

// listTopicPartitions asks for the partitions of topics once. Kafka
// numbers a topic's partitions 0..n-1 and lists them all in metadata, so a
// topic without partitions or with a gap is an answer not complete yet
// (errNotReady), never a topic with fewer partitions.
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
		n := int32(len(d.Partitions))
		if n == 0 {
			return nil, fmt.Errorf("reading metadata of topic %s: %w: no partition listed", t, errNotReady)
		}
		ps := make([]int32, 0, n)
		for p := range n {
			if _, ok := d.Partitions[p]; !ok {
				return nil, fmt.Errorf("reading metadata of topic %s: %w: partition %d missing among %d listed", t, errNotReady, p, n)
			}
			ps = append(ps, p)
		}
		out[t] = ps
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
