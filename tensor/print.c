/* tensor/print.c — placeholder until implemented. */
