# autograd/ — nodes, the backward engine, and every public op (check → kernel → record).
libnabla_core_la_SOURCES += \
	autograd/nb_autograd.h autograd/nb_ops.h autograd/nb__autograd.h autograd/ops.def \
	autograd/engine.c autograd/registry.c autograd/ops_view.c autograd/ops_elementwise.c \
	autograd/ops_reduce.c autograd/ops_matmul.c autograd/ops_index.c \
	autograd/nb_gradcheck.h autograd/gradcheck.c
include_HEADERS += autograd/nb_autograd.h autograd/nb_ops.h autograd/nb_gradcheck.h
# scans, norms, sorting and shape ops
libnabla_core_la_SOURCES += autograd/ops_scan.c autograd/ops_shape.c
