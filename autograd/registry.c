/* registry.c — the table of every differentiable op (from ops.def), for lookup by id and for
 * the gradient-check suite's coverage check. A listed op without a descriptor fails to link. */
#include "config.h"
#include "nb__autograd.h"

#define NB_OP(name, family) extern const nb__op nb__op_##name;
#include "ops.def"
#undef NB_OP

static const nb__op *const k_ops[] = {
#define NB_OP(name, family) &nb__op_##name,
#include "ops.def"
#undef NB_OP
};
static const char *const k_families[] = {
#define NB_OP(name, family) #family,
#include "ops.def"
#undef NB_OP
};
_Static_assert(sizeof k_ops / sizeof *k_ops == NB__OP_COUNT, "op table");

const nb__op *nb__op_by_id(nb__op_id id) { return (unsigned)id < NB__OP_COUNT ? k_ops[id] : NULL; }
const char *nb__op_family(nb__op_id id) { return (unsigned)id < NB__OP_COUNT ? k_families[id] : NULL; }

int nb_op_count(void) { return NB__OP_COUNT; }

const char *nb_op_name_at(int i)
{
    if (i < 0 || i >= NB__OP_COUNT)
        nb__fail("nb_op_name_at: op index %d out of range (0..%d)", i, NB__OP_COUNT - 1);
    return k_ops[i]->name;
}

const char *nb_op_family_name_at(int i)
{
    if (i < 0 || i >= NB__OP_COUNT)
        nb__fail("nb_op_family_name_at: op index %d out of range (0..%d)", i, NB__OP_COUNT - 1);
    return k_families[i];
}
