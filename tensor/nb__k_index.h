/* nb__k_index.h — internal kernels of the indexing family: index_select / index_add along a dim,
 * gather / scatter_add, triangle masks and multinomial sampling. No autograd knowledge; shapes,
 * dtypes and index ranges are checked by the callers (autograd/ops_index.c) before the kernels
 * run; nb__k_index_check is the one place an index tensor's values are validated.
 *
 * Index arrays are int64. Copies move elements by size (any dtype); additions are instantiated
 * per numeric dtype. Every kernel accepts strided operands; outputs are written so that the
 * result is independent of the thread count (accumulations run in a fixed order per element). */
#ifndef NB__K_INDEX_H
#define NB__K_INDEX_H

#include "nb__tensor.h"

/* Misuse unless index is int32/int64 ("op: index tensor must be int32 or int64, got float32")
 * and every value lies in [0, size) ("op: index 70 out of range for dim 0 of size 65"; the first
 * bad value in row-major order is named). Allocates nothing, so callers check before opening
 * their scope. */
NB__INTERNAL void nb__k_index_check(const char *op, const nb_tensor *index, int dim, int64_t size);
/* A contiguous int64 tensor with index's values and shape (int32/int64 index): index itself as a
 * new reference when it already is one, else a converted copy. */
NB__INTERNAL nb_tensor *nb__k_index_i64(const nb_tensor *index);

/* out[..., j, ...] = t[..., idx[j], ...] along dim d (j < nidx). out has t's shape except
 * out->shape[d] == nidx; both have ndim >= 1. Same dtype. idx values are in range. */
NB__INTERNAL void nb__k_index_select(nb_tensor *out, const nb_tensor *t, int d, const int64_t *idx, int64_t nidx);

/* dst[..., idx[j], ...] += src[..., j, ...] along dim d, j ascending for every destination
 * element (duplicates accumulate deterministically). src has dst's shape except
 * src->shape[d] == nidx. Numeric dtypes, dst and src alike. */
NB__INTERNAL void nb__k_index_add(nb_tensor *dst, int d, const int64_t *idx, int64_t nidx, const nb_tensor *src);

/* torch.gather along d: out[p] = t[p with coordinate d replaced by index[p]]. out and index
 * (contiguous int64, values in range) have the same shape; index->shape[k] <= t->shape[k] for
 * k != d; equal ndim (0-dim allowed). Same dtype for out and t. */
NB__INTERNAL void nb__k_gather(nb_tensor *out, const nb_tensor *t, int d, const nb_tensor *index);

/* torch.scatter_add_ along d in place: dst[p with coordinate d replaced by index[p]] += src[p]
 * for every position p of index (contiguous int64, values in range), contributions to one
 * element added in ascending order of coordinate d. Numeric dtypes; equal ndim. */
NB__INTERNAL void nb__k_scatter_add(nb_tensor *dst, int d, const nb_tensor *index, const nb_tensor *src);

/* out = t with the elements outside the triangle of the last two dims set to zero: kept where
 * col - row <= k (lower, upper false) or col - row >= k (upper true). out is contiguous with
 * t's shape (ndim >= 2), any dtype. */
NB__INTERNAL void nb__k_triangle(nb_tensor *out, const nb_tensor *t, int64_t k, bool upper);

/* Draws `ns` category indices per row of the non-negative weights w (rows x n, row-major; every
 * row has a positive sum, and at least ns positive entries when !replacement) into out
 * (rows x ns). Rows in order, one gen uniform per sample: with replacement by inverse CDF,
 * without by sequential draws that remove the chosen category. */
NB__INTERNAL void nb__k_multinomial(int64_t *out, const double *w, int64_t rows, int64_t n, int64_t ns,
                                    bool replacement, nb_generator *gen);

#endif /* NB__K_INDEX_H */
