# novalet — see README.md. Every target runs as root on Debian 12 unless noted.
GO       ?= $(shell command -v go 2>/dev/null || echo /usr/local/go/bin/go)
VERSION  ?= $(shell git describe --always --dirty 2>/dev/null || echo dev)
LDFLAGS  := -X main.version=$(VERSION)
GUEST_DIR ?= .cache/guest

.PHONY: build deb test test-unit lint deps parts parts-stop guest demo demo-stop purge controlplane controlplane-stop e2e bench bench-scale fuzz faults soak clean

## build: bin/novalet
build:
	$(GO) build -ldflags "$(LDFLAGS)" -o bin/novalet ./cmd/novalet

## deb: bin/novalet_<version>_<arch>.deb (dpkg-deb; scripts/deb.sh says what goes in).
deb:
	bash scripts/deb.sh bin

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

## parts / parts-stop: RabbitMQ on 127.0.0.1 and libvirtd + virtlogd, started by hand (the
## packages first: on a fresh machine `make controlplane` and `make bench` come this way).
parts: deps
	bash scripts/parts.sh start
parts-stop:
	bash scripts/parts.sh stop

## guest: the tiny CirrOS-like test guest (qcow2) from Debian packages.
guest:
	bash guest/build-guest-image.sh $(GUEST_DIR)

## demo: the main job (see README): control plane + novalet registered as this host's
## nova-compute, left running; demo-stop ends them by their recorded PIDs.
demo:
	bash scripts/demo.sh start
demo-stop:
	bash scripts/demo.sh stop

## purge: back to a machine where nothing has run (see README): stops the demo, the control
## plane and the parts by their recorded PIDs, drops the databases and queues, removes
## compute_id, instances, _base, the guest cache and the demo's state. Packages stay.
purge:
	bash scripts/purge.sh

## controlplane: install and start the project's single-node Zed control plane.
controlplane: parts
	bash controlplane/install.sh
	bash controlplane/start.sh
controlplane-stop:
	bash controlplane/stop.sh

## e2e: the end-to-end tests against a running control plane (`make controlplane` first).
e2e:
	E2E_TIMEOUT=75m bash scripts/e2e.sh

## bench: novalet beside Debian's nova-compute on the control plane, as ratios.
bench: controlplane
	bash bench/run.sh
	bash bench/soak.sh

## faults: the fault suite alone (e2e TestFaults; `make test` runs it too): kill -9 at each
## step of build/delete/stop/reboot/suspend, a second novalet, SIGTERM during five builds,
## libvirtd SIGSTOPped; prints the table case | settled states | leaks found.
faults: controlplane
	$(GO) test -count=1 -p 1 -timeout 60m -tags e2e -run '^TestFaults$$' ./e2e/; rc=$$?; cat .cache/faults.txt 2>/dev/null; exit $$rc

## soak: 100 networked create/delete cycles, 10 at a time, with the leak census after each
## batch; the table goes to bench/results (SOAK_CYCLES sets the count).
soak: controlplane
	bash bench/soak.sh

## bench-scale: N novalet and K Debian nova-compute fake-driver nodes on the running control plane.
bench-scale:
	bash bench/scale.sh

## fuzz: each fuzz target for FUZZTIME (default 20s).
fuzz:
	bash scripts/fuzz.sh

clean:
	rm -rf bin
