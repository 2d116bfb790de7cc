/* tensor/k_index.c — placeholder until implemented. */
