package parser_test

import (
	"fmt"
	"time"

	"github.com/logspool/logspool/parser"
	"github.com/logspool/logspool/spool/record"
)

func ExampleDecoder() {
	d := parser.NewDecoder(parser.Config{
		NodeName: "node-1",
		Now:      func() time.Time { return time.Unix(0, 0) },
	}, parser.Source{
		Path:    "/var/log/pods/shop_api-0_6f1b7e9a-3c2d-4e5f-8a9b-0c1d2e3f4a5b/api/0.log",
		FileKey: "fingerprint",
	})
	var recs []record.Record
	var off int64
	for _, l := range []string{
		"2024-05-01T10:00:00.123456789Z stdout P hello, ",
		"2024-05-01T10:00:00.2Z stdout F world",
	} {
		recs = d.Decode(recs, parser.Line{Bytes: []byte(l), Start: off, End: off + int64(len(l)) + 1})
		off += int64(len(l)) + 1
	}
	for _, r := range recs {
		fmt.Println(r.ID == record.FileID("node-1", "fingerprint", 0), r.Time)
		fmt.Println(string(r.Document()))
	}
	// Output:
	// true 1714557600123456789
	// {"@timestamp":"2024-05-01T10:00:00.123456789Z","message":"hello, world","stream":"stdout","log":{"offset":0,"file":{"path":"/var/log/pods/shop_api-0_6f1b7e9a-3c2d-4e5f-8a9b-0c1d2e3f4a5b/api/0.log"}},"kubernetes":{"namespace":"shop","pod":{"name":"api-0","uid":"6f1b7e9a-3c2d-4e5f-8a9b-0c1d2e3f4a5b"},"container":{"name":"api","restart_count":0}},"container":{"runtime":"cri"},"host":{"name":"node-1"},"event":{"dataset":"kubernetes.container_logs"}}
}
