/* tensor/k_gemm.c — placeholder until implemented. */
