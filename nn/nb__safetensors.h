/* nb__safetensors.h — internal entry points of nn/safetensors.c, for tests and fuzz targets. */
#ifndef NB__SAFETENSORS_H
#define NB__SAFETENSORS_H

#include "nb__tensor.h"
#include "nb_safetensors.h"

/* nb_safetensors_load on the `len` bytes at `buf` (a whole file's contents, borrowed): the same
 * checks, results and errors; `name` stands for the path in messages. */
NB__INTERNAL nb_status nb__safetensors_load_mem(const void *buf, size_t len, const char *name,
                                                nb_state_dict **out);

#endif /* NB__SAFETENSORS_H */
