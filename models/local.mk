# models/ — GPT-2, the char tokenizer/data loader, checkpoints, and the chargpt program. Uses only
# libnabla's public API; built once as a convenience library shared by chargpt and the tests.
noinst_LTLIBRARIES += models/libnbmodels.la
models_libnbmodels_la_SOURCES = models/gpt.h models/gpt.c models/chardata.h models/chardata.c \
	models/checkpoint.h models/checkpoint.c models/mlp_lm.h models/mlp_lm.c
# char-rnn (LSTM/GRU language model)
models_libnbmodels_la_SOURCES += models/char_rnn.h models/char_rnn.c

bin_PROGRAMS += chargpt
chargpt_SOURCES = models/chargpt.h models/chargpt.c models/chargpt_train.c models/chargpt_plot.c models/chargpt_args.c \
	models/chargpt_dist.c
chargpt_LDADD = models/libnbmodels.la libnabla.la $(JEMALLOC_LIBS) -lm
EXTRA_DIST += models/fetch_data.sh data/tinyshakespeare.txt data/tinyshakespeare.txt.sha256
# interop: nanoGPT-named checkpoints (the JSON config in the metadata is read with jansson)
models_libnbmodels_la_SOURCES += models/checkpoint_nanogpt.c
models_libnbmodels_la_CFLAGS = $(AM_CFLAGS) $(JANSSON_CFLAGS)
models_libnbmodels_la_LIBADD = $(JANSSON_LIBS)
# interop: the installed chargpt finds libnabla.so next door ($prefix/lib) in any prefix, without
# LD_LIBRARY_PATH or ldconfig (the build tree's libtool wrapper sets its own path)
chargpt_LDFLAGS = $(AM_LDFLAGS) -Wl,-rpath,'$$ORIGIN/../lib'
# LLaMA (llama2.c-style decoder)
models_libnbmodels_la_SOURCES += models/llama.h models/llama.c
# chargpt --model gpt|llama|lstm: one interface over the models (the checkpoint uses it)
models_libnbmodels_la_SOURCES += models/chargpt_model.h models/chargpt_model.c
