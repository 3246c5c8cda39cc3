# bento - see README.md.  `make` builds build/bento and build/libbento.a;
# `make check` runs every test; `make demo`, `make bench`, `make install`.
# SANITIZE=1 builds into build/asan with ASan+UBSan.

CC ?= cc
PKG_CONFIG ?= pkg-config
PKGS = libarchive libgit2 libcrypto yaml-0.1 sqlite3 libcurl libsodium jansson libzstd zlib
PREFIX ?= /usr/local
comma := ,

ifeq ($(SANITIZE),1)
B ?= build/asan
SANFLAGS = -fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=undefined
OPT ?= -O1 -g
else
B ?= build
SANFLAGS =
OPT ?= -O2 -g
endif

PKG_CFLAGS := $(shell $(PKG_CONFIG) --cflags $(PKGS))
PKG_LIBS := $(shell $(PKG_CONFIG) --libs $(PKGS))
WARN = -Wall -Wextra -Werror -Wshadow -Wformat=2 -Wno-format-nonliteral
BENTO_VERSION := $(shell cat VERSION)
ALL_CFLAGS = -std=c11 -D_GNU_SOURCE -DBENTO_VERSION='"$(BENTO_VERSION)"' $(OPT) $(WARN) \
	$(SANFLAGS) -pthread -iquote lib -iquote $(B)/gen $(PKG_CFLAGS) $(CFLAGS) -MMD -MP
ALL_LDFLAGS = $(SANFLAGS) -pthread $(LDFLAGS)

LIB_SRC := $(sort $(wildcard lib/*.c))
LIB_OBJ := $(LIB_SRC:%.c=$(B)/%.o) $(B)/gen/embedded.o
CMD_SRC := $(sort $(wildcard cmd/bento/*.c))
CMD_OBJ := $(CMD_SRC:%.c=$(B)/%.o)
UNIT_SRC := $(sort $(wildcard tests/unit/test_*.c))
UNIT_BIN := $(UNIT_SRC:tests/unit/%.c=$(B)/tests/%)
TOOL_SRC := $(sort $(wildcard tests/tools/*.c))
TOOL_BIN := $(TOOL_SRC:tests/tools/%.c=$(B)/tests/%)
EMBED := $(sort $(wildcard schema/*.sql schema/*.json))

.PHONY: all deps check demo bench fuzz fuzz-build fuzz-differential install clean
all: $(B)/bento $(B)/bento-shim $(B)/libbento.a $(UNIT_BIN) $(TOOL_BIN) $(B)/tests/test_shim_digest

$(B)/%.o: %.c
	@mkdir -p $(dir $@)
	$(CC) $(ALL_CFLAGS) -c -o $@ $<

$(B)/gen/embedded.c: scripts/embed.sh $(EMBED)
	@mkdir -p $(dir $@)
	sh scripts/embed.sh $(EMBED) > $@.tmp && mv $@.tmp $@

$(B)/gen/embedded.o: $(B)/gen/embedded.c
	$(CC) $(ALL_CFLAGS) -c -o $@ $<

$(B)/libbento.a: $(LIB_OBJ)
	rm -f $@
	ar rcs $@ $^

$(B)/bento: $(CMD_OBJ) $(B)/libbento.a
	$(CC) $(ALL_LDFLAGS) -o $@ $(CMD_OBJ) $(B)/libbento.a $(PKG_LIBS)

# bento-shim: static (it is PID 1 of images FROM scratch) and small, so it
# compiles its own copy of the few lib/ modules it needs, SHA-256 on libsodium
# instead of OpenSSL, and without unwind tables (it is C: nothing unwinds).
# Under SANITIZE=1 it is dynamic: the sanitizers need the dynamic loader.
SHIM_SRC := $(sort $(wildcard cmd/bento-shim/*.c)) lib/buf.c lib/cjson.c lib/digest.c \
	lib/error.c lib/fs.c lib/manifest.c lib/sign.c
SHIM_OBJ := $(SHIM_SRC:%.c=$(B)/shim/%.o)
ifeq ($(SANITIZE),1)
SHIM_OPT = $(OPT) $(SANFLAGS)
SHIM_LDFLAGS = $(SANFLAGS)
SHIM_LIBS := $(shell $(PKG_CONFIG) --libs libsodium jansson)
else
SHIM_OPT = -Os -ffunction-sections -fdata-sections -fno-asynchronous-unwind-tables -fno-unwind-tables
SHIM_LDFLAGS = -static -s -Wl,--gc-sections
SHIM_LIBS = -lsodium -ljansson
endif
SHIM_CFLAGS = -std=c11 -D_GNU_SOURCE -DBENTO_DIGEST_SODIUM -DBENTO_VERSION='"$(BENTO_VERSION)"' \
	$(SHIM_OPT) $(WARN) -iquote lib $(shell $(PKG_CONFIG) --cflags libsodium jansson) \
	$(CFLAGS) -MMD -MP

$(B)/shim/%.o: %.c
	@mkdir -p $(dir $@)
	$(CC) $(SHIM_CFLAGS) -c -o $@ $<

$(B)/bento-shim: $(SHIM_OBJ)
	$(CC) $(SHIM_LDFLAGS) $(LDFLAGS) -o $@ $(SHIM_OBJ) $(SHIM_LIBS)

# tests/unit/test_digest.c again, on the shim's build of digest.c (SHA-NI or libsodium).
$(B)/tests/test_shim_digest: tests/unit/test_digest.c tests/unit/tap.h $(B)/shim/lib/digest.o \
		$(B)/shim/lib/buf.o $(B)/shim/lib/error.o
	@mkdir -p $(dir $@)
	$(CC) $(SHIM_CFLAGS) -Itests/unit -o $@ $< $(B)/shim/lib/digest.o $(B)/shim/lib/buf.o \
		$(B)/shim/lib/error.o $(filter-out -static -s -Wl$(comma)--gc-sections,$(SHIM_LDFLAGS)) \
		$(shell $(PKG_CONFIG) --libs libsodium)

-include $(SHIM_OBJ:.o=.d)

# The value of a variable, for tests that build from the same lists.
print-%:
	@echo $($*)

$(B)/tests/%: tests/unit/%.c tests/unit/tap.h $(B)/libbento.a
	@mkdir -p $(dir $@)
	$(CC) $(ALL_CFLAGS) -Itests/unit -o $@ $< $(B)/libbento.a $(ALL_LDFLAGS) $(PKG_LIBS)

# Helpers the tests run that are not tests themselves (tests/tools/NAME.c).
$(B)/tests/%: tests/tools/%.c $(B)/libbento.a
	@mkdir -p $(dir $@)
	$(CC) $(ALL_CFLAGS) -o $@ $< $(B)/libbento.a $(ALL_LDFLAGS) $(PKG_LIBS)

# check, demo and bench do all set-up themselves: dependencies first (fast
# when present), then a sub-make so pkg-config sees the installed libraries.
deps:
	sh scripts/install-deps.sh

check: deps
	$(MAKE) all
	sh tests/run.sh $(B)

demo: deps
	$(MAKE) all
	sh scripts/demo.sh $(B)

bench: deps
	$(MAKE) all
	sh scripts/bench.sh $(B)

# libFuzzer targets (clang, ASan+UBSan): tests/fuzz/fuzz_NAME.c, seeds in
# tests/fuzz/corpus/fuzz_NAME/, what a run finds in build/fuzz/corpus-fuzz_NAME/.
# `make fuzz` runs each FUZZ_SECONDS and prints executions and findings per
# target (scripts/fuzz.sh); FUZZ_TARGETS="fuzz_a fuzz_b" picks some.  A target
# that needs sources outside libbento names them in FUZZ_EXTRA_fuzz_NAME.
FUZZ_SECONDS ?= 60
FUZZ_TARGETS ?= $(patsubst tests/fuzz/%.c,%,$(sort $(wildcard tests/fuzz/fuzz_*.c)))
FUZZ_FLAGS = B=build/fuzz CC=clang OPT="-O1 -g" \
	SANFLAGS="-fsanitize=fuzzer-no-link,address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=undefined"
fuzz-build: deps
	$(MAKE) $(FUZZ_FLAGS) $(FUZZ_TARGETS:%=build/fuzz/bin/%)
fuzz: fuzz-build
	sh scripts/fuzz.sh build/fuzz $(FUZZ_SECONDS) $(FUZZ_TARGETS)

# The archive reader's differential check (tests/cli/t0065) over everything
# the archive fuzzers found: each input bento accepts must extract to the
# same paths, modes and bytes with GNU tar, bsdtar and Python's tarfile.
FUZZ_ARCHIVE_CORPORA = tests/fuzz/corpus/fuzz_archive tests/fuzz/corpus/fuzz_bundle \
	$(wildcard build/fuzz/corpus-fuzz_archive build/fuzz/corpus-fuzz_bundle)
fuzz-differential: all
	python3 tests/cli/fixtures/tardiff.py $(B)/tests/tarview $(FUZZ_ARCHIVE_CORPORA)

# bento-shim's sources for its targets: all but main() and lean.c's libc
# stand-in, built as libbento is (OpenSSL's SHA-256 where the shim has
# libsodium's: one API, the same digests).
SHIM_FUZZ_SRC := $(filter-out cmd/bento-shim/main.c cmd/bento-shim/lean.c,$(sort $(wildcard cmd/bento-shim/*.c)))
FUZZ_EXTRA_fuzz_shim_request = cmd/bento-shim/request.c
FUZZ_EXTRA_fuzz_shim_env = $(SHIM_FUZZ_SRC)
FUZZ_EXTRA_fuzz_shim_manifest = $(SHIM_FUZZ_SRC)
FUZZ_EXTRA_fuzz_shim_sig = $(SHIM_FUZZ_SRC)

.SECONDEXPANSION:
$(B)/bin/fuzz_%: tests/fuzz/fuzz_%.c $(B)/libbento.a $$(FUZZ_EXTRA_fuzz_$$*)
	@mkdir -p $(dir $@)
	$(CC) $(ALL_CFLAGS) -iquote cmd/bento-shim -fsanitize=fuzzer -o $@ $< $(FUZZ_EXTRA_fuzz_$*) \
		$(B)/libbento.a $(ALL_LDFLAGS) $(PKG_LIBS)

install: all
	install -d $(DESTDIR)$(PREFIX)/bin $(DESTDIR)$(PREFIX)/share/man/man1 $(DESTDIR)$(PREFIX)/share/man/man5
	install -m 0755 $(B)/bento $(DESTDIR)$(PREFIX)/bin/bento
	install -d $(DESTDIR)$(PREFIX)/libexec/bento
	install -m 0755 $(B)/bento-shim $(DESTDIR)$(PREFIX)/libexec/bento/bento-shim
	install -m 0644 man/*.1 $(DESTDIR)$(PREFIX)/share/man/man1/
	install -m 0644 man/*.5 $(DESTDIR)$(PREFIX)/share/man/man5/

clean:
	rm -rf build

-include $(LIB_OBJ:.o=.d) $(CMD_OBJ:.o=.d)
