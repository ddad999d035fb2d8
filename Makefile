# The two commands of the README:
#   make run   - the main job: `portcullis up`, a local control plane with the example policies
#   make test  - every test, the conformance suites included
GO ?= go
BIN := bin/portcullis

.PHONY: build run test unit e2e bench conformance clean

build:
	$(GO) build -o $(BIN) ./cmd/portcullis

run: build
	./$(BIN) up

test: unit e2e

unit:
	$(GO) vet ./...
	$(GO) test -count=1 ./...

# The end-to-end suite builds kube-apiserver and etcd from the Go module proxy
# (cached in ~/.cache/portcullis), then drives them with portcullis and kubectl.
e2e:
	PORTCULLIS_E2E=1 $(GO) test -count=1 ./internal/localcluster ./internal/controller
	cd test/e2e && $(GO) vet ./... && $(GO) test -count=1 -timeout 25m ./...

bench:
	$(GO) test -run '^$$' -bench . -benchmem ./...

conformance: build
	./$(BIN) test -o json ../shared/conformance/kyverno > /tmp/portcullis-conformance.json; true
	@echo "results in /tmp/portcullis-conformance.json"

clean:
	rm -rf bin
