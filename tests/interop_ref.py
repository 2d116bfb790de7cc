#!/usr/bin/env python3
"""interop_ref.py — the PyTorch side of tests/test_interop.sh: GPT checkpoints written the way
PyTorch/nanoGPT write them (tests/ref_gpt.py's model, nanoGPT's names, seeded random weights) and
the losses PyTorch computes for them, in float64, over the windows `chargpt eval` uses (the 90/10
split of the text's ids, every non-overlapping block_size window, mean cross-entropy).

Usage:
  interop_ref.py fixtures DIR TEXT     safetensors checkpoints in DIR (see FIXTURES) and DIR/expected
                                       ("NAME SPLIT LOSS" lines)
  interop_ref.py nanogpt DIR TEXT      DIR/ckpt.pt + DIR/meta.pkl as nanoGPT's train.py/prepare.py
                                       write them (torch.compile's _orig_mod. prefix, causal-mask
                                       buffers, optimizer state, an unsorted itos); prints "val_loss X"
  interop_ref.py eval-nanogpt DIR TEXT SPLIT
                                       checks DIR/ckpt.pt + DIR/meta.pkl hold what nanoGPT's sample.py
                                       reads, builds the model from them, prints "SPLIT_loss X"
Exits 0 on success; 1 with a message otherwise."""
import json
import os
import pickle
import sys

import torch
import torch.nn.functional as F

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tools"))
import ref_gpt  # noqa: E402
import safetensors_io  # noqa: E402

T, N_LAYER, N_HEAD, N_EMBD = 16, 2, 2, 16
NANOGPT_ARGS = ["n_layer", "n_head", "n_embd", "block_size", "bias", "vocab_size", "dropout"]


def fail(msg):
    sys.exit("interop_ref.py: " + msg)


def read_text(path):
    with open(path, encoding="utf-8") as f:
        return f.read()


def model(vocab_size, bias, gelu, seed):
    """A GPT with weights far from the init (so the loss depends on every tensor), float64."""
    torch.manual_seed(seed)
    m = ref_gpt.GPT(vocab_size, T, N_LAYER, N_HEAD, N_EMBD, bias=bias, gelu=gelu).double()
    with torch.no_grad():
        for name, p in m.named_parameters():
            if ".ln_" in name or "ln_f" in name:
                p.copy_(1.0 + 0.3 * torch.randn_like(p) if name.endswith("weight") else 0.2 * torch.randn_like(p))
            elif name.endswith("bias"):
                p.copy_(0.2 * torch.randn_like(p))
            else:
                p.normal_(0.0, 0.4 if "wte" in name or "wpe" in name else 0.25)
    return m.eval()


def split_loss(m, ids, split):
    n_train = int(len(ids) * 0.9)
    data = torch.tensor(ids[n_train:] if split == "val" else ids[:n_train], dtype=torch.long)
    windows = (len(data) - 1) // T
    x = torch.stack([data[w * T:w * T + T] for w in range(windows)])
    y = torch.stack([data[w * T + 1:w * T + T + 1] for w in range(windows)])
    with torch.no_grad():
        return float(m(x, y))


def state(m):
    """nanoGPT's state_dict order, float32 as nanoGPT trains (the loss is computed on these values)."""
    return {k: v.detach().to(torch.float32).clone() for k, v in m.state_dict().items()}


def config_json(vocab_size, bias, **extra):
    c = dict(n_layer=N_LAYER, n_head=N_HEAD, n_embd=N_EMBD, block_size=T, bias=bias, vocab_size=vocab_size,
             dropout=0.0)
    c.update(extra)
    return json.dumps(c)


def cmd_fixtures(out, text_path):
    text = read_text(text_path)
    chars = sorted(set(text))
    stoi = {c: i for i, c in enumerate(chars)}
    ids = [stoi[c] for c in text]
    V, vocab = len(chars), "".join(chars)
    expected = []

    def record(name, m, sd):
        with torch.no_grad():  # the loss of the float32 values written
            m.load_state_dict({k: v.double() for k, v in sd.items()})
        for split in ("val", "train"):
            expected.append("%s %s %.8f" % (name, split, split_loss(m, ids, split)))

    # meta: config + vocab metadata, no biases, lm_head not stored (safetensors keeps a tied tensor once)
    m = model(V, False, "erf", 1)
    sd = state(m)
    record("meta", m, sd)
    items = [(k, v) for k, v in sd.items() if k != "lm_head.weight"]
    safetensors_io.write(os.path.join(out, "meta.safetensors"), items,
                         {"config": config_json(V, False), "vocab": vocab, "format": "pt"})
    # untied: lm_head.weight stored and different from wte
    bad = dict(sd)
    bad["lm_head.weight"] = bad["lm_head.weight"] + 0.5
    safetensors_io.write(os.path.join(out, "untied.safetensors"), bad, {"config": config_json(V, False), "vocab": vocab})
    # nowpe / nohead / badcfg: what cannot be loaded, each naming the missing or wrong item
    safetensors_io.write(os.path.join(out, "nowpe.safetensors"), [(k, v) for k, v in items if "wpe" not in k],
                         {"config": config_json(V, False), "vocab": vocab})
    c = json.loads(config_json(V, False))
    del c["n_head"]
    safetensors_io.write(os.path.join(out, "nohead.safetensors"), items, {"config": json.dumps(c), "vocab": vocab})
    safetensors_io.write(os.path.join(out, "badcfg.safetensors"), items,
                         {"config": config_json(V, False, n_embd=2 * N_EMBD), "vocab": vocab})
    safetensors_io.write(os.path.join(out, "noln.safetensors"),
                         [(k, v) for k, v in items if k != "transformer.h.1.mlp.c_fc.weight"],
                         {"config": config_json(V, False), "vocab": vocab})
    safetensors_io.write(os.path.join(out, "notgpt.safetensors"), [("w", torch.zeros(3))], None)
    # compiled: biases, tanh GELU in the config, _orig_mod. keys, lm_head stored tied, mask buffers, float64
    m = model(V, True, "tanh", 2)
    sd = state(m)
    record("compiled", m, sd)
    items = []
    for k, v in sd.items():
        items.append(("_orig_mod." + k, v.double()))
        if k.endswith("attn.c_attn.weight"):
            items.append(("_orig_mod." + k.replace("c_attn.weight", "bias"),
                          torch.tril(torch.ones(T, T)).view(1, 1, T, T)))
    safetensors_io.write(os.path.join(out, "compiled.safetensors"), items,
                         {"config": config_json(V, True, gelu="tanh"), "vocab": vocab})
    # nometa: no metadata at all; only lm_head.weight holds the tied embedding (the name
    # safetensors.torch.save_model keeps for a shared tensor)
    m = model(V, False, "erf", 3)
    sd = state(m)
    record("nometa", m, sd)
    safetensors_io.write(os.path.join(out, "nometa.safetensors"),
                         [(k, v) for k, v in sd.items() if k != "transformer.wte.weight"], None)
    with open(os.path.join(out, "expected"), "w") as f:
        f.write("\n".join(expected) + "\n")


def cmd_nanogpt(out, text_path):
    """ckpt.pt + meta.pkl as nanoGPT writes them, with an itos in an unsorted (reversed) order."""
    text = read_text(text_path)
    chars = sorted(set(text))[::-1]
    stoi = {c: i for i, c in enumerate(chars)}
    ids = [stoi[c] for c in text]
    m = model(len(chars), True, "erf", 4)
    sd = state(m)
    with torch.no_grad():
        m.load_state_dict({k: v.double() for k, v in sd.items()})
    loss = split_loss(m, ids, "val")
    model_sd = {}
    for k, v in sd.items():
        model_sd["_orig_mod." + k] = v
        if k.endswith("attn.c_attn.weight"):
            model_sd["_orig_mod." + k.replace("c_attn.weight", "bias")] = torch.tril(torch.ones(T, T)).view(1, 1, T, T)
    model_sd["_orig_mod.lm_head.weight"] = model_sd["_orig_mod.transformer.wte.weight"]  # tied, as saved
    model_args = dict(n_layer=N_LAYER, n_head=N_HEAD, n_embd=N_EMBD, block_size=T, bias=True,
                      vocab_size=len(chars), dropout=0.0)
    ck = {"model": model_sd, "optimizer": {"state": {}, "param_groups": []}, "model_args": model_args,
          "iter_num": 250, "best_val_loss": torch.tensor(loss), "config": {"dataset": "shakespeare_char"}}
    os.makedirs(out, exist_ok=True)
    torch.save(ck, os.path.join(out, "ckpt.pt"))
    with open(os.path.join(out, "meta.pkl"), "wb") as f:
        pickle.dump({"vocab_size": len(chars), "itos": dict(enumerate(chars)), "stoi": stoi}, f)
    print("val_loss %.8f" % loss)


def cmd_eval_nanogpt(d, text_path, split):
    ck = torch.load(os.path.join(d, "ckpt.pt"), map_location="cpu")
    for k in ("model", "model_args", "iter_num", "best_val_loss", "config"):
        if k not in ck:
            fail("ckpt.pt lacks %r" % k)
    args = ck["model_args"]
    if sorted(args) != sorted(NANOGPT_ARGS):
        fail("model_args keys %s, nanoGPT's GPTConfig takes %s" % (sorted(args), NANOGPT_ARGS))
    if "dataset" not in ck["config"]:
        fail("config lacks 'dataset' (sample.py finds meta.pkl with it)")
    with open(os.path.join(d, "meta.pkl"), "rb") as f:
        meta = pickle.load(f)
    stoi, itos = meta["stoi"], meta["itos"]
    if meta["vocab_size"] != args["vocab_size"] or any(stoi[itos[i]] != i for i in range(len(itos))):
        fail("meta.pkl: stoi/itos/vocab_size inconsistent")
    sd = ck["model"]
    if sd["lm_head.weight"].data_ptr() != sd["transformer.wte.weight"].data_ptr():
        fail("lm_head.weight is not tied to transformer.wte.weight")
    masks = [k for k in sd if k.endswith(".attn.bias")]
    want_masks = not hasattr(F, "scaled_dot_product_attention")
    if bool(masks) != want_masks or (masks and len(masks) != args["n_layer"]):
        fail("%d causal-mask buffers; nanoGPT on this PyTorch expects %s" % (len(masks), "one per layer" if want_masks else "none"))
    gelu = ck["config"].get("gelu", "erf")
    m = ref_gpt.GPT(args["vocab_size"], args["block_size"], args["n_layer"], args["n_head"], args["n_embd"],
                    bias=args["bias"], gelu=gelu).double().eval()
    missing, unexpected = m.load_state_dict({k: v.double() for k, v in sd.items() if k not in masks}, strict=True)
    assert not missing and not unexpected
    global T
    T = args["block_size"]
    ids = [stoi[c] for c in read_text(text_path)]
    print("%s_loss %.8f" % (split, split_loss(m, ids, split)))


def main(argv):
    if len(argv) == 3 and argv[0] == "fixtures":
        cmd_fixtures(argv[1], argv[2])
    elif len(argv) == 3 and argv[0] == "nanogpt":
        cmd_nanogpt(argv[1], argv[2])
    elif len(argv) == 4 and argv[0] == "eval-nanogpt":
        cmd_eval_nanogpt(argv[1], argv[2], argv[3])
    else:
        fail("usage: see the docstring")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
