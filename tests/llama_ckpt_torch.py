#!/usr/bin/env python3
"""llama_ckpt_torch.py — a llama checkpoint written by `chargpt train --model llama` loaded into a
llama2.c-style PyTorch model (tests/ref_llama.py's Transformer, built from the checkpoint's JSON
config and loaded by parameter name, strict), and its loss over a split computed as `chargpt eval`
does: every non-overlapping block_size window of the split, mean cross-entropy over all positions.

usage: llama_ckpt_torch.py CKPT TEXT [val|train]
prints "<split>_loss X" with 8 decimals; exits 1 with a message when the checkpoint is not a
llama one or does not load."""
import json
import os
import sys

import torch
import torch.nn.functional as F

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from ref_llama import Transformer  # noqa: E402  (the llama2.c-style model of tests/test_llama.c)
from safetensors_torch import read  # noqa: E402  (the test suite's own format reader)


def main():
    ckpt, text_path = sys.argv[1], sys.argv[2]
    split = sys.argv[3] if len(sys.argv) > 3 else "val"
    _, _, tensors, meta = read(ckpt)
    cfg = json.loads(meta["config"])
    if cfg.get("model") != "llama":
        sys.exit("%s: model %r, not llama" % (ckpt, cfg.get("model")))
    c = {"dim": cfg["n_embd"], "n_layers": cfg["n_layer"], "n_heads": cfg["n_head"], "n_kv_heads": cfg["n_kv_head"],
         "vocab_size": cfg["vocab_size"], "multiple_of": cfg["multiple_of"], "max_seq_len": cfg["block_size"],
         "norm_eps": cfg["norm_eps"], "rope_theta": cfg["rope_theta"], "dropout": 0.0, "tie_embeddings": True}
    dtype = tensors["tok_embeddings.weight"].dtype
    torch.set_default_dtype(dtype)
    model = Transformer(c, dtype)
    missing, unexpected = model.load_state_dict(tensors, strict=False)
    # tied: output.weight is tok_embeddings.weight (the file may hold it under either name or both)
    if unexpected or [k for k in missing if k not in ("output.weight", "tok_embeddings.weight")]:
        sys.exit("load_state_dict: missing %s, unexpected %s" % (missing, unexpected))
    model.eval()
    vocab = meta["vocab"]
    stoi = {ch: i for i, ch in enumerate(vocab)}
    with open(text_path, encoding="utf-8") as f:
        text = f.read()
    ids = torch.tensor([stoi[ch] for ch in text], dtype=torch.int64)
    n_train = int(len(ids) * 0.9)
    data = ids[n_train:] if split == "val" else ids[:n_train]
    T = cfg["block_size"]
    windows = (len(data) - 1) // T
    x = data[: windows * T].view(windows, T)
    y = data[1: windows * T + 1].view(windows, T)
    with torch.no_grad():
        total = 0.0
        for w0 in range(0, windows, 32):
            xb, yb = x[w0: w0 + 32], y[w0: w0 + 32]
            total += model(xb, yb).item() * yb.numel()
    print("%s_loss %.8f" % (split, total / (windows * T)))


if __name__ == "__main__":
    main()
