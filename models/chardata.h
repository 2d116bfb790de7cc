/* chardata.h — character-level tokenizer and batch loader for chargpt (nanoGPT's shakespeare_char).
 * Text is UTF-8; a token is one Unicode code point. Failures caused by the data or the user's text
 * return an nb_status with a message in nb_last_error() and never abort. */
#ifndef NB_CHARDATA_H
#define NB_CHARDATA_H

#include "nabla.h"

#define NB_VOCAB_MAX 4096

/* The vocabulary: sorted distinct code points of the training text (id = index). */
typedef struct nb_vocab {
    int n;
    uint32_t cp[NB_VOCAB_MAX];
} nb_vocab;

/* Builds the vocabulary of `text` (len bytes). NB_ERR_FORMAT for non-text data (NUL bytes,
 * invalid UTF-8) or more than NB_VOCAB_MAX distinct characters; NB_ERR_INVALID for empty text. */
nb_status nb_vocab_build(nb_vocab *v, const char *text, size_t len);
/* Vocabulary as UTF-8 (the characters in id order, for checkpoint metadata) into a malloc'd
 * string; and back. */
char *nb_vocab_to_utf8(const nb_vocab *v);
nb_status nb_vocab_from_utf8(nb_vocab *v, const char *s);
/* Encodes text into ids (malloc'd, *n_out ids). An unknown character is NB_ERR_INVALID naming
 * it and its byte offset: "character 'Z' (U+005A) at offset 3 is not in the vocabulary". */
nb_status nb_vocab_encode(const nb_vocab *v, const char *text, size_t len, int64_t **ids, int64_t *n_out);
/* Decodes ids into a malloc'd NUL-terminated UTF-8 string (ids out of range: misuse). */
char *nb_vocab_decode(const nb_vocab *v, const int64_t *ids, int64_t n);

/* ---- dataset -------------------------------------------------------------------------------- */
typedef struct nb_char_data {
    nb_vocab vocab;
    int64_t *ids;      /* whole text */
    int64_t n;         /* tokens */
    int64_t n_train;   /* first n_train tokens are train, the rest val (90/10) */
    /* epoch mode (sampling without replacement): shuffled window starts */
    int64_t *perm, n_perm, cursor, epoch;
} nb_char_data;

/* The largest text nb_char_data_load reads (256 MiB: 2 GiB of token ids). */
#define NB_CHAR_DATA_MAX_BYTES (256 << 20)
/* Reads a text file and tokenizes it with its own vocabulary (or with `vocab` when not NULL, e.g.
 * a checkpoint's). NB_ERR_IO for a missing/unreadable file, a directory, or anything but a regular
 * file (a FIFO or device is rejected without blocking or reading); NB_ERR_INVALID for a file over
 * NB_CHAR_DATA_MAX_BYTES, an empty file or one too short for block_size in either split. */
nb_status nb_char_data_load(nb_char_data *d, const char *path, const nb_vocab *vocab, int64_t block_size);
void nb_char_data_free(nb_char_data *d);

typedef enum { NB_SPLIT_TRAIN, NB_SPLIT_VAL } nb_data_split;
/* A batch x, y [B, T] (int64, y = x shifted by one) from random offsets with replacement drawn
 * from gen (torch.randint(len - T, (B,)) as nanoGPT). New references in *x, *y. */
void nb_char_data_batch(const nb_char_data *d, nb_data_split split, int64_t B, int64_t T, nb_generator *gen,
                        nb_tensor **x, nb_tensor **y);
/* Epoch mode: the next B windows of a shuffled pass over non-overlapping train windows; a new
 * shuffle (from gen) starts each epoch. */
void nb_char_data_batch_epoch(nb_char_data *d, int64_t B, int64_t T, nb_generator *gen, nb_tensor **x, nb_tensor **y);

/* ---- chargpt --sampling sequential ---- */
/* The windows per stream of nb_char_data_batch_sequential for B streams of T tokens (0: the
 * train split is too short). */
int64_t nb_char_data_sequential_windows(const nb_char_data *d, int64_t B, int64_t T);
/* Consecutive windows for truncated BPTT: the train split minus its last token is cut into B
 * equal contiguous streams, row b of every batch reads stream b, and batch k holds each stream's
 * k-th window of T tokens (d->cursor = k; d->epoch counts the passes). Returns true when the
 * batch starts a pass (k = 0: the carried state must start from zeros). New references in *x,
 * *y. Misuse when nb_char_data_sequential_windows is 0. */
bool nb_char_data_batch_sequential(nb_char_data *d, int64_t B, int64_t T, nb_tensor **x, nb_tensor **y);

#endif
