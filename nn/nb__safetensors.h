/* nb__safetensors.h — internal entry points of nn/safetensors.c, for tests and fuzz targets. */
#ifndef NB__SAFETENSORS_H
#define NB__SAFETENSORS_H

#include "nb__tensor.h"
#include "nb_safetensors.h"

/* nb_safetensors_load on the `len` bytes at `buf` (a whole file's contents, borrowed): the same
 * checks, results and errors; `name` stands for the path in messages. */
NB__INTERNAL nb_status nb__safetensors_load_mem(const void *buf, size_t len, const char *name,
                                                nb_state_dict **out);

/* The loader rejects a JSON header (or checksum list) whose estimated parsing cost exceeds 8 times
 * its size plus this slack (default 64 MiB); for tests. Returns the previous slack. */
NB__INTERNAL uint64_t nb__safetensors_set_header_slack(uint64_t bytes);

#endif /* NB__SAFETENSORS_H */
