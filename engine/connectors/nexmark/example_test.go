package nexmark_test

import (
	"fmt"

	"github.com/freshet/freshet/engine/connectors/nexmark"
)

// A generator of a bounded stream, split in two as two subtasks would run
// it; each event's byte slices are valid until the next call.
func ExampleGenerator() {
	cfg := nexmark.DefaultConfig()
	cfg.Events = 8
	cfg.Seed = 42
	cfg.EventsPerSecond = 10 // event n happens at base time + n*100ms
	g, err := nexmark.NewGenerator(cfg)
	if err != nil {
		panic(err)
	}
	second, _ := g.Split(1, 2) // positions 1, 3, 5, 7
	var ev nexmark.Event
	for second.Next(&ev) {
		switch ev.Kind {
		case nexmark.KindPerson:
			fmt.Println("person", ev.Person.ID, ev.Timestamp())
		case nexmark.KindAuction:
			fmt.Println("auction", ev.Auction.ID, "seller", ev.Auction.Seller, ev.Timestamp())
		case nexmark.KindBid:
			fmt.Println("bid on", ev.Bid.Auction, "by", ev.Bid.Bidder, ev.Timestamp())
		}
	}
	// Output:
	// auction 1000 seller 1000 1436918400100
	// auction 1002 seller 1000 1436918400300
	// bid on 1000 by 1005 1436918400500
	// bid on 1000 by 1001 1436918400700
}
