"""Reference outputs of NanoDet-g from onnxruntime, for the test that the generated burn network
matches it (`model/tests/coco.rs`, within 1e-4).

Reads the network inputs that `argus-model dump-input --model coco` wrote for the test
photographs (so both sides see the very same tensor), runs them through onnxruntime, and writes
`model/tests/data/coco_golden/NAME.f32`: every `STRIDE`-th value of each of the six outputs
(class scores at strides 8, 16, 32, then box distributions at strides 8, 16, 32), little-endian
f32, plus `manifest.json` with each input's checksum and the sampling. Only what the test needs
is committed: about 57 KB per photograph instead of 1.8 MB. Also prints the graph's
multiply-accumulates per image (its convolutions).

usage: python golden.py --onnx nanodet_g.dyn.onnx --inputs DIR --out model/tests/data/coco_golden
"""

import argparse
import json
import os

import numpy as np
import onnx
import onnxruntime as ort
from onnx import shape_inference

STRIDE = 31
LEVEL_CELLS = [2704, 676, 169]


def conv_macs(path: str) -> int:
    model = shape_inference.infer_shapes(onnx.load(path))
    shapes = {}
    for v in list(model.graph.value_info) + list(model.graph.output) + list(model.graph.input):
        dims = [d.dim_value if d.dim_value else 1 for d in v.type.tensor_type.shape.dim]
        shapes[v.name] = dims
    inits = {i.name: list(i.dims) for i in model.graph.initializer}
    macs = 0
    for node in model.graph.node:
        if node.op_type != "Conv":
            continue
        w = inits[node.input[1]]  # [out, in/groups, kh, kw]
        out = shapes[node.output[0]]  # [n, out, h, w]
        macs += out[1] * out[2] * out[3] * w[1] * w[2] * w[3]
    return macs


def checksum(x: np.ndarray) -> list:
    flat = x.astype(np.float64).ravel()
    weights = (np.arange(flat.size) % 97).astype(np.float64)
    return [float(flat.sum()), float((flat * weights).sum())]


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--onnx", required=True)
    ap.add_argument("--inputs", required=True)
    ap.add_argument("--out", required=True)
    args = ap.parse_args()
    print(f"multiply-accumulates per image (convolutions): {conv_macs(args.onnx)}")
    session = ort.InferenceSession(args.onnx, providers=["CPUExecutionProvider"])
    name = session.get_inputs()[0].name
    os.makedirs(args.out, exist_ok=True)
    manifest = {"stride": STRIDE, "order": "scores s8 s16 s32, boxes s8 s16 s32", "photos": {}}
    for file in sorted(os.listdir(args.inputs)):
        if not file.endswith(".f32"):
            continue
        x = np.fromfile(os.path.join(args.inputs, file), dtype="<f4").reshape(1, 3, 416, 416)
        outs = session.run(None, {name: x})
        by_shape = {(o.shape[1], o.shape[2]): o for o in outs}
        ordered = [by_shape[(c, 80)] for c in LEVEL_CELLS] + [by_shape[(c, 44)] for c in LEVEL_CELLS]
        sampled = np.concatenate([o.ravel()[::STRIDE] for o in ordered]).astype("<f4")
        stem = file[: -len(".f32")]
        sampled.tofile(os.path.join(args.out, f"{stem}.f32"))
        manifest["photos"][stem] = {"input_checksum": checksum(x), "values": int(sampled.size)}
        print(f"{stem}: {sampled.size} values, best class score {max(float(o.max()) for o in ordered[:3]):.3f}")
    with open(os.path.join(args.out, "manifest.json"), "w") as f:
        json.dump(manifest, f, indent=1)
        f.write("\n")


if __name__ == "__main__":
    main()
