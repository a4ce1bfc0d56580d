//! Mutation fuzzing of every decoder that takes untrusted bytes, on a stable toolchain with no
//! extra tools: gossip envelopes, every request-response message, registers, images (PNG and
//! JPEG), the HTTP API's JSON bodies, the stdout lines the runner parses, scenario files, node
//! and monitor config files, and network-key files. Each target starts from valid samples and
//! runs mutated copies (bit flips, interesting bytes, inserts, deletes, duplicated chunks,
//! cuts, splices with another sample) and random bytes through its decoder. A decoder must
//! return a value or an error: a panic is a failure, its input is saved under
//! `fuzz-failures/`, and the tool exits 1.
//!
//! Run: `cargo run --release -p argus-tests --bin argus-fuzz -- [--execs N] [--seed S]`
//! (`just fuzz-long`: 10 million executions; CI runs a short pass).

use std::panic::{AssertUnwindSafe, catch_unwind};
use std::path::Path;
use std::time::Instant;

use argus_protocol::codec::{decode, decode_gossip, decode_wire};
use argus_protocol::rpc::{
    FetchRequest, FetchResponse, QueryRequest, QueryResponse, SyncRequest, SyncResponse,
};
use argus_state::rng::Rng;

/// Largest input a mutation may grow to.
const MAX_INPUT: usize = 64 * 1024;

/// Uniform in `[0, n)` (0 when `n` is 0), as an index.
fn below(rng: &mut Rng, n: usize) -> usize {
    rng.below(n as u64) as usize
}

struct Target {
    name: &'static str,
    run: fn(&[u8]),
    seeds: Vec<Vec<u8>>,
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

fn hex(s: &str) -> Vec<u8> {
    (0..s.len() / 2).filter_map(|i| u8::from_str_radix(&s[2 * i..2 * i + 2], 16).ok()).collect()
}

fn targets() -> Vec<Target> {
    let vectors: Vec<Vec<u8>> = include_str!("../../../../protocol/tests/data/vectors.txt")
        .lines()
        .filter_map(|l| l.split_once(' ').map(|(_, h)| hex(h.trim())))
        .collect();
    let png = argus_model::scene::encode_png(
        &argus_model::scene::generate(3, 1, &argus_model::scene::SceneConfig::default()).image,
    );
    let scenarios: Vec<Vec<u8>> = [
        include_str!("../../../../scenarios/partition.toml"),
        include_str!("../../../../scenarios/crash.toml"),
        include_str!("../../../../scenarios/outsiders.toml"),
    ]
    .iter()
    .map(|s| s.as_bytes().to_vec())
    .collect();
    let lines = [
        r#"{"event":"ready","peer_id":"12D3KooW","name":"n0","listen":["/ip4/1.2.3.4/tcp/1"],"http":"unix:/s","backend":"flex","weights":"shapes:1","models":[]}"#,
        r#"{"event":"announced","image_id":"ab","seq":1,"model":"shapes","captured_at_ms":5,"size_bytes":9}"#,
        r#"{"event":"restart","node":"n1","peer_id":null,"reason":"x","kind":"exited","backoff_ms":1,"fault_dropped":false,"at_ms":2}"#,
    ];
    vec![
        Target {
            name: "gossip envelope",
            run: |b| {
                let _ = decode_gossip(b);
            },
            seeds: vectors.clone(),
        },
        Target {
            name: "rpc requests and responses",
            run: |b| {
                let _ = decode_wire::<FetchRequest>(b);
                let _ = decode_wire::<FetchResponse>(b);
                let _ = decode_wire::<QueryRequest>(b);
                let _ = decode_wire::<QueryResponse>(b);
                let _ = decode_wire::<SyncRequest>(b);
                let _ = decode_wire::<SyncResponse>(b);
            },
            seeds: vectors.clone(),
        },
        Target {
            name: "register",
            run: |b| {
                let _ = decode::<argus_protocol::register_wire::RegisterWire>(b, MAX_INPUT);
            },
            seeds: vectors,
        },
        Target {
            name: "image",
            run: |b| {
                let _ = argus_model::image_io::decode_image(b);
            },
            seeds: vec![png, vec![0xff, 0xd8, 0xff, 0xe0, 0, 16, b'J', b'F', b'I', b'F', 0, 0xff, 0xd9]],
        },
        Target {
            name: "http json bodies",
            run: |b| {
                let _ = serde_json::from_slice::<argus_interface::api::FaultBody>(b);
                let _ = serde_json::from_slice::<argus_interface::api::PeersBody>(b);
            },
            seeds: vec![br#"{"anomalous":0.5}"#.to_vec(), br#"{"peers":["12D3KooWabc"]}"#.to_vec()],
        },
        Target {
            name: "stdout lines",
            run: |b| {
                let t = text(b);
                let _ = argus_interface::lines::parse::<argus_interface::lines::NodeLine>(&t);
                let _ = argus_interface::lines::parse::<argus_interface::lines::SendLine>(&t);
                let _ = argus_interface::lines::parse::<argus_interface::lines::MonitorLine>(&t);
            },
            seeds: lines.iter().map(|l| l.as_bytes().to_vec()).collect(),
        },
        Target {
            name: "scenario file",
            run: |b| {
                let _ = argus_scenario::schema::Scenario::parse(&text(b), Path::new("fuzz.toml"));
            },
            seeds: scenarios,
        },
        Target {
            name: "node config",
            run: |b| {
                if let Ok(c) = toml::from_str::<argus_node::config::NodeConfig>(&text(b)) {
                    let _ = c.validate();
                }
            },
            seeds: vec![b"[net]\nmdns = false\npeers = [\"/ip4/1.2.3.4/tcp/5\"]\n[http]\nlisten = \"127.0.0.1:0\"\n[worker]\nbackend = \"flex\"\n".to_vec()],
        },
        Target {
            name: "monitor config",
            run: |b| {
                if let Ok(c) = argus_interface::monitor::MonitorConfig::from_toml(&text(b)) {
                    let _ = c.validate();
                }
            },
            seeds: vec![b"heartbeat_timeout_ms = 3000\n[[node]]\nname = \"n0\"\nargs = [\"--data\", \"d\"]\n".to_vec()],
        },
        Target {
            name: "network key file",
            run: |b| {
                let _ = argus_node::net::netkey::parse(&text(b));
            },
            seeds: vec![argus_node::net::netkey::generate().into_bytes()],
        },
    ]
}

fn mutate(rng: &mut Rng, seeds: &[Vec<u8>]) -> Vec<u8> {
    if below(rng, 16) == 0 {
        let len = below(rng, 256);
        return (0..len).map(|_| rng.next_u64() as u8).collect();
    }
    let mut b = seeds[below(rng, seeds.len())].clone();
    for _ in 0..1 + below(rng, 4) {
        let len = b.len();
        match below(rng, 8) {
            0 if len > 0 => {
                let i = below(rng, len);
                b[i] ^= 1 << below(rng, 8);
            }
            1 if len > 0 => {
                let i = below(rng, len);
                b[i] = [0, 0xff, 0x7f, 0x80, 0x1f, 0x20, 0xbf, 0xfb][below(rng, 8)];
            }
            2 => {
                let i = below(rng, len + 1);
                b.insert(i, rng.next_u64() as u8);
            }
            3 if len > 0 => {
                let i = below(rng, len);
                let n = 1 + below(rng, (len - i).min(16));
                b.drain(i..i + n);
            }
            4 if len > 0 && len < MAX_INPUT / 2 => {
                let i = below(rng, len);
                let n = 1 + below(rng, (len - i).min(64));
                let chunk = b[i..i + n].to_vec();
                let at = below(rng, len + 1);
                b.splice(at..at, chunk);
            }
            5 => b.truncate(below(rng, len + 1)),
            6 => {
                let other = &seeds[below(rng, seeds.len())];
                let cut = below(rng, len + 1);
                let from = below(rng, other.len() + 1);
                b.truncate(cut);
                b.extend_from_slice(&other[from..]);
            }
            _ if len > 0 => {
                // A length-like field: a big number in a random place.
                let i = below(rng, len);
                b[i] = 0x1b;
            }
            _ => {}
        }
    }
    b.truncate(MAX_INPUT);
    b
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let (mut execs, mut seed) = (1_000_000u64, 1u64);
    let mut it = args.iter();
    while let Some(a) = it.next() {
        let v = it.next().and_then(|v| v.parse::<u64>().ok());
        match (a.as_str(), v) {
            ("--execs", Some(v)) => execs = v,
            ("--seed", Some(v)) => seed = v,
            _ => {
                eprintln!("usage: argus-fuzz [--execs N] [--seed S]");
                std::process::exit(2);
            }
        }
    }
    std::panic::set_hook(Box::new(|_| {}));
    let targets = targets();
    let per = execs / targets.len() as u64;
    let t0 = Instant::now();
    let (mut total, mut failures) = (0u64, 0u64);
    for (k, t) in targets.iter().enumerate() {
        let mut rng = Rng::new(seed ^ (k as u64 + 1).wrapping_mul(0x9E37_79B9_7F4A_7C15));
        let start = Instant::now();
        let mut failed = 0u64;
        for _ in 0..per {
            let input = mutate(&mut rng, &t.seeds);
            if catch_unwind(AssertUnwindSafe(|| (t.run)(&input))).is_err() {
                failed += 1;
                let dir = Path::new("fuzz-failures");
                let _ = std::fs::create_dir_all(dir);
                let file = dir.join(format!("{}-{failed}.bin", t.name.replace(' ', "-")));
                let _ = std::fs::write(&file, &input);
                eprintln!("PANIC in {}: input saved to {}", t.name, file.display());
            }
        }
        total += per;
        failures += failed;
        println!(
            "{:<28} {per:>10} executions in {:>6.1} s, {failed} panics",
            t.name,
            start.elapsed().as_secs_f64()
        );
    }
    println!(
        "argus-fuzz: {total} executions over {} decoders in {:.1} s (seed {seed}): {failures} panics",
        targets.len(),
        t0.elapsed().as_secs_f64()
    );
    if failures > 0 {
        std::process::exit(1);
    }
}
