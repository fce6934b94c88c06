# nabla — make builds build/libnabla.a, build/libnabla.so and build/nabla.
#   make run           build, install the data if missing, nabla train
#   make test          every test; ends with "N passed, N failed, N skipped"
#   make test T=gemm   only the cases whose "suite.name" contains "gemm"
#   make SAN=1 test    the same under ASan+UBSan (objects in build-san/)
#   make install PREFIX=/usr/local DESTDIR=
# Plain `make` builds `all` (target-specific lines below come first).
.DEFAULT_GOAL := all
VERSION := $(shell sed -n 's/^\#define NB_VERSION "\(.*\)"/\1/p' include/nabla/nabla.h)
CC      ?= cc
PREFIX  ?= /usr/local
PYTHON_TORCH ?= /usr/bin/python3

WARN    := -Wall -Wextra -Werror -Wpedantic -Wshadow -Wstrict-prototypes -Wno-unused-parameter
CSTD    := -std=c11 -D_POSIX_C_SOURCE=200809L -ffp-contract=off
OPT     ?= -O2 -g
ifeq ($(SAN),1)
  B       := build-san
  OPT     := -O1 -g -fno-omit-frame-pointer -fsanitize=address,undefined -fno-sanitize-recover=all
  LDSAN   := -fsanitize=address,undefined
else
  B       := build
endif
# MPI=1: data-parallel training (src/dist, `nabla train --ddp`) built with
# Open MPI's mpicc wrapper, objects in build-mpi/ (build-mpi-san/ with SAN=1).
# Without it src/dist compiles to stubs that fail with "built without MPI".
ifeq ($(MPI),1)
  B       := $(B:build%=build-mpi%)
  CC      := mpicc
  CFLAGS  += -DNB_HAVE_MPI
endif
CFLAGS  += $(CSTD) $(WARN) $(OPT) -fPIC -Iinclude
# Each object (and example) records the headers it includes in a .d file next
# to it, read back below: touching a header rebuilds only what includes it.
DEPFLAGS := -MMD -MP
LDLIBS  += -lz -lm
# BLAS=auto (default): GEMM through OpenBLAS's CBLAS when pkg-config finds
# openblas (Debian: libopenblas-dev), else the built-in kernels; BLAS=openblas
# insists on it; BLAS=none never uses it.  The choice is recorded in
# $(B)/blas.cfg, so switching rebuilds the GEMM (use one B per choice).
BLAS    ?= auto
BLAS_USE := $(BLAS)
ifeq ($(BLAS),auto)
  BLAS_USE := $(if $(shell pkg-config --exists openblas 2>/dev/null && echo y),openblas,none)
endif
ifeq ($(BLAS_USE),openblas)
  BLAS_CFLAGS := -DNB_HAVE_CBLAS $(shell pkg-config --cflags openblas 2>/dev/null)
  BLAS_LIBS   := $(or $(shell pkg-config --libs openblas 2>/dev/null),-lopenblas)
else ifneq ($(BLAS_USE),none)
  $(error BLAS=$(BLAS): expected auto, openblas or none)
endif
LDLIBS  += $(BLAS_LIBS)
BLAS_CFG := $(shell mkdir -p $(B) && echo '$(BLAS_USE) $(BLAS_CFLAGS)' | cmp -s - $(B)/blas.cfg || echo '$(BLAS_USE) $(BLAS_CFLAGS)' > $(B)/blas.cfg)
$(B)/obj/src/kernels/gemm.o: CFLAGS += $(BLAS_CFLAGS)
$(B)/obj/src/kernels/gemm.o: $(B)/blas.cfg

LIB_SRC  := $(shell find src -name '*.c' | sort)
LIB_OBJ  := $(LIB_SRC:%.c=$(B)/obj/%.o)
CLI_SRC  := $(wildcard tools/*.c)
CLI_OBJ  := $(CLI_SRC:%.c=$(B)/obj/%.o)
TEST_SRC := $(wildcard tests/*.c)
TEST_OBJ := $(TEST_SRC:%.c=$(B)/obj/%.o)
# The op-case catalogue: test code, linked into the CLI (nabla gradcheck) and
# the test runner, never into the library.
CAT_SRC  := $(wildcard catalogue/*.c)
CAT_OBJ  := $(CAT_SRC:%.c=$(B)/obj/%.o)
$(CLI_OBJ) $(TEST_OBJ): CFLAGS += -Icatalogue
EX_SRC   := $(wildcard examples/*.c)
EX_BIN   := $(EX_SRC:examples/%.c=$(B)/examples/%)

.PHONY: all test check examples install clean fixtures run run-text bench conv-bench print-ldlibs guide
all: $(B)/libnabla.a $(B)/libnabla.so $(B)/nabla

# An object whose .d is missing (built before .d files existed) is rebuilt:
# the empty rules make a missing .d count as changed.  The touch keeps the
# object newer than its .d (clang writes the .d last).
$(B)/obj/%.o: %.c $(B)/obj/%.d
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) $(DEPFLAGS) -Isrc -c $< -o $@
	@touch $@

# The library exports only what carries NB_API (include/nabla/export.h); the
# CLI sees only the public headers (tests and tests/bench are white-box).
$(LIB_OBJ): CFLAGS += -fvisibility=hidden
$(CLI_OBJ): $(B)/obj/%.o: %.c $(B)/obj/%.d
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) $(DEPFLAGS) -c $< -o $@
	@touch $@

$(B)/libnabla.a: $(LIB_OBJ)
	@rm -f $@
	ar rcs $@ $^

$(B)/libnabla.so: $(LIB_OBJ)
	$(CC) -shared $(LDSAN) -Wl,-soname,libnabla.so.0 -o $@ $^ $(LDLIBS)

$(B)/nabla: $(CLI_OBJ) $(CAT_OBJ) $(B)/libnabla.a
	$(CC) $(LDSAN) -o $@ $(CLI_OBJ) $(CAT_OBJ) $(B)/libnabla.a $(LDLIBS)

$(B)/examples/%: examples/%.c $(B)/libnabla.a $(B)/examples/%.d
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) $(DEPFLAGS) -o $@ $< $(B)/libnabla.a $(LDSAN) $(LDLIBS)

examples: $(EX_BIN)

$(B)/obj/%.d: ;
$(B)/examples/%.d: ;

$(B)/test_nabla: $(TEST_OBJ) $(CAT_OBJ) $(B)/libnabla.a
	$(CC) $(LDSAN) -o $@ $(TEST_OBJ) $(CAT_OBJ) $(B)/libnabla.a $(LDLIBS)

# Build, make sure the data is there, and train (pass flags with ARGS="...").
run: all
	@sh scripts/ensure-data.sh
	./$(B)/nabla train $(ARGS)

# A character-level LSTM on Debian's fortunes (installed when missing), then a sample.
TEXT_MODEL := embedding(96,64) lstm(256,layers=2,seq=1) linear(96)
run-text: all
	@sh scripts/ensure-text.sh
	./$(B)/nabla train --text /usr/share/games/fortunes --model "$(TEXT_MODEL)" --out runs/text $(ARGS)
	./$(B)/nabla sample runs/text/checkpoint.safetensors --prompt "The " --length 300 --temperature 0.8

# The guides' transcript checker (scripts/guide.c tells the block format).
$(B)/guide: scripts/guide.c
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) $(LDSAN) -o $@ $< -lm

# Run every command of the guides and rewrite the outputs that changed
# (`make guide GUIDE_FLAGS=--all` rewrites them all; the fast ones are checked by make test).
guide: all examples $(B)/guide
	./$(B)/guide --write $(GUIDE_FLAGS) --build $(B) docs/guide.md docs/guide.ko.md

# Every suite, the CLI checks and the examples; the runner prints the closing
# line.  T=FILTER runs only the matching cases (a filter matching none fails).
test: all $(B)/test_nabla examples $(B)/guide
	@NB_BUILD=$(B) ./$(B)/test_nabla $(T)

check: test

# Speed against OpenBLAS, PyTorch 1.13 and 2.x and JAX (~20-30 min with every
# anchor): one report, bench/results.json.
# Installs OpenBLAS and Debian's PyTorch first when missing (as root), then
# builds (so that BLAS=auto sees OpenBLAS).  Nothing here is a test.
bench:
	@PYTHON_TORCH=$(PYTHON_TORCH) sh bench/ensure-deps.sh
	$(MAKE) all
	CC="$(CC)" PYTHON_TORCH=$(PYTHON_TORCH) sh bench/bench.sh $(B)

# Convolution GFLOP/s on the CNN's layers (tests/bench/conv_bench.c, white-box
# like gemm_bench, which bench/bench.sh builds): `make conv-bench` runs it.
$(B)/conv_bench: tests/bench/conv_bench.c $(B)/libnabla.a
	$(CC) $(CFLAGS) -Iinclude -Isrc $< $(B)/libnabla.a $(LDLIBS) -o $@

conv-bench: $(B)/conv_bench
	./$(B)/conv_bench

# Regenerate the PyTorch reference fixtures (needs Debian's python3-torch).
fixtures: $(B)/nabla
	./$(B)/nabla gradcheck --dump-cases tests/ref/cases.txt
	$(PYTHON_TORCH) tests/ref/torch_ref.py tests/ref/cases.txt tests/ref/torch_ops.txt
	$(PYTHON_TORCH) tests/ref/torch_optim.py tests/ref/torch_optim.txt

install: all
	install -d $(DESTDIR)$(PREFIX)/lib $(DESTDIR)$(PREFIX)/include/nabla $(DESTDIR)$(PREFIX)/bin $(DESTDIR)$(PREFIX)/lib/pkgconfig
	install -m 644 $(B)/libnabla.a $(DESTDIR)$(PREFIX)/lib/
	install -m 755 $(B)/libnabla.so $(DESTDIR)$(PREFIX)/lib/libnabla.so.$(VERSION)
	ln -sf libnabla.so.$(VERSION) $(DESTDIR)$(PREFIX)/lib/libnabla.so.0
	ln -sf libnabla.so.0 $(DESTDIR)$(PREFIX)/lib/libnabla.so
	install -m 644 include/nabla/*.h $(DESTDIR)$(PREFIX)/include/nabla/
	install -m 755 $(B)/nabla $(DESTDIR)$(PREFIX)/bin/
	sed -e 's|@PREFIX@|$(PREFIX)|' -e 's|@VERSION@|$(VERSION)|' -e 's|@BLAS_LIBS@|$(BLAS_LIBS)|' nabla.pc.in > $(DESTDIR)$(PREFIX)/lib/pkgconfig/nabla.pc

# The libraries a program linking $(B)/libnabla.a needs (scripts use it).
print-ldlibs:
	@echo $(LDLIBS)

# Every build folder: build/ and build-*/ (SAN=1, MPI=1, the fuzzers, CI's
# B=build-noblas and B=build-clang).
clean:
	rm -rf build build-*

-include $(LIB_OBJ:.o=.d) $(CLI_OBJ:.o=.d) $(TEST_OBJ:.o=.d) $(CAT_OBJ:.o=.d) $(EX_BIN:=.d)
