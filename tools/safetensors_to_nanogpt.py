#!/usr/bin/env python3
"""safetensors_to_nanogpt.py — convert a chargpt checkpoint (ckpt.safetensors: weights with
nanoGPT's names, config and vocabulary in the metadata) into nanoGPT's files: OUT_DIR/ckpt.pt
({model, model_args, iter_num, best_val_loss, config}) and OUT_DIR/meta.pkl ({vocab_size, itos,
stoi}), which nanoGPT's sample.py loads (init_from='resume', out_dir=OUT_DIR; it looks for
data/<config['dataset']>/meta.pkl, so copy meta.pkl there).

Usage: safetensors_to_nanogpt.py CKPT.safetensors OUT_DIR [--dataset NAME] [--mask-buffers auto|yes|no]

model holds every parameter under nanoGPT's name, lm_head.weight the same tensor as
transformer.wte.weight (tied). nanoGPT registers the causal-mask buffers transformer.h.N.attn.bias
only when PyTorch lacks scaled_dot_product_attention (before 2.0), and its load_state_dict is
strict: --mask-buffers auto (default) decides as nanoGPT would on this machine's PyTorch; choose yes
or no for the PyTorch that will load the file. No optimizer state: for sampling and evaluation,
not for resuming training. A model trained with the tanh GELU (chargpt's default) is converted
with a warning: nanoGPT's GELU is exact (erf), so its outputs will differ slightly; train with
--gelu erf for an exact match. Needs PyTorch; exits 1 with a message on what it cannot convert."""
import argparse
import json
import os
import pickle
import sys

import torch
import torch.nn.functional as F

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import safetensors_io  # noqa: E402

INTS = ("n_layer", "n_head", "n_embd", "block_size", "vocab_size")


def fail(msg):
    sys.exit("safetensors_to_nanogpt.py: " + msg)


def read_config(path, meta):
    """(config dict with INTS, bias, dropout, gelu; iter; val_loss) from chargpt's or the JSON metadata."""
    if meta.get("format", "").startswith("nabla-chargpt-"):
        try:
            c = {k: int(meta[k]) for k in INTS}
            c["bias"] = meta["bias"] == "true"
            c["dropout"] = float(meta.get("dropout", "0"))
            c["gelu"] = meta.get("gelu", "tanh")
        except (KeyError, ValueError) as e:
            fail("%s: metadata: %s" % (path, e))
    elif "config" in meta:
        c = json.loads(meta["config"])
        c.setdefault("dropout", 0.0)
        c.setdefault("gelu", "erf")
        missing = [k for k in INTS + ("bias",) if k not in c]
        if missing:
            fail("%s: metadata config lacks %s" % (path, ", ".join(missing)))
    else:
        fail("%s: no chargpt metadata (format nabla-chargpt-1) and no config" % path)
    if "log_rows" in meta:
        fail("%s: a training resume state; convert ckpt.safetensors" % path)
    it = int(meta.get("iter", "0"))
    val = float(meta.get("val_loss", "nan"))
    return c, it, val


def nanogpt_state(tensors, c, masks, path):
    """The state dict in nanoGPT's order, float32, lm_head tied."""
    t = {k[len("_orig_mod."):] if k.startswith("_orig_mod.") else k: v.to(torch.float32) for k, v in tensors.items()}
    wte = t.pop("transformer.wte.weight", None)
    lm = t.pop("lm_head.weight", None)
    if wte is None:
        wte = lm
    if wte is None:
        fail("%s: transformer.wte.weight is missing" % path)
    if lm is not None and not torch.equal(lm, wte):
        fail("%s: lm_head.weight differs from transformer.wte.weight" % path)
    sd = {"transformer.wte.weight": wte}

    def take(name):
        if name not in t:
            fail("%s: %s is missing" % (path, name))
        sd[name] = t.pop(name)

    take("transformer.wpe.weight")
    suffixes = ("weight", "bias") if c["bias"] else ("weight",)
    bs = c["block_size"]
    for i in range(c["n_layer"]):
        for mod in ("ln_1", "attn.c_attn", "attn.c_proj", "ln_2", "mlp.c_fc", "mlp.c_proj"):
            for s in suffixes:
                take("transformer.h.%d.%s.%s" % (i, mod, s))
            if mod == "attn.c_attn" and masks:
                sd["transformer.h.%d.attn.bias" % i] = torch.tril(torch.ones(bs, bs)).view(1, 1, bs, bs)
    for s in suffixes:
        take("transformer.ln_f." + s)
    sd["lm_head.weight"] = wte  # the same tensor: torch.save keeps the tie
    if t:
        fail("%s: unexpected tensors %s" % (path, ", ".join(sorted(t))))
    return sd


def main(argv):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("ckpt")
    ap.add_argument("out_dir")
    ap.add_argument("--dataset", default="shakespeare_char", help="config['dataset'] (sample.py's meta.pkl dir)")
    ap.add_argument("--mask-buffers", choices=("auto", "yes", "no"), default="auto")
    a = ap.parse_args(argv)
    try:
        tensors, meta = safetensors_io.read(a.ckpt)
    except (OSError, ValueError) as e:
        fail(str(e))
    c, it, val = read_config(a.ckpt, meta)
    if "vocab" not in meta:
        fail("%s: metadata vocab is missing" % a.ckpt)
    chars = list(meta["vocab"])
    if len(chars) != c["vocab_size"]:
        fail("%s: %d characters in vocab, vocab_size %d" % (a.ckpt, len(chars), c["vocab_size"]))
    if c["gelu"] != "erf":
        print("safetensors_to_nanogpt.py: warning: the model uses the tanh GELU; nanoGPT's is exact (erf): its "
              "outputs will differ slightly", file=sys.stderr)
    masks = {"yes": True, "no": False}.get(a.mask_buffers, not hasattr(F, "scaled_dot_product_attention"))
    sd = nanogpt_state(tensors, c, masks, a.ckpt)
    model_args = dict(n_layer=c["n_layer"], n_head=c["n_head"], n_embd=c["n_embd"], block_size=c["block_size"],
                      bias=bool(c["bias"]), vocab_size=c["vocab_size"], dropout=float(c["dropout"]))
    config = dict(model_args, dataset=a.dataset, gelu=c["gelu"], init_from="resume",
                  source="chargpt %s (tools/safetensors_to_nanogpt.py)" % os.path.basename(a.ckpt))
    ck = {"model": sd, "model_args": model_args, "iter_num": it, "best_val_loss": val, "config": config}
    os.makedirs(a.out_dir, exist_ok=True)
    torch.save(ck, os.path.join(a.out_dir, "ckpt.pt"))
    with open(os.path.join(a.out_dir, "meta.pkl"), "wb") as f:
        pickle.dump({"vocab_size": len(chars), "itos": dict(enumerate(chars)),
                     "stoi": {ch: i for i, ch in enumerate(chars)}}, f)
    print("wrote %s/ckpt.pt and %s/meta.pkl (mask buffers: %s)" % (a.out_dir, a.out_dir, "yes" if masks else "no"))


if __name__ == "__main__":
    main(sys.argv[1:])
