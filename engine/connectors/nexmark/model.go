package nexmark

// Kind says which of Person, Auction and Bid an Event holds. Its values are
// the nexmark project's event_type numbers and the first byte of the binary
// encoding.
type Kind uint8

const (
	KindPerson  Kind = 0
	KindAuction Kind = 1
	KindBid     Kind = 2
)

func (k Kind) String() string {
	switch k {
	case KindPerson:
		return "person"
	case KindAuction:
		return "auction"
	case KindBid:
		return "bid"
	}
	return "unknown"
}

// Person is a new user of the auction site.
type Person struct {
	ID           int64
	Name         []byte
	EmailAddress []byte
	CreditCard   []byte
	City         []byte
	State        []byte
	DateTime     int64 // ms since the Unix epoch
	Extra        []byte
}

// Auction is a new item put up for auction.
type Auction struct {
	ID          int64
	ItemName    []byte
	Description []byte
	InitialBid  int64
	Reserve     int64
	DateTime    int64 // ms since the Unix epoch
	Expires     int64 // ms since the Unix epoch
	Seller      int64 // a Person ID
	Category    int64
	Extra       []byte
}

// Bid is a bid on an auction.
type Bid struct {
	Auction  int64 // an Auction ID
	Bidder   int64 // a Person ID
	Price    int64
	Channel  []byte
	URL      []byte
	DateTime int64 // ms since the Unix epoch
	Extra    []byte
}

// Event is one Nexmark event. Only the member that Kind names is meaningful.
// Its byte slices are views owned by whoever filled the event (the Generator,
// or the buffer given to DecodeBinary) and valid until it next does.
type Event struct {
	Kind    Kind
	Person  Person
	Auction Auction
	Bid     Bid

	// plain is set by the Generator: its strings need no JSON escaping.
	plain bool
}

// Timestamp is the event's dateTime: its event time in ms.
func (e *Event) Timestamp() int64 {
	switch e.Kind {
	case KindPerson:
		return e.Person.DateTime
	case KindAuction:
		return e.Auction.DateTime
	}
	return e.Bid.DateTime
}
