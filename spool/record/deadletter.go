package record

import "time"

// DeadLetter is a record that Elasticsearch refused for good, kept with why:
// the shipper settles a batch with its dead letters and the spool stores them
// in its dead-letter area.
type DeadLetter struct {
	Record Record
	Reason string
	Time   time.Time
}
