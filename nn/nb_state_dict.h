/* nb_state_dict.h — an ordered (name → tensor) container with string metadata: what a model
 * exports for a checkpoint and what a checkpoint loader returns (see nb_safetensors.h).
 *
 * Ownership
 *   The dict holds ONE reference to every tensor added (nb_state_dict_add retains it; the
 *   caller keeps its own reference and may release it at once). nb_state_dict_free() drops
 *   those references. Tensors are not copied: a dict built from a model's parameters shares
 *   them with the model. Lookups return BORROWED pointers, valid while the dict lives and the
 *   entry is not replaced; retain a tensor to keep it past nb_state_dict_free().
 *   Names and metadata strings are copied.
 *
 * Order
 *   Entries and metadata keep insertion order (a checkpoint is written in this order).
 *   Lookups by name are hashed (O(1) on average).
 *
 * Errors
 *   Misuse (NULL arguments, a duplicate name, an index out of range) calls the misuse handler
 *   with a one-line message naming the function; out of memory too.
 */
#ifndef NB_STATE_DICT_H
#define NB_STATE_DICT_H

#include "nb_tensor.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct nb_state_dict nb_state_dict;

/* A new empty dict; free it with nb_state_dict_free. */
NB_API nb_state_dict *nb_state_dict_new(void);
/* Releases the dict's tensor references and frees it. NULL is a no-op. */
NB_API void nb_state_dict_free(nb_state_dict *sd);

/* Appends (name, t) and retains t. `name` (any non-NULL string, copied) must not be in the
 * dict yet: a duplicate is misuse ("nb_state_dict_add: duplicate name 'w'"). */
NB_API void nb_state_dict_add(nb_state_dict *sd, const char *name, nb_tensor *t);
/* The tensor stored under `name` (borrowed), or NULL when there is none. */
NB_API nb_tensor *nb_state_dict_get(const nb_state_dict *sd, const char *name);
/* True when `name` is in the dict. */
NB_API bool nb_state_dict_contains(const nb_state_dict *sd, const char *name);

/* Number of entries. */
NB_API int nb_state_dict_count(const nb_state_dict *sd);
/* Name / tensor (borrowed) of entry i, 0 <= i < count (else misuse), in insertion order. */
NB_API const char *nb_state_dict_name_at(const nb_state_dict *sd, int i);
NB_API nb_tensor *nb_state_dict_tensor_at(const nb_state_dict *sd, int i);

/* Sets metadata key → value (both copied). A new key is appended; an existing key keeps its
 * position and gets the new value. */
NB_API void nb_state_dict_set_meta(nb_state_dict *sd, const char *key, const char *value);
/* The value for `key` (borrowed, valid until the key is set again or the dict is freed), or
 * NULL when absent. */
NB_API const char *nb_state_dict_get_meta(const nb_state_dict *sd, const char *key);
/* Number of metadata pairs, and pair i (0 <= i < count, else misuse) in insertion order. */
NB_API int nb_state_dict_meta_count(const nb_state_dict *sd);
NB_API const char *nb_state_dict_meta_key_at(const nb_state_dict *sd, int i);
NB_API const char *nb_state_dict_meta_value_at(const nb_state_dict *sd, int i);

#ifdef __cplusplus
}
#endif
#endif /* NB_STATE_DICT_H */
