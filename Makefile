# swarmrun — see README.md.
SHELL    := /bin/bash
export PATH := /usr/local/go/bin:$(PATH)
GO       ?= go
BIN      := bin/swarmrun
VERSION  := $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)
LDFLAGS  := -s -w -X main.version=$(VERSION)
LAB_DIR  ?= /var/lib/swarmrun-lab

.PHONY: build install test race fuzz oracle e2e check lint demo demo-down bench-build bench bench-quick bench-smoke docs clean

build:
	$(GO) build -trimpath -ldflags '$(LDFLAGS)' -o $(BIN) ./cmd/swarmrun

install:
	$(GO) install -trimpath -ldflags '$(LDFLAGS)' ./cmd/swarmrun

# The bench is its own Go module (cmd/swarmrun-bench/go.mod), so that its
# chart library stays out of swarmrun's go.mod; ./... does not reach it.
BENCH_MOD := cmd/swarmrun-bench

# Unit and connection tests: seconds.
test:
	$(GO) test -short ./...
	$(GO) -C $(BENCH_MOD) test -short ./...

# The inventory, vault and ansible.cfg against Ansible's own tools (ansible-inventory, ansible-vault, ansible-config): tens of seconds.
oracle:
	$(GO) test -count=1 -run Oracle ./inventory/ ./vault/ ./cmd/swarmrun/

# End-to-end tests: real binary against real sshd/dockerd lab hosts (root).
e2e: build
	$(GO) test -tags e2e -count=1 -timeout 80m -parallel 3 -v ./cmd/swarmrun/e2e/ 2>&1 | tee e2e.log | grep -E '^(=== RUN|--- |PASS|FAIL|ok|panic)' ; test $${PIPESTATUS[0]} -eq 0

# What CI runs (README's test command): lint, unit tests (also under the
# race detector), every fuzz target briefly, end to end.
check: lint test race fuzz oracle e2e

race:
	$(GO) test -race -short ./...

# Each fuzz target for FUZZTIME; the seed corpus is in */testdata/fuzz/.
FUZZTIME ?= 10s
FUZZ     := inventory:FuzzINI inventory:FuzzYAML inventory:FuzzPattern inventory:FuzzExtraVars \
            inventory:FuzzPyLiteral modules/stack:FuzzComposeLoad modules:FuzzDaemonJSONMerge
# A failure shows the whole output (the failing input, or why a worker died).
fuzz:
	@set -e; for t in $(FUZZ); do echo "fuzz $$t"; \
	  out=$$($(GO) test -run '^$$' -fuzz "^$${t#*:}$$" -fuzztime $(FUZZTIME) ./$${t%%:*}/ 2>&1) || { echo "$$out"; exit 1; }; \
	  echo "$$out" | tail -n 2; done

lint:
	@test -z "$$(gofmt -l $$(git ls-files '*.go'))" || { gofmt -l $$(git ls-files '*.go'); echo "gofmt needed"; exit 1; }
	$(GO) vet ./...
	$(GO) -C $(BENCH_MOD) vet ./...
	$(GO) vet -tags e2e ./cmd/swarmrun/e2e/

# The quick start: installs what it needs (as .ci/run does), then three
# fresh hosts (clean Debian, systemd, sudo user, no Docker) and the flagship
# playbook against them: fresh hosts to a running swarm.
DEMO_DISTRO ?= debian-13
demo:
	@bash .ci/install
	@$(MAKE) --no-print-directory build
	@mkdir -p playbooks/secrets
	@test -s playbooks/secrets/web_api_key || (umask 077; head -c 18 /dev/urandom | base64 > playbooks/secrets/web_api_key)
	./$(BIN) lab status --dir $(LAB_DIR) >/dev/null 2>&1 || ./$(BIN) lab up --fresh --distro $(DEMO_DISTRO) --hosts 3 --dir $(LAB_DIR)
	./$(BIN) play playbooks/site.star -i $(LAB_DIR)/inventory
	@echo
	@echo "Look at it:  ./$(BIN) lab status --dir $(LAB_DIR)"
	@echo "             ./$(BIN) lab ssh --dir $(LAB_DIR) h1            # admin, with sudo; Debian 13 has no docker CLI"
	@echo '             for h in 11 12 13; do curl -s http://198.18.0.$$h:8080/; echo; done   # 2 replicas answer'
	@echo "Reboot it:   ./$(BIN) lab reboot --dir $(LAB_DIR) h1 h2 h3"
	@echo "Tear down:   make demo-down"

demo-down: build
	./$(BIN) lab down --dir $(LAB_DIR)

bench-build:
	$(GO) -C $(BENCH_MOD) build -trimpath -o $(CURDIR)/bin/swarmrun-bench .

bench: build bench-build
	./bin/swarmrun-bench

bench-quick: build bench-build
	./bin/swarmrun-bench --quick

# The report writer and chart on made-up numbers, no lab: into bin/.
bench-smoke: bench-build
	./bin/swarmrun-bench --synthetic --out bin/BENCHMARKS-synthetic.md --chart bin/bench-synthetic.png

docs: build
	./$(BIN) doc --markdown > docs/modules.md

clean:
	rm -rf bin e2e.log
