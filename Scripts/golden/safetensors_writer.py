# The minimal safetensors writer of the golden scripts (F32, keys in insertion order): the
# reference files they write are read by the tests with Sane's own reader.
import json, os, struct
import torch


def save_safetensors(path, tensors):
    """Writes the tensors of a dict to `path` as F32 safetensors, keys in insertion order."""
    header, blobs, off = {}, [], 0
    for k, t in tensors.items():
        b = t.detach().to(torch.float32).contiguous().numpy().tobytes()
        header[k] = {"dtype": "F32", "shape": list(t.shape), "data_offsets": [off, off + len(b)]}
        blobs.append(b); off += len(b)
    h = json.dumps(header).encode()
    h += b' ' * ((8 - len(h) % 8) % 8)
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    with open(path, 'wb') as f:
        f.write(struct.pack('<Q', len(h))); f.write(h); [f.write(b) for b in blobs]
