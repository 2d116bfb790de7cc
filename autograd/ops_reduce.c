/* autograd/ops_reduce.c — placeholder until implemented. */
