package systemd_test

import (
	"fmt"
	"io"

	"github.com/logspool/logspool/systemd"
)

// Read a journal directory once, like journalctl --directory -u kubelet.
func ExampleReader() {
	r, err := systemd.NewReader(systemd.ReaderConfig{
		Files: []string{"testdata/journal/files/multiboot.journal"},
		Units: []string{"kubelet"},
	})
	if err != nil {
		fmt.Println(err)
		return
	}
	defer r.Close()
	enc := systemd.NewEncoder("node-1", 0)
	n := 0
	for {
		e, err := r.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			fmt.Println(err)
			return
		}
		rec := enc.Record(e) // ID, Time and the ECS document
		_ = rec
		n++
	}
	fmt.Println(n, "kubelet entries")
	// Output: 294 kubelet entries
}
