/* autograd/ops_index.c — placeholder until implemented. */
