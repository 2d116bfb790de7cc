# bench/ — benchmarks against PyTorch and OpenBLAS (never run by make check).
# sgemm vs OpenBLAS; built only on request: make bench/bench_gemm
EXTRA_PROGRAMS = bench/bench_gemm
bench_bench_gemm_SOURCES = bench/bench_gemm.c
bench_bench_gemm_LDADD = libnabla_core.la $(JEMALLOC_LIBS) -lopenblas

# GPT training throughput and tiny-op overhead; `make bench` builds them and runs bench/run.sh,
# which compares with PyTorch (bench/torch_*.py). Plain `make` and `make check` build none of them.
EXTRA_PROGRAMS += bench/bench_train bench/bench_overhead
bench_bench_train_SOURCES = bench/bench_train.c
bench_bench_train_LDADD = models/libnbmodels.la libnabla_core.la $(JEMALLOC_LIBS) -lm
bench_bench_overhead_SOURCES = bench/bench_overhead.c
bench_bench_overhead_LDADD = libnabla_core.la $(JEMALLOC_LIBS)
CLEANFILES += bench/bench_train$(EXEEXT) bench/bench_overhead$(EXEEXT)
EXTRA_DIST += bench/run.sh bench/torch_train.py bench/torch_overhead.py bench/RESULTS.md \
	bench/torch_chargpt.py bench/quality_seeds.sh bench/openblas_probe.py
bench: bench/bench_train$(EXEEXT) bench/bench_overhead$(EXEEXT)
	@$(MAKE) $(AM_MAKEFLAGS) bench/bench_gemm$(EXEEXT) || echo "note: bench/bench_gemm did not build; its table is skipped"
	@for p in bench_conv bench_rmsnorm bench_rnn; do \
	    $(MAKE) $(AM_MAKEFLAGS) bench/$$p$(EXEEXT) || echo "note: bench/$$p did not build; its section is skipped"; \
	done
	BUILDDIR='$(abs_top_builddir)' SRCDIR='$(abs_top_srcdir)' $(SHELL) $(srcdir)/bench/run.sh
	@$(MAKE) $(AM_MAKEFLAGS) bench-dist
.PHONY: bench

# Data-parallel throughput (bench/bench_dist.sh): chargpt train as 1 process x 1 thread, 2 MPI ranks x
# 1 thread and 1 process x 2 threads, in tokens/s. `make bench-dist`; `make bench` runs it last.
EXTRA_DIST += bench/bench_dist.sh
bench-dist: chargpt$(EXEEXT)
	BUILDDIR='$(abs_top_builddir)' MPIRUN='$(MPIRUN)' $(SHELL) $(srcdir)/bench/bench_dist.sh
.PHONY: bench-dist

# The original mini-project's experiment: constant lr vs MultiStepLR (every 50 steps) vs cosine,
# 4000 iterations each from one seed; writes out/experiment/{loss.png,samples.md,results.txt}.
EXTRA_DIST += bench/lr_decay_experiment.sh
experiment: chargpt$(EXEEXT)
	$(SHELL) $(srcdir)/bench/lr_decay_experiment.sh '$(abs_top_builddir)'
.PHONY: experiment

# norms: fused RMSNorm forward+backward vs PyTorch's composed form (bench/torch_rmsnorm.py runs
# both interleaved). Built only on request: make bench/bench_rmsnorm
EXTRA_PROGRAMS += bench/bench_rmsnorm
bench_bench_rmsnorm_SOURCES = bench/bench_rmsnorm.c
bench_bench_rmsnorm_LDADD = libnabla_core.la $(JEMALLOC_LIBS)
CLEANFILES += bench/bench_rmsnorm$(EXEEXT)
EXTRA_DIST += bench/torch_rmsnorm.py

# interop: bench/plot_loss.sh regenerates bench/chargpt_loss.png (two 2000-iteration runs, labelled).
EXTRA_DIST += bench/plot_loss.sh
# conv2d forward/backward vs PyTorch (bench/conv.sh); built only on request: make bench/bench_conv
EXTRA_PROGRAMS += bench/bench_conv
bench_bench_conv_SOURCES = bench/bench_conv.c
bench_bench_conv_LDADD = libnabla_core.la $(JEMALLOC_LIBS)
CLEANFILES += bench/bench_conv$(EXEEXT)
EXTRA_DIST += bench/conv.sh bench/torch_conv.py

# LLaMA: training tokens/s of the default char-size llama vs PyTorch (bench/torch_llama.py runs
# both interleaved). Built only on request: make bench/bench_llama
EXTRA_PROGRAMS += bench/bench_llama
bench_bench_llama_SOURCES = bench/bench_llama.c
bench_bench_llama_LDADD = models/libnbmodels.la libnabla_core.la $(JEMALLOC_LIBS) -lm
CLEANFILES += bench/bench_llama$(EXEEXT)
EXTRA_DIST += bench/torch_llama.py
# char LSTM training throughput vs PyTorch (bench/torch_rnn.py): make bench/bench_rnn && bench/bench_rnn
EXTRA_PROGRAMS += bench/bench_rnn
bench_bench_rnn_SOURCES = bench/bench_rnn.c
bench_bench_rnn_CPPFLAGS = $(AM_CPPFLAGS) -I$(top_srcdir)/models
bench_bench_rnn_LDADD = models/libnbmodels.la libnabla_core.la $(JEMALLOC_LIBS) -lm
CLEANFILES += bench/bench_rnn$(EXEEXT)
EXTRA_DIST += bench/torch_rnn.py
# chargpt --model gpt|llama|lstm for the same wall time (README "Models" table): sh bench/chargpt_models.sh [SECONDS]
EXTRA_DIST += bench/chargpt_models.sh bench/torch_models.py
# attention with a mask / dropout: the fused op vs the composite ops, interleaved (make bench/bench_sdpa)
EXTRA_PROGRAMS += bench/bench_sdpa
bench_bench_sdpa_SOURCES = bench/bench_sdpa.c
bench_bench_sdpa_LDADD = libnabla_core.la $(JEMALLOC_LIBS) -lm
CLEANFILES += bench/bench_sdpa$(EXEEXT)
# bfloat16 autocast speed (bench/autocast_speed.sh: chargpt train --dtype float32 vs bfloat16, interleaved)
EXTRA_DIST += bench/autocast_speed.sh
