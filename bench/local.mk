# bench/ — benchmarks against PyTorch and OpenBLAS (never run by make check).
