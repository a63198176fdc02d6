# SPDX-License-Identifier: GPL-3.0-or-later
#
# dm-cache-tools: one non-recursive GNU make file.
#
# Two builds of the same sources live side by side: build/rel (optimised,
# what `make`, `make install` and `make bench` use) and build/san (ASan and
# UBSan, what every test in `make check` runs).  Each build links the library
# objects into one static archive; tools/ links into one multi-call binary
# and every tool name is a symlink to it.
#
#   make            build build/rel/bin/*
#   make demo       dump the bundled sample with our cache_dump (and more)
#   make check      unit tests + functional tests under ASan/UBSan
#   make bench      time our tools against the reference ones
#   make install    PREFIX=/usr/local DESTDIR=
#   make check-kernel   scenarios against a real kernel under QEMU
#   make static     build/static/bin/*: the optimised objects linked
#                   statically, for an initramfs or a rescue system
#   make fuzz       libFuzzer harnesses, FUZZ_SECONDS each (FUZZ_ONLY=NAME)
#
# V=1 shows full commands.

VERSION := 1.0.0
TOOLS := cache_check cache_dump cache_restore cache_repair \
	cache_metadata_size cache_writeback cache_replay thin_check \
	thin_dump thin_restore thin_repair thin_metadata_size

PREFIX ?= /usr/local
DESTDIR ?=
SBINDIR ?= $(PREFIX)/sbin
MANDIR ?= $(PREFIX)/share/man
BASHCOMPDIR ?= $(PREFIX)/share/bash-completion/completions

CC ?= gcc
PKG_CONFIG ?= pkg-config

ifeq ($(V),1)
Q :=
say = @true
else
Q := @
say = @printf '  %-7s %s\n' $(1) $(2)
endif

# Lazily expanded so that `make deps` can install the packages first.
PKG_CFLAGS = $(shell $(PKG_CONFIG) --cflags expat popt cmocka 2>/dev/null)
PKG_LIBS = $(shell $(PKG_CONFIG) --libs expat popt zlib 2>/dev/null || echo -lexpat -lpopt -lz) -laio -lpthread -lm
CMOCKA_LIBS = $(shell $(PKG_CONFIG) --libs cmocka 2>/dev/null || echo -lcmocka)

WARN := -Wall -Wextra -Werror -Wshadow -Wstrict-prototypes -Wmissing-prototypes \
	-Wno-missing-field-initializers
BASE_CFLAGS = -std=gnu11 $(WARN) -I. -D_GNU_SOURCE -D_FILE_OFFSET_BITS=64 \
	-DDMCT_VERSION=\"$(VERSION)\" $(PKG_CFLAGS) -MMD -MP

REL_CFLAGS := -O2 -g
SAN_FLAGS := -fsanitize=address,undefined -fno-sanitize-recover=all \
	-fno-omit-frame-pointer
SAN_CFLAGS := -O1 -g $(SAN_FLAGS)

LIB_SRCS := $(sort $(wildcard base/*.c pdata/*.c cache/*.c thin/*.c xml/*.c \
	engine/*.c))
TOOL_SRCS := $(sort $(wildcard tools/*.c))
UNIT_SRCS := $(sort $(wildcard tests/unit/*_t.c))
# Small programs the functional tests use (corruptors, generators).
# faultio.c is not a program but an LD_PRELOAD shim (faultio.so).
TESTPROG_SRCS := $(filter-out tests/progs/faultio.c,\
	$(sort $(wildcard tests/progs/*.c)))

BUILD ?= build
REL := $(BUILD)/rel
SAN := $(BUILD)/san

objs = $(patsubst %.c,$(1)/%.o,$(2))

REL_LIB := $(REL)/libdmct.a
SAN_LIB := $(SAN)/libdmct.a
REL_BIN := $(REL)/bin/dm-cache-tools
SAN_BIN := $(SAN)/bin/dm-cache-tools
REL_LINKS := $(addprefix $(REL)/bin/,$(TOOLS))
SAN_LINKS := $(addprefix $(SAN)/bin/,$(TOOLS))
STATIC := $(BUILD)/static
STATIC_BIN := $(STATIC)/bin/dm-cache-tools
STATIC_LINKS := $(addprefix $(STATIC)/bin/,$(TOOLS))
UNIT_BINS := $(patsubst tests/unit/%.c,$(SAN)/tests/%,$(UNIT_SRCS))
TESTPROG_BINS := $(patsubst tests/progs/%.c,$(SAN)/progs/%,$(TESTPROG_SRCS)) \
	$(SAN)/progs/faultio.so
REL_TESTPROG_BINS := $(patsubst tests/progs/%.c,$(REL)/progs/%,$(TESTPROG_SRCS))

.PHONY: all deps demo check check-unit check-cli check-kernel bench install \
	clean layering static
.DEFAULT_GOAL := all

all: $(REL_LINKS)

deps:
	$(Q)scripts/install-deps.sh

$(REL)/%.o: %.c | deps
	$(call say,CC,$<)
	@mkdir -p $(@D)
	$(Q)$(CC) $(BASE_CFLAGS) $(REL_CFLAGS) $(CFLAGS) -c $< -o $@

$(SAN)/%.o: %.c | deps
	$(call say,CC-SAN,$<)
	@mkdir -p $(@D)
	$(Q)$(CC) $(BASE_CFLAGS) $(SAN_CFLAGS) $(CFLAGS) -c $< -o $@

$(REL_LIB): $(call objs,$(REL),$(LIB_SRCS))
	$(call say,AR,$@)
	$(Q)rm -f $@ && ar rcs $@ $^

$(SAN_LIB): $(call objs,$(SAN),$(LIB_SRCS))
	$(call say,AR,$@)
	$(Q)rm -f $@ && ar rcs $@ $^

$(REL_BIN): $(call objs,$(REL),$(TOOL_SRCS)) $(REL_LIB)
	$(call say,LD,$@)
	@mkdir -p $(@D)
	$(Q)$(CC) $(REL_CFLAGS) $(LDFLAGS) -o $@ $^ $(PKG_LIBS)

$(SAN_BIN): $(call objs,$(SAN),$(TOOL_SRCS)) $(SAN_LIB)
	$(call say,LD,$@)
	@mkdir -p $(@D)
	$(Q)$(CC) $(SAN_CFLAGS) $(LDFLAGS) -o $@ $^ $(PKG_LIBS)

# No pkg-config here: the .a files come with the -dev packages, and
# pkg-config --static would add what glibc already holds.
$(STATIC_BIN): $(call objs,$(REL),$(TOOL_SRCS)) $(REL_LIB)
	$(call say,LD,$@)
	@mkdir -p $(@D)
	$(Q)$(CC) $(REL_CFLAGS) $(LDFLAGS) -static -o $@ $^ -lexpat -lpopt -laio -lz -lpthread -lm

# The kernel lab's trace replayer (tests/kernel s7), for the guest.
$(STATIC)/bin/kreplay: $(REL)/tests/progs/kreplay.o $(REL_LIB)
	$(call say,LD,$@)
	@mkdir -p $(@D)
	$(Q)$(CC) $(REL_CFLAGS) $(LDFLAGS) -static -o $@ $^ -lz

static: $(STATIC_LINKS) $(STATIC)/bin/kreplay

# A link per tool name to the multi-call binary, in each build: one rule
# for every name in TOOLS, whatever its prefix.
$(REL_LINKS): $(REL_BIN)
	$(Q)ln -sf dm-cache-tools $@

$(SAN_LINKS): $(SAN_BIN)
	$(Q)ln -sf dm-cache-tools $@

$(STATIC_LINKS): $(STATIC_BIN)
	$(Q)ln -sf dm-cache-tools $@

$(SAN)/tests/%: $(SAN)/tests/unit/%.o $(SAN_LIB)
	$(call say,LD,$@)
	@mkdir -p $(@D)
	$(Q)$(CC) $(SAN_CFLAGS) $(LDFLAGS) -o $@ $^ $(CMOCKA_LIBS) $(PKG_LIBS)

$(SAN)/progs/%: $(SAN)/tests/progs/%.o $(SAN_LIB)
	$(call say,LD,$@)
	@mkdir -p $(@D)
	$(Q)$(CC) $(SAN_CFLAGS) $(LDFLAGS) -o $@ $^ $(PKG_LIBS)

$(REL)/progs/%: $(REL)/tests/progs/%.o $(REL_LIB)
	$(call say,LD,$@)
	@mkdir -p $(@D)
	$(Q)$(CC) $(REL_CFLAGS) $(LDFLAGS) -o $@ $^ $(PKG_LIBS)

# Preloaded into the sanitizer build's tools, so built without sanitizers
# (ASan wants to be first; the tests set verify_asan_link_order=0), and
# without _FILE_OFFSET_BITS, so that pread and pread64 are two symbols.
$(SAN)/progs/faultio.so: tests/progs/faultio.c | deps
	$(call say,CC-SO,$@)
	@mkdir -p $(@D)
	$(Q)$(CC) -std=gnu11 $(WARN) -D_GNU_SOURCE -O2 -g -fPIC -shared \
		$(CFLAGS) $(LDFLAGS) -o $@ $< -ldl

# The layers only point one way: base <- pdata <- {cache, thin} <- {xml, engine}
# <- tools.
layering:
	$(Q)scripts/check-layering.sh

check-unit: $(UNIT_BINS)
	$(Q)scripts/run-unit.sh $(UNIT_BINS)

check-cli: $(SAN_LINKS) $(TESTPROG_BINS) $(REL_LINKS)
	$(Q)BIN=$(CURDIR)/$(SAN)/bin PROGS=$(CURDIR)/$(SAN)/progs \
		tests/run-cli.sh

check: layering
	$(Q)$(MAKE) --no-print-directory check-unit
	$(Q)$(MAKE) --no-print-directory check-fuzz
	$(Q)$(MAKE) --no-print-directory check-cli

# ---- fuzzing: tests/fuzz/NAME_fuzz.c, seeds in tests/fuzz/seeds/NAME/ ----
# `make check` builds each harness with gcc, ASan/UBSan and a replay main
# and runs it over its seeds and saved findings; `make fuzz` builds it with
# clang's libFuzzer and runs it FUZZ_SECONDS (FUZZ_ONLY=NAME: that one).
FUZZ_NAMES := $(patsubst tests/fuzz/%_fuzz.c,%,$(sort $(wildcard tests/fuzz/*_fuzz.c)))
ifneq ($(FUZZ_ONLY),)
FUZZ_RUN := $(filter $(FUZZ_ONLY),$(FUZZ_NAMES))
else
FUZZ_RUN := $(FUZZ_NAMES)
endif
FUZZ_SECONDS ?= 60
FUZZ := $(BUILD)/fuzz
FUZZ_CC := clang
FUZZ_CFLAGS := -O1 -g -fsanitize=fuzzer-no-link,address,undefined \
	-fno-sanitize-recover=all -fno-omit-frame-pointer
FUZZ_LIB := $(FUZZ)/libdmct.a
FUZZ_REPLAY := $(addprefix $(SAN)/fuzz/,$(FUZZ_NAMES))

.PHONY: check-fuzz fuzz fuzz-deps

$(SAN)/fuzz/%: $(SAN)/tests/fuzz/%_fuzz.o $(SAN)/tests/fuzz/fuzz_lib.o \
		$(SAN)/tests/fuzz/replay_main.o $(SAN_LIB)
	$(call say,LD,$@)
	@mkdir -p $(@D)
	$(Q)$(CC) $(SAN_CFLAGS) $(LDFLAGS) -o $@ $^ $(PKG_LIBS) -lz

check-fuzz: $(FUZZ_REPLAY)
	$(Q)tests/fuzz/run.sh replay $(FUZZ_REPLAY)

fuzz-deps:
	$(Q)scripts/install-deps.sh --with-clang

$(FUZZ)/obj/%.o: %.c | fuzz-deps
	$(call say,CC-FUZZ,$<)
	@mkdir -p $(@D)
	$(Q)$(FUZZ_CC) $(BASE_CFLAGS) $(FUZZ_CFLAGS) $(CFLAGS) -c $< -o $@

$(FUZZ_LIB): $(call objs,$(FUZZ)/obj,$(LIB_SRCS))
	$(call say,AR,$@)
	$(Q)rm -f $@ && ar rcs $@ $^

$(FUZZ)/bin/%: $(FUZZ)/obj/tests/fuzz/%_fuzz.o $(FUZZ)/obj/tests/fuzz/fuzz_lib.o \
		$(FUZZ_LIB)
	$(call say,LD,$@)
	@mkdir -p $(@D)
	$(Q)$(FUZZ_CC) $(FUZZ_CFLAGS) -fsanitize=fuzzer $(LDFLAGS) -o $@ $^ \
		$(PKG_LIBS)

fuzz: $(addprefix $(FUZZ)/bin/,$(FUZZ_RUN))
	$(if $(FUZZ_RUN),,$(error FUZZ_ONLY=$(FUZZ_ONLY): no such harness: $(FUZZ_NAMES)))
	$(Q)FUZZ_SECONDS=$(FUZZ_SECONDS) tests/fuzz/run.sh fuzz $^

demo: $(REL_LINKS)
	$(Q)BIN=$(CURDIR)/$(REL)/bin scripts/demo.sh

bench: $(REL_LINKS) $(REL_TESTPROG_BINS)
	$(Q)BIN=$(CURDIR)/$(REL)/bin PROGS=$(CURDIR)/$(REL)/progs bench/run.sh

check-kernel: $(REL_LINKS) $(SAN_LINKS) $(STATIC_LINKS) $(STATIC)/bin/kreplay \
		$(SAN)/progs/thin_corrupt
	$(Q)BIN=$(CURDIR)/$(SAN)/bin STATIC_BIN=$(CURDIR)/$(STATIC)/bin \
		PROGS=$(CURDIR)/$(SAN)/progs tests/kernel/run.sh

install: $(REL_LINKS)
	install -d $(DESTDIR)$(SBINDIR) $(DESTDIR)$(MANDIR)/man8 \
		$(DESTDIR)$(BASHCOMPDIR)
	install -m 0755 $(REL_BIN) $(DESTDIR)$(SBINDIR)/dm-cache-tools
	install -m 0644 bash-completion/dm-cache-tools \
		$(DESTDIR)$(BASHCOMPDIR)/dm-cache-tools
	for t in $(TOOLS); do \
		ln -sf dm-cache-tools $(DESTDIR)$(SBINDIR)/$$t; \
		ln -sf dm-cache-tools $(DESTDIR)$(BASHCOMPDIR)/$$t; \
	done
	for m in man/*.8; do install -m 0644 $$m $(DESTDIR)$(MANDIR)/man8/; done

clean:
	rm -rf $(BUILD)

-include $(shell find $(BUILD) -name '*.d' 2>/dev/null)
.SECONDARY:
