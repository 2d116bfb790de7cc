/* state_dict.c — the ordered name → tensor container with string metadata (nb_state_dict.h).
 * Entries and metadata are two ordered lists, each with an open-addressing hash index. */
#include "config.h"
#include "nb_state_dict.h"

#include "nb__tensor.h"

#include <stdlib.h>
#include <string.h>

typedef struct {
    char *key;
    char *value;       /* metadata lists only */
    nb_tensor *tensor; /* entry lists only (one reference owned) */
} sd_item;

typedef struct {
    sd_item *items;
    int n, cap;
    int *slots; /* hash index: item index + 1, 0 = empty; nslots is a power of two */
    size_t nslots;
} sd_list;

struct nb_state_dict {
    sd_list entries;
    sd_list meta;
};

static uint64_t hash_str(const char *s)
{
    uint64_t h = 1469598103934665603ULL; /* FNV-1a */
    for (; *s; s++)
        h = (h ^ (unsigned char)*s) * 1099511628211ULL;
    return h;
}

static char *dup_str(const char *fn, const char *s)
{
    size_t n = strlen(s) + 1;
    char *d = malloc(n);
    if (!d)
        nb__fail("%s: out of memory copying a %zu-byte string", fn, n);
    memcpy(d, s, n);
    return d;
}

static int list_find(const sd_list *l, const char *key)
{
    if (!l->nslots)
        return -1;
    size_t mask = l->nslots - 1;
    for (size_t i = hash_str(key) & mask;; i = (i + 1) & mask) {
        int slot = l->slots[i];
        if (slot == 0)
            return -1;
        if (strcmp(l->items[slot - 1].key, key) == 0)
            return slot - 1;
    }
}

static void index_insert(int *slots, size_t nslots, const char *key, int idx)
{
    size_t mask = nslots - 1;
    size_t i = hash_str(key) & mask;
    while (slots[i])
        i = (i + 1) & mask;
    slots[i] = idx + 1;
}

/* Appends an item with a copy of `key` (not yet present) and returns its index. */
static int list_append(const char *fn, sd_list *l, const char *key)
{
    if (l->n == l->cap) {
        if (l->cap > (1 << 29))
            nb__fail("%s: too many entries (%d)", fn, l->n);
        int cap = l->cap ? 2 * l->cap : 16;
        sd_item *items = realloc(l->items, (size_t)cap * sizeof *items);
        if (!items)
            nb__fail("%s: out of memory growing to %d entries", fn, cap);
        l->items = items;
        l->cap = cap;
    }
    if ((size_t)(l->n + 1) * 2 > l->nslots) { /* keep the load factor <= 1/2 */
        size_t nslots = l->nslots ? 2 * l->nslots : 32;
        int *slots = calloc(nslots, sizeof *slots);
        if (!slots)
            nb__fail("%s: out of memory growing the name index to %zu slots", fn, nslots);
        for (int i = 0; i < l->n; i++)
            index_insert(slots, nslots, l->items[i].key, i);
        free(l->slots);
        l->slots = slots;
        l->nslots = nslots;
    }
    int idx = l->n++;
    l->items[idx] = (sd_item){.key = dup_str(fn, key)};
    index_insert(l->slots, l->nslots, l->items[idx].key, idx);
    return idx;
}

static void list_free(sd_list *l)
{
    for (int i = 0; i < l->n; i++) {
        free(l->items[i].key);
        free(l->items[i].value);
        nb_tensor_release(l->items[i].tensor);
    }
    free(l->items);
    free(l->slots);
}

nb_state_dict *nb_state_dict_new(void)
{
    nb_state_dict *sd = calloc(1, sizeof *sd);
    if (!sd)
        nb__fail("nb_state_dict_new: out of memory");
    return sd;
}

void nb_state_dict_free(nb_state_dict *sd)
{
    if (!sd)
        return;
    list_free(&sd->entries);
    list_free(&sd->meta);
    free(sd);
}

static void check_args(const char *fn, const nb_state_dict *sd, const char *s, const char *what)
{
    if (!sd)
        nb__fail("%s: state dict is NULL", fn);
    if (!s)
        nb__fail("%s: %s is NULL", fn, what);
}

void nb_state_dict_add(nb_state_dict *sd, const char *name, nb_tensor *t)
{
    check_args("nb_state_dict_add", sd, name, "name");
    if (!t)
        nb__fail("nb_state_dict_add: tensor for '%s' is NULL", name);
    if (list_find(&sd->entries, name) >= 0)
        nb__fail("nb_state_dict_add: duplicate name '%s'", name);
    int idx = list_append("nb_state_dict_add", &sd->entries, name);
    sd->entries.items[idx].tensor = nb_tensor_retain(t);
}

nb_tensor *nb_state_dict_get(const nb_state_dict *sd, const char *name)
{
    check_args("nb_state_dict_get", sd, name, "name");
    int idx = list_find(&sd->entries, name);
    return idx < 0 ? NULL : sd->entries.items[idx].tensor;
}

bool nb_state_dict_contains(const nb_state_dict *sd, const char *name)
{
    check_args("nb_state_dict_contains", sd, name, "name");
    return list_find(&sd->entries, name) >= 0;
}

int nb_state_dict_count(const nb_state_dict *sd)
{
    if (!sd)
        nb__fail("nb_state_dict_count: state dict is NULL");
    return sd->entries.n;
}

static const sd_item *item_at(const char *fn, const nb_state_dict *sd, const sd_list *l, int i)
{
    if (!sd)
        nb__fail("%s: state dict is NULL", fn);
    if (i < 0 || i >= l->n)
        nb__fail("%s: index %d out of range for %d entries", fn, i, l->n);
    return &l->items[i];
}

const char *nb_state_dict_name_at(const nb_state_dict *sd, int i)
{
    return item_at("nb_state_dict_name_at", sd, sd ? &sd->entries : NULL, i)->key;
}

nb_tensor *nb_state_dict_tensor_at(const nb_state_dict *sd, int i)
{
    return item_at("nb_state_dict_tensor_at", sd, sd ? &sd->entries : NULL, i)->tensor;
}

void nb_state_dict_set_meta(nb_state_dict *sd, const char *key, const char *value)
{
    check_args("nb_state_dict_set_meta", sd, key, "key");
    if (!value)
        nb__fail("nb_state_dict_set_meta: value for '%s' is NULL", key);
    char *copy = dup_str("nb_state_dict_set_meta", value);
    int idx = list_find(&sd->meta, key);
    if (idx < 0)
        idx = list_append("nb_state_dict_set_meta", &sd->meta, key);
    free(sd->meta.items[idx].value);
    sd->meta.items[idx].value = copy;
}

const char *nb_state_dict_get_meta(const nb_state_dict *sd, const char *key)
{
    check_args("nb_state_dict_get_meta", sd, key, "key");
    int idx = list_find(&sd->meta, key);
    return idx < 0 ? NULL : sd->meta.items[idx].value;
}

int nb_state_dict_meta_count(const nb_state_dict *sd)
{
    if (!sd)
        nb__fail("nb_state_dict_meta_count: state dict is NULL");
    return sd->meta.n;
}

const char *nb_state_dict_meta_key_at(const nb_state_dict *sd, int i)
{
    return item_at("nb_state_dict_meta_key_at", sd, sd ? &sd->meta : NULL, i)->key;
}

const char *nb_state_dict_meta_value_at(const nb_state_dict *sd, int i)
{
    return item_at("nb_state_dict_meta_value_at", sd, sd ? &sd->meta : NULL, i)->value;
}
