//! The standalone baseline run at once: every node alone, all together on the machine.

use std::path::{Path, PathBuf};
use std::time::Duration;

use crate::report::inference_mean_ms;
use crate::{Opts, send_dir, start_node, throughput};

/// Every node alone in a network of its own, all at once, each flooded by a sender of its own
/// with `dirs[i]`: the sum of their throughputs is what the machine carries when no work is
/// shared, under the same contention for cores, caches and memory the nodes meet together
/// (run one at a time, a node has the machine to itself, which together it never has).
pub(crate) fn standalone_concurrent(root: &Path, dirs: &[PathBuf], o: &Opts) -> anyhow::Result<f64> {
    let nodes = (0..dirs.len())
        .map(|i| start_node(root, i, &[], o.audit_ratio))
        .collect::<anyhow::Result<Vec<_>>>()?;
    let rates = std::thread::scope(|s| {
        let runs: Vec<_> = nodes
            .iter()
            .zip(dirs)
            .map(|(node, dir)| {
                s.spawn(move || -> anyhow::Result<f64> {
                    let sent = send_dir(dir, &[node.addr()], o.flood_rate, 1, o.inline_max)?;
                    Ok(throughput(node, sent, Duration::from_secs(600))?.0)
                })
            })
            .collect();
        runs.into_iter()
            .map(|r| r.join().map_err(|_| anyhow::anyhow!("a standalone run panicked"))?)
            .collect::<anyhow::Result<Vec<f64>>>()
    })?;
    for (i, (r, node)) in rates.iter().zip(&nodes).enumerate() {
        let per_image = inference_mean_ms(node).unwrap_or(0.0);
        println!("standalone at once n{i}: {r:.1} images/s ({per_image:.1} ms per image)");
    }
    drop(nodes);
    std::fs::remove_dir_all(root)?;
    Ok(rates.iter().sum())
}
