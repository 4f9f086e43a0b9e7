# novalet — see README.md. Every target runs as root on Debian 12 unless noted.
GO       ?= $(shell command -v go 2>/dev/null || echo /usr/local/go/bin/go)
VERSION  ?= $(shell git describe --always --dirty 2>/dev/null || echo dev)
LDFLAGS  := -X main.version=$(VERSION)
GUEST_DIR ?= .cache/guest

.PHONY: build test test-unit lint deps parts parts-stop guest demo fuzz clean

## build: bin/novalet
build:
	$(GO) build -ldflags "$(LDFLAGS)" -o bin/novalet ./cmd/novalet

## test: every tier — installs what is missing, builds the test guest, starts RabbitMQ and
## libvirtd by hand, runs unit + component + wire tests and the fuzz targets, stops the parts.
test:
	bash scripts/test.sh

## test-unit: the fast loop; no root, no services.
test-unit:
	$(GO) test -count=1 ./...

## lint: gofmt, go vet (both tiers), staticcheck when it installs cleanly.
lint:
	bash scripts/lint.sh

## deps: the Debian packages the tests and the agent need.
deps:
	bash scripts/install-deps.sh

## parts / parts-stop: RabbitMQ on 127.0.0.1 and libvirtd + virtlogd, started by hand.
parts:
	bash scripts/parts.sh start
parts-stop:
	bash scripts/parts.sh stop

## guest: the tiny CirrOS-like test guest (qcow2) from Debian packages.
guest:
	bash guest/build-guest-image.sh $(GUEST_DIR)

## demo: the main job, as far as it goes today (see README).
demo: build
	bash scripts/demo.sh

## fuzz: each fuzz target for FUZZTIME (default 20s).
fuzz:
	bash scripts/fuzz.sh

clean:
	rm -rf bin
