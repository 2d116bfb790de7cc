/* installcheck.c — `make installcheck` compiles this file against the INSTALLED nabla, with only
 * `pkg-config --cflags --libs nabla` (so it proves the installed headers are self-sufficient and the
 * .pc file is right), then runs it: fit y = 2x + 1 with nn.Linear + SGD and round-trip the weights
 * through a safetensors file. Includes nothing of the source tree. Exit 0 on success. */
#include <nabla.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int main(int argc, char **argv)
{
    const char *path = argc > 1 ? argv[1] : "installcheck.safetensors";
    int scope = nb_scope_begin();
    nb_manual_seed(1);
    nb_tensor *x = nb_view(nb_arange(-1, 1, 0.25, NB_F32), NB_DIMS(8, 1));
    nb_tensor *y = nb_add(nb_mul(x, nb_full(NB_DIMS(1), 2, NB_F32)), nb_ones(NB_DIMS(1), NB_F32));

    nb_linear_mod *lin = nb_linear_new(NULL, "lin", 1, 1, true, NULL);
    nb_sgd_opts o = nb_sgd_opts_default();
    o.lr = 0.2;
    nb_tensor *params[2] = {lin->weight, lin->bias};
    nb_optimizer *opt = nb_sgd_new(params, 2, &o);
    double loss = 0;
    for (int step = 0; step < 300; step++) {
        int s = nb_scope_begin();
        nb_optimizer_zero_grad(opt, true);
        nb_tensor *d = nb_sub(nb_linear_forward(lin, x), y);
        nb_tensor *l = nb_mean(nb_mul(d, d), NB_ALL_AXES, false);
        nb_backward(l, NULL, false);
        nb_optimizer_step(opt);
        loss = nb_tensor_item(l);
        nb_scope_end(s);
    }
    double w = nb_tensor_item(lin->weight), b = nb_tensor_item(lin->bias);
    int ok = loss < 1e-6 && w > 1.99 && w < 2.01 && b > 0.99 && b < 1.01;
    printf("installcheck: loss %g, w %g, b %g\n", loss, w, b);

    nb_state_dict *sd = nb_module_state_dict(&lin->base), *back = NULL;
    if (nb_safetensors_save(sd, path) != NB_OK || nb_safetensors_load(path, &back) != NB_OK) {
        printf("installcheck: safetensors: %s\n", nb_last_error());
        ok = 0;
    } else {
        ok = ok && nb_tensor_item(nb_state_dict_get(back, "weight")) == w;
    }
    remove(path);
    nb_state_dict_free(sd);
    nb_state_dict_free(back);
    nb_optimizer_free(opt);
    nb_module_free(&lin->base);
    nb_scope_end(scope);
    printf("installcheck: %s\n", ok ? "ok" : "FAILED");
    return ok ? 0 : 1;
}
