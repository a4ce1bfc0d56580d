//! FAULT INJECTION for tests and scenarios (`argus node --fault SPEC`): a node that publishes
//! perturbed results (audits, votes and the monitor are exercised), or a hostile member (a
//! black hole, a liar, a flooder; see `reputation`). Never active unless the operator asks for
//! it; the choice per image of an anomalous result is a pure function of its id.

use argus_protocol::detection::{BBox, Detection};
use argus_protocol::ids::ImageId;

/// Parts per million in a rate of 1.0.
pub const PPM: u32 = 1_000_000;

/// A fault a node is started with (`argus node --fault SPEC`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fault {
    /// `anomalous[=RATE]`: perturbed results at this rate, parts per million.
    Anomalous(u32),
    /// `blackhole`: bids 0 ms for everything, claims what it wins, renews its claims and
    /// never runs or delivers anything (audits included).
    BlackHole,
    /// `liar`: works, but every result and PASS verdict it publishes carries an attestation
    /// that does not verify: alternately one replayed from another node's result, and garbage.
    Liar,
    /// `flooder`: works, and floods every topic with garbage, oversized and misaddressed
    /// messages (carried out by the node's network side, not by the state).
    Flooder,
    /// `oversize-once`: publishes one gossip frame over every other node's frame limit (its
    /// own limit raised) a few seconds after it starts, then behaves (carried out by the
    /// node's network side; see `net/wedge.rs` in the node).
    OversizeOnce,
}

/// The faults a state acts out itself (`State::set_hostile`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Hostile {
    #[default]
    None,
    BlackHole,
    Liar,
}

/// Parses a fault spec: `anomalous[=RATE]` (RATE in 0..=1), `blackhole`, `liar` or `flooder`.
pub fn parse(spec: &str) -> Result<Fault, String> {
    let rate = match spec.split_once('=') {
        None if spec == "anomalous" => 1.0,
        None if spec == "blackhole" => return Ok(Fault::BlackHole),
        None if spec == "liar" => return Ok(Fault::Liar),
        None if spec == "flooder" => return Ok(Fault::Flooder),
        None if spec == "oversize-once" => return Ok(Fault::OversizeOnce),
        Some(("anomalous", r)) => r.parse::<f64>().map_err(|_| format!("bad fault rate {r:?}"))?,
        _ => {
            return Err(format!(
                "unknown fault {spec:?}; the faults are anomalous[=RATE], blackhole, liar and flooder"
            ));
        }
    };
    if !(0.0..=1.0).contains(&rate) {
        return Err(format!("fault rate {rate} is outside 0..=1"));
    }
    Ok(Fault::Anomalous((rate * f64::from(PPM)).round() as u32))
}

/// With probability `rate_ppm` / 1e6 (decided by the image id), returns a result that cannot
/// agree with the true one: boxes shifted by half their size, classes rotated, and a phantom
/// object added.
pub fn maybe_perturb(dets: Vec<Detection>, rate_ppm: u32, image: &ImageId) -> Vec<Detection> {
    if rate_ppm == 0 {
        return dets;
    }
    let b = image.as_bytes();
    let draw = u32::from_le_bytes([b[0], b[1], b[2], b[3]]) % PPM;
    if draw >= rate_ppm {
        return dets;
    }
    let mut out: Vec<Detection> = dets
        .into_iter()
        .map(|d| {
            let (w, h) = (d.bbox.x_max - d.bbox.x_min, d.bbox.y_max - d.bbox.y_min);
            Detection {
                class: (d.class + 1) % 5,
                score: d.score,
                bbox: BBox {
                    x_min: d.bbox.x_min + w / 2.0,
                    y_min: d.bbox.y_min + h / 2.0,
                    x_max: d.bbox.x_max + w / 2.0,
                    y_max: d.bbox.y_max + h / 2.0,
                },
            }
        })
        .collect();
    out.push(Detection {
        class: 0,
        score: 0.99,
        bbox: BBox { x_min: 1.0, y_min: 1.0, x_max: 9.0, y_max: 9.0 },
    });
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use argus_protocol::result::results_agree;

    #[test]
    fn parse_rates() {
        assert_eq!(parse("anomalous").unwrap(), Fault::Anomalous(PPM));
        assert_eq!(parse("anomalous=0.25").unwrap(), Fault::Anomalous(250_000));
        assert_eq!(parse("blackhole").unwrap(), Fault::BlackHole);
        assert_eq!(parse("liar").unwrap(), Fault::Liar);
        assert_eq!(parse("flooder").unwrap(), Fault::Flooder);
        assert_eq!(parse("oversize-once").unwrap(), Fault::OversizeOnce);
        assert!(parse("liar=1").is_err());
        assert!(parse("anomalous=2").is_err());
        assert!(parse("slow").is_err());
    }

    #[test]
    fn perturbed_results_never_agree() {
        let d = vec![Detection {
            class: 2,
            score: 0.9,
            bbox: BBox { x_min: 10.0, y_min: 10.0, x_max: 30.0, y_max: 40.0 },
        }];
        let img = ImageId::of_bytes(b"x");
        let p = maybe_perturb(d.clone(), PPM, &img);
        assert!(!results_agree(&d, &p));
        assert_eq!(maybe_perturb(d.clone(), 0, &img), d);
    }
}
