//go:build !linux

package spool

// trimMappings is a no-op outside Linux; see trim_linux.go.
func trimMappings(string) int64 { return 0 }
