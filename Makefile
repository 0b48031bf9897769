# Portcullis — GNU make.  `make` builds the three programs into build/.
# Inherited CPPFLAGS/CFLAGS/LDFLAGS are honoured; ours are appended.
# SANITIZE=1 builds with ASan+UBSan into build/san (make test SANITIZE=1).

VERSION   := 0.1.0
ifeq ($(origin CC),default)
CC        := gcc
endif
PKGS      := libh2o-evloop openssl libjwt jansson yaml-0.1 libcurl hiredis
WARN      := -Wall -Wextra -Wformat=2 -Wformat-truncation=2 -Wshadow -Wstrict-prototypes \
             -Wmissing-prototypes -Wmissing-declarations -Wold-style-definition -Wpointer-arith \
             -Wcast-qual -Wwrite-strings -Wvla -Walloca -Wundef -Wnull-dereference \
             -Wimplicit-fallthrough=3 -Wduplicated-cond -Wlogical-op -Wjump-misses-init \
             -Werror=implicit-function-declaration -Werror=return-type
SAN       := -fsanitize=address,undefined -fno-sanitize-recover=all -fno-omit-frame-pointer

ifeq ($(SANITIZE),1)
BUILD     ?= build/san
SANFLAGS  := $(SAN)
else
BUILD     ?= build
SANFLAGS  :=
endif

OPT       ?= -O2 -g
ifeq ($(V),1)
Q :=
else
Q := @
endif
PKG_CFLAGS := $(shell pkg-config --cflags $(PKGS) 2>/dev/null)
PKG_LIBS   := $(shell pkg-config --libs $(PKGS) 2>/dev/null) -lssl -lcrypto -lpthread
ALL_CPPFLAGS = -D_GNU_SOURCE -DH2O_USE_LIBUV=0 -DH2O_USE_EPOLL=1 -DPC_VERSION='"$(VERSION)"' \
               -I. $(PKG_CFLAGS) $(CPPFLAGS)
ALL_CFLAGS   = -std=gnu17 $(OPT) $(WARN) $(SANFLAGS) -fPIE $(CFLAGS) $(EXTRA_CFLAGS)
ALL_LDFLAGS  = $(SANFLAGS) -pie -Wl,-z,relro,-z,now $(LDFLAGS)

COMMON_SRCS  := $(wildcard common/*.c)
POLICY_SRCS  := $(wildcard policy/*.c)
AUTHN_SRCS   := $(wildcard authn/*.c)
GW_MAIN      := gateway/gw_main.c
GW_SRCS      := $(filter-out $(GW_MAIN),$(wildcard gateway/*.c))
CM_MAINS     := certmgr/cm_main.c certmgr/cm_admin_main.c
CM_SRCS      := $(filter-out $(CM_MAINS),$(wildcard certmgr/*.c))

obj = $(patsubst %.c,$(BUILD)/obj/%.o,$(1))

LIBPC    := $(BUILD)/lib/libpc.a
LIBPOL   := $(BUILD)/lib/libpol.a
LIBAUTHN := $(BUILD)/lib/libauthn.a
LIBGW    := $(BUILD)/lib/libgw.a
LIBCM    := $(BUILD)/lib/libcm.a
LIBS_ALL := $(LIBGW) $(LIBCM) $(LIBAUTHN) $(LIBPOL) $(LIBPC)
LINK_LIBS = -Wl,--start-group $(LIBS_ALL) -Wl,--end-group

PROGS := $(BUILD)/portcullis $(BUILD)/portcullis-admin
ifneq ($(wildcard certmgr/cm_main.c),)
PROGS += $(BUILD)/portcullis-certmgr
endif

UNIT_SRCS := $(wildcard tests/unit/test_*.c)
UNIT_BINS := $(patsubst tests/unit/%.c,$(BUILD)/tests/%,$(UNIT_SRCS))
FUZZ_SRCS := $(wildcard tests/fuzz/fuzz_*.c)
REPLAY_BINS := $(patsubst tests/fuzz/fuzz_%.c,$(BUILD)/tests/replay_%,$(FUZZ_SRCS))

.PHONY: all check test unit integration deps demo format format-check lint fuzz bench bench-icount \
        install clean deb test-deb
.DEFAULT_GOAL := all

all: $(PROGS)

$(BUILD)/obj/%.o: %.c
	@mkdir -p $(dir $@)
	@$(if $(Q),echo "  CC      $<")
	$(Q)$(CC) $(ALL_CPPFLAGS) $(ALL_CFLAGS) -MMD -MP -c $< -o $@

$(LIBPC): $(call obj,$(COMMON_SRCS))
$(LIBPOL): $(call obj,$(POLICY_SRCS))
$(LIBAUTHN): $(call obj,$(AUTHN_SRCS))
$(LIBGW): $(call obj,$(GW_SRCS))
$(LIBCM): $(call obj,$(CM_SRCS))
$(BUILD)/lib/%.a: | $(BUILD)/obj/empty.o
	@mkdir -p $(dir $@)
	@rm -f $@
	@$(if $(Q),echo "  AR      $@")
	$(Q)ar rcs $@ $(if $^,$^,$(BUILD)/obj/empty.o)

$(BUILD)/obj/empty.o:
	@mkdir -p $(dir $@)
	$(Q)echo 'extern int pc_empty_unit; int pc_empty_unit;' | $(CC) -x c -c - -o $@

$(BUILD)/portcullis: $(call obj,$(GW_MAIN)) $(LIBS_ALL)
	@$(if $(Q),echo "  LINK    $@")
	$(Q)$(CC) $(ALL_LDFLAGS) -o $@ $(call obj,$(GW_MAIN)) $(LINK_LIBS) $(PKG_LIBS)

$(BUILD)/portcullis-admin: $(call obj,certmgr/cm_admin_main.c) $(LIBS_ALL)
	@$(if $(Q),echo "  LINK    $@")
	$(Q)$(CC) $(ALL_LDFLAGS) -o $@ $(call obj,certmgr/cm_admin_main.c) $(LINK_LIBS) $(PKG_LIBS)

$(BUILD)/portcullis-certmgr: $(call obj,certmgr/cm_main.c) $(LIBS_ALL)
	@$(if $(Q),echo "  LINK    $@")
	$(Q)$(CC) $(ALL_LDFLAGS) -o $@ $(call obj,certmgr/cm_main.c) $(LINK_LIBS) $(PKG_LIBS)

# --- tests --------------------------------------------------------------
$(BUILD)/tests/test_%: tests/unit/test_%.c $(LIBS_ALL)
	@mkdir -p $(dir $@)
	@$(if $(Q),echo "  TEST    $@")
	$(Q)$(CC) $(ALL_CPPFLAGS) $(ALL_CFLAGS) -Wno-missing-prototypes -Wno-missing-declarations \
	    -o $@ $< $(LINK_LIBS) $(PKG_LIBS) -lcmocka

$(BUILD)/tests/replay_%: tests/fuzz/fuzz_%.c tests/fuzz/standalone.c $(LIBS_ALL)
	@mkdir -p $(dir $@)
	@$(if $(Q),echo "  REPLAY  $@")
	$(Q)$(CC) $(ALL_CPPFLAGS) $(ALL_CFLAGS) -o $@ $< tests/fuzz/standalone.c $(LINK_LIBS) $(PKG_LIBS)

# make test: corpus replay, unit, integration; ends with "N passed, M failed"
test check: all $(UNIT_BINS) $(REPLAY_BINS)
	@BUILD=$(BUILD) SANITIZE=$(SANITIZE) bash tests/run-all.sh

unit: $(UNIT_BINS)
	@BUILD=$(BUILD) bash tests/run-unit.sh

integration: all
	@BUILD=$(BUILD) bash tests/run-all.sh --integration-only

# --- the rest -----------------------------------------------------------
deps:
	bash packaging/install-deps.sh packaging/deps.txt

demo: deps
	$(MAKE) all
	bash demo/demo.sh

FORMAT_FILES = $(wildcard common/*.[ch] policy/*.[ch] authn/*.[ch] gateway/*.[ch] certmgr/*.[ch] \
                 tests/unit/*.c tests/fuzz/*.c)
format:
	clang-format -i $(FORMAT_FILES)
format-check:
	clang-format --dry-run -Werror $(FORMAT_FILES)

lint:
	cppcheck --quiet --enable=warning,portability --std=c11 -D_GNU_SOURCE -DH2O_USE_LIBUV=0 \
	    --suppress=missingIncludeSystem -I. common policy authn gateway certmgr

fuzz:
	bash tests/fuzz/build.sh $(FUZZ_SECONDS)

# The peers (haproxy, nginx) are measured even when the gateway does not build yet;
# the report then says why portcullis was not run.
bench:
	-$(MAKE) --no-print-directory $(BUILD)/portcullis
	PORTCULLIS_BIN="$${PORTCULLIS_BIN:-$(CURDIR)/$(BUILD)/portcullis}" bash tests/bench/run.sh

# instructions per request under callgrind: repeatable on a busy machine (tests/bench/icount.sh)
bench-icount:
	$(MAKE) --no-print-directory $(BUILD)/portcullis
	PORTCULLIS_BIN="$${PORTCULLIS_BIN:-$(CURDIR)/$(BUILD)/portcullis}" bash tests/bench/icount.sh

# --- Debian package (packaging/) ----------------------------------------
# make deb: build/deb/portcullis_VERSION_ARCH.deb with debhelper (dpkg-buildpackage -b)
deb:
	bash packaging/build-deb.sh

# make test-deb: the package built, lintian-clean, installed into a fresh
# Debian 12 root (debootstrap) and exercised there; the systemd units checked
# with systemd-analyze.  Ends with "N passed, M failed".  (It builds the
# package itself, so that its time covers everything.)
test-deb:
	bash tests/deb/run.sh

install: all
	install -d $(DESTDIR)/usr/sbin $(DESTDIR)/usr/bin
	install -m 0755 $(BUILD)/portcullis $(DESTDIR)/usr/sbin/portcullis
	$(if $(wildcard $(BUILD)/portcullis-certmgr),install -m 0755 $(BUILD)/portcullis-certmgr $(DESTDIR)/usr/sbin/portcullis-certmgr)
	install -m 0755 $(BUILD)/portcullis-admin $(DESTDIR)/usr/bin/portcullis-admin

clean:
	rm -rf build

-include $(shell find $(BUILD)/obj -name '*.d' 2>/dev/null)
