# tests/ — one Check binary per area so `make -j2 check` parallelizes.
# Passive OpenMP waiting: `make -j2 check` runs two threaded binaries on two cores.
AM_TESTS_ENVIRONMENT = OMP_WAIT_POLICY=passive; export OMP_WAIT_POLICY;
TEST_LDADD = tests/libtestutil.la libnabla_core.la $(CHECK_LIBS) $(JEMALLOC_LIBS)
TEST_CFLAGS = $(AM_CFLAGS) $(CHECK_CFLAGS)
check_LTLIBRARIES = tests/libtestutil.la
tests_libtestutil_la_SOURCES = tests/testutil.c tests/testutil.h
tests_libtestutil_la_CFLAGS = $(TEST_CFLAGS)

NB_TESTS = tests/test_tensor tests/test_views tests/test_autograd tests/test_elementwise tests/test_reduce \
	tests/test_matmul tests/test_index tests/test_gradcheck tests/test_readme tests/test_parity \
	tests/test_safetensors
NB_TESTS += tests/test_optim
check_PROGRAMS += $(NB_TESTS)
TESTS += $(NB_TESTS)

tests_test_tensor_SOURCES = tests/test_tensor.c
tests_test_tensor_CFLAGS = $(TEST_CFLAGS)
tests_test_tensor_LDADD = $(TEST_LDADD)
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
tests_test_gradcheck_SOURCES = tests/test_gradcheck.c
tests_test_gradcheck_CFLAGS = $(TEST_CFLAGS)
tests_test_gradcheck_LDADD = $(TEST_LDADD)
tests_test_safetensors_SOURCES = tests/test_safetensors.c
tests_test_safetensors_CFLAGS = $(TEST_CFLAGS) -DNB_SRCDIR=\"$(abs_top_srcdir)\"
tests_test_safetensors_LDADD = $(TEST_LDADD)
EXTRA_DIST += tests/safetensors_torch.py
tests_test_optim_SOURCES = tests/test_optim.c
tests_test_optim_CFLAGS = $(TEST_CFLAGS)
tests_test_optim_LDADD = $(TEST_LDADD)
EXTRA_DIST += tests/ref_optim.py

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
EXTRA_DIST += tests/ref_parity.py
$(tests_test_readme_OBJECTS): tests/readme_example.c

NB_TESTS += tests/test_gpt
tests_test_gpt_SOURCES = tests/test_gpt.c
tests_test_gpt_CFLAGS = $(TEST_CFLAGS) -I$(top_srcdir)/models
tests_test_gpt_LDADD = models/libnbmodels.la $(TEST_LDADD)

NB_TESTS += tests/test_mlp_lm
tests_test_mlp_lm_SOURCES = tests/test_mlp_lm.c
tests_test_mlp_lm_CFLAGS = $(TEST_CFLAGS) -I$(top_srcdir)/models
tests_test_mlp_lm_LDADD = models/libnbmodels.la $(TEST_LDADD)
