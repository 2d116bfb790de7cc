/* checkpoint.h — chargpt's files: the model checkpoint (weights + config + vocabulary in the
 * safetensors metadata, loadable by PyTorch) and the resume state (model, optimizer moments and
 * steps, scheduler, RNG, data position, log position). Every function returns an nb_status with
 * a message in nb_last_error(); saves are atomic (nothing half-written, previous file intact). */
#ifndef NB_CHECKPOINT_H
#define NB_CHECKPOINT_H

#include "chardata.h"
#include "gpt.h"
#include "nb_lr_scheduler.h"
#include "nb_optim.h"
#include "nb_safetensors.h"
#include "nb_state_dict.h"

nb_status nb_ckpt_save(const char *path, nb_gpt *g, const nb_char_vocab *v, int64_t iter, double val_loss);
/* Loads a checkpoint: builds the model from its config (*g, free with nb_module_free) and vocab. */
nb_status nb_ckpt_load(const char *path, nb_gpt **g, nb_char_vocab *v);

typedef struct nb_train_state {
    int64_t iter;         /* next iteration to run */
    double best_val_loss;
    int64_t log_rows;     /* data rows in log.csv at this point */
    nb_generator rng;     /* batch sampling generator */
    nb_generator dropout_rng;
    int64_t data_cursor, data_epoch;
    int64_t world_size, grad_accum; /* ranks x micro-batches per step of the run (1 when absent) */
} nb_train_state;

nb_status nb_resume_save(const char *path, nb_gpt *g, const nb_char_vocab *v, nb_optimizer *opt,
                         nb_lr_scheduler *sched, const nb_char_data *d, const nb_train_state *ts);
/* Restores into an already built model/optimizer/scheduler of the same config (checked: a
 * different config or vocabulary is NB_ERR_MISMATCH) and the data position. */
nb_status nb_resume_load(const char *path, nb_gpt *g, const nb_char_vocab *v, nb_optimizer *opt,
                         nb_lr_scheduler *sched, nb_char_data *d, nb_train_state *ts);

#endif
