# Sane — the two commands of the README, and a few more.
#   make demo   build (release) and run the whole method on the embedded digits data
#   make test   run the test suite
SWIFT ?= swift
RELEASE = .build/release/sane

.PHONY: demo test test-long build deps bench clean mpi mpi-deps mpi-test

# System libraries: OpenBLAS (GEMM), zlib (.gz datasets) and libjpeg-turbo (the CIFAR-10 JPEG copy).
# Installed with apt when missing.
deps:
	@if [ ! -e /usr/include/cblas.h ] && [ ! -e /usr/include/x86_64-linux-gnu/cblas.h ] && [ ! -e /usr/include/openblas/cblas.h ] \
	   || [ ! -e /usr/include/zlib.h ] || [ ! -e /usr/include/jpeglib.h ]; then \
	  echo "installing libopenblas-dev zlib1g-dev libjpeg62-turbo-dev (apt)"; \
	  SUDO=$$( [ "$$(id -u)" = 0 ] || echo sudo ); \
	  $$SUDO apt-get update -qq && $$SUDO apt-get install -y -qq libopenblas-dev zlib1g-dev libjpeg62-turbo-dev >/dev/null; \
	fi

build: deps
	$(SWIFT) build -c release --product sane

demo: build
	$(RELEASE) demo

# Tests run optimized (-c release with testing enabled): numerical tests that evaluate real zoo
# checkpoints take seconds optimized and many minutes in a debug build.
TESTFLAGS = -c release -Xswiftc -enable-testing --disable-swift-testing
test: deps
	$(SWIFT) test $(TESTFLAGS)

# Longer checks (all shared zoos, full evaluations); see README.
test-long: deps
	SANE_LONG_TESTS=1 $(SWIFT) test $(TESTFLAGS)

bench: build
	$(RELEASE) bench gemm
	$(RELEASE) bench sane-step

# Optional MPI build (Documentation/Distributed.md): Open MPI from apt when missing, then an
# MPI-enabled sane in its own build folder, .build/mpi/release/sane. The targets above never need it.
MPI_BUILD = .build/mpi
MPI_SANE = $(MPI_BUILD)/release/sane
mpi-deps:
	@if ! pkg-config --exists mpi-c 2>/dev/null || ! command -v mpirun >/dev/null; then \
	  echo "installing libopenmpi-dev openmpi-bin pkg-config (apt)"; \
	  SUDO=$$( [ "$$(id -u)" = 0 ] || echo sudo ); \
	  $$SUDO apt-get update -qq && $$SUDO apt-get install -y -qq libopenmpi-dev openmpi-bin pkg-config >/dev/null; \
	fi

mpi: deps mpi-deps
	SANE_MPI=1 $(SWIFT) build -c release --product sane --scratch-path $(MPI_BUILD)

# Multi-rank tests: XCTest cases that run $(MPI_SANE) under mpirun (they skip without it).
mpi-test: mpi
	SANE_MPI_SANE=$(abspath $(MPI_SANE)) $(SWIFT) test $(TESTFLAGS) --filter MPITests

clean:
	rm -rf .build
