/* nb_dist.h — data-parallel training over MPI: ranks, gradient all-reduce, parameter broadcast.
 *
 * Overview
 *   N copies of a program (ranks) train one model: every rank holds the full model, computes the
 *   gradient of its own micro-batch, and nb_dist_allreduce_grads_mean() replaces each rank's
 *   gradients by their mean over the ranks, so every rank then takes the same optimizer step and
 *   the weights stay identical (PyTorch DistributedDataParallel's contract, without the overlap of
 *   communication with backward). The transport is MPI (Open MPI from Debian: libopenmpi-dev,
 *   openmpi-bin); launch with `mpirun -np N prog ...`.
 *
 *     nb_dist_init(&argc, &argv);                       // once, first thing in main
 *     nb_dist_broadcast_params(params, n);              // rank 0's initial weights everywhere
 *     for (...) {                                       // a step
 *         loss = ...my micro-batch...; nb_backward(loss, NULL, false);
 *         nb_dist_allreduce_grads_mean(params, n);      // before clipping and the step
 *         nb_clip_grad_norm(params, n, 1.0); nb_optimizer_step(opt); ...
 *     }
 *     nb_dist_finalize();
 *
 * Without MPI
 *   The layer is always compiled. When libnabla was configured without MPI (configure
 *   --without-mpi, or MPI not found) it is a single-process stub: world size 1, rank 0, every
 *   collective a no-op returning NB_OK. A program written for N ranks then runs as one process
 *   unchanged. nb_dist_is_available() says which build this is.
 *
 * When MPI is used
 *   nb_dist_init() initializes MPI only when the process was started by an MPI launcher (the
 *   environment has OMPI_COMM_WORLD_SIZE, PMIX_RANK, PMI_RANK or PMI_SIZE), so a plain `./prog`
 *   never pays MPI's start-up. NB_DIST=1 in the environment forces MPI initialization (a
 *   singleton run), NB_DIST=0 forbids it. If the program already initialized MPI itself, that
 *   MPI is used (and left for the program to finalize). A failing MPI_Init may abort the process
 *   (MPI's own rule, before an error handler can be set). nabla communicates on its own duplicate
 *   of MPI_COMM_WORLD with MPI_ERRORS_RETURN: an MPI failure returns NB_ERR_IO with MPI's message
 *   in nb_last_error() instead of aborting. A collective is entered by every rank in the same
 *   order with the same tensor list; a rank that skips one leaves the others waiting (MPI's rule).
 *
 * Determinism
 *   Gradients travel in the parameters' dtype (float32 for float32 models: 4 bytes per
 *   parameter), summed by MPI_SUM then divided by N. For a given N and model the reduction order
 *   is fixed (Open MPI picks its algorithm from N and the message size), so runs repeat bit for
 *   bit, and every rank receives the same sums. N ranks training on micro-batches 0..N-1 match
 *   one process accumulating those N micro-batches with loss scale 1/N up to float rounding (the
 *   sums associate differently: e.g. a tied weight adds its two uses within a micro-batch first;
 *   tests/test_dist.c sees <= 1 ulp after 5 AdamW steps of a tiny GPT). nb_dist_check_identical()
 *   verifies that every rank holds the same bits.
 *
 * Threads
 *   Call these functions from one thread (the one that called nb_dist_init); OpenMP kernels in
 *   between are fine (MPI is initialized with MPI_THREAD_FUNNELED).
 */
#ifndef NB_DIST_H
#define NB_DIST_H

#include "nb_tensor.h"

#ifdef __cplusplus
extern "C" {
#endif

/* ---- lifetime ------------------------------------------------------------------------------- */
/* Joins the job: initializes MPI when launched by an MPI launcher (see above), else stays a
 * single process. argc/argv may be NULL. Calling it again is a no-op. Returns NB_OK, or NB_ERR_IO
 * if MPI fails, or NB_ERR_INVALID when this build has no MPI but the launcher started more than
 * one process (each would train alone and overwrite the others' files: rebuild with MPI). */
NB_API nb_status nb_dist_init(int *argc, char ***argv);
/* Leaves the job: frees nabla's communicator and buffer and finalizes MPI if nb_dist_init
 * initialized it. After it, the layer is back to world size 1. No-op when not initialized. */
NB_API void nb_dist_finalize(void);

/* ---- who am I ------------------------------------------------------------------------------- */
/* True when libnabla was built with MPI (configure --with-mpi). */
NB_API bool nb_dist_is_available(void);
/* True between nb_dist_init and nb_dist_finalize when MPI is in use (even with one rank). */
NB_API bool nb_dist_is_enabled(void);
/* This process's rank in [0, world size); 0 when MPI is not in use. */
NB_API int nb_dist_rank(void);
/* Number of ranks in the job; 1 when MPI is not in use. */
NB_API int nb_dist_world_size(void);
/* Number of ranks on this host (MPI_COMM_TYPE_SHARED), to split the cores between them; 1 when
 * MPI is not in use. */
NB_API int nb_dist_local_size(void);

/* ---- collectives (every rank calls them, in the same order) --------------------------------- */
/* Replaces the gradient of each of the n parameters by its mean over the ranks, all gradients
 * packed into one reused flat buffer and reduced by one MPI_Allreduce (float32 when every
 * parameter is float32, else float64). A rank whose parameter has no gradient (NULL) contributes
 * zeros; if no rank has one it stays NULL everywhere, otherwise every rank ends with one (a
 * zero gradient is allocated where missing). Each parameter must be a float32/float64 tensor,
 * listed once, with the same list (order, shapes) on every rank; gradients may have any layout
 * and are written in place. Misuse: NULL/duplicate params, non-float dtype. No-op with 1 rank. */
NB_API nb_status nb_dist_allreduce_grads_mean(nb_tensor *const *params, int n);
/* Copies the values of rank 0's n tensors into the other ranks' (in place, any dtype and
 * layout): parameters at start, optimizer state after a resume. Same list on every rank. */
NB_API nb_status nb_dist_broadcast_params(nb_tensor *const *tensors, int n);
/* Copies nbytes at buf from rank 0 to the other ranks (plain data: counters, RNG states). */
NB_API nb_status nb_dist_broadcast_bytes(void *buf, size_t nbytes);
typedef enum { NB_DIST_SUM, NB_DIST_MIN, NB_DIST_MAX } nb_dist_op;
/* Element-wise reduction of n doubles over the ranks, result on every rank (losses, flags). */
NB_API nb_status nb_dist_allreduce_doubles(double *buf, int n, nb_dist_op op);
/* Waits until every rank reaches it. */
NB_API nb_status nb_dist_barrier(void);

/* ---- consistency checks --------------------------------------------------------------------- */
/* A 64-bit FNV-1a hash of the n tensors' dtypes, shapes and value bytes in logical (row-major)
 * order: equal exactly when the values are bitwise equal (up to hash collisions). Local, no
 * communication. */
NB_API uint64_t nb_dist_checksum(nb_tensor *const *tensors, int n);
/* Collective: compares every rank's nb_dist_checksum. NB_OK when all agree; NB_ERR_MISMATCH
 * naming the first rank that differs from rank 0 (the same status on every rank). */
NB_API nb_status nb_dist_check_identical(nb_tensor *const *tensors, int n);

#ifdef __cplusplus
}
#endif
#endif /* NB_DIST_H */
