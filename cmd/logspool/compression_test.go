package main

import (
	"log/slog"
	"strings"
	"testing"

	"github.com/urfave/cli/v2"

	"github.com/logspool/logspool/shipper"
)

// TestESCompressionReachesTheShipper: --es-compression (and its environment
// variable) set the shipper's Compression; a value the shipper does not
// know stops the start with an error naming it.
func TestESCompressionReachesTheShipper(t *testing.T) {
	tests := []struct {
		name    string
		env     string
		args    []string
		want    string
		wantErr string
	}{
		{name: "the default is gzip", want: shipper.CompressionGzip},
		{name: "a flag picks the mode", args: []string{"--es-compression", "gzip-stateless"}, want: shipper.CompressionGzipStateless},
		{name: "the environment picks the mode", env: "none", want: shipper.CompressionNone},
		{name: "a gzip level", args: []string{"--es-compression", "gzip-6"}, want: "gzip-6"},
		{name: "an unknown mode is refused", args: []string{"--es-compression", "zstd"}, wantErr: "--es-compression"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if tc.env != "" {
				t.Setenv("LOGSPOOL_ES_COMPRESSION", tc.env)
			}
			var cfg shipper.Config
			var cfgErr error
			err := parseRun(t, append([]string{"--es-url", "http://es:9200"}, tc.args...), func(c *cli.Context) {
				cfg, cfgErr = outputConfig(c, "node-1", slog.New(slog.DiscardHandler))
			})
			if err != nil {
				t.Fatal(err)
			}
			if tc.wantErr != "" {
				if cfgErr == nil || !strings.Contains(cfgErr.Error(), tc.wantErr) {
					t.Fatalf("err = %v, want one naming %s", cfgErr, tc.wantErr)
				}
				return
			}
			if cfgErr != nil || cfg.Compression != tc.want {
				t.Fatalf("Compression = %q (err %v), want %q", cfg.Compression, cfgErr, tc.want)
			}
		})
	}
}
