package inputerr

import (
	"errors"
	"fmt"
	"io/fs"
	"syscall"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
)

func TestErrno(t *testing.T) {
	tests := []struct {
		name   string
		err    error
		want   string
		wantOK bool
	}{
		{"a wrapped EACCES is eacces", fmt.Errorf("opening: %w", &fs.PathError{Op: "open", Path: "x", Err: syscall.EACCES}), "eacces", true},
		{"a bare ELOOP is eloop", syscall.ELOOP, "eloop", true},
		{"an errno without a name is numbered", syscall.Errno(200), "errno_200", true},
		{"an error without an errno has none", errors.New("no"), "", false},
		{"nil has none", nil, "", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got, ok := Errno(tt.err); got != tt.want || ok != tt.wantOK {
				t.Fatalf("Errno = %q, %v; want %q, %v", got, ok, tt.want, tt.wantOK)
			}
		})
	}
}

func TestRegisterTakesTheCollectorAnotherInputRegistered(t *testing.T) {
	reg := prometheus.NewRegistry()
	first := Register(reg, NewCounter())
	second := Register(reg, NewCounter())
	if first != second {
		t.Fatal("the second input got its own collector")
	}
	second.WithLabelValues("journal", "eio").Inc()
	first.WithLabelValues("containers", "eacces").Inc()
	mfs, err := reg.Gather()
	if err != nil || len(mfs) != 1 || len(mfs[0].GetMetric()) != 2 {
		t.Fatalf("gathered %v, %v; want one family with two series", mfs, err)
	}
}
