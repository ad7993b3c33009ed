package kafka_test

import (
	"context"
	"fmt"
	"log"
	"time"

	"github.com/freshet/freshet/engine/api"
	"github.com/freshet/freshet/engine/connectors/kafka"
	"github.com/freshet/freshet/engine/stream"
)

// A job from Kafka to Kafka, exactly-once: checkpoints every 5 seconds, one
// transaction per checkpoint.
func Example() {
	servers := kafka.ClientConfig{BootstrapServers: []string{"127.0.0.1:19092"}}
	orders, err := kafka.NewSource(kafka.SourceConfig{
		ClientConfig:      servers,
		Topics:            []string{"orders"},
		Format:            kafka.FormatJSON,
		MaxOutOfOrderness: 5 * time.Second,
	})
	if err != nil {
		log.Fatal(err)
	}
	out, err := kafka.NewSink(kafka.SinkConfig{
		ClientConfig:          servers,
		Topic:                 "orders-copy",
		Delivery:              kafka.DeliveryExactlyOnce,
		TransactionalIDPrefix: "orders-copy",
	})
	if err != nil {
		log.Fatal(err)
	}
	env := stream.NewEnvironment(stream.Config{Parallelism: 2})
	env.FromSource("orders", orders).
		Filter("non-empty", func(r *api.Record) bool { return len(r.Value) > 0 }).
		AddSink("out", out)
	if _, err := env.Execute(context.Background(), "copy-orders"); err != nil {
		log.Fatal(err)
	}
}

// Keys land on the partition Kafka's Java producer would pick.
func ExampleKeyPartition() {
	for _, key := range []string{"ann", "bob", "cyd"} {
		fmt.Println(key, kafka.KeyPartition([]byte(key), 6))
	}
	// Output:
	// ann 2
	// bob 0
	// cyd 1
}

// Partitions of a topic are dealt round robin over the source's subtasks.
func ExampleOwner() {
	for p := range int32(4) {
		fmt.Printf("orders/%d -> subtask %d\n", p, kafka.Owner("orders", p, 3))
	}
	// Output:
	// orders/0 -> subtask 2
	// orders/1 -> subtask 0
	// orders/2 -> subtask 1
	// orders/3 -> subtask 2
}
