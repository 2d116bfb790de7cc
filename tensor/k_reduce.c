/* tensor/k_reduce.c — placeholder until implemented. */
