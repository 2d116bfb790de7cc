/* modules_norm.c — normalization modules beyond LayerNorm: RMSNorm (LLaMA / llama2.c). */
#include "config.h"
#include "nb__autograd.h"
#include "nb_nn.h"

#include <float.h>
#include <math.h>
#include <stdlib.h>

static nb_tensor *rms_norm_fwd(nb_module *m, const nb_tensor *x)
{
    return nb_rms_norm_forward((nb_rms_norm_mod *)m, x);
}
static const nb_module_type rms_norm_type = {"RMSNorm", rms_norm_fwd, NULL};

nb_rms_norm_mod *nb_rms_norm_new_ex(nb_module *parent, const char *name, int64_t dim, double eps,
                                        bool elementwise_affine)
{
    if (dim <= 0)
        nb__fail("nb_rms_norm_new: normalized dim %lld must be positive", (long long)dim);
    if (!(eps >= 0) && !isnan(eps))
        nb__fail("nb_rms_norm_new: eps %g must be >= 0 (or NaN: the dtype's epsilon)", eps);
    nb_rms_norm_mod *n = calloc(1, sizeof *n);
    if (!n)
        nb__fail("nb_rms_norm_new: out of memory");
    nb_module_init(&n->base, &rms_norm_type);
    n->dim = dim, n->eps = eps;
    if (elementwise_affine) {
        int scope = nb_scope_begin();
        n->weight = nb_tensor_requires_grad_(nb_ones(NB_DIMS(dim), nb_get_default_dtype()), true);
        nb_module_register_parameter(&n->base, "weight", n->weight);
        nb_scope_end(scope); /* the module holds the only reference */
    }
    nb_module_register_module(parent, name, &n->base);
    return n;
}

nb_rms_norm_mod *nb_rms_norm_new(nb_module *parent, const char *name, int64_t dim, double eps)
{
    return nb_rms_norm_new_ex(parent, name, dim, eps, true);
}

nb_tensor *nb_rms_norm_forward(nb_rms_norm_mod *n, const nb_tensor *x)
{
    if (nb_tensor_ndim(x) == 0 || nb_tensor_size(x, -1) != n->dim) {
        char a[96];
        nb__fail("nb_rms_norm_forward: input of shape %s does not fit RMSNorm(%lld)",
                 nb_shape_str(nb_tensor_shape(x), nb_tensor_ndim(x), a, sizeof a), (long long)n->dim);
    }
    double eps = n->eps; /* NaN: torch's eps=None, the machine epsilon of x's dtype */
    if (isnan(eps))
        eps = nb_tensor_dtype(x) == NB_F64 ? DBL_EPSILON : FLT_EPSILON;
    return nb_rms_norm(x, 1, n->weight, eps);
}
