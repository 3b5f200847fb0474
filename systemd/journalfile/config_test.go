package journalfile

import (
	"errors"
	"testing"

	"github.com/logspool/logspool/internal/configerr"
)

func TestConfigValidateNamesTheBadField(t *testing.T) {
	tests := []struct {
		name  string
		cfg   Config
		field string // "" means valid
	}{
		{"the zero value is valid", Config{}, ""},
		{"explicit sane values are valid", Config{MaxFieldSize: 1 << 20, WindowSize: 32 << 10, Windows: 8, VerifyData: true}, ""},
		{"a negative field limit is refused", Config{MaxFieldSize: -1}, "MaxFieldSize"},
		{"a window that is not a power of two is refused", Config{WindowSize: 100000}, "WindowSize"},
		{"a window below 16 KiB is refused", Config{WindowSize: 8 << 10}, "WindowSize"},
		{"a window above 16 MiB is refused", Config{WindowSize: 32 << 20}, "WindowSize"},
		{"a negative window count is refused", Config{Windows: -1}, "Windows"},
		{"more than 64 windows are refused", Config{Windows: 65}, "Windows"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.cfg.Validate()
			if tt.field == "" {
				if err != nil {
					t.Fatalf("Validate: %v", err)
				}
				return
			}
			var ce *configerr.Error
			if !errors.As(err, &ce) || ce.Field != tt.field || !errors.Is(err, ErrInvalidConfig) {
				t.Fatalf("Validate: %v, want an error naming %s", err, tt.field)
			}
			if _, err := OpenConfig(corpusPath("binary.journal"), tt.cfg); err == nil {
				t.Fatalf("OpenConfig accepted an invalid Config")
			}
		})
	}
}
