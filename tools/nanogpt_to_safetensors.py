#!/usr/bin/env python3
"""nanogpt_to_safetensors.py — convert a nanoGPT checkpoint (ckpt.pt: {model, model_args, iter_num,
best_val_loss, config, ...}) and its character vocabulary (meta.pkl: {stoi, itos}) into one
safetensors file that `chargpt sample` and `chargpt eval` load.

Usage: nanogpt_to_safetensors.py CKPT.pt OUT.safetensors [--meta META.pkl] [--gelu erf|tanh]

The weights keep nanoGPT's names (the "_orig_mod." prefix torch.compile adds is stripped; the
causal-mask buffers attn.bias are dropped; lm_head.weight, tied to transformer.wte.weight, is stored
once) as float32. The metadata holds "config" (JSON of model_args, plus "gelu") and "vocab" (the
characters in id order). chargpt's vocabulary is sorted: an itos in another order is sorted here and
the embedding rows permuted with it (the model is the same up to the renaming of ids). Without
--meta the file has no vocabulary: give chargpt `--data FILE` (its sorted characters, as nanoGPT's
prepare.py). nanoGPT's GELU is the exact (erf) one; --gelu tanh only for models trained with the
approximation. Needs PyTorch; exits 1 with a message on anything it cannot convert."""
import argparse
import json
import os
import pickle
import sys

import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import safetensors_io  # noqa: E402

MODEL_ARGS = ("n_layer", "n_head", "n_embd", "block_size", "vocab_size", "bias")


def fail(msg):
    sys.exit("nanogpt_to_safetensors.py: " + msg)


def load_state(ckpt_path):
    try:
        ck = torch.load(ckpt_path, map_location="cpu")
    except Exception as e:  # noqa: BLE001 - any unreadable file is one message
        fail("%s: cannot load: %s" % (ckpt_path, e))
    if not isinstance(ck, dict) or "model" not in ck or "model_args" not in ck:
        fail("%s: not a nanoGPT checkpoint (no 'model' and 'model_args')" % ckpt_path)
    sd = {}
    for k, v in ck["model"].items():
        k = k[len("_orig_mod."):] if k.startswith("_orig_mod.") else k
        if (k.endswith(".attn.bias") and v.dim() == 4) or k.endswith(".attn.masked_bias"):
            continue  # the causal mask, not a parameter
        if k in sd:
            fail("%s: %s appears with and without the _orig_mod. prefix" % (ckpt_path, k))
        sd[k] = v.detach().to(torch.float32)
    return ck, sd


def tie(sd, path):
    wte, lm = sd.get("transformer.wte.weight"), sd.pop("lm_head.weight", None)
    if wte is None and lm is None:
        fail("%s: transformer.wte.weight is missing" % path)
    if wte is None:
        sd["transformer.wte.weight"] = lm
    elif lm is not None and not torch.equal(wte, lm):
        fail("%s: lm_head.weight differs from transformer.wte.weight (chargpt's GPT ties them)" % path)


def vocabulary(meta_path, sd, vocab_size):
    """The vocabulary string in sorted order; permutes the embedding rows when itos was not sorted."""
    with open(meta_path, "rb") as f:
        meta = pickle.load(f)
    itos = meta.get("itos") if isinstance(meta, dict) else None
    if not isinstance(itos, dict) or sorted(itos) != list(range(len(itos))):
        fail("%s: no 'itos' mapping ids 0..n-1 to characters" % meta_path)
    chars = [itos[i] for i in range(len(itos))]
    if any(not isinstance(c, str) or len(c) != 1 for c in chars) or len(set(chars)) != len(chars):
        fail("%s: the tokens are not distinct single characters (not a character-level model)" % meta_path)
    if len(chars) != vocab_size:
        fail("%s: %d characters, but the model's vocab_size is %d" % (meta_path, len(chars), vocab_size))
    order = sorted(range(len(chars)), key=lambda i: chars[i])
    if order != list(range(len(chars))):
        sd["transformer.wte.weight"] = sd["transformer.wte.weight"][order].contiguous()
    return "".join(chars[i] for i in order)


def main(argv):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("ckpt")
    ap.add_argument("out")
    ap.add_argument("--meta", help="nanoGPT's meta.pkl (stoi, itos)")
    ap.add_argument("--gelu", choices=("erf", "tanh"), help="GELU of the model (default: erf, nanoGPT's)")
    a = ap.parse_args(argv)
    ck, sd = load_state(a.ckpt)
    args = ck["model_args"]
    missing = [k for k in MODEL_ARGS if k not in args]
    if missing:
        fail("%s: model_args lacks %s" % (a.ckpt, ", ".join(missing)))
    tie(sd, a.ckpt)
    gelu = a.gelu or (ck.get("config") or {}).get("gelu", "erf")
    config = {k: args[k] for k in MODEL_ARGS}
    config["bias"] = bool(config["bias"])
    config["dropout"] = float(args.get("dropout", 0.0))
    config["gelu"] = gelu
    meta = {"config": json.dumps(config)}
    if a.meta:
        meta["vocab"] = vocabulary(a.meta, sd, int(args["vocab_size"]))
    if "iter_num" in ck:
        meta["iter"] = str(int(ck["iter_num"]))
    if "best_val_loss" in ck:
        meta["val_loss"] = repr(float(ck["best_val_loss"]))
    meta["source"] = "nanoGPT ckpt.pt (tools/nanogpt_to_safetensors.py)"
    first = ["transformer.wte.weight", "transformer.wpe.weight"]
    items = [(k, sd[k]) for k in first if k in sd] + [(k, v) for k, v in sd.items() if k not in first]
    safetensors_io.write(a.out, items, meta)
    print("wrote %s (%d tensors, vocabulary %s)" % (a.out, len(items), "included" if a.meta else "absent: use --data"))


if __name__ == "__main__":
    main(sys.argv[1:])
