"""onnxruntime's CPU latency for NanoDet-g, the reference `argus-model bench --model coco`
compares burn against in the same run. Times the network alone (no resize, no decoding) on
random inputs, per image, at each batch size; the last stdout line is one JSON object.

usage: python bench_ort.py --onnx FILE --threads N --batch 1,8 --iters 20
"""

import argparse
import json
import time

import numpy as np
import onnxruntime as ort


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--onnx", required=True)
    ap.add_argument("--threads", type=int, required=True)
    ap.add_argument("--batch", default="1,8")
    ap.add_argument("--iters", type=int, default=20)
    args = ap.parse_args()
    opts = ort.SessionOptions()
    opts.intra_op_num_threads = args.threads
    opts.inter_op_num_threads = 1
    session = ort.InferenceSession(args.onnx, opts, providers=["CPUExecutionProvider"])
    name = session.get_inputs()[0].name
    fixed = session.get_inputs()[0].shape[0]
    rng = np.random.default_rng(1)
    batches = []
    for batch in [int(b) for b in args.batch.split(",")]:
        if isinstance(fixed, int) and fixed != batch:
            continue  # a fixed-batch graph runs only its own batch size
        x = rng.standard_normal((batch, 3, 416, 416)).astype(np.float32)
        session.run(None, {name: x})  # warm-up
        iters = max(1, args.iters if batch == 1 else args.iters // 4)
        ms = []
        start = time.perf_counter()
        for _ in range(iters):
            t = time.perf_counter()
            session.run(None, {name: x})
            ms.append((time.perf_counter() - t) * 1e3 / batch)
        total = time.perf_counter() - start
        ms.sort()
        batches.append(
            {
                "batch": batch,
                "per_image_ms_p50": ms[round((len(ms) - 1) * 0.5)],
                "per_image_ms_p99": ms[round((len(ms) - 1) * 0.99)],
                "images_per_s": iters * batch / total,
            }
        )
    print(json.dumps({"onnxruntime": ort.__version__, "threads": args.threads, "batches": batches}))


if __name__ == "__main__":
    main()
