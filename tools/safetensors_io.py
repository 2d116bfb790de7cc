"""safetensors_io.py — a small safetensors reader/writer on torch alone (the `safetensors` package
is not needed), shared by tools/nanogpt_to_safetensors.py and tools/safetensors_to_nanogpt.py.

Format: 8-byte little-endian header length N, N bytes of UTF-8 JSON ({name: {dtype, shape,
data_offsets}}, optional "__metadata__" of strings), then the packed little-endian tensor data."""
import json
import os
import struct

import torch

DTYPES = {"F32": torch.float32, "F64": torch.float64, "F16": torch.float16, "BF16": torch.bfloat16,
          "I64": torch.int64, "I32": torch.int32, "BOOL": torch.bool}
NAMES = {v: k for k, v in DTYPES.items()}


def read(path):
    """Returns ({name: tensor} in header order, {metadata} or {})."""
    with open(path, "rb") as f:
        data = f.read()
    if len(data) < 8:
        raise ValueError("%s: not a safetensors file (shorter than 8 bytes)" % path)
    (n,) = struct.unpack("<Q", data[:8])
    if 8 + n > len(data):
        raise ValueError("%s: header length %d past the end of the file" % (path, n))
    header = json.loads(data[8:8 + n].decode("utf-8"))
    meta = header.pop("__metadata__", None) or {}
    body = memoryview(data)[8 + n:]
    tensors = {}
    for name, e in header.items():
        if e["dtype"] not in DTYPES:
            raise ValueError("%s: %s: unsupported dtype %s" % (path, name, e["dtype"]))
        b, end = e["data_offsets"]
        dt = DTYPES[e["dtype"]]
        if b == end:
            t = torch.empty(e["shape"], dtype=dt)
        else:
            raw = torch.frombuffer(bytearray(body[b:end]), dtype=torch.uint8)
            t = (raw.to(torch.bool) if dt == torch.bool else raw.view(dt)).reshape(e["shape"])
        tensors[name] = t
    return tensors, meta


def write(path, tensors, metadata=None):
    """tensors: [(name, tensor)] or a dict, written in that order; metadata: {str: str}."""
    items = list(tensors.items()) if isinstance(tensors, dict) else list(tensors)
    header, blobs, pos = {}, [], 0
    if metadata:
        header["__metadata__"] = {str(k): str(v) for k, v in metadata.items()}
    for name, t in items:
        t = t.detach().cpu().contiguous()
        if t.dtype not in NAMES:
            raise ValueError("%s: unsupported dtype %s" % (name, t.dtype))
        blob = (t.to(torch.uint8) if t.dtype == torch.bool else t).reshape(-1).view(torch.uint8).numpy().tobytes()
        header[name] = {"dtype": NAMES[t.dtype], "shape": list(t.shape), "data_offsets": [pos, pos + len(blob)]}
        blobs.append(blob)
        pos += len(blob)
    text = json.dumps(header, separators=(",", ":"), ensure_ascii=False).encode("utf-8")
    text += b" " * (-len(text) % 8)
    tmp = "%s.tmp%d" % (path, os.getpid())  # complete or absent: written aside, then renamed
    with open(tmp, "wb") as f:
        f.write(struct.pack("<Q", len(text)) + text)
        for blob in blobs:
            f.write(blob)
    os.replace(tmp, path)
