package appendretry

import (
	"context"
	"errors"
	"slices"
	"testing"
	"time"
)

func TestDo(t *testing.T) {
	boom := errors.New("disk full")
	b := Backoff{Initial: time.Microsecond, Max: 4 * time.Microsecond}
	tests := []struct {
		name          string
		failures      int // try fails this many times, then succeeds
		cancelAfter   int // ctx is cancelled inside this attempt (0: never)
		wantErr       error
		wantWaits     []time.Duration
		wantRecovered int // -1: not called
	}{
		{"a first success calls nothing", 0, 0, nil, nil, -1},
		{"failures back off, doubling up to Max, then recover", 4, 0, nil,
			[]time.Duration{time.Microsecond, 2 * time.Microsecond, 4 * time.Microsecond, 4 * time.Microsecond}, 4},
		{"a cancelled context ends the retries without a log of its failure", 10, 3, context.Canceled,
			[]time.Duration{time.Microsecond, 2 * time.Microsecond}, -1},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			attempts, recovered := 0, -1
			var waits []time.Duration
			var ns []int
			err := Do(ctx, b, func() error {
				attempts++
				if attempts == tc.cancelAfter {
					cancel()
				}
				if attempts <= tc.failures {
					return boom
				}
				return nil
			}, func(n int, wait time.Duration, err error) {
				if err != boom {
					t.Errorf("failed got %v", err)
				}
				ns = append(ns, n)
				waits = append(waits, wait)
			}, func(n int) { recovered = n })
			if !errors.Is(err, tc.wantErr) || (tc.wantErr == nil && err != nil) {
				t.Fatalf("Do = %v, want %v", err, tc.wantErr)
			}
			if !slices.Equal(waits, tc.wantWaits) {
				t.Errorf("waits %v, want %v", waits, tc.wantWaits)
			}
			for i, n := range ns {
				if n != i {
					t.Errorf("failure %d reported as n=%d", i, n)
				}
			}
			if recovered != tc.wantRecovered {
				t.Errorf("recovered(%d), want %d", recovered, tc.wantRecovered)
			}
		})
	}
}
