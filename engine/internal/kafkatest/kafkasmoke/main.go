// Command kafkasmoke checks that a Kafka cluster works for Freshet: it runs
// kafkatest.RoundTrip (topic, committed and aborted transactions, a
// read_committed read-back, a group offset commit) and prints the timings.
// scripts/kafka.sh smoke runs it against the broker that script started.
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"time"

	"github.com/freshet/freshet/engine/internal/kafkatest"
)

func main() {
	bootstrap := flag.String("bootstrap", os.Getenv(kafkatest.EnvBroker), "bootstrap address (default $"+kafkatest.EnvBroker+")")
	timeout := flag.Duration("timeout", 2*time.Minute, "give up after this long")
	flag.Parse()
	ctx, cancel := context.WithTimeout(context.Background(), *timeout)
	defer cancel()
	rep, err := kafkatest.RoundTrip(ctx, *bootstrap)
	if err != nil {
		fmt.Fprintf(os.Stderr, "kafkasmoke: %s: %v\n", *bootstrap, err)
		os.Exit(1)
	}
	fmt.Printf("kafkasmoke: %s ok: %d broker(s); %d committed records read back, %d aborted hidden; "+
		"connect %v, create topic %v, commit txn %v, abort txn %v, read %v, group offsets %v\n",
		*bootstrap, rep.Brokers, rep.Committed, rep.Aborted, rep.Connect.Round(time.Millisecond),
		rep.CreateTopic.Round(time.Millisecond), rep.CommitTxn.Round(time.Millisecond),
		rep.AbortTxn.Round(time.Millisecond), rep.Read.Round(time.Millisecond), rep.GroupOffsets.Round(time.Millisecond))
}
