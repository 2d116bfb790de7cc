# tensor/ — storage, strided tensors, iteration, kernels. Knows nothing of autograd.
libnabla_core_la_SOURCES += \
	tensor/nb_tensor.h tensor/nb__tensor.h \
	tensor/error.c tensor/alloc.c tensor/tensor.c tensor/iter.c tensor/threads.c \
	tensor/copy.c tensor/create.c tensor/random.c tensor/print.c \
	tensor/nb__vmath.h tensor/nb__simd.h tensor/nb__k_elementwise.h tensor/k_elementwise.c \
	tensor/nb__k_reduce.h tensor/k_reduce.c \
	tensor/nb__k_gemm.h tensor/k_gemm.c \
	tensor/nb__k_index.h tensor/k_index.c
include_HEADERS += tensor/nb_tensor.h
libnabla_core_la_SOURCES += tensor/nb__k_attention.h tensor/k_attention.c
# scans, norms, sorting and shape-op kernels
libnabla_core_la_SOURCES += tensor/nb__k_scan.h tensor/k_scan.c tensor/k_scan_impl.h \
	tensor/nb__k_shape.h tensor/k_shape.c
# norms, rotary embedding, losses: kernels (k_norm_impl.h is included once per float type)
libnabla_core_la_SOURCES += tensor/nb__k_norm.h tensor/k_norm.c tensor/k_norm_impl.h
# kernel implementation files (included once per element type; kmacros)
libnabla_core_la_SOURCES += tensor/nb__paste.h tensor/k_gemm_scalar_impl.h tensor/k_gemm_kset_impl.h \
	tensor/k_gemm_ukr_impl.h tensor/k_gemm_driver_impl.h \
	tensor/k_gemm_bf16_impl.h tensor/k_gemm_bf16_kset_impl.h tensor/k_gemm_bf16_emu.h
libnabla_core_la_SOURCES += tensor/k_attention_base_impl.h tensor/k_attention_mm_impl.h \
	tensor/k_attention_panel_impl.h tensor/k_attention_rows_impl.h tensor/k_attention_vexp_impl.h \
	tensor/k_attention_impl.h
libnabla_core_la_SOURCES += tensor/k_reduce_impl.h
libnabla_core_la_SOURCES += tensor/k_index_add_impl.h
libnabla_core_la_SOURCES += tensor/random_fill_impl.h
# convolution and pooling kernels (im2col + GEMM; per-dtype loops in k_conv_impl.h)
libnabla_core_la_SOURCES += tensor/nb__k_conv.h tensor/k_conv.c tensor/k_conv_impl.h
# pointwise table (tensor/nb_pointwise.def, public: nb_ops.h declares its ops from it)
libnabla_core_la_SOURCES += tensor/k_pointwise_impl.h
include_HEADERS += tensor/nb_pointwise.def
# perf: fused LSTM recurrence kernels (per-dtype passes in k_lstm_impl.h)
libnabla_core_la_SOURCES += tensor/nb__k_lstm.h tensor/k_lstm.c tensor/k_lstm_impl.h
# bfloat16 rounding (autocast's portable path)
libnabla_core_la_SOURCES += tensor/nb__bf16.h tensor/bf16.c tensor/bf16_round_kv.h
# storage-only dtypes bfloat16 / float16: conversions (dtypes)
libnabla_core_la_SOURCES += tensor/half.c
# kernel variants: NB_KERNELS and the explicit per-variant dispatch (suite hardening, issue #19)
libnabla_core_la_SOURCES += tensor/nb__kv.h tensor/kernels.c tensor/k_pointwise_kv.h tensor/k_lstm_types.h
# interpolation kernels (nearest, (bi)linear; per-dtype loops in k_interp_impl.h)
libnabla_core_la_SOURCES += tensor/nb__k_interp.h tensor/k_interp.c tensor/k_interp_impl.h
