#!/usr/bin/env python3
"""safetensors_torch.py — an independent reader/writer of the safetensors format built on torch,
for nabla's interop test (tests/test_safetensors.c). The safetensors package is not needed.

Usage: safetensors_torch.py CMD PATH [CMD PATH ...]
  check IN    read IN with this reader and verify it holds exactly the KNOWN tensors and METADATA
              (values from value(), header layout as nabla writes it)
  write OUT   write KNOWN + EXTRA (F16/BF16) the way the reference writer lays data out (sorted by
              element size, then name), with the JSON keys in another order and metadata last
  small OUT   write the small dict whose exact bytes tests/test_safetensors.c also builds
Exits 0 on success; 1 with a message on stderr otherwise.
The tables below must match the ones in tests/test_safetensors.c.
"""
import json

import xxhash  # python3-xxhash: checks the checksums nabla writes
import struct
import sys

import torch

MAX_HEADER = 100_000_000
DTYPES = {  # safetensors name -> (torch dtype, element size)
    "F32": (torch.float32, 4), "F64": (torch.float64, 8), "I32": (torch.int32, 4),
    "I64": (torch.int64, 8), "BOOL": (torch.bool, 1), "F16": (torch.float16, 2),
    "BF16": (torch.bfloat16, 2),
}
KNOWN = [  # (name, dtype, shape)
    ("layer.0.weight", "F32", [3, 4]),
    ("layer.0.bias", "F64", [2, 3, 2]),
    ("tokens", "I32", [5]),
    ("big", "I64", [2, 3]),
    ("mask", "BOOL", [2, 2]),
    ("scalar", "F64", []),
    ("empty", "F32", [0, 4]),
    ("count", "I64", []),
]
METADATA = {"format": "pt", "step": "1234", "note": "\u00fcn\u00efcode \u2713 \"quoted\""}
EXTRA = [  # read by nabla as float16 / bfloat16
    ("half", "F16", [4], [0.5, -2.0, 65504.0, 2.0 ** -24]),
    ("bhalf", "BF16", [3], [1.0, -3.5, 2.0 ** 100]),
]


def value(k, i, dt):
    """Element i (row-major) of KNOWN entry k."""
    base = (i * 7 + k * 3) % 11 - 5
    if dt in ("F32", "F64"):
        return base * 0.25
    if dt == "I32":
        return base * 100000
    if dt == "I64":
        return base * 2 ** 40 + i
    return (i + k) % 3 == 0  # BOOL


def numel(shape):
    n = 1
    for d in shape:
        n *= d
    return n


def known_tensor(k):
    name, dt, shape = KNOWN[k]
    vals = [value(k, i, dt) for i in range(numel(shape))]
    return torch.tensor(vals, dtype=DTYPES[dt][0]).reshape(shape)


def fail(msg):
    raise SystemExit("safetensors_torch.py: " + msg)


def no_duplicates(pairs):
    d = {}
    for k, v in pairs:
        if k in d:
            fail("duplicate key %r" % k)
        d[k] = v
    return d


CHECKSUM_KEY = "nabla.xxh3_64"


def read(path):
    """Returns (header length, header key order, {name: tensor}, metadata or None)."""
    with open(path, "rb") as f:
        data = f.read()
    if len(data) < 8:
        fail("%s: shorter than 8 bytes" % path)
    (n,) = struct.unpack("<Q", data[:8])
    if n > MAX_HEADER or 8 + n > len(data):
        fail("%s: bad header length %d" % (path, n))
    text = data[8:8 + n].decode("utf-8")
    if not text.startswith("{"):
        fail("%s: header does not start with '{'" % path)
    header = json.loads(text, object_pairs_hook=no_duplicates)
    order = list(header)
    meta = header.pop("__metadata__", None)
    if meta is not None and not all(isinstance(v, str) for v in meta.values()):
        fail("%s: non-string metadata" % path)
    body = data[8 + n:]
    sums = json.loads(meta.pop(CHECKSUM_KEY)) if meta and CHECKSUM_KEY in meta else None
    if meta == {}:
        meta = None
    if sums is not None:  # nabla's per-tensor XXH3-64 of the stored bytes, checked independently here
        if sorted(sums) != sorted(header):
            fail("%s: the checksums name %s, the tensors are %s" % (path, sorted(sums), sorted(header)))
        for name, e in header.items():
            b, end = e["data_offsets"]
            got = xxhash.xxh3_64(body[b:end]).hexdigest()
            if got != sums[name]:
                fail("%s: tensor %s: xxh3 %s, the file says %s" % (path, name, got, sums[name]))
    pos = 0
    for name, e in sorted(header.items(), key=lambda kv: kv[1]["data_offsets"]):
        b, end = e["data_offsets"]
        if b != pos:
            fail("%s: %s: offsets %s not contiguous (expected begin %d)" % (path, name, [b, end], pos))
        if end - b != numel(e["shape"]) * DTYPES[e["dtype"]][1]:
            fail("%s: %s: offsets %s do not match shape %s" % (path, name, [b, end], e["shape"]))
        pos = end
    if pos != len(body):
        fail("%s: data is %d bytes, header describes %d" % (path, len(body), pos))
    tensors = {}
    for name, e in header.items():
        tdt, _ = DTYPES[e["dtype"]]
        b, end = e["data_offsets"]
        if b == end:
            t = torch.empty(e["shape"], dtype=tdt)
        elif tdt == torch.bool:
            raw = torch.frombuffer(bytearray(body[b:end]), dtype=torch.uint8)
            if bool((raw > 1).any()):
                fail("%s: %s: BOOL byte other than 0/1" % (path, name))
            t = raw.to(torch.bool).reshape(e["shape"])
        else:
            t = torch.frombuffer(bytearray(body[b:end]), dtype=tdt).reshape(e["shape"])
        tensors[name] = t
    return n, order, tensors, meta


def tensor_bytes(t):
    return t.contiguous().reshape(-1).view(torch.uint8).numpy().tobytes()


def write(path, entries, key_order, metadata, meta_first=True, ensure_ascii=False):
    """entries: [(name, dtype, tensor)] in data order; key_order: names in JSON order."""
    header, blobs, pos = {}, [], 0
    for name, dt, t in entries:
        blob = tensor_bytes(t)
        header[name] = {"dtype": dt, "shape": list(t.shape), "data_offsets": [pos, pos + len(blob)]}
        blobs.append(blob)
        pos += len(blob)
    obj = {}
    if metadata and meta_first:
        obj["__metadata__"] = metadata
    for name in key_order:
        obj[name] = header[name]
    if metadata and not meta_first:
        obj["__metadata__"] = metadata
    text = json.dumps(obj, separators=(",", ":"), ensure_ascii=ensure_ascii).encode("utf-8")
    text += b" " * (-len(text) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(text)) + text + b"".join(blobs))


def cmd_check(path):
    n, order, tensors, meta = read(path)
    if n % 8:
        fail("%s: header length %d is not a multiple of 8" % (path, n))
    want_order = ["__metadata__"] + [name for name, _, _ in KNOWN]
    if order != want_order:
        fail("%s: header keys %s, expected %s" % (path, order, want_order))
    if meta != METADATA:
        fail("%s: metadata %r, expected %r" % (path, meta, METADATA))
    for k, (name, dt, shape) in enumerate(KNOWN):
        got, want = tensors[name], known_tensor(k)
        if got.dtype != want.dtype or list(got.shape) != shape or not torch.equal(got, want):
            fail("%s: %s = %r, expected %r" % (path, name, got, want))


def cmd_write(path):
    entries = [(name, dt, known_tensor(k)) for k, (name, dt, _) in enumerate(KNOWN)]
    entries += [(name, dt, torch.tensor(v, dtype=DTYPES[dt][0]).reshape(shape))
                for name, dt, shape, v in EXTRA]
    data_order = sorted(entries, key=lambda e: (-DTYPES[e[1]][1], e[0]))
    key_order = sorted((e[0] for e in entries), reverse=True)
    write(path, data_order, key_order, METADATA, meta_first=False, ensure_ascii=True)


def cmd_small(path):
    """The small dict as nabla writes it: its checksum list (sorted keys, compact JSON) first."""
    a = torch.tensor([1.0, -2.0], dtype=torch.float32)
    b = torch.tensor(7, dtype=torch.int64)
    sums = {name: xxhash.xxh3_64(tensor_bytes(t)).hexdigest() for name, t in (("a", a), ("b", b))}
    meta = {CHECKSUM_KEY: json.dumps(sums, separators=(",", ":"), sort_keys=True), "k": "v"}
    write(path, [("a", "F32", a), ("b", "I64", b)], ["a", "b"], meta)


def main(argv):
    cmds = {"check": cmd_check, "write": cmd_write, "small": cmd_small}
    if len(argv) < 2 or len(argv) % 2 or any(c not in cmds for c in argv[0::2]):
        fail("usage: safetensors_torch.py {check IN | write OUT | small OUT} ...")
    for cmd, path in zip(argv[0::2], argv[1::2]):
        cmds[cmd](path)


if __name__ == "__main__":
    main(sys.argv[1:])
