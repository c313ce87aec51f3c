# concourse-ci-machine: build, pack and test the charm. Needs Go (see go.mod) and nothing else;
# `make charm` does not need charmcraft.
GO      ?= go
ARCH    ?= $(shell $(GO) env GOARCH)
VERSION ?= $(shell git describe --always --dirty 2>/dev/null || echo dev)
CHARM   := concourse-ci-machine_$(ARCH).charm
LDFLAGS := -s -w -X main.version=$(VERSION)

.PHONY: all build build-all charm hooks reference test test-short lint bench demo clean

all: charm

# The charm binary: static, reproducible paths, version stamped. GOARCH=arm64 works the same.
build:
	CGO_ENABLED=0 GOOS=linux GOARCH=$(ARCH) $(GO) build -trimpath -ldflags '$(LDFLAGS)' \
		-o build/$(ARCH)/dispatch ./cmd/concourse-charm

build-all:
	$(MAKE) build ARCH=amd64
	$(MAKE) build ARCH=arm64

# charmpack runs here, on the build machine: never cross-compile it with the charm's GOARCH.
charm: build
	env -u GOARCH -u GOOS $(GO) run ./cmd/charmpack -src . -dispatch build/$(ARCH)/dispatch -arch $(ARCH) \
		-version $(VERSION) -o $(CHARM)
	@echo "packed $(CHARM)"

# Refresh hooks/ (symlinks to ../dispatch, used by `charmcraft pack`) after editing metadata.yaml.
hooks:
	env -u GOARCH -u GOOS $(GO) run ./cmd/charmpack -src . -link-hooks hooks

# docs/reference.md from config.yaml and actions.yaml: run it after adding or changing an option or an
# action (tests/reference_test.go fails until you do, and refuses one without a description).
reference:
	env -u GOARCH -u GOOS $(GO) run ./cmd/docgen

# The e2e package boots dozens of nspawn machines; its tests mostly wait on hooks and machines, so
# four run at once even on 2 cores, and the package gets more than go test's default 10 minutes.
test:
	$(GO) test -count=1 -timeout 25m -parallel 4 ./...

test-short:
	$(GO) test -short -count=1 ./...

lint:
	@out=$$(gofmt -l $$(git ls-files '*.go')); if [ -n "$$out" ]; then echo "gofmt needed:"; echo "$$out"; exit 1; fi
	$(GO) vet ./...
	$(GO) tool staticcheck ./...

# Speed and memory goals live here, not in timed tests. RELEASE_BENCH_MB sets the synthetic release size;
# HOOKCOST_RUNS the runs of each update-status figure (tests/hookcost).
bench:
	@mkdir -p build && rm -f build/bench-figures.jsonl
	BENCH_FIGURES=$(CURDIR)/build/bench-figures.jsonl RELEASE_BENCH_MB=$${RELEASE_BENCH_MB:-512} \
		$(GO) test -run '^$$' -bench . -benchtime 1x -count 1 ./internal/... ./tests/sharedinstall/ ./tests/hookcost/
	@# The rolling upgrade's figures come from its end-to-end test on nspawn machines (about 3 min).
	BENCH_FIGURES=$(CURDIR)/build/bench-figures.jsonl $(GO) test -run '^TestRollingUpgrade$$' -count 1 -timeout 15m ./tests/e2e/
	$(GO) run ./cmd/benchtable build/bench-figures.jsonl

# A local deployment through the simulator: 3 units on one shared directory, stand-in Concourse,
# PostgreSQL. As root; installs the machine prerequisites and PostgreSQL itself, as .ci/run does.
demo: charm
	@echo "==> preparing the host: nspawn machines (debootstrap, systemd-container, a Debian rootfs)"
	bash .ci/machines.sh
	@bash -c 'compgen -G "/usr/lib/postgresql/*/bin/initdb" >/dev/null' || { \
		echo "==> installing PostgreSQL server binaries (apt-get)"; \
		DEBIAN_FRONTEND=noninteractive apt-get update -q && DEBIAN_FRONTEND=noninteractive apt-get install -y -q postgresql; }
	$(GO) run ./tests/demo --charm $(CHARM) $(DEMO_FLAGS)

clean:
	rm -rf build *.charm
