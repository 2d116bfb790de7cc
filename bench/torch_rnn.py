#!/usr/bin/env python3
"""torch_rnn.py — the PyTorch reference for bench/bench_rnn: training throughput of a char LSTM.

The model is the same as bench_rnn's nb_char_rnn: Embedding(V, E) -> nn.LSTM(E, H, num_layers,
batch_first=True) (or nn.GRU) -> Linear(H, V). Each step: forward on [B, T] random ids from a
seeded generator with the state carried from the previous step (detached: truncated BPTT), mean
cross-entropy, backward, Adam (lr 1e-3), zero_grad(set_to_none). Prints one line

    RESULT impl=torch threads=N tok_s=X tokens_per_s=X s_step=Y best_s_step=W loss=Z

(tokens_per_s repeats tok_s under bench/run.sh's key.)

--threads N calls torch.set_num_threads(N); the caller sets OPENBLAS_NUM_THREADS=N alongside
(Debian's torch does its GEMMs in OpenBLAS).
"""
import argparse
import time

import torch


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--vocab", type=int, default=65)
    ap.add_argument("--embd", type=int, default=64)
    ap.add_argument("--hidden", type=int, default=256)
    ap.add_argument("--layers", type=int, default=2)
    ap.add_argument("--batch", type=int, default=32)
    ap.add_argument("--seq", type=int, default=64)
    ap.add_argument("--steps", type=int, default=10)
    ap.add_argument("--warmup", type=int, default=2)
    ap.add_argument("--cell", choices=("lstm", "gru"), default="lstm")
    a = ap.parse_args()
    if a.threads > 0:
        torch.set_num_threads(a.threads)
    torch.manual_seed(0)
    V, E, H, L, B, T = a.vocab, a.embd, a.hidden, a.layers, a.batch, a.seq
    emb = torch.nn.Embedding(V, E)
    rnn = (torch.nn.LSTM if a.cell == "lstm" else torch.nn.GRU)(E, H, num_layers=L, batch_first=True)
    head = torch.nn.Linear(H, V)
    params = list(emb.parameters()) + list(rnn.parameters()) + list(head.parameters())
    opt = torch.optim.Adam(params, lr=1e-3)
    gen = torch.Generator().manual_seed(1)
    state = None
    best = float("inf")
    t_total = 0.0
    loss = torch.tensor(0.0)
    for step in range(a.warmup + a.steps):
        x = torch.randint(0, V, (B, T), generator=gen)
        y = torch.randint(0, V, (B * T,), generator=gen)
        t0 = time.perf_counter()
        out, state = rnn(emb(x), state)
        state = tuple(s.detach() for s in state) if a.cell == "lstm" else state.detach()
        loss = torch.nn.functional.cross_entropy(head(out).reshape(B * T, V), y)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        dt = time.perf_counter() - t0
        if step >= a.warmup:
            t_total += dt
            best = min(best, dt)
    s_step = t_total / a.steps
    print(f"RESULT impl=torch threads={a.threads} tok_s={B * T / s_step:.1f} tokens_per_s={B * T / s_step:.1f} s_step={s_step:.5f} "
          f"best_s_step={best:.5f} loss={loss.item():.4f}")


if __name__ == "__main__":
    main()
