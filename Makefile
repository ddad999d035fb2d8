# The two commands of the README:
#   make run   - the main job: build portcullis and run it on the bundled examples
#   make test  - every test, the conformance suites included
GO ?= go
BIN := bin/portcullis

.PHONY: build run test bench conformance clean

build:
	$(GO) build -o $(BIN) ./cmd/portcullis

run: build
	./$(BIN) test examples/
	./$(BIN) apply -p examples/kyverno/policies -r examples/kyverno/resources.yaml; test $$? -le 1

test:
	$(GO) vet ./...
	$(GO) test -count=1 ./...

bench:
	$(GO) test -run '^$$' -bench . -benchmem ./...

conformance: build
	./$(BIN) test -o json ../shared/conformance/kyverno > /tmp/portcullis-conformance.json; true
	@echo "results in /tmp/portcullis-conformance.json"

clean:
	rm -rf bin
