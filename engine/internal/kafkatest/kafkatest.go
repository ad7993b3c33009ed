// Package kafkatest gives tests a Kafka cluster to talk to and the few helpers
// every Kafka test needs.
//
// Two clusters are on offer:
//   - Broker: the real single-node Apache Kafka broker that scripts/kafka.sh
//     runs (KRaft, loopback only). `make test` starts it and exports its
//     bootstrap address in FRESHET_KAFKA. Without that variable Broker skips
//     the test, except under CI, where a missing broker is a failure: the
//     tests that need a real broker must never pass by skipping there.
//   - Fake: franz-go's in-process kfake cluster, started per test. It speaks
//     the protocol (including transactions) and starts in milliseconds, so
//     it is the default for fast tests; Broker is for the behaviour only a
//     real broker shows.
//
// Both return a bootstrap address string ("host:port[,host:port...]"), the
// same form Freshet's Kafka connector configuration takes. Topic creates a
// throwaway topic, ConsumeCommitted reads back everything committed to one
// with read_committed isolation (ConsumeSettled once no transaction is in
// flight, for a writer that is done), and RoundTrip exercises a cluster end
// to end (it backs scripts/kafka.sh smoke).
//
// This package and engine/connectors/kafka are the only Freshet packages that
// import franz-go (enforced by engine/internal/lint).
package kafkatest

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"
)

// EnvBroker names the environment variable holding the real broker's
// bootstrap address, for example "127.0.0.1:19092".
const EnvBroker = "FRESHET_KAFKA"

// envCI is set (to any non-empty value) by CI; under it a missing broker
// fails the test instead of skipping it.
const envCI = "CI"

// opTimeout bounds each helper's calls to the cluster, so that a wedged
// broker fails the test with a message instead of hanging it until the
// `go test` timeout.
const opTimeout = 60 * time.Second

// Broker returns the bootstrap address of the real broker named by
// FRESHET_KAFKA. It skips the test when the variable is unset, and fails it
// instead when CI is set.
func Broker(t testing.TB) string {
	t.Helper()
	addr, skip, fail := brokerFromEnv(os.Getenv)
	switch {
	case fail != "":
		t.Fatal(fail)
	case skip != "":
		t.Skip(skip)
	}
	return addr
}

// brokerFromEnv decides what Broker does: return an address, skip with a
// reason, or fail with a reason. Exactly one result is non-empty.
func brokerFromEnv(getenv func(string) string) (addr, skip, fail string) {
	addr = strings.TrimSpace(getenv(EnvBroker))
	if addr != "" {
		return addr, "", ""
	}
	const how = "start it with `scripts/kafka.sh start` and export " + EnvBroker + "=127.0.0.1:19092, or run `make test`"
	if getenv(envCI) != "" {
		return "", "", "kafkatest: " + EnvBroker + " is not set but CI is: this test needs the real Kafka broker; " + how
	}
	return "", "kafkatest: " + EnvBroker + " is not set, skipping a test that needs the real Kafka broker; " + how, ""
}

// Fake starts an in-process kfake cluster for the test and returns its
// bootstrap address. The cluster has one broker unless opts say otherwise
// (later options win) and is closed when the test ends.
func Fake(t testing.TB, opts ...kfake.Opt) string {
	t.Helper()
	_, addr := FakeCluster(t, opts...)
	return addr
}

// FakeCluster is Fake that also returns the cluster, for tests that inject
// faults (Cluster.Fault) or answer requests themselves (Cluster.ControlKey).
func FakeCluster(t testing.TB, opts ...kfake.Opt) (*kfake.Cluster, string) {
	t.Helper()
	all := append([]kfake.Opt{kfake.NumBrokers(1)}, opts...)
	c, err := kfake.NewCluster(all...)
	if err != nil {
		t.Fatalf("kafkatest: starting kfake cluster: %v", err)
	}
	t.Cleanup(c.Close)
	return c, strings.Join(c.ListenAddrs(), ",")
}

// Seeds splits a bootstrap address list ("a:1,b:2") into seed brokers for
// kgo.SeedBrokers, dropping blanks.
func Seeds(bootstrap string) []string {
	var seeds []string
	for _, s := range strings.Split(bootstrap, ",") {
		if s = strings.TrimSpace(s); s != "" {
			seeds = append(seeds, s)
		}
	}
	return seeds
}

// Client returns a franz-go client for the cluster, closed when the test
// ends. opts are appended after the seed brokers.
func Client(t testing.TB, bootstrap string, opts ...kgo.Opt) *kgo.Client {
	t.Helper()
	cl, err := newClient(bootstrap, opts...)
	if err != nil {
		t.Fatalf("kafkatest: %v", err)
	}
	t.Cleanup(cl.Close)
	return cl
}

func newClient(bootstrap string, opts ...kgo.Opt) (*kgo.Client, error) {
	seeds := Seeds(bootstrap)
	if len(seeds) == 0 {
		return nil, fmt.Errorf("creating Kafka client: empty bootstrap address %q", bootstrap)
	}
	cl, err := kgo.NewClient(append([]kgo.Opt{kgo.SeedBrokers(seeds...)}, opts...)...)
	if err != nil {
		return nil, fmt.Errorf("creating Kafka client for %s: %w", bootstrap, err)
	}
	return cl, nil
}

// Topic creates a topic with a unique name derived from the test's name and
// the given number of partitions, and deletes it when the test ends.
func Topic(t testing.TB, bootstrap string, partitions int32) string {
	t.Helper()
	name := UniqueName(t.Name())
	ctx, cancel := context.WithTimeout(context.Background(), opTimeout)
	defer cancel()
	if err := CreateTopic(ctx, bootstrap, name, partitions); err != nil {
		t.Fatalf("kafkatest: %v", err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), opTimeout)
		defer cancel()
		if err := DeleteTopic(ctx, bootstrap, name); err != nil {
			t.Logf("kafkatest: cleanup: %v", err)
		}
	})
	return name
}

// UniqueName returns a Kafka-legal topic (or group, or transactional ID) name
// made of "freshet-", a readable form of hint, and a random suffix.
func UniqueName(hint string) string {
	var b strings.Builder
	b.WriteString("freshet-")
	for _, r := range hint {
		if b.Len() >= 80 {
			break
		}
		switch {
		case r >= 'a' && r <= 'z', r >= 'A' && r <= 'Z', r >= '0' && r <= '9', r == '-', r == '_':
			b.WriteRune(r)
		default:
			b.WriteByte('_')
		}
	}
	var suffix [6]byte
	rand.Read(suffix[:]) // never returns an error since Go 1.24
	b.WriteByte('-')
	b.WriteString(hex.EncodeToString(suffix[:]))
	return b.String()
}

// CreateTopic creates topic with the given number of partitions and the
// broker's default replication factor.
func CreateTopic(ctx context.Context, bootstrap, topic string, partitions int32) error {
	cl, err := newClient(bootstrap)
	if err != nil {
		return err
	}
	defer cl.Close()
	adm := kadm.NewClient(cl)
	if _, err := adm.CreateTopic(ctx, partitions, -1, nil, topic); err != nil {
		return fmt.Errorf("creating topic %s with %d partitions on %s: %w", topic, partitions, bootstrap, err)
	}
	// A busy broker answers before every partition has a leader; wait
	// until offsets can be listed for all of them.
	for {
		offs, err := adm.ListEndOffsets(ctx, topic)
		if err == nil && offs.Error() == nil {
			n := 0
			offs.Each(func(kadm.ListedOffset) { n++ })
			if n == int(partitions) {
				return nil
			}
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("creating topic %s on %s: its partitions did not become ready: %w", topic, bootstrap, ctx.Err())
		case <-time.After(20 * time.Millisecond):
		}
	}
}

// DeleteTopic deletes topic.
func DeleteTopic(ctx context.Context, bootstrap, topic string) error {
	cl, err := newClient(bootstrap)
	if err != nil {
		return err
	}
	defer cl.Close()
	if _, err := kadm.NewClient(cl).DeleteTopic(ctx, topic); err != nil {
		return fmt.Errorf("deleting topic %s on %s: %w", topic, bootstrap, err)
	}
	return nil
}

// ConsumeSettled is ConsumeCommitted once no transaction is in flight on
// topic (see ReadSettled): the way to read a finished job's output.
func ConsumeSettled(t testing.TB, bootstrap, topic string) []*kgo.Record {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), opTimeout)
	defer cancel()
	recs, err := ReadSettled(ctx, bootstrap, topic)
	if err != nil {
		t.Fatalf("kafkatest: %v", err)
	}
	return recs
}

// ConsumeCommitted returns every record committed to topic at the time of
// the call, read with read_committed isolation: records of aborted
// transactions and of transactions still open are left out, and so are
// transaction markers. Records come partition by partition (partition 0
// first), each partition in offset order.
func ConsumeCommitted(t testing.TB, bootstrap, topic string) []*kgo.Record {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), opTimeout)
	defer cancel()
	recs, err := ReadCommitted(ctx, bootstrap, topic)
	if err != nil {
		t.Fatalf("kafkatest: %v", err)
	}
	return recs
}
