/* module_io.c — a module's parameters and persistent buffers to and from a state dict (PyTorch's
 * state_dict semantics). */
#include "config.h"
#include "nb__autograd.h"
#include "nb__module.h"
#include "nb_nn.h"
#include "nb_state_dict.h"

#include <stdlib.h>

struct nb_state_dict *nb_module_state_dict(nb_module *m)
{
    nb_param_list l;
    nb__module_state_tensors(m, false, &l);
    nb_state_dict *sd = nb_state_dict_new();
    for (int i = 0; i < l.n; i++)
        nb_state_dict_add(sd, l.names[i], l.params[i]);
    nb_param_list_free(&l);
    return sd;
}

/* Appends ", name" to a bounded list text. */
static void list_add(char *buf, size_t cap, const char *name)
{
    size_t n = strlen(buf);
    if (n + 8 >= cap)
        return;
    snprintf(buf + n, cap - n, "%s%s", n ? ", " : "", name);
    if (strlen(buf) + 8 >= cap)
        snprintf(buf + cap - 8, 8, ", ...");
}

nb_status nb_module_load_state_dict(nb_module *m, const struct nb_state_dict *sd, bool strict)
{
    nb_param_list all, uniq;
    nb__module_state_tensors(m, true, &all);
    nb__module_state_tensors(m, false, &uniq);
    char missing[400] = "", unexpected[400] = "";
    nb_status st = NB_OK;
    /* 1. validate: every key names a parameter of the right shape */
    for (int k = 0; k < nb_state_dict_count(sd) && st == NB_OK; k++) {
        const char *key = nb_state_dict_name_at(sd, k);
        nb_tensor *src = nb_state_dict_tensor_at(sd, k);
        nb_tensor *dst = NULL;
        for (int i = 0; i < all.n && !dst; i++)
            if (!strcmp(all.names[i], key))
                dst = all.params[i];
        if (!dst) {
            list_add(unexpected, sizeof unexpected, key);
            continue;
        }
        if (!nb_tensor_same_shape(src, dst)) {
            st = nb__status(NB_ERR_MISMATCH, "size mismatch for %s: copying a param with shape %s, the shape in the "
                            "current model is %s", key, NB__SHAPE(src), NB__SHAPE(dst));
        }
        if (!nb__dtype_is_fp(src->dtype) && nb__dtype_is_fp(dst->dtype))
            st = nb__status(NB_ERR_MISMATCH, "dtype mismatch for %s: %s in the state dict, %s in the model", key,
                            nb_dtype_name(src->dtype), nb_dtype_name(dst->dtype));
    }
    /* 2. every parameter is covered by one of its names */
    for (int i = 0; i < uniq.n && st == NB_OK; i++) {
        bool found = false;
        for (int j = 0; j < all.n && !found; j++)
            if (all.params[j] == uniq.params[i] && nb_state_dict_contains(sd, all.names[j]))
                found = true;
        if (!found)
            list_add(missing, sizeof missing, uniq.names[i]);
    }
    if (st == NB_OK && strict && (*missing || *unexpected))
        st = nb__status(NB_ERR_MISMATCH, "error loading state dict: missing keys: [%s]; unexpected keys: [%s]", missing,
                        unexpected);
    /* 3. copy, only when everything checked out */
    if (st == NB_OK) {
        NB_NO_GRAD
        {
            for (int k = 0; k < nb_state_dict_count(sd); k++)
                for (int i = 0; i < all.n; i++)
                    if (!strcmp(all.names[i], nb_state_dict_name_at(sd, k)))
                        nb__copy_into(all.params[i], nb_state_dict_tensor_at(sd, k));
        }
        if (*missing || *unexpected)
            nb__status(NB_OK, "missing keys: [%s]; unexpected keys: [%s]", missing, unexpected);
        else
            nb__status(NB_OK, "%s", "");
    }
    nb_param_list_free(&all);
    nb_param_list_free(&uniq);
    return st;
}
