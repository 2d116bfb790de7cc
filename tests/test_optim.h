/* test_optim.h — shared by the two files of the tests/test_optim program (test_optim.c:
 * optimizers and clipping; test_optim_sched.c: LR schedulers): the deterministic problem both
 * they and tests/ref_optim.py compute, and the tolerance check. */
#ifndef TEST_OPTIM_H
#define TEST_OPTIM_H

#include "testutil.h"

/* ---- the problem both sides compute (see tests/ref_optim.py) -------------------------------- */
enum { NP = 3, NV = 12, STEPS = 25, SCHED_STEPS = 30 };

/* ps[0..NP): the three parameters (p_i[j] = sin(0.7*j + 1.1*i + 0.3)), new references requiring
 * gradients, of dtype dt, in the given layout. Defined in test_optim.c. */
void make_params(nb_tensor **ps, nb_dtype dt, tu_layout layout);
/* Asserts |got - want| <= atol + rtol*|want|, naming what, step t and value k. */
void check_close(const char *what, int t, int k, double got, double want, double rtol, double atol);

/* The "schedulers" test case (test_optim_sched.c). */
TCase *optim_sched_tcase(void);

#endif
