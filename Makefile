# The two commands: `make run` and `make test`. See README.md. `make load` measures
# (docs/performance.md, "How to measure"); it is not part of `make test`.

GO ?= go
# staticcheck 2026.2.2; `go list -m -versions honnef.co/go/tools` lists newer ones.
STATICCHECK ?= honnef.co/go/tools/cmd/staticcheck@v0.8.2

# The PostgreSQL suites run when this is set (an empty value skips them); when it is
# set and the server cannot be reached, they fail.
CUSTODIAN_TEST_POSTGRES_URL ?= postgres://postgres@127.0.0.1:5432/postgres?sslmode=disable

.PHONY: run test lint bench build load

run:
	$(GO) run ./cmd/custodian serve --demo

# The browser suite (TestBrowserPages, browsertest) needs Chromium (`apt-get install
# chromium`; it fails without one, it never skips) and axe-core, installed from the
# lock file below.
AXE_DIR := templates/browsertest/testdata

test: $(AXE_DIR)/node_modules
	CUSTODIAN_TEST_POSTGRES_URL='$(CUSTODIAN_TEST_POSTGRES_URL)' $(GO) test -race -count=1 -timeout 30m ./...

$(AXE_DIR)/node_modules: $(AXE_DIR)/package.json $(AXE_DIR)/package-lock.json
	cd $(AXE_DIR) && npm ci --no-audit --no-fund
	touch $@

lint:
	$(GO) vet ./...
	$(GO) run $(STATICCHECK) ./...

bench:
	$(GO) test -run '^$$' -bench . -benchmem ./...

# -buildvcs=auto stamps the git commit for `custodian version` even where GOFLAGS turns
# stamping off.
build:
	$(GO) build -trimpath -buildvcs=auto -o bin/custodian ./cmd/custodian

# The load harness (cmd/custodian-load): Custodian on SQLite and, when
# CUSTODIAN_TEST_POSTGRES_URL is set (empty skips it), on PostgreSQL, against a trivial
# handler and the one-write and one-read floors. Loopback only; stops by itself.
# Flags through LOAD_FLAGS, e.g. make load LOAD_FLAGS='-duration 30s -json load.json'.
LOAD_FLAGS ?=

load:
	$(GO) build -o bin/custodian ./cmd/custodian
	$(GO) build -o bin/custodian-load ./cmd/custodian-load
	CUSTODIAN_TEST_POSTGRES_URL='$(CUSTODIAN_TEST_POSTGRES_URL)' bin/custodian-load -custodian bin/custodian $(LOAD_FLAGS)
