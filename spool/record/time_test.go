package record

import (
	"testing"
	"time"
)

func TestAppendRFC3339MatchesTime(t *testing.T) {
	layouts := map[int]string{
		1: "2006-01-02T15:04:05.0Z07:00",
		6: "2006-01-02T15:04:05.000000Z07:00",
		9: "2006-01-02T15:04:05.000000000Z07:00",
	}
	for _, ns := range []int64{0, 1, -1, 951782400123456789, 1730000000999999999, -2208988800000000001, 253402300799999999999 / 1000, -62135596800000000000 / 1000} {
		for digits, layout := range layouts {
			sec, nsec := ns/1e9, ns%1e9
			if nsec < 0 {
				sec, nsec = sec-1, nsec+1e9
			}
			got := string(AppendRFC3339(nil, sec, nsec, digits))
			want := time.Unix(sec, nsec).UTC().Format(layout)
			if got != want {
				t.Errorf("AppendRFC3339(%d, %d, %d) = %s, want %s", sec, nsec, digits, got, want)
			}
		}
	}
}
