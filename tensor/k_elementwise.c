/* tensor/k_elementwise.c — placeholder until implemented. */
