/* autograd/ops_elementwise.c — placeholder until implemented. */
