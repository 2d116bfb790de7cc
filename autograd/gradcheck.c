/* autograd/gradcheck.c — placeholder until implemented. */
