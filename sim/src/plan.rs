//! The shape of one simulated run, drawn from its seed: how many nodes, how fast each is, how
//! lossy the network, which images arrive when, and which faults strike when. Every fault ends
//! (the last heal, restart or resume) by `heal_ms`; the rest of the run is quiet, so the
//! replicas have time to converge before the checks.

use argus_state::rng::Rng;

#[derive(Debug, Clone)]
pub enum Fault {
    /// Nodes on different sides cannot reach each other; `sides[n]` is the sender's side.
    Partition { at: u64, until: u64, sides: Vec<u8> },
    /// Only these pairs are cut (a partial partition: reachability is not transitive).
    Cut { at: u64, until: u64, pairs: Vec<(usize, usize)> },
    /// The process dies (uncommitted writes lost) and, at `restart`, starts again.
    Crash { node: usize, at: u64, restart: u64 },
    /// The process stops (SIGSTOP) and resumes later, events held meanwhile.
    Pause { node: usize, at: u64, until: u64 },
    /// The node with the most work in its worker queue dies at `at` (or at the first moment
    /// after it, up to `BUSY_WAIT_MS` later, that some node has work) and starts again only at
    /// `restart`, long after: its images must be taken over, not waited for.
    BusyCrash { at: u64, restart: u64 },
}

/// How long a `BusyCrash` waits for some node to have work before it strikes anyway, ms.
pub const BUSY_WAIT_MS: u64 = 2_000;

#[derive(Debug, Clone)]
pub struct Plan {
    pub seed: u64,
    pub nodes: usize,
    /// Per-image inference time per node, ms.
    pub speed_ms: Vec<u64>,
    /// Per node: wall-clock skew, ms.
    pub skew_ms: Vec<i64>,
    /// The anomalous worker, if any (it perturbs every result).
    pub anomalous: Option<usize>,
    /// A black hole, if any: a member that bids 0 ms, claims what it wins, renews its claims
    /// and never delivers (`--fault blackhole`).
    pub black_hole: Option<usize>,
    /// Nodes whose detections differ by float rounding (a GPU beside CPUs).
    pub noisy: Vec<bool>,
    pub loss: f64,
    pub duplicate: f64,
    pub delay_ms: (u64, u64),
    /// Image announcement times, ms.
    pub images: Vec<u64>,
    /// Share of images announced with their bytes inline (the rest are fetched).
    pub inline: f64,
    pub faults: Vec<Fault>,
    /// Per node: the time handling one delivered event takes, ms (0: instant). An overloaded
    /// machine (more nodes than cores) handles messages late, and they queue behind each other.
    pub handle_ms: Vec<u64>,
    /// How many candidates bid for each image at first (`SchedConfig::bidders`; 0: all).
    pub bidders: usize,
    /// Every fault is over by then.
    pub heal_ms: u64,
    /// The run ends then.
    pub end_ms: u64,
}

impl Plan {
    pub fn from_seed(seed: u64) -> Self {
        let mut r = Rng::new(seed ^ 0x5EED_A26B_0000_0000);
        let nodes = 2 + r.below(5) as usize; // 2..=6
        let speed_ms = (0..nodes).map(|_| 5 + r.below(60)).collect();
        let skew_ms = (0..nodes).map(|_| r.below(1_001) as i64 - 500).collect();
        let anomalous = (nodes >= 3 && r.chance(0.25)).then(|| r.below(nodes as u64) as usize);
        let noisy = (0..nodes).map(|_| r.chance(0.3)).collect();
        let loss = if r.chance(0.5) { 0.0 } else { r.next_f64() * 0.05 };
        let duplicate = if r.chance(0.5) { 0.0 } else { r.next_f64() * 0.05 };
        let lo = r.below(5);
        let delay_ms = (lo, lo + 1 + r.below(30));
        let heal_ms = 20_000;
        let end_ms = heal_ms + 40_000;
        let count = 10 + r.below(60);
        let burst = r.chance(0.3);
        let mut images: Vec<u64> =
            (0..count).map(|_| if burst { 1_000 + r.below(500) } else { 500 + r.below(heal_ms) }).collect();
        images.sort();
        let inline = [1.0, 0.7, 0.0][r.below(3) as usize];
        let mut faults = Vec::new();
        for _ in 0..r.below(4) {
            faults.push(Self::fault(&mut r, nodes, heal_ms));
        }
        if r.chance(0.15) {
            // A flapping partition: the same cut, on and off again, several times.
            let sides: Vec<u8> = (0..=nodes).map(|_| r.below(2) as u8).collect();
            let mut at = 1_000 + r.below(heal_ms / 2);
            for _ in 0..2 + r.below(5) {
                let until = (at + 300 + r.below(1_500)).min(heal_ms);
                faults.push(Fault::Partition { at, until, sides: sides.clone() });
                at = until + 200 + r.below(1_000);
                if at + 300 >= heal_ms {
                    break;
                }
            }
        }
        if r.chance(0.1) {
            // Every node crashes at once and comes back.
            let at = 2_000 + r.below(heal_ms / 2);
            let restart = at + 500 + r.below(3_000);
            faults.extend((0..nodes).map(|node| Fault::Crash { node, at, restart }));
        }
        // Drawn last, so the draws above are those of earlier simulator versions.
        let handle_ms =
            if r.chance(0.2) { (0..nodes).map(|_| 1 + r.below(6)).collect() } else { vec![0; nodes] };
        // From a stream of its own, so every draw above is that of earlier simulator versions.
        let bidders = [0, 1, 2, 3][Rng::new(seed ^ 0xB1DD_E250_0000_0000).below(4) as usize];
        // A busy node down for most of the run, from a stream of its own too: at least 15 s,
        // far longer than any takeover, so images it held wait visibly if nobody takes them.
        let mut long = Rng::new(seed ^ 0x10C6_C4A5_0000_0000);
        if long.chance(0.25) {
            let at = 1_000 + long.below(2_000);
            faults.push(Fault::BusyCrash { at, restart: heal_ms });
        }
        // A black hole among the members, from a stream of its own too.
        let mut hole = Rng::new(seed ^ 0xB1AC_0401_0000_0000);
        // Not beside an anomalous worker: with three nodes, one honest auditor is left.
        let black_hole = (nodes >= 3 && anomalous.is_none() && hole.chance(0.2))
            .then(|| hole.below(nodes as u64) as usize)
            .filter(|b| anomalous != Some(*b));
        Plan {
            seed,
            black_hole,
            nodes,
            bidders,
            handle_ms,
            speed_ms,
            skew_ms,
            anomalous,
            noisy,
            loss,
            duplicate,
            delay_ms,
            images,
            inline,
            faults,
            heal_ms,
            end_ms,
        }
    }

    fn fault(r: &mut Rng, nodes: usize, heal_ms: u64) -> Fault {
        let at = 500 + r.below(heal_ms - 6_000);
        let until = (at + 500 + r.below(10_000)).min(heal_ms);
        match r.below(5) {
            0 | 1 => {
                let sides = (0..=nodes).map(|_| r.below(2) as u8).collect();
                Fault::Partition { at, until, sides }
            }
            2 => {
                let mut pairs = Vec::new();
                for a in 0..=nodes {
                    for b in a + 1..=nodes {
                        if r.chance(0.4) {
                            pairs.push((a, b));
                        }
                    }
                }
                Fault::Cut { at, until, pairs }
            }
            3 => Fault::Crash { node: r.below(nodes as u64) as usize, at, restart: until },
            _ => Fault::Pause {
                node: r.below(nodes as u64) as usize,
                at,
                until: at + 200 + r.below(6_000).min(until - at),
            },
        }
    }

    /// Whether no fault is in force from 1 s before `t` to 10 s after it.
    pub fn quiet(&self, t: u64) -> bool {
        let (lo, hi) = (t.saturating_sub(1_000), t + 10_000);
        self.faults.iter().all(|f| {
            let (a, b) = match f {
                Fault::Partition { at, until, .. } | Fault::Cut { at, until, .. } => (*at, *until),
                Fault::Crash { at, restart, .. } | Fault::BusyCrash { at, restart } => (*at, *restart),
                Fault::Pause { at, until, .. } => (*at, *until),
            };
            b < lo || a > hi
        })
    }

    /// The kinds of fault this run exercises (for the coverage summary).
    pub fn kinds(&self) -> Vec<&'static str> {
        let mut k = Vec::new();
        let count = |f: fn(&Fault) -> bool| self.faults.iter().filter(|x| f(x)).count();
        if count(|f| matches!(f, Fault::Partition { .. })) == 1 {
            k.push("partition");
        }
        if count(|f| matches!(f, Fault::Partition { .. })) > 1 {
            k.push("flapping or repeated partition");
        }
        if count(|f| matches!(f, Fault::Cut { .. })) > 0 {
            k.push("partial partition");
        }
        let crashes = count(|f| matches!(f, Fault::Crash { .. }));
        if crashes > 0 && crashes < self.nodes {
            k.push("crash and restart");
        }
        if crashes >= self.nodes {
            k.push("crash of every node");
        }
        if count(|f| matches!(f, Fault::Pause { .. })) > 0 {
            k.push("pause");
        }
        if count(|f| matches!(f, Fault::BusyCrash { .. })) > 0 {
            k.push("long crash of a busy node");
        }
        if self.loss > 0.0 {
            k.push("message loss");
        }
        if self.duplicate > 0.0 {
            k.push("duplication");
        }
        if self.delay_ms.1 > self.delay_ms.0 {
            k.push("reordering (variable delay)");
        }
        if self.skew_ms.iter().any(|s| *s != 0) {
            k.push("clock skew");
        }
        if self.black_hole.is_some() {
            k.push("black hole");
        }
        if self.anomalous.is_some() {
            k.push("anomalous worker");
        }
        if self.inline < 1.0 {
            k.push("fetched images");
        }
        if self.handle_ms.iter().any(|h| *h > 0) {
            k.push("overloaded nodes (slow message handling)");
        }
        k
    }

    /// One line naming the run's shape, for reports.
    pub fn describe(&self) -> String {
        let kinds: Vec<&str> = self
            .faults
            .iter()
            .map(|f| match f {
                Fault::Partition { .. } => "partition",
                Fault::Cut { .. } => "partial",
                Fault::Crash { .. } => "crash",
                Fault::Pause { .. } => "pause",
                Fault::BusyCrash { .. } => "busy crash",
            })
            .collect();
        format!(
            "{} nodes, {} bidders, {} images, loss {:.3}, dup {:.3}, delay {:?} ms, inline {}, handle {:?} ms, \
             anomalous {:?}, black hole {:?}, faults [{}]",
            self.nodes,
            self.bidders,
            self.images.len(),
            self.loss,
            self.duplicate,
            self.delay_ms,
            self.inline,
            self.handle_ms,
            self.anomalous,
            self.black_hole,
            kinds.join(", ")
        )
    }
}
