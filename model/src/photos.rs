//! Where the real test photographs live: `$ARGUS_PHOTOS`, else `~/.cache/argus/photos`, filled
//! by `scripts/fetch-photos.sh` from package registries (Debian's `darknet`, the scikit-image
//! wheel). They are not in the repository. Also the varied images (crops, scales, flips of the
//! photographs) that backend agreement is measured on. Never downloads anything.

use std::path::PathBuf;

/// The photographs the fetch script provides.
pub const NAMES: &[&str] = &[
    "dog.jpg",
    "person.jpg",
    "giraffe.jpg",
    "eagle.jpg",
    "kite.jpg",
    "horses.jpg",
    "astronaut.png",
    "chelsea.png",
];

/// What the coco model must find in each photograph at a score of at least 0.3 (labels).
pub const EXPECTED: &[(&str, &[&str])] = &[
    ("dog.jpg", &["dog", "bicycle"]),
    ("person.jpg", &["person", "horse"]),
    ("giraffe.jpg", &["giraffe"]),
    ("eagle.jpg", &["bird"]),
    ("astronaut.png", &["person"]),
];

/// The photographs' folder.
pub fn dir() -> PathBuf {
    if let Some(d) = std::env::var_os("ARGUS_PHOTOS") {
        return PathBuf::from(d);
    }
    let home = std::env::var_os("HOME").map(PathBuf::from).unwrap_or_else(|| PathBuf::from("."));
    home.join(".cache/argus/photos")
}

/// Every photograph's path when all are present; otherwise the names of the missing ones.
pub fn all() -> Result<Vec<PathBuf>, Vec<&'static str>> {
    let d = dir();
    let missing: Vec<&str> = NAMES.iter().copied().filter(|n| !d.join(n).is_file()).collect();
    if missing.is_empty() { Ok(NAMES.iter().map(|n| d.join(n)).collect()) } else { Err(missing) }
}

/// Every photograph, decoded, with its file name. When some are missing: `Err` naming them and
/// the fetch script.
pub fn load() -> Result<Vec<(String, image::RgbImage)>, String> {
    let paths = all().map_err(|missing| {
        format!("photographs missing in {}: {missing:?} (run scripts/fetch-photos.sh)", dir().display())
    })?;
    paths
        .iter()
        .map(|p| {
            let name = p.file_name().map(|n| n.to_string_lossy().to_string()).unwrap_or_default();
            let bytes = std::fs::read(p).map_err(|e| format!("{}: {e}", p.display()))?;
            let img = crate::decode_image(&bytes).map_err(|e| format!("{}: {e}", p.display()))?;
            Ok((name, img))
        })
        .collect()
}

/// For tests: the photographs, or `None` after saying why they are skipped. With
/// `ARGUS_REQUIRE_PHOTOS` set (CI sets it) a missing photograph panics instead.
pub fn for_test() -> Option<Vec<(String, image::RgbImage)>> {
    match load() {
        Ok(p) => Some(p),
        Err(why) => {
            assert!(std::env::var_os("ARGUS_REQUIRE_PHOTOS").is_none(), "{why}");
            eprintln!("SKIPPED: {why}");
            None
        }
    }
}

/// `count` varied real images: random crops (at least half of each side), scales (0.3x to 1.8x)
/// and horizontal flips of the photographs, from a fixed seed (the same images every run).
pub fn varied(photos: &[(String, image::RgbImage)], count: usize) -> Vec<image::RgbImage> {
    assert!(!photos.is_empty(), "varied images need photographs");
    let mut rng = crate::rng::SplitMix64::new(0x9E37_79B9_7F4A_7C15);
    let mut below = |n: u32| (rng.next_u64() % u64::from(n.max(1))) as u32;
    (0..count)
        .map(|i| {
            let src = &photos[i % photos.len()].1;
            let (w, h) = src.dimensions();
            let (cw, ch) = ((w / 2 + below(w / 2)).max(1), (h / 2 + below(h / 2)).max(1));
            let crop =
                image::imageops::crop_imm(src, below(w - cw + 1), below(h - ch + 1), cw, ch).to_image();
            let scale = 0.3 + below(150) as f32 / 100.0;
            let (sw, sh) = (((cw as f32 * scale) as u32).max(8), ((ch as f32 * scale) as u32).max(8));
            let scaled = image::imageops::resize(&crop, sw, sh, image::imageops::FilterType::Triangle);
            if below(2) == 0 { image::imageops::flip_horizontal(&scaled) } else { scaled }
        })
        .collect()
}
