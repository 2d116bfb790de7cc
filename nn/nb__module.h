/* nb__module.h — internal to libnabla: the module tree's listings shared by nn/ files. */
#ifndef NB__MODULE_H
#define NB__MODULE_H

#include "nb_nn.h"

/* What a state dict holds, in torch's order: module by module, its parameters (every name of a
 * tied tensor when with_aliases, else each tensor once), then its persistent buffers, then its
 * children's. Fills *out (free with nb_param_list_free). */
NB__INTERNAL void nb__module_state_tensors(nb_module *m, bool with_aliases, nb_param_list *out);

/* A zeroed module struct of `size` bytes whose first member, an nb_module, is initialized with
 * type (nb_module_init); freed by nb_module_free. Out of memory goes to the misuse handler. */
NB__INTERNAL void *nb__module_alloc(size_t size, const nb_module_type *type);
/* A new leaf parameter of zeros (default dtype) requiring grad, registered in m under name; the
 * module holds the only reference (the returned pointer is borrowed). */
NB__INTERNAL nb_tensor *nb__module_new_param(nb_module *m, const char *name, const int64_t *shape, int ndim);

#endif /* NB__MODULE_H */
