/* autograd/ops_matmul.c — placeholder until implemented. */
