# The two commands of the README:
#   make run   - the main job: `portcullis up`, a local control plane with the example policies
#   make test  - every test, the conformance suites included
GO ?= go
BIN := bin/portcullis

# The real cosign CLI signs images in the image tests, and crane serves a
# registry in the end-to-end suite; both are built from the Go module proxy.
COSIGN_VERSION := v2.6.5
CRANE_VERSION := v0.22.1
TOOLS := $(CURDIR)/bin/tools
export COSIGN := $(TOOLS)/cosign
export CRANE := $(TOOLS)/crane

.PHONY: build run test unit e2e bench load conformance clean tools

build:
	$(GO) build -o $(BIN) ./cmd/portcullis

run: build
	./$(BIN) up

test: unit e2e

tools: $(COSIGN) $(CRANE)

$(COSIGN):
	GOBIN=$(TOOLS) $(GO) install github.com/sigstore/cosign/v2/cmd/cosign@$(COSIGN_VERSION)

$(CRANE):
	GOBIN=$(TOOLS) $(GO) install github.com/google/go-containerregistry/cmd/crane@$(CRANE_VERSION)

unit: tools
	$(GO) vet ./...
	$(GO) test -count=1 ./...

# The end-to-end suite builds kube-apiserver and etcd from the Go module proxy
# (cached in ~/.cache/portcullis), then drives them with portcullis and kubectl.
e2e: tools
	PORTCULLIS_E2E=1 $(GO) test -count=1 ./internal/localcluster ./internal/controller
	cd test/e2e && $(GO) vet ./... && $(GO) test -count=1 -timeout 25m ./...

load:
	hack/load.sh

bench:
	$(GO) test -run '^$$' -bench . -benchmem ./...

conformance: build
	./$(BIN) test -o json ../shared/conformance/kyverno > /tmp/portcullis-conformance.json; true
	@echo "results in /tmp/portcullis-conformance.json"

clean:
	rm -rf bin
