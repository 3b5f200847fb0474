# logspool: build, test, bench, lint, install.
GO       ?= go
BIN      ?= bin/logspool
VERSION  ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)
LDFLAGS  := -s -w -X main.version=$(VERSION)
PREFIX   ?= /usr/local
DESTDIR  ?=

.PHONY: all build test test-race bench lint fmt install clean

all: build

build:
	CGO_ENABLED=0 $(GO) build -trimpath -ldflags '$(LDFLAGS)' -o $(BIN) ./cmd/logspool

# The README's test command. Also what .ci/run calls.
test: lint
	$(GO) test -count=1 -timeout 20m ./...

test-race:
	$(GO) test -count=1 -race -timeout 30m ./...

bench: build
	$(GO) test -run '^$$' -bench . -benchmem -benchtime 2s ./...

lint:
	@out=$$(gofmt -l $$(git ls-files '*.go' 2>/dev/null || find . -name '*.go')); \
	if [ -n "$$out" ]; then echo "gofmt needed:"; echo "$$out"; exit 1; fi
	$(GO) vet ./...

fmt:
	gofmt -w $$(git ls-files '*.go')

install: build
	install -D -m 0755 $(BIN) $(DESTDIR)$(PREFIX)/bin/logspool

clean:
	rm -rf bin
