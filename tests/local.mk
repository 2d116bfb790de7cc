# tests/ — one Check binary per area so `make -j2 check` parallelizes.
TEST_LDADD = tests/libtestutil.la libnabla_core.la $(CHECK_LIBS) $(JEMALLOC_LIBS)
TEST_CFLAGS = $(AM_CFLAGS) $(CHECK_CFLAGS)
check_LTLIBRARIES = tests/libtestutil.la
tests_libtestutil_la_SOURCES = tests/testutil.c tests/testutil.h
tests_libtestutil_la_CFLAGS = $(TEST_CFLAGS)

NB_TESTS = tests/test_tensor tests/test_autograd tests/test_elementwise tests/test_reduce \
	tests/test_matmul tests/test_index tests/test_gradcheck tests/test_readme
check_PROGRAMS += $(NB_TESTS)
TESTS += $(NB_TESTS)

tests_test_tensor_SOURCES = tests/test_tensor.c
tests_test_tensor_CFLAGS = $(TEST_CFLAGS)
tests_test_tensor_LDADD = $(TEST_LDADD)
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

# The README's C example is extracted and compiled, so it cannot rot.
tests_test_readme_SOURCES = tests/test_readme.c
nodist_tests_test_readme_SOURCES = tests/readme_example.c
tests_test_readme_CFLAGS = $(TEST_CFLAGS)
tests_test_readme_LDADD = $(TEST_LDADD)
tests/readme_example.c: $(top_srcdir)/README.md
	$(AM_V_GEN)$(MKDIR_P) tests && \
	sed -n '/<!-- example:readme -->/,/<!-- end:readme -->/p' $(top_srcdir)/README.md | \
	sed -e '/^<!--/d' -e '/^```/d' > $@
BUILT_SOURCES = tests/readme_example.c
CLEANFILES += tests/readme_example.c
