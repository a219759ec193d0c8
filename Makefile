# scrim — see README.md. `make run` starts it, `make test` runs every suite.

CC      ?= cc
PKGS    := yaml-0.1 libpcre2-8 libsodium libssl libcrypto libevent libevent_openssl \
           libevent_pthreads libcurl libdeflate
PKG_CFLAGS := $(shell pkg-config --cflags $(PKGS) 2>/dev/null)
PKG_LIBS   := $(shell pkg-config --libs $(PKGS) 2>/dev/null)
TEST_PKG_CFLAGS := $(shell pkg-config --cflags cmocka jansson 2>/dev/null)
TEST_PKG_LIBS   := $(shell pkg-config --libs cmocka jansson 2>/dev/null)

# llhttp (Node's strict HTTP parser) is compiled from Debian's node-llhttp
# sources at build time; it is never copied into this repository.
LLHTTP_DIR ?= /usr/share/llhttp
LLHTTP_INC ?= /usr/share/include/llhttp
LLHTTP_SRC := llhttp.c api.c http.c
CFLAGS_LLHTTP := -std=c11 -O2 -g -I$(LLHTTP_INC) -w

WARN    := -Wall -Wextra -Wshadow -Wstrict-prototypes -Wmissing-prototypes -Wformat=2 \
           -Wno-format-nonliteral -Werror
CSTD    := -std=c11 -D_GNU_SOURCE
OPT     ?= -O2 -g
CFLAGS_ALL := $(CSTD) $(OPT) $(WARN) -I. -I$(LLHTTP_INC) $(PKG_CFLAGS) $(EXTRA_CFLAGS)
SAN     := -fsanitize=address,undefined -fno-sanitize-recover=all -fno-omit-frame-pointer

CONFORMANCE ?= $(abspath ../shared/conformance)


LIB_SRC  := $(sort $(wildcard common/*.c rules/*.c crypto/*.c)) \
            $(filter-out proxy/main.c,$(sort $(wildcard proxy/*.c)))
MAIN_SRC := proxy/main.c
UNIT_SRC := $(sort $(wildcard tests/unit/test_*.c))
UNIT_HELPERS := $(filter-out $(UNIT_SRC),$(wildcard tests/unit/*.c))
FUZZ_SRC := $(sort $(wildcard tests/fuzz/fuzz_*.c))

B        := build
LIB_OBJ  := $(LIB_SRC:%.c=$(B)/obj/%.o) $(LLHTTP_SRC:%.c=$(B)/obj/llhttp/%.o)
ASAN_OBJ := $(LIB_SRC:%.c=$(B)/asan/%.o) $(LLHTTP_SRC:%.c=$(B)/asan/llhttp/%.o)
UNIT_BIN := $(UNIT_SRC:tests/unit/%.c=$(B)/tests/%)
ASAN_UNIT_BIN := $(UNIT_SRC:tests/unit/%.c=$(B)/asan/tests/%)
FUZZ_BIN := $(FUZZ_SRC:tests/fuzz/%.c=$(B)/fuzz/%)

SCRIM := $(B)/scrim

.PHONY: all deps scrim test unit unit-asan cli integ e2e e2e-fixtures lint fuzz fuzz-build bench run clean format

all: deps
	@$(MAKE) --no-print-directory scrim

deps:
	@sh scripts/deps.sh

scrim: $(SCRIM)

# V=1 shows the full command lines.
Q := $(if $(V),,@)

$(B)/obj/llhttp/%.o: $(LLHTTP_DIR)/%.c
	@mkdir -p $(dir $@)
	$(Q)$(CC) $(CFLAGS_LLHTTP) -c $< -o $@

$(B)/asan/llhttp/%.o: $(LLHTTP_DIR)/%.c
	@mkdir -p $(dir $@)
	$(Q)$(CC) $(CFLAGS_LLHTTP) $(SAN) -c $< -o $@

$(B)/fuzzobj/llhttp/%.o: $(LLHTTP_DIR)/%.c
	@mkdir -p $(dir $@)
	$(Q)clang $(CFLAGS_LLHTTP) -fsanitize=address,undefined,fuzzer-no-link -c $< -o $@

$(B)/obj/%.o: %.c
	@mkdir -p $(dir $@)
	@$(if $(V),,echo "  CC      $<")
	$(Q)$(CC) $(CFLAGS_ALL) -MMD -MP -c $< -o $@

$(B)/asan/%.o: %.c
	@mkdir -p $(dir $@)
	@$(if $(V),,echo "  CC asan $<")
	$(Q)$(CC) $(CFLAGS_ALL) $(SAN) -O1 -MMD -MP -c $< -o $@

$(B)/libscrim.a: $(LIB_OBJ)
	@rm -f $@
	ar rcs $@ $^

$(B)/libscrim-asan.a: $(ASAN_OBJ)
	@rm -f $@
	ar rcs $@ $^

$(SCRIM): $(B)/obj/proxy/main.o $(B)/libscrim.a
	$(CC) $(OPT) -o $@ $^ $(PKG_LIBS) -lpthread

$(B)/tests/%: tests/unit/%.c $(UNIT_HELPERS) $(B)/libscrim.a
	@mkdir -p $(dir $@)
	@$(if $(V),,echo "  TEST    $@")
	$(Q)$(CC) $(CFLAGS_ALL) $(TEST_PKG_CFLAGS) -Itests/unit -o $@ $< $(UNIT_HELPERS) \
	    $(B)/libscrim.a $(PKG_LIBS) $(TEST_PKG_LIBS) -lpthread

$(B)/asan/tests/%: tests/unit/%.c $(UNIT_HELPERS) $(B)/libscrim-asan.a
	@mkdir -p $(dir $@)
	@$(if $(V),,echo "  TEST    $@")
	$(Q)$(CC) $(CFLAGS_ALL) $(SAN) -O1 $(TEST_PKG_CFLAGS) -Itests/unit -o $@ $< $(UNIT_HELPERS) \
	    $(B)/libscrim-asan.a $(PKG_LIBS) $(TEST_PKG_LIBS) -lpthread

# The suites. Each prints cmocka's or the runner's own summary lines.
test: deps
	@$(MAKE) --no-print-directory unit cli integ e2e-fixtures unit-asan lint

unit: $(UNIT_BIN)
	@sh tests/run-unit.sh "unit" $(CONFORMANCE) $(UNIT_BIN)

unit-asan: $(ASAN_UNIT_BIN)
	@ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 UBSAN_OPTIONS=print_stacktrace=1 \
	    sh tests/run-unit.sh "unit under ASan+UBSan" $(CONFORMANCE) $(ASAN_UNIT_BIN)

cli: $(SCRIM)
	@sh tests/cli/run.sh $(abspath $(SCRIM))

# The real binary on loopback with a recording upstream and real clients.
integ: $(SCRIM)
	@python3 tests/integ/run.py $(abspath $(SCRIM))

# The real SDKs' captured requests (tests/e2e/fixtures) through scrim serve.
e2e-fixtures: $(SCRIM)
	@python3 tests/e2e/run_fixtures.py $(abspath $(SCRIM))

# Re-record with the real SDKs in Chromium (npm + Debian's chromium; Node >= 20),
# then replay the masked stream and screenshot it. E2E_UPDATE=1 commits the
# new recording into tests/e2e/fixtures.
e2e: deps $(SCRIM)
	@sh tests/e2e/record.sh $(abspath $(SCRIM)) $(if $(filter 1,$(E2E_UPDATE)),--update)

lint:
	@sh scripts/lint.sh

format:
	clang-format -i $$(git ls-files '*.c' '*.h')

# libFuzzer targets (clang). The library is built once with fuzzer
# instrumentation; each target links it. FUZZ_SECONDS per target.
FUZZ_SECONDS ?= 30
FUZZ_CFLAGS := $(CSTD) -g -O1 -I. -I$(LLHTTP_INC) $(PKG_CFLAGS) -fsanitize=address,undefined \
               -fno-sanitize-recover=all
FUZZ_OBJ := $(LIB_SRC:%.c=$(B)/fuzzobj/%.o) $(LLHTTP_SRC:%.c=$(B)/fuzzobj/llhttp/%.o)

$(B)/fuzzobj/%.o: %.c
	@mkdir -p $(dir $@)
	@$(if $(V),,echo "  CC fuzz $<")
	$(Q)clang $(FUZZ_CFLAGS) -fsanitize=fuzzer-no-link -c $< -o $@

$(B)/libscrim-fuzz.a: $(FUZZ_OBJ)
	@rm -f $@
	$(Q)ar rcs $@ $^

fuzz-build: deps
	@$(MAKE) --no-print-directory $(FUZZ_BIN)

$(B)/fuzz/%: tests/fuzz/%.c $(wildcard tests/fuzz/*.h) $(B)/libscrim-fuzz.a
	@mkdir -p $(dir $@)
	@$(if $(V),,echo "  FUZZ    $@")
	$(Q)clang $(FUZZ_CFLAGS) -fsanitize=fuzzer -o $@ $< $(B)/libscrim-fuzz.a $(PKG_LIBS) -lpthread

fuzz: fuzz-build
	@sh tests/fuzz/run.sh $(FUZZ_SECONDS) $(FUZZ_BIN)

bench: all
	@$(MAKE) --no-print-directory $(B)/bench/bench_engine $(B)/bench/bench_store
	@sh bench/run.sh $(abspath $(SCRIM)) $(abspath $(B)/bench)

$(B)/bench/%: bench/%.c $(B)/libscrim.a
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS_ALL) -O2 -o $@ $< $(B)/libscrim.a $(PKG_LIBS) -lpthread

run: all
	@sh examples/run.sh $(abspath $(SCRIM))

clean:
	rm -rf $(B)

-include $(shell find $(B) -name '*.d' 2>/dev/null)
