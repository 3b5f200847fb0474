// Command estest runs the Elasticsearch-compatible test server of package
// estest as a process, so scenario tests and people can point logspool at
// it, with an admin API on a second port to inject faults and read counts.
//
//	estest -addr 127.0.0.1:9200 -admin-addr 127.0.0.1:9201 -flavor es7
//	curl -XPOST localhost:9201/faults -d '{"kind":"status","status":429,"count":3}'
//	curl 'localhost:9201/count?index=logs-*'
//	estest -fault '{"kind":"reset-after-store","fraction":0.05}' -fault '{"kind":"item-status","fraction":0.02}'
//
// On start it prints one JSON line to stdout: {"url":...,"admin":...,
// "ca":...,"client_cert":...,"client_key":...}. SIGINT or SIGTERM stops it.
package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"github.com/logspool/logspool/shipper/estest"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, os.Args[1:], os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, "estest:", err)
		os.Exit(1)
	}
}

// run serves until ctx ends, printing the JSON line of addresses to out.
func run(ctx context.Context, args []string, out io.Writer) error {
	fs := flag.NewFlagSet("estest", flag.ContinueOnError)
	addr := fs.String("addr", "127.0.0.1:9200", "listen address of the Elasticsearch API")
	adminAddr := fs.String("admin-addr", "127.0.0.1:9201", "listen address of the admin API (empty: none)")
	flavor := fs.String("flavor", "es8", "es8, es7, os2 or os1")
	version := fs.String("version", "", "version number reported by GET / (default: the flavour's)")
	user := fs.String("user", "", "require basic auth with this user")
	password := fs.String("password", "", "password for -user")
	apiKey := fs.String("api-key", "", "accept this API key (id:key)")
	tlsDir := fs.String("tls-dir", "", "serve HTTPS with certificates generated into this directory")
	mtls := fs.Bool("mtls", false, "require a client certificate (with -tls-dir)")
	discard := fs.Bool("discard", false, "keep ids only, not documents (bounded memory)")
	noBuiltin := fs.Bool("no-builtin-templates", false, "do not install the logs/metrics/synthetics templates")
	seed := fs.Int64("seed", 1, "seed of fractional faults")
	debug := fs.Bool("debug", false, "log every request")
	var faults []estest.Fault
	fs.Func("fault", `inject a fault at start, as admin API JSON, e.g. '{"kind":"status","status":429,"fraction":0.1}' (repeatable)`, func(v string) error {
		var spec estest.FaultSpec
		dec := json.NewDecoder(strings.NewReader(v))
		dec.DisallowUnknownFields()
		if err := dec.Decode(&spec); err != nil {
			return fmt.Errorf("decoding fault %q: %w", v, err)
		}
		f, err := spec.Fault()
		if err != nil {
			return err
		}
		faults = append(faults, f)
		return nil
	})
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return nil
		}
		return err
	}
	f, err := estest.ParseFlavor(*flavor)
	if err != nil {
		return err
	}
	level := slog.LevelInfo
	if *debug {
		level = slog.LevelDebug
	}
	logger := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: level}))
	opts := estest.Options{
		Flavor: f, Version: *version, Username: *user, Password: *password, APIKey: *apiKey,
		RequireClientCert: *mtls, Discard: *discard, NoBuiltinTemplates: *noBuiltin, Seed: *seed, Logger: logger,
	}
	addrs := map[string]string{}
	if *tlsDir != "" {
		certs, err := estest.GenerateCerts(*tlsDir)
		if err != nil {
			return err
		}
		if opts.TLS, err = certs.ServerTLSConfig(*mtls); err != nil {
			return err
		}
		addrs["ca"], addrs["client_cert"], addrs["client_key"] = certs.CAFile, certs.ClientCert, certs.ClientKey
		addrs["ca_fingerprint"] = certs.CAFingerprint
	}
	s, err := estest.StartOn(opts, *addr)
	if err != nil {
		return err
	}
	defer s.Close()
	for _, f := range faults {
		s.InjectFault(f)
	}
	addrs["url"] = s.URL()

	var admin *http.Server
	adminDone := make(chan error, 1)
	if *adminAddr != "" {
		ln, err := net.Listen("tcp", *adminAddr)
		if err != nil {
			return fmt.Errorf("listening for the admin API on %s: %w", *adminAddr, err)
		}
		admin = &http.Server{Handler: s.AdminHandler(), ReadHeaderTimeout: 10 * time.Second}
		go func() { adminDone <- admin.Serve(ln) }()
		addrs["admin"] = "http://" + ln.Addr().String()
	}
	line, _ := json.Marshal(addrs)
	if _, err := fmt.Fprintln(out, string(line)); err != nil {
		return fmt.Errorf("printing addresses: %w", err)
	}

	select {
	case <-ctx.Done():
	case err := <-adminDone:
		if !errors.Is(err, http.ErrServerClosed) {
			return fmt.Errorf("serving the admin API: %w", err)
		}
	}
	if admin != nil {
		sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = admin.Shutdown(sctx)
	}
	return nil
}
