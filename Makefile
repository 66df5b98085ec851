# The two quick-start commands are `make demo` and `make test`; the scripts
# they run install what is missing and stop what they start.
.PHONY: test demo bench fuzz

test:
	./scripts/test.sh

demo:
	./scripts/demo.sh

bench:
	./scripts/bench.sh

# Long fuzzing on a developer machine: make fuzz FUZZTIME=5m
fuzz:
	FUZZTIME=$${FUZZTIME:-1m} ./scripts/test.sh
