# Sane — the two commands of the README, and a few more.
#   make demo   build (release) and run the whole method on the embedded digits data
#   make test   run the test suite
SWIFT ?= swift
RELEASE = .build/release/sane

.PHONY: demo test test-long build deps bench clean

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

clean:
	rm -rf .build
