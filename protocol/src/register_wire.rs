//! The register's wire form and the only door from it into a `Register`: `from_wire` verifies
//! every attestation, model ref and digest, drops and counts what fails, and refuses registers
//! over the bounds. Never lets an unverified attestation into a register.

use serde::{Deserialize, Serialize};

use crate::attestation::{Attestation, AttestationWire};
use crate::detection::{Detection, validate_detections};
use crate::ids::{ImageId, ResultDigest};
use crate::limits::{MAX_ATTESTATIONS, MAX_CANDIDATES};
use crate::meta::ImageMeta;
use crate::model_ref::ModelRef;
use crate::register::{Register, RegisterError};
use crate::result::result_digest;

/// A register as it travels (query and sync responses). Untrusted until `Register::from_wire`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RegisterWire {
    pub image_id: ImageId,
    /// Capture time of the image, ms since the Unix epoch.
    pub captured_at_ms: u64,
    pub candidates: Vec<CandidateWire>,
    /// Source name and thumbnail (unattested, `meta`); absent in registers of version 3.
    #[serde(default, skip_serializing_if = "ImageMeta::is_empty")]
    pub meta: ImageMeta,
}

/// One candidate value as it travels.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CandidateWire {
    /// `result_digest(model, detections)`, checked by `Register::from_wire`.
    pub digest: ResultDigest,
    /// The model and weights that produced `detections`.
    pub model: ModelRef,
    pub detections: Vec<Detection>,
    pub attestations: Vec<AttestationWire>,
}

/// What `Register::from_wire` dropped.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Refused {
    /// Attestations whose key or signature did not verify.
    pub attestations: usize,
    /// Candidates dropped: an invalid model ref, invalid detections, a digest that does not
    /// match them, or no valid attestation left.
    pub candidates: usize,
    /// The meta was out of bounds and was dropped (the candidates stand).
    pub meta: bool,
}

impl Refused {
    /// Whether nothing was dropped.
    pub fn is_empty(&self) -> bool {
        self.attestations == 0 && self.candidates == 0 && !self.meta
    }
}

impl Register {
    /// The wire form: candidates by ascending digest, attestations by ascending node id.
    pub fn to_wire(&self) -> RegisterWire {
        RegisterWire {
            image_id: self.image_id,
            captured_at_ms: self.captured_at_ms,
            candidates: self
                .candidates
                .iter()
                .map(|(digest, c)| CandidateWire {
                    digest: *digest,
                    model: c.model.clone(),
                    detections: c.detections.clone(),
                    attestations: c.attestations.values().map(Attestation::to_wire).collect(),
                })
                .collect(),
            meta: self.meta.clone(),
        }
    }

    /// Builds a register from untrusted wire data. Every attestation is verified; the ones
    /// that fail, and candidates with an invalid model ref, invalid detections, a wrong digest
    /// or no valid attestation, are dropped and counted in `Refused`. More candidates or
    /// attestations than the bounds allow refuse the whole register: an honest node never
    /// sends that.
    pub fn from_wire(wire: &RegisterWire) -> Result<(Register, Refused), RegisterError> {
        if wire.candidates.len() > MAX_CANDIDATES {
            let count = wire.candidates.len();
            return Err(RegisterError::TooManyCandidates { count, max: MAX_CANDIDATES });
        }
        if let Some(c) = wire.candidates.iter().find(|c| c.attestations.len() > MAX_ATTESTATIONS) {
            let count = c.attestations.len();
            return Err(RegisterError::TooManyAttestations { count, max: MAX_ATTESTATIONS });
        }
        let mut register = Register::new(wire.image_id, wire.captured_at_ms);
        let mut refused = Refused::default();
        if register.join_meta(&wire.meta).is_err() {
            refused.meta = true;
        }
        for cw in &wire.candidates {
            let valid = cw.model.validate().is_ok()
                && validate_detections(&cw.detections).is_ok()
                && result_digest(&cw.model, &cw.detections) == cw.digest;
            if !valid {
                refused.candidates += 1;
                continue;
            }
            let mut kept = 0usize;
            for aw in &cw.attestations {
                match Attestation::verify(aw, &wire.image_id, &cw.digest) {
                    Ok(att) => {
                        register.insert(&cw.model, &cw.detections, att)?;
                        kept += 1;
                    }
                    Err(_) => refused.attestations += 1,
                }
            }
            if kept == 0 {
                refused.candidates += 1;
            }
        }
        Ok((register, refused))
    }
}
