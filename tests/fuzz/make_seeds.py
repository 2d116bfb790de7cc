#!/usr/bin/env python3
"""make_seeds.py — writes the seed corpora of the fuzz targets (tests/fuzz/corpus_*/).

    tests/fuzz/make_seeds.py [CHARGPT]

corpus_safetensors: valid files of every dtype (F32, F64, I32, I64, BOOL, F16, BF16, metadata,
0-dim, zero-size) and hand-made invalid ones (truncated, gaps, overlaps, bad JSON, ...).
corpus_tokenizer: UTF-8 texts (ASCII, 2/3/4-byte characters) and invalid byte sequences.
corpus_options: chargpt option lists, one argument per NUL-separated field.
corpus_checkpoint: with the path of a built chargpt, a checkpoint and a resume state of the tiny
config that tests/fuzz/fuzz_checkpoint.c rebuilds (same text, same options), plus invalid ones.
Only the standard library is used; the output is deterministic.
"""
import json
import os
import shutil
import struct
import subprocess
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))

# Keep in sync with tests/fuzz/fuzz_checkpoint.c (FUZZ_TEXT and the config there).
FUZZ_TEXT = "the cat sat on the mat. " * 10
CKPT_ARGS = ["--n-layer", "1", "--n-head", "2", "--n-embd", "4", "--block-size", "4",
             "--batch-size", "2", "--max-iters", "3", "--eval-interval", "2", "--eval-iters", "1",
             "--warmup-iters", "1", "--lr-decay-iters", "10", "--quiet"]


def st_file(entries, meta=None, pad=True, raw_header=None):
    """entries: list of (name, dtype, shape, data bytes)."""
    if raw_header is None:
        h = {}
        if meta is not None:
            h["__metadata__"] = meta
        off = 0
        data = b""
        for name, dt, shape, b in entries:
            h[name] = {"dtype": dt, "shape": shape, "data_offsets": [off, off + len(b)]}
            off += len(b)
            data += b
        text = json.dumps(h, separators=(",", ":")).encode()
    else:
        text, data = raw_header, b"".join(e[3] for e in entries)
    if pad:
        text += b" " * (-len(text) % 8)
    return struct.pack("<Q", len(text)) + text + data


def write(corpus, name, data):
    d = os.path.join(HERE, "corpus_" + corpus)
    os.makedirs(d, exist_ok=True)
    with open(os.path.join(d, name), "wb") as f:
        f.write(data)


def safetensors_seeds():
    f32 = struct.pack("<6f", 0, 1, -2.5, 3e38, 1e-45, float("inf"))
    write("safetensors", "valid_f32_meta", st_file([("w", "F32", [2, 3], f32)], {"k": "v", "x": ""}))
    write("safetensors", "valid_all_dtypes", st_file([
        ("a", "F64", [2], struct.pack("<2d", 1.5, -0.0)),
        ("b", "I32", [1, 2], struct.pack("<2i", -7, 2**31 - 1)),
        ("c", "I64", [], struct.pack("<q", -2**63)),
        ("d", "BOOL", [3], bytes([0, 1, 1])),
        ("e", "F16", [2], struct.pack("<2H", 0x3c00, 0x0001)),
        ("f", "BF16", [2], struct.pack("<2H", 0x3f80, 0xff81)),
        ("g", "F32", [0, 4], b""),
    ]))
    write("safetensors", "valid_empty", st_file([]))
    write("safetensors", "valid_reordered", st_file([("x", "F32", [1], struct.pack("<f", 1))],
          raw_header=b'{"y":{"dtype":"F32","shape":[1],"data_offsets":[4,8]},'
                     b'"x":{"dtype":"F32","shape":[1],"data_offsets":[0,4]}}') + struct.pack("<f", 2))
    write("safetensors", "valid_unpadded", st_file([("u", "I64", [1], struct.pack("<q", 5))], pad=False))
    base = st_file([("w", "F32", [2, 3], f32)])
    write("safetensors", "bad_truncated", base[:-3])
    write("safetensors", "bad_trailing", base + b"\0")
    write("safetensors", "bad_short", b"\x05\0\0")
    write("safetensors", "bad_huge_header_len", struct.pack("<Q", 2**63) + b"{}")
    write("safetensors", "bad_header_past_end", struct.pack("<Q", 100) + b"{}      ")
    bad = [
        b'{"a":{"dtype":"F32","shape":[2],"data_offsets":[4,12]}}',
        b'{"a":{"dtype":"F32","shape":[3],"data_offsets":[0,8]}}',
        b'{"a":{"dtype":"F32","shape":[2],"data_offsets":[8,0]}}',
        b'{"a":{"dtype":"F32","shape":[4294967296,4294967296],"data_offsets":[0,0]}}',
        b'{"a":{"dtype":"I64","shape":[0,9223372036854775807,2],"data_offsets":[0,0]}}',
        b'{"a":{"dtype":"F33","shape":[2],"data_offsets":[0,8]}}',
        b'{"a":{"dtype":"U8","shape":[8],"data_offsets":[0,8]}}',
        b'{"a":{"dtype":"BOOL","shape":[8],"data_offsets":[0,8]}}',
        b'{"a":{"shape":[2],"data_offsets":[0,8]}}',
        b'{"a":5}',
        b'{"__metadata__":{"x":1}}',
        b'{"\xff":1}',
        b'{"a":',
        b'[]',
        b'{"a":{"dtype":"F32","shape":[1,1,1,1,1,1,1,1,2],"data_offsets":[0,8]}}',
        b'{"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},'
        b'"b":{"dtype":"F32","shape":[2],"data_offsets":[0,8]}}',
    ]
    for i, h in enumerate(bad):
        write("safetensors", "bad_header_%02d" % i, struct.pack("<Q", len(h)) + h + bytes(range(8)))


def tokenizer_seeds():
    write("tokenizer", "ascii", b"First Citizen:\nBefore we proceed any further, hear me speak.\n")
    write("tokenizer", "utf8_mixed", "caf\u00e9 \u20ac \U0001F600 \u00e9\u00e9 na\u00efve".encode())
    write("tokenizer", "many_distinct", "".join(chr(0x400 + i) for i in range(300)).encode())
    write("tokenizer", "bad_truncated", b"ab\xe2\x82")
    write("tokenizer", "bad_overlong", b"a\xc0\xafb")
    write("tokenizer", "bad_surrogate", b"\xed\xa0\x80")
    write("tokenizer", "bad_too_big", b"\xf4\x90\x80\x80")
    write("tokenizer", "bad_nul", b"a\0b")
    write("tokenizer", "bad_continuation", b"\x80\x80")


def options_seeds():
    def args(*a):
        return b"\0".join(x.encode() for x in a)
    write("options", "train_all", args(*CKPT_ARGS, "--data", "x.txt", "--out-dir", "o", "--bias",
                                        "--gelu", "erf", "--dropout", "0.1", "--lr-schedule", "multistep",
                                        "--milestones", "5,10,10,20", "--gamma", "0.3", "--threads", "2",
                                        "--sampling", "epoch", "--seed", "42", "--resume", "--plot"))
    write("options", "sample_all", args("--checkpoint", "c", "--prompt", "hi", "--max-new-tokens", "9",
                                         "--temperature", "1e-3", "--top-k", "0", "--top-p", "0.5",
                                         "--num-samples", "2", "--no-kv-cache", "--split", "train",
                                         "--output", "p.png", "dir1", "dir2"))
    write("options", "eq_form", args("--n-layer=2", "--learning-rate=3e-4", "--min-lr=0"))
    write("options", "bad_range", args("--n-layer", "0"))
    write("options", "bad_number", args("--dropout", "0.5x"))
    write("options", "bad_nan", args("--top-p", "nan"))
    write("options", "bad_overflow", args("--seed", "99999999999999999999"))
    write("options", "bad_milestones", args("--milestones", "10,5"))
    write("options", "bad_unknown", args("--bogus", "-xyz", "--n-layer"))
    write("options", "short_cluster", args("-abc", "--n-embd", "8"))
    write("options", "help", args("--help"))


def checkpoint_seeds(chargpt):
    tmp = tempfile.mkdtemp(prefix="nb_seeds_")
    try:
        data = os.path.join(tmp, "text.txt")
        with open(data, "w") as f:
            f.write(FUZZ_TEXT)
        for sub, extra in (("random", []), ("epoch", ["--sampling", "epoch"])):
            out = os.path.join(tmp, sub)
            subprocess.run([chargpt, "train", "--data", data, "--out-dir", out] + CKPT_ARGS + extra,
                           check=True, stdout=subprocess.DEVNULL)
            for kind in ("ckpt", "resume"):
                with open(os.path.join(out, kind + ".safetensors"), "rb") as f:
                    write("checkpoint", "valid_%s_%s" % (kind, sub), f.read())
        with open(os.path.join(tmp, "epoch", "resume.safetensors"), "rb") as f:
            resume = f.read()
        with open(os.path.join(tmp, "random", "ckpt.safetensors"), "rb") as f:
            ckpt = f.read()
    finally:
        shutil.rmtree(tmp)
    write("checkpoint", "bad_truncated", ckpt[: len(ckpt) // 2])
    write("checkpoint", "bad_no_meta", st_file([("w", "F32", [1], struct.pack("<f", 1))]))
    hlen = struct.unpack("<Q", ckpt[:8])[0]
    header = json.loads(ckpt[8:8 + hlen])
    body = ckpt[8 + hlen:]

    def variant(name, src_header, src_body, **meta):
        h = json.loads(json.dumps(src_header))
        h["__metadata__"].update(meta)
        text = json.dumps(h, separators=(",", ":")).encode()
        text += b" " * (-len(text) % 8)
        write("checkpoint", name, struct.pack("<Q", len(text)) + text + src_body)
    variant("bad_n_layer_huge", header, body, n_layer="1000")
    variant("bad_n_embd_huge", header, body, n_embd="65536", n_head="1")
    variant("bad_vocab_unsorted", header, body, vocab="ba")
    variant("bad_format", header, body, format="other")
    variant("bad_dropout", header, body, dropout="nan")
    rh = struct.unpack("<Q", resume[:8])[0]
    rheader = json.loads(resume[8:8 + rh])
    rbody = resume[8 + rh:]
    variant("bad_resume_cursor", rheader, rbody, data_cursor="-1")
    variant("bad_resume_rng", rheader, rbody, rng="zz")
    variant("bad_resume_sched", rheader, rbody, scheduler="1,2,3")


def main():
    safetensors_seeds()
    tokenizer_seeds()
    options_seeds()
    if len(sys.argv) > 1:
        checkpoint_seeds(sys.argv[1])


if __name__ == "__main__":
    main()
