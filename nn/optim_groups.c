/* optim_groups.c — nanoGPT's configure_optimizers for any module tree (nb_optim.h). */
#include "config.h"
#include "nb_nn.h"
#include "nb_optim.h"

#include <stdlib.h>

nb_optimizer *nb_module_adamw_new(struct nb_module *m, double weight_decay, double lr, double beta1, double beta2)
{
    nb_param_list l;
    nb_module_parameters(m, false, &l);
    nb_tensor **decay = calloc((size_t)(l.n ? l.n : 1), sizeof *decay);
    nb_tensor **no_decay = calloc((size_t)(l.n ? l.n : 1), sizeof *no_decay);
    if (!decay || !no_decay)
        nb_fail("nb_module_adamw_new: out of memory");
    int nd = 0, nn = 0;
    for (int i = 0; i < l.n; i++) {
        if (nb_tensor_ndim(l.params[i]) >= 2)
            decay[nd++] = l.params[i];
        else
            no_decay[nn++] = l.params[i];
    }
    nb_adam_opts ao = nb_adamw_opts_default();
    ao.lr = lr, ao.beta1 = beta1, ao.beta2 = beta2, ao.eps = 1e-8, ao.weight_decay = weight_decay;
    nb_optimizer *opt = nb_adamw_new(decay, nd, &ao);
    if (nn) {
        nb_param_group_opts go = nb_param_group_opts_inherit();
        go.weight_decay = 0.0;
        nb_optimizer_add_param_group(opt, no_decay, nn, &go);
    }
    free(decay);
    free(no_decay);
    nb_param_list_free(&l);
    return opt;
}
