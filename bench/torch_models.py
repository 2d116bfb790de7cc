#!/usr/bin/env python3
"""torch_models.py — the PyTorch 1.13 side of bench/chargpt_models.sh: `chargpt train --model
gpt|llama|lstm` with each model's DEFAULT config, trained on the same text until --max-iters, a
wall-time limit or SIGINT/SIGTERM (`timeout -s INT S` stops both sides alike), then the loss over
the whole val split computed as `chargpt eval` does.

What is mirrored (models/chargpt_args.c, chargpt_model.c, chargpt_train.c, chardata.c, llama.c,
char_rnn.c, gpt.c):
  data    the sorted characters of the file are the vocabulary; the first int(0.9 n) ids train,
          the rest validate (models/chardata.c).
  gpt     tests/ref_gpt.py's GPT (nanoGPT): 4 layers, 4 heads, 128 channels, block 64, no biases,
          tanh GELU, dropout 0, lm_head tied to wte, N(0, 0.02) init (c_proj 0.02/sqrt(2 L)).
  llama   tests/ref_llama.py's llama2.c-style Transformer: dim 128, 4 layers, 4 heads (kv 4),
          multiple_of 32 (SwiGLU hidden 352), norm_eps 1e-5, rope_theta 1e4, output tied; llama2.c's
          init: N(0, 0.02) for every >= 2-D weight, w3 and wo N(0, 0.02/sqrt(2 L)).
  lstm    char-rnn: Embedding(V, 128) -> nn.LSTM(128, 128, 2 layers, biases) -> Linear(128, V),
          PyTorch's default inits (nabla's are the same distributions: N(0, 1), U(+-1/sqrt(H)),
          U(+-1/sqrt(in))); --sampling sequential: row b of the batch reads its own contiguous
          stream of the train split (stride (n_train - 1) // B), window after window, the (h, c)
          state carried and detached (truncated BPTT), reset to zeros when a pass starts again.
  batches B 12 x T 64; gpt and llama (and lstm with --sampling random) take random windows,
          start uniform in [0, len - T).
  optim   AdamW lr 1e-3, betas (0.9, 0.99), eps 1e-8, weight decay 0.1 on every >= 2-D parameter
          (embeddings included), 0 on the rest; gradient norm clipped to 1.0; lr per iteration it:
          warmup 1e-3 (it + 1) / 101 for it < 100, cosine to 1e-4 at 2000, 1e-4 after.
  loop    iterations 0..max_iters (2000); at every --eval-interval (25 in chargpt_models.sh) the
          estimate on --eval-iters random batches of train and of val (eval mode, no grad, an RNN
          from zeros), and a snapshot of the weights (chargpt's --always-save-checkpoint); the
          per-step tokens/s = B T / (the step's time: batch, forward, backward, clip, update).
  final   the loss of the last snapshot over every non-overlapping 64-token window of the val
          split (the RNN from a zero state per window), 32 windows a batch (`chargpt eval`).

Writes OUT_DIR/log.csv with chargpt's columns (iter,train_loss,val_loss,lr,tokens_per_s: val_loss
only on eval rows) and prints, like chargpt, "torch_models: N parameters ...", the eval lines, and
at the end

    val_loss X (full split, weights of iter K)
    RESULT impl=torch model=M params=N iters=I ckpt_iter=K val_loss=X tokens_per_s=MEDIAN

usage: torch_models.py --model gpt|llama|lstm --data FILE --out-dir DIR [--sampling random|sequential]
         [--max-iters 2000] [--seconds S (0: none)] [--threads 1] [--seed 1337] [--eval-interval 250]
         [--eval-iters 20]
       torch_models.py --model M --data FILE --eval-checkpoint CKPT
         (no training: the full-split val loss of a checkpoint nabla wrote, loaded into the PyTorch
         model by name; equal to `chargpt eval --digits 8` within float32 rounding)
--threads N sets torch.set_num_threads(N) and, unless the caller set it, OPENBLAS_NUM_THREADS=N
(Debian's torch does its GEMMs in OpenBLAS)."""
import argparse
import math
import os
import signal
import sys
import time

STOP = []  # a signal number once SIGINT/SIGTERM came: the loop ends after the current iteration


def on_signal(signum, frame):  # noqa: ARG001
    STOP.append(signum)


signal.signal(signal.SIGINT, on_signal)  # before `import torch`, which takes a second or two
signal.signal(signal.SIGTERM, on_signal)

ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
ap.add_argument("--model", choices=["gpt", "llama", "lstm"], default="gpt")
ap.add_argument("--data", required=True)
ap.add_argument("--out-dir")
ap.add_argument("--sampling", choices=["random", "sequential"], default="random")
ap.add_argument("--max-iters", type=int, default=2000)
ap.add_argument("--seconds", type=float, default=0.0)
ap.add_argument("--threads", type=int, default=1)
ap.add_argument("--seed", type=int, default=1337)
ap.add_argument("--eval-interval", type=int, default=250)
ap.add_argument("--eval-iters", type=int, default=20)
ap.add_argument("--eval-checkpoint", metavar="CKPT", help="no training: load a checkpoint `chargpt train --model "
                "MODEL` wrote (its names are this script's) and print its full-split val loss, 8 decimals "
                "(a cross-check of the model and the evaluation loop against `chargpt eval --digits 8`)")
a = ap.parse_args()
if a.sampling == "sequential" and a.model != "lstm":
    sys.exit("torch_models.py: --sampling sequential is the lstm's (chargpt carries state only there)")
os.environ.setdefault("OPENBLAS_NUM_THREADS", str(a.threads))
T_START = time.time()

import torch  # noqa: E402
import torch.nn as nn  # noqa: E402
import torch.nn.functional as F  # noqa: E402

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tests"))
from ref_gpt import GPT  # noqa: E402  (nanoGPT's model as models/gpt.c builds it)
from ref_llama import Transformer  # noqa: E402  (llama2.c's model as models/llama.c builds it)

# chargpt's defaults (models/chargpt_args.c, nb_lm_config_default)
B, T, C, N_LAYER, N_HEAD = 12, 64, 128, 4, 4
LSTM_LAYERS = 2
LR, MIN_LR, WARMUP, DECAY_ITERS = 1e-3, 1e-4, 100, 2000
WEIGHT_DECAY, BETAS, GRAD_CLIP = 0.1, (0.9, 0.99), 1.0


class CharRNN(nn.Module):
    """models/char_rnn.c: embedding, multi-layer LSTM (batch first), linear head; mean cross-entropy."""

    def __init__(self, vocab, n_embd, n_layers):
        super().__init__()
        self.embedding = nn.Embedding(vocab, n_embd)
        self.rnn = nn.LSTM(n_embd, n_embd, num_layers=n_layers, bias=True, batch_first=True)
        self.head = nn.Linear(n_embd, vocab)

    def forward(self, idx, targets, state=None):
        y, state = self.rnn(self.embedding(idx), state)
        logits = self.head(y)
        return F.cross_entropy(logits.view(-1, logits.size(-1)), targets.view(-1)), state


def build(vocab):
    if a.model == "gpt":
        return GPT(vocab, T, N_LAYER, N_HEAD, C, False, "tanh")
    if a.model == "llama":
        cfg = {"dim": C, "n_layers": N_LAYER, "n_heads": N_HEAD, "n_kv_heads": N_HEAD, "vocab_size": vocab,
               "multiple_of": 32, "max_seq_len": T, "norm_eps": 1e-5, "rope_theta": 10000.0, "dropout": 0.0,
               "tie_embeddings": True}
        m = Transformer(cfg, torch.float32)
        proj_std = 0.02 / math.sqrt(2 * N_LAYER)
        with torch.no_grad():
            for name, p in m.named_parameters():
                if p.dim() >= 2:
                    p.normal_(0.0, proj_std if name.endswith(("w3.weight", "wo.weight")) else 0.02)
        return m
    return CharRNN(vocab, C, LSTM_LAYERS)


def loss_of(model, x, y):
    """Mean cross-entropy; the RNN from a zero state (eval, random windows)."""
    out = model(x, y)
    return out[0] if isinstance(out, tuple) else out


def full_split_loss(model, val):
    """`chargpt eval`: mean loss over every non-overlapping T-token window of the split, 32 a batch."""
    model.eval()
    w = (len(val) - 1) // T
    x = val[: w * T].view(w, T)
    y = val[1: w * T + 1].view(w, T)
    with torch.no_grad():
        total = sum(loss_of(model, x[i: i + 32], y[i: i + 32]).item() * y[i: i + 32].numel() for i in range(0, w, 32))
    return total / (w * T)


def eval_checkpoint(model, chars, val):
    from safetensors_torch import read  # tests/: the test suite's own format reader
    _, _, tensors, meta = read(a.eval_checkpoint)
    if meta.get("model", "gpt") != a.model or meta.get("vocab") != "".join(chars):
        sys.exit("torch_models.py: %s is a %s checkpoint of another vocabulary or model than --model %s and --data"
                 % (a.eval_checkpoint, meta.get("model"), a.model))
    missing, unexpected = model.load_state_dict(tensors, strict=False)
    tied = ("lm_head.weight", "transformer.wte.weight", "output.weight", "tok_embeddings.weight")
    if unexpected or [k for k in missing if k not in tied]:
        sys.exit("torch_models.py: load_state_dict: missing %s, unexpected %s" % (missing, unexpected))
    print("val_loss %.8f (full split, %s, iter %s)" % (full_split_loss(model, val), a.eval_checkpoint,
                                                         meta.get("iter", "?")))


def lr_at(it):
    if it < WARMUP:
        return LR * (it + 1) / (WARMUP + 1)
    if it > DECAY_ITERS:
        return MIN_LR
    ratio = (it - WARMUP) / (DECAY_ITERS - WARMUP)
    return MIN_LR + 0.5 * (1.0 + math.cos(math.pi * ratio)) * (LR - MIN_LR)


def main():
    torch.set_num_threads(a.threads)
    torch.manual_seed(a.seed)
    with open(a.data, encoding="utf-8") as f:
        text = f.read()
    chars = sorted(set(text))
    stoi = {ch: i for i, ch in enumerate(chars)}
    data = torch.tensor([stoi[ch] for ch in text], dtype=torch.int64)
    n_train = int(len(data) * 0.9)
    train, val = data[:n_train], data[n_train:]
    model = build(len(chars))
    if a.eval_checkpoint:
        return eval_checkpoint(model, chars, val)
    if not a.out_dir:
        sys.exit("torch_models.py: --out-dir is required to train")
    params = sum(p.numel() for p in model.parameters())
    decay = [p for p in model.parameters() if p.dim() >= 2]
    no_decay = [p for p in model.parameters() if p.dim() < 2]
    opt = torch.optim.AdamW([{"params": decay, "weight_decay": WEIGHT_DECAY},
                             {"params": no_decay, "weight_decay": 0.0}], lr=LR, betas=BETAS, eps=1e-8)
    gen = torch.Generator().manual_seed(a.seed ^ 0x5EED)
    offs = torch.arange(T)

    def random_batch(d):
        ix = torch.randint(len(d) - T, (B,), generator=gen)
        idx = ix[:, None] + offs
        return d[idx], d[idx + 1]

    stride = (n_train - 1) // B
    windows = stride // T
    seq = {"cursor": 0, "state": None}

    def sequential_batch():
        if seq["cursor"] >= windows:  # the pass is over: every stream starts again, from zeros
            seq["cursor"], seq["state"] = 0, None
        idx = (torch.arange(B) * stride + seq["cursor"] * T)[:, None] + offs
        seq["cursor"] += 1
        return train[idx], train[idx + 1]

    def estimate(d):
        model.eval()
        with torch.no_grad():
            s = sum(loss_of(model, *random_batch(d)).item() for _ in range(a.eval_iters))
        model.train()
        return s / a.eval_iters

    print("torch_models: %s, %d parameters, vocab %d, %d train / %d val tokens, %d thread(s), torch %s; training "
          "starts %.1f s after the process (import torch, encoding the text)"
          % (a.model, params, len(chars), len(train), len(val), a.threads, torch.__version__, time.time() - T_START),
          flush=True)
    os.makedirs(a.out_dir, exist_ok=True)
    log = open(os.path.join(a.out_dir, "log.csv"), "w")
    log.write("iter,train_loss,val_loss,lr,tokens_per_s\n")
    snap, snap_iter, iters, tps = None, -1, 0, []
    for it in range(a.max_iters + 1):
        if a.seconds > 0 and time.time() - T_START >= a.seconds:
            break
        lr = lr_at(it)
        for g in opt.param_groups:
            g["lr"] = lr
        val_loss = None
        if it % a.eval_interval == 0:
            tl, val_loss = estimate(train), estimate(val)
            print("step %d: train loss %.4f, val loss %.4f" % (it, tl, val_loss), flush=True)
            snap = {k: v.detach().clone() for k, v in model.state_dict().items()}
            snap_iter = it
        t0 = time.perf_counter()
        if a.sampling == "sequential":
            x, y = sequential_batch()
            loss, state = model(x, y, seq["state"])
            seq["state"] = tuple(s.detach() for s in state)
        else:
            loss = loss_of(model, *random_batch(train))
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), GRAD_CLIP)
        opt.step()
        opt.zero_grad(set_to_none=True)
        lv = loss.item()
        dt = time.perf_counter() - t0
        iters += 1
        log.write("%d,%.6f,%s,%.8g,%.0f\n" % (it, lv, "" if val_loss is None else "%.6f" % val_loss, lr, B * T / dt))
        if val_loss is None:
            tps.append(B * T / dt)
        if STOP:
            print("interrupted at iter %d (%s)" % (it, signal.Signals(STOP[0]).name), flush=True)
            break
    log.close()
    if snap is None:
        sys.exit("torch_models.py: stopped before the first evaluation: no checkpoint to evaluate")
    model.load_state_dict(snap)
    vl = full_split_loss(model, val)
    tps.sort()
    med = tps[(len(tps) + 1) // 2 - 1] if tps else float("nan")
    print("val_loss %.4f (full split, weights of iter %d)" % (vl, snap_iter))
    print("RESULT impl=torch model=%s params=%d iters=%d ckpt_iter=%d val_loss=%.4f tokens_per_s=%.0f"
          % (a.model, params, iters, snap_iter, vl, med), flush=True)


if __name__ == "__main__":
    main()
