//! Content-query benchmark (issue 15): fills a real LMDB store with N results (default
//! 1,000,000: coco detections of 0-4 boxes from 8 cameras, 100 ms apart), then pages through
//! content queries of several shapes and prints p50 and p99 per page (100 results, the store
//! thread's work: index walk, register reads with their signatures checked, filter) and each
//! database's disk cost.
//!
//! `cargo run --release -p argus-tests --bin argus-querybench -- [--results N] [--dir PATH]`

use std::time::Instant;

use argus_node::daemon::store::{lmdb, query};
use argus_protocol::attestation::Attestation;
use argus_protocol::detection::{BBox, Detection};
use argus_protocol::hlc::HlcTimestamp;
use argus_protocol::ids::{ImageId, WeightsId};
use argus_protocol::meta::ImageMeta;
use argus_protocol::model_ref::ModelRef;
use argus_protocol::register::Register;
use argus_protocol::result::result_digest;
use argus_protocol::search::Search;
use argus_tests::percentile;

const CAMERAS: u64 = 8;
const SPACING_MS: u64 = 100;
const START_MS: u64 = 1_764_000_000_000;

struct Rng(u64);
impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
}

fn result(i: u64, rng: &mut Rng, key: &libp2p_identity::Keypair, model: &ModelRef) -> Register {
    let image = ImageId::of_bytes(&i.to_le_bytes());
    // Person-heavy, like street cameras: class 0 half the time, else any of the 80.
    let dets: Vec<Detection> = (0..rng.below(5))
        .map(|k| {
            let class = if rng.below(2) == 0 { 0 } else { rng.below(80) as u16 };
            let x = (k * 100) as f32;
            Detection {
                class,
                score: 0.3 + rng.below(70) as f32 / 100.0,
                bbox: BBox { x_min: x, y_min: 10.0, x_max: x + 50.0, y_max: 90.0 },
            }
        })
        .collect();
    let digest = result_digest(model, &dets);
    let ms = START_MS + i * SPACING_MS;
    let att = Attestation::sign(key, &image, &digest, HlcTimestamp::new(ms, 0)).expect("signs");
    let mut reg = Register::new(image, ms);
    reg.insert(model, &dets, att).expect("a valid register");
    reg.join_meta(&ImageMeta { source: format!("cam-{}", i % CAMERAS), thumbnail: None }).expect("valid");
    reg
}

fn arg(name: &str) -> Option<String> {
    let args: Vec<String> = std::env::args().collect();
    args.iter().position(|a| a == name).and_then(|i| args.get(i + 1).cloned())
}

fn main() -> anyhow::Result<()> {
    let n: u64 = arg("--results").map_or(Ok(1_000_000), |v| v.parse())?;
    let dir = arg("--dir").map_or_else(
        || std::env::temp_dir().join(format!("argus-querybench-{}", std::process::id())),
        Into::into,
    );
    let _ = std::fs::remove_dir_all(&dir);
    let env = lmdb::open_env(&dir, 16 << 30)?;
    let dbs = lmdb::open_dbs(&env)?;
    let key = libp2p_identity::Keypair::ed25519_from_bytes([5; 32])?;
    let model = ModelRef::new("coco", WeightsId([9; 32]));
    let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
    let t = Instant::now();
    let mut i = 0;
    while i < n {
        let mut wtxn = env.write_txn()?;
        for _ in 0..10_000.min(n - i) {
            lmdb::merge(&dbs, &mut wtxn, &result(i, &mut rng, &key, &model))?;
            i += 1;
        }
        wtxn.commit()?;
    }
    println!("stored {n} results in {:.1} s", t.elapsed().as_secs_f64());

    let rtxn = env.read_txn()?;
    for (name, db) in
        [("registers", &dbs.registers), ("by_time", &dbs.by_time), ("by_content", &dbs.by_content)]
    {
        let s = db.stat(&rtxn)?;
        println!(
            "{name:>10}: {:>9} entries, {:>8.1} MiB ({:.0} B per result)",
            s.entries,
            s.non_free_page_size() as f64 / (1 << 20) as f64,
            s.non_free_page_size() as f64 / n as f64
        );
    }
    let end_ms = START_MS + n * SPACING_MS;
    let shapes: [(&str, Option<&str>, Option<&str>, f32, u64); 6] = [
        ("label=person", Some("person"), None, 0.0, 0),
        ("label=person source=cam-3", Some("person"), Some("cam-3"), 0.0, 0),
        ("label=person min_score=0.9", Some("person"), None, 0.9, 0),
        ("label=toothbrush (rare)", Some("toothbrush"), None, 0.0, 0),
        ("source=cam-5, last 10 min", None, Some("cam-5"), 0.0, 600_000),
        ("label=car, last 10 min", Some("car"), None, 0.0, 600_000),
    ];
    println!(
        "{:<30} {:>6} {:>10} {:>10} {:>8}",
        "query (pages of 100)", "pages", "p50 ms", "p99 ms", "items"
    );
    for (name, label, source, min_score, window) in shapes {
        let mut times = Vec::new();
        let mut items = 0usize;
        // 200 pages from random starting points, each paged on for up to 5 pages.
        while times.len() < 200 {
            let from_ms =
                if window > 0 { end_ms.saturating_sub(window) } else { START_MS + rng.below(n) * SPACING_MS };
            let mut q = Search {
                label: label.map(str::to_string),
                source: source.map(str::to_string),
                min_score,
                from_ms,
                to_ms: end_ms,
                limit: 100,
                after: None,
            };
            for _ in 0..5 {
                let t = Instant::now();
                let (found, next) = query::search(&dbs, &rtxn, &q, query::MAX_SCANNED_PER_PAGE)?;
                times.push(t.elapsed().as_secs_f64() * 1e3);
                items += found.len();
                match next {
                    Some(c) => q.after = Some(c),
                    None => break,
                }
            }
        }
        println!(
            "{name:<30} {:>6} {:>10.2} {:>10.2} {:>8.1}",
            times.len(),
            percentile(&mut times, 0.5),
            percentile(&mut times, 0.99),
            items as f64 / times.len() as f64
        );
    }
    drop(rtxn);
    drop(env);
    let _ = std::fs::remove_dir_all(&dir);
    Ok(())
}
