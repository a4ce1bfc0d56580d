"""Makes the batch dimension of the converted NanoDet-g ONNX dynamic.

tf2onnx writes the batch as a fixed 1: the input and outputs are declared [1, ...] and the head's
Reshape nodes reshape to [1, C, -1]. This rewrites those leading 1s to 0 ("copy the input's
dimension", ONNX Reshape with allowzero = 0) and declares the batch dimension as `N`, so the
generated burn model runs batches of any size. It then checks with onnxruntime that a batch of
two gives the same outputs as two batches of one.

usage: python dynamic_batch.py IN.onnx OUT.onnx
"""

import sys

import numpy as np
import onnx
from onnx import numpy_helper


def make_dynamic(model: onnx.ModelProto) -> int:
    inits = {i.name: i for i in model.graph.initializer}
    changed = 0
    for node in model.graph.node:
        if node.op_type != "Reshape":
            continue
        shape_init = inits[node.input[1]]
        shape = numpy_helper.to_array(shape_init).copy()
        if shape[0] == 1:
            shape[0] = 0
            shape_init.CopyFrom(numpy_helper.from_array(shape, shape_init.name))
            changed += 1
    for value in list(model.graph.input) + list(model.graph.output):
        value.type.tensor_type.shape.dim[0].dim_param = "N"
    # Inferred intermediate shapes still say batch 1; drop them (burn-onnx infers its own).
    del model.graph.value_info[:]
    return changed


def check(path: str) -> None:
    import onnxruntime as ort

    session = ort.InferenceSession(path, providers=["CPUExecutionProvider"])
    name = session.get_inputs()[0].name
    rng = np.random.default_rng(7)
    x = rng.standard_normal((2, 3, 416, 416)).astype(np.float32)
    both = session.run(None, {name: x})
    for i in range(2):
        single = session.run(None, {name: x[i : i + 1]})
        for a, b in zip(both, single):
            assert a.shape[0] == 2 and b.shape[0] == 1
            assert np.max(np.abs(a[i] - b[0])) < 1e-4, "batched output differs"
    print(f"batch 2 matches two batches of 1 on {len(both)} outputs")


def main() -> None:
    src, dst = sys.argv[1], sys.argv[2]
    model = onnx.load(src)
    changed = make_dynamic(model)
    onnx.checker.check_model(model)
    onnx.save(model, dst)
    print(f"{changed} Reshape nodes made batch-dynamic -> {dst}")
    check(dst)


if __name__ == "__main__":
    main()
