/* nb__module.h — internal to libnabla: the module tree's listings shared by nn/ files. */
#ifndef NB__MODULE_H
#define NB__MODULE_H

#include "nb_nn.h"

/* What a state dict holds, in torch's order: module by module, its parameters (every name of a
 * tied tensor when with_aliases, else each tensor once), then its persistent buffers, then its
 * children's. Fills *out (free with nb_param_list_free). */
NB__INTERNAL void nb__module_state_tensors(nb_module *m, bool with_aliases, nb_param_list *out);

#endif /* NB__MODULE_H */
