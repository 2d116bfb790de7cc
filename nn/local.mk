# nn/ — modules, losses, optimizers, LR schedulers, safetensors checkpoints.
libnabla_core_la_SOURCES += nn/nb_nn.h nn/nb__module.h nn/module.c nn/optim_groups.c nn/modules.c nn/init.c nn/functional.c nn/module_io.c \
	tensor/nb__k_nn.h tensor/k_nn.c
include_HEADERS += nn/nb_nn.h
libnabla_core_la_SOURCES += nn/nb_state_dict.h nn/state_dict.c nn/nb_safetensors.h nn/nb__safetensors.h nn/safetensors.c nn/safetensors_header.c
include_HEADERS += nn/nb_state_dict.h nn/nb_safetensors.h
libnabla_core_la_SOURCES += nn/nb_optim.h nn/optim.c nn/nb_lr_scheduler.h nn/lr_scheduler.c
include_HEADERS += nn/nb_optim.h nn/nb_lr_scheduler.h
libnabla_core_la_SOURCES += nn/attention.c
# Data parallelism (nb_dist.h): MPI when configured with it, else a single-process stub.
libnabla_core_la_SOURCES += nn/nb_dist.h nn/dist.c
include_HEADERS += nn/nb_dist.h
libnabla_core_la_CFLAGS += $(MPI_CFLAGS)
libnabla_core_la_LIBADD += $(MPI_LIBS)
# norms, rotary embedding, losses
libnabla_core_la_SOURCES += nn/functional_norm.c nn/functional_loss.c nn/nb__functional_loss.h
# kernel implementation files (included once per element type; kmacros)
libnabla_core_la_SOURCES += tensor/k_nn_impl.h
libnabla_core_la_SOURCES += nn/optim_update_impl.h nn/optim_clip_impl.h
# convolution and pooling ops (nb_conv1d/2d, nb_max_pool1d/2d, nb_avg_pool1d/2d)
libnabla_core_la_SOURCES += nn/conv.c nn/pool.c
# transposed convolution (nb_conv_transpose1d/2d)
libnabla_core_la_SOURCES += nn/conv_transpose.c
# RMSNorm module (LLaMA)
libnabla_core_la_SOURCES += nn/modules_norm.c
# recurrent layers (LSTM, GRU and their cells)
libnabla_core_la_SOURCES += nn/rnn.c
# more modules: activations, RMSNorm, GroupNorm, BatchNorm1d/2d
libnabla_core_la_SOURCES += nn/modules_more.c
# convolution and pooling modules (Conv1d/2d, MaxPool/AvgPool 1d/2d, AdaptiveAvgPool2d)
libnabla_core_la_SOURCES += nn/modules_conv.c
# perf: fused LSTM recurrence op (kernels in tensor/k_lstm.c)
libnabla_core_la_SOURCES += nn/lstm_op.c
# interpolation: nb_interpolate and the Upsample module (kernels in tensor/k_interp.c)
libnabla_core_la_SOURCES += nn/interp.c
