# tests/ — one Check binary per area so `make -j2 check` parallelizes.
# Passive OpenMP waiting: `make -j2 check` runs two threaded binaries on two cores.
AM_TESTS_ENVIRONMENT = OMP_WAIT_POLICY=passive; export OMP_WAIT_POLICY;
TEST_LDADD = tests/libtestutil.la libnabla_core.la $(CHECK_LIBS) $(JEMALLOC_LIBS)
TEST_CFLAGS = $(AM_CFLAGS) $(CHECK_CFLAGS)
check_LTLIBRARIES = tests/libtestutil.la
tests_libtestutil_la_SOURCES = tests/testutil.c tests/testutil.h
tests_libtestutil_la_CFLAGS = $(TEST_CFLAGS)
if !HAVE_CHECK
# configure found no Check: say so plainly instead of failing on check.h or -lcheck.
$(tests_libtestutil_la_OBJECTS): nb-need-check
nb-need-check:
	@echo "make check: the tests need Check >= 0.11 (apt-get install check), then re-run ./configure" >&2; exit 1
endif

NB_TESTS = tests/test_tensor tests/test_views tests/test_autograd tests/test_elementwise tests/test_reduce \
	tests/test_matmul tests/test_index tests/test_gradcheck tests/test_readme tests/test_parity \
	tests/test_safetensors
NB_TESTS += tests/test_optim
check_PROGRAMS += $(NB_TESTS)
TESTS += $(NB_TESTS)

tests_test_tensor_SOURCES = tests/test_tensor.c
tests_test_tensor_CFLAGS = $(TEST_CFLAGS)
tests_test_tensor_LDADD = $(TEST_LDADD)
NB_TESTS += tests/test_random tests/test_print
tests_test_random_SOURCES = tests/test_random.c
tests_test_random_CFLAGS = $(TEST_CFLAGS)
tests_test_random_LDADD = $(TEST_LDADD)
tests_test_print_SOURCES = tests/test_print.c
tests_test_print_CFLAGS = $(TEST_CFLAGS)
tests_test_print_LDADD = $(TEST_LDADD)
tests_test_views_SOURCES = tests/test_views.c
tests_test_views_CFLAGS = $(TEST_CFLAGS)
tests_test_views_LDADD = $(TEST_LDADD)
EXTRA_DIST += tests/ref_tensor.py
tests_test_autograd_SOURCES = tests/test_autograd.c
tests_test_autograd_CFLAGS = $(TEST_CFLAGS)
tests_test_autograd_LDADD = $(TEST_LDADD)
tests_test_elementwise_SOURCES = tests/test_elementwise.c
tests_test_elementwise_CFLAGS = $(TEST_CFLAGS)
tests_test_elementwise_LDADD = $(TEST_LDADD)
tests_test_reduce_SOURCES = tests/test_reduce.c
tests_test_reduce_CFLAGS = $(TEST_CFLAGS)
tests_test_reduce_LDADD = $(TEST_LDADD)
tests_test_matmul_SOURCES = tests/test_matmul.c
tests_test_matmul_CFLAGS = $(TEST_CFLAGS)
tests_test_matmul_LDADD = $(TEST_LDADD)
tests_test_index_SOURCES = tests/test_index.c
tests_test_index_CFLAGS = $(TEST_CFLAGS)
tests_test_index_LDADD = $(TEST_LDADD)
tests_test_gradcheck_SOURCES = tests/test_gradcheck.c tests/gradcheck_entries.h tests/gradcheck_pointwise.c \
	tests/gradcheck_shape.c tests/gradcheck_nn.c
tests_test_gradcheck_CFLAGS = $(TEST_CFLAGS)
tests_test_gradcheck_LDADD = $(TEST_LDADD)
tests_test_safetensors_SOURCES = tests/test_safetensors.c tests/st_fixture.c tests/st_fixture.h
tests_test_safetensors_CFLAGS = $(TEST_CFLAGS) -DNB_SRCDIR=\"$(abs_top_srcdir)\"
tests_test_safetensors_LDADD = $(TEST_LDADD)
NB_TESTS += tests/test_safetensors_corrupt
tests_test_safetensors_corrupt_SOURCES = tests/test_safetensors_corrupt.c tests/st_fixture.c tests/st_fixture.h
tests_test_safetensors_corrupt_CFLAGS = $(TEST_CFLAGS)
tests_test_safetensors_corrupt_LDADD = $(TEST_LDADD)
EXTRA_DIST += tests/safetensors_torch.py
tests_test_optim_SOURCES = tests/test_optim.c tests/test_optim_sched.c tests/test_optim.h tests/ref_optim.h
tests_test_optim_CFLAGS = $(TEST_CFLAGS)
tests_test_optim_LDADD = $(TEST_LDADD)
EXTRA_DIST += tests/ref_optim.py
NB_TESTS += tests/test_nn
tests_test_nn_SOURCES = tests/test_nn.c
tests_test_nn_CFLAGS = $(TEST_CFLAGS)
tests_test_nn_LDADD = $(TEST_LDADD)
NB_TESTS += tests/test_module tests/test_module_tree
tests_test_module_SOURCES = tests/test_module.c
tests_test_module_CFLAGS = $(TEST_CFLAGS)
tests_test_module_LDADD = $(TEST_LDADD)
tests_test_module_tree_SOURCES = tests/test_module_tree.c
tests_test_module_tree_CFLAGS = $(TEST_CFLAGS)
tests_test_module_tree_LDADD = $(TEST_LDADD)
EXTRA_DIST += tests/ref_nn.py

# The README's C example is extracted and compiled, so it cannot rot.
tests_test_readme_SOURCES = tests/test_readme.c
tests_test_readme_CFLAGS = $(TEST_CFLAGS) -I$(top_builddir)/tests
tests_test_readme_LDADD = $(TEST_LDADD)
tests/readme_example.c: $(top_srcdir)/README.md
	$(AM_V_GEN)$(MKDIR_P) tests && \
	sed -n '/<!-- example:readme -->/,/<!-- end:readme -->/p' $(top_srcdir)/README.md | \
	sed -e '/^<!--/d' -e '/^```/d' > $@
BUILT_SOURCES = tests/readme_example.c
CLEANFILES += tests/readme_example.c

# `make gradcheck`: the gradient-check table (one row per registered op, max abs/rel error).
gradcheck: tests/test_gradcheck$(EXEEXT)
	tests/test_gradcheck$(EXEEXT) --table
.PHONY: gradcheck

tests_test_parity_SOURCES = tests/test_parity.c
tests_test_parity_CFLAGS = $(TEST_CFLAGS) -I$(top_srcdir)/models -DNB_SRCDIR=\"$(abs_top_srcdir)\"
tests_test_parity_LDADD = models/libnbmodels.la $(TEST_LDADD)
EXTRA_DIST += tests/ref_parity.py tests/ref_gpt.py
$(tests_test_readme_OBJECTS): tests/readme_example.c

NB_TESTS += tests/test_gpt
tests_test_gpt_SOURCES = tests/test_gpt.c
tests_test_gpt_CFLAGS = $(TEST_CFLAGS) -I$(top_srcdir)/models
tests_test_gpt_LDADD = models/libnbmodels.la $(TEST_LDADD)

NB_TESTS += tests/test_mlp_lm
tests_test_mlp_lm_SOURCES = tests/test_mlp_lm.c
tests_test_mlp_lm_CFLAGS = $(TEST_CFLAGS) -I$(top_srcdir)/models
tests_test_mlp_lm_LDADD = models/libnbmodels.la $(TEST_LDADD)

NB_TESTS += tests/test_attention
tests_test_attention_SOURCES = tests/test_attention.c
tests_test_attention_CFLAGS = $(TEST_CFLAGS)
tests_test_attention_LDADD = $(TEST_LDADD)

# End-to-end test of the chargpt program (train/sample/eval/plot on a synthetic text); runs ./chargpt.
TESTS += tests/test_chargpt.sh
EXTRA_DIST += tests/test_chargpt.sh

# libnabla.so exports only nb_* names (nm -D); skips (77) without nm or a shared library.
TESTS += tests/test_exports.sh
EXTRA_DIST += tests/test_exports.sh

# Reliability: fuzz-corpus regressions, numerical safety, anomaly mode, determinism, OOM; crash-
# safe saves (SIGKILL, disk full, unwritable dir) by a shell test driving a small saver program.
NB_TESTS += tests/test_reliability
tests_test_reliability_SOURCES = tests/test_reliability.c models/chargpt_args.c
tests_test_reliability_CFLAGS = $(TEST_CFLAGS) -I$(top_srcdir)/models -DNB_SRCDIR=\"$(abs_top_srcdir)\"
tests_test_reliability_LDADD = models/libnbmodels.la $(TEST_LDADD)
check_PROGRAMS += tests/test_crashsafe_saver
tests_test_crashsafe_saver_SOURCES = tests/test_crashsafe_saver.c
tests_test_crashsafe_saver_LDADD = libnabla_core.la $(JEMALLOC_LIBS)
TESTS += tests/test_crashsafe.sh
EXTRA_DIST += tests/test_crashsafe.sh

# The caching allocator: reuse, a GPT loop without fresh storage after step 1, switching it off.
NB_TESTS += tests/test_alloc
tests_test_alloc_SOURCES = tests/test_alloc.c
tests_test_alloc_CFLAGS = $(TEST_CFLAGS) -I$(top_srcdir)/models
tests_test_alloc_LDADD = models/libnbmodels.la $(TEST_LDADD)

# Data parallelism: tests/test_dist.sh runs tests/test_dist under `mpirun -np 2` (skipped, exit 77,
# with a visible note when MPI is not built) and chargpt's multi-rank training.
check_PROGRAMS += tests/test_dist
tests_test_dist_SOURCES = tests/test_dist.c
tests_test_dist_CFLAGS = $(AM_CFLAGS) -I$(top_srcdir)/models
tests_test_dist_LDADD = models/libnbmodels.la libnabla_core.la $(JEMALLOC_LIBS) -lm
TESTS += tests/test_dist.sh
EXTRA_DIST += tests/test_dist.sh
AM_TESTS_ENVIRONMENT += MPIRUN='$(MPIRUN)'; export MPIRUN;

# `make experiment` (bench/lr_decay_experiment.sh) on a small model: schedules, evals, plot, samples.
TESTS += tests/test_experiment.sh
EXTRA_DIST += tests/test_experiment.sh

# Scans, products, norms, sorting, any/all and the creation/shape ops against PyTorch 1.13.
NB_TESTS += tests/test_scan
tests_test_scan_SOURCES = tests/test_scan.c
tests_test_scan_CFLAGS = $(TEST_CFLAGS)
tests_test_scan_LDADD = $(TEST_LDADD)
EXTRA_DIST += tests/ref_scan.py
# norms, rotary embedding, losses: against PyTorch (tests/ref_norm.py, tests/ref_loss.py)
NB_TESTS += tests/test_norm tests/test_loss
tests_test_norm_SOURCES = tests/test_norm.c tests/refcase.c tests/refcase.h
tests_test_norm_CFLAGS = $(TEST_CFLAGS)
tests_test_norm_LDADD = $(TEST_LDADD)
tests_test_loss_SOURCES = tests/test_loss.c tests/refcase.c tests/refcase.h
tests_test_loss_CFLAGS = $(TEST_CFLAGS)
tests_test_loss_LDADD = $(TEST_LDADD)
EXTRA_DIST += tests/ref_norm.py tests/ref_loss.py

# harden (issue #16): overflow at extreme sizes/values, debug-mode use-after-release checks
NB_TESTS += tests/test_overflow tests/test_debug
tests_test_overflow_SOURCES = tests/test_overflow.c
tests_test_overflow_CFLAGS = $(TEST_CFLAGS)
tests_test_overflow_LDADD = $(TEST_LDADD)
tests_test_debug_SOURCES = tests/test_debug.c
tests_test_debug_CFLAGS = $(TEST_CFLAGS)
tests_test_debug_LDADD = $(TEST_LDADD)
# interop: nanoGPT-named checkpoints from PyTorch, the converters in tools/, plot with hostile names
# (PyTorch from /usr/bin/python3; without it only the plot checks run and the test reports SKIP).
TESTS += tests/test_interop.sh
EXTRA_DIST += tests/test_interop.sh tests/interop_ref.py tools/safetensors_io.py tools/nanogpt_to_safetensors.py \
	tools/safetensors_to_nanogpt.py
# chargpt as a command-line tool (cli): progress display, signals and exit codes, nothing lost
# (existing run, lock, non-finite weights, FIFOs, --data cap), option checks; runs ./chargpt.
# test_resume_state: every resume-state field validated before the live state changes.
TESTS += tests/test_cli.sh
EXTRA_DIST += tests/test_cli.sh
NB_TESTS += tests/test_resume_state
tests_test_resume_state_SOURCES = tests/test_resume_state.c
tests_test_resume_state_CFLAGS = $(TEST_CFLAGS) -I$(top_srcdir)/models
tests_test_resume_state_LDADD = models/libnbmodels.la $(TEST_LDADD)
# convolution and pooling (nn/conv.c, nn/pool.c): values from tests/ref_conv.py
NB_TESTS += tests/test_conv
tests_test_conv_SOURCES = tests/test_conv.c
tests_test_conv_CFLAGS = $(TEST_CFLAGS)
tests_test_conv_LDADD = $(TEST_LDADD)
EXTRA_DIST += tests/ref_conv.py
# transposed convolution (nn/conv_transpose.c, the ConvTranspose modules): values from tests/ref_conv_transpose.py
NB_TESTS += tests/test_conv_transpose
tests_test_conv_transpose_SOURCES = tests/test_conv_transpose.c
tests_test_conv_transpose_CFLAGS = $(TEST_CFLAGS)
tests_test_conv_transpose_LDADD = $(TEST_LDADD)
EXTRA_DIST += tests/ref_conv_transpose.py


# Pointwise table (tensor/nb_pointwise.def): every row against PyTorch (tests/ref_pointwise.py).
NB_TESTS += tests/test_pointwise
tests_test_pointwise_SOURCES = tests/test_pointwise.c
tests_test_pointwise_CFLAGS = $(TEST_CFLAGS)
tests_test_pointwise_LDADD = $(TEST_LDADD)
EXTRA_DIST += tests/ref_pointwise.py
# README.md's "Adding an op" rows must be the real ones.
TESTS += tests/test_readme_pointwise.sh
EXTRA_DIST += tests/test_readme_pointwise.sh
# tests/mutants.txt's texts still occur once each (the static half of make check-mutants).
TESTS += tests/test_mutants_list.sh
EXTRA_DIST += tests/test_mutants_list.sh
# LLaMA (llama2.c-style decoder): names, init, PyTorch parity (tests/ref_llama.py), trainability
NB_TESTS += tests/test_llama
tests_test_llama_SOURCES = tests/test_llama.c
tests_test_llama_CFLAGS = $(TEST_CFLAGS) -I$(top_srcdir)/models -DNB_SRCDIR=\"$(abs_top_srcdir)\"
tests_test_llama_LDADD = models/libnbmodels.la $(TEST_LDADD)
EXTRA_DIST += tests/ref_llama.py
# recurrent layers (nn/rnn.c) and the char-rnn model
NB_TESTS += tests/test_rnn
tests_test_rnn_SOURCES = tests/test_rnn.c
tests_test_rnn_CFLAGS = $(TEST_CFLAGS)
tests_test_rnn_LDADD = $(TEST_LDADD)
NB_TESTS += tests/test_char_rnn
tests_test_char_rnn_SOURCES = tests/test_char_rnn.c
tests_test_char_rnn_CFLAGS = $(TEST_CFLAGS) -I$(top_srcdir)/models
tests_test_char_rnn_LDADD = models/libnbmodels.la $(TEST_LDADD)
# more modules (nn/modules_more.c): activations, RMSNorm, GroupNorm, BatchNorm against torch.nn (tests/ref_modules.py)
NB_TESTS += tests/test_modules_more
tests_test_modules_more_SOURCES = tests/test_modules_more.c tests/refcase.c tests/refcase.h
tests_test_modules_more_CFLAGS = $(TEST_CFLAGS)
tests_test_modules_more_LDADD = $(TEST_LDADD)
EXTRA_DIST += tests/ref_modules.py
# convolution/pooling modules, RMSNorm without weight, and a small CNN against PyTorch (tests/ref_cnn.py)
NB_TESTS += tests/test_cnn
tests_test_cnn_SOURCES = tests/test_cnn.c tests/test_cnn_ref.h tests/refcase.c tests/refcase.h
tests_test_cnn_CFLAGS = $(TEST_CFLAGS)
tests_test_cnn_LDADD = $(TEST_LDADD)
EXTRA_DIST += tests/ref_cnn.py
# chargpt --model gpt|llama|lstm end to end (train, resume, eval, sample, metadata; a llama
# checkpoint in a llama2.c-style PyTorch model); runs ./chargpt
TESTS += tests/test_chargpt_models.sh
EXTRA_DIST += tests/test_chargpt_models.sh tests/llama_ckpt_torch.py
# attention with a mask and dropout (nn/attention.c) against PyTorch's math (tests/ref_sdpa.py) and the composite ops
NB_TESTS += tests/test_sdpa
tests_test_sdpa_SOURCES = tests/test_sdpa.c tests/refcase.c tests/refcase.h
tests_test_sdpa_CFLAGS = $(TEST_CFLAGS)
tests_test_sdpa_LDADD = $(TEST_LDADD)
EXTRA_DIST += tests/ref_sdpa.py
# bfloat16 autocast
NB_TESTS += tests/test_autocast
tests_test_autocast_SOURCES = tests/test_autocast.c
tests_test_autocast_CFLAGS = $(TEST_CFLAGS)
tests_test_autocast_LDADD = $(TEST_LDADD)
# storage-only dtypes bfloat16 / float16 (tensor/half.c) against PyTorch (tests/ref_dtypes.py)
NB_TESTS += tests/test_dtypes
tests_test_dtypes_SOURCES = tests/test_dtypes.c
tests_test_dtypes_CFLAGS = $(TEST_CFLAGS) -DNB_SRCDIR=\"$(abs_top_srcdir)\"
tests_test_dtypes_LDADD = $(TEST_LDADD)
EXTRA_DIST += tests/ref_dtypes.py
# safetensors: the memory a JSON header may cost is bounded (issue #16)
NB_TESTS += tests/test_safetensors_header
tests_test_safetensors_header_SOURCES = tests/test_safetensors_header.c
tests_test_safetensors_header_CFLAGS = $(TEST_CFLAGS) $(JANSSON_CFLAGS) -I$(top_srcdir)/nn
tests_test_safetensors_header_LDADD = $(TEST_LDADD) $(JANSSON_LIBS)
TESTS += tests/test_safetensors_header.sh
EXTRA_DIST += tests/test_safetensors_header.sh
# suite hardening (issue #19): the skip accounting the shell tests source
EXTRA_DIST += tests/skip_lib.sh tests/check_lib.sh
# conv implicit GEMM (tensor/k_conv.c packs col's panels from x / dy): bit for bit against an explicit unfold
NB_TESTS += tests/test_conv_implicit
tests_test_conv_implicit_SOURCES = tests/test_conv_implicit.c
tests_test_conv_implicit_CFLAGS = $(TEST_CFLAGS)
tests_test_conv_implicit_LDADD = $(TEST_LDADD)
# autocast's bfloat16 GEMM on each kernel (rounded float32, AVX512_BF16, AMX) and on the model of the instructions
NB_TESTS += tests/test_gemm_bf16
tests_test_gemm_bf16_SOURCES = tests/test_gemm_bf16.c
tests_test_gemm_bf16_CFLAGS = $(TEST_CFLAGS)
tests_test_gemm_bf16_LDADD = $(TEST_LDADD)
# interpolation: nb_interpolate and Upsample against PyTorch (tests/ref_interp.py)
NB_TESTS += tests/test_interp
tests_test_interp_SOURCES = tests/test_interp.c
tests_test_interp_CFLAGS = $(TEST_CFLAGS)
tests_test_interp_LDADD = $(TEST_LDADD)
EXTRA_DIST += tests/ref_interp.py
