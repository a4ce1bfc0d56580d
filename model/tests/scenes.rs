//! The scene generator: determinism, the promised variety (classes, counts, sizes), boxes that
//! fit the image, and PNG round trips.

use std::collections::HashSet;

use argus_model::CLASS_NAMES;
use argus_model::scene::{self, SceneConfig};

#[test]
fn same_seed_and_index_give_identical_scenes() {
    let cfg = SceneConfig::default();
    for i in 0..5 {
        let a = scene::generate(11, i, &cfg);
        let b = scene::generate(11, i, &cfg);
        assert_eq!(a.image, b.image);
        assert_eq!(a.objects, b.objects);
        assert_eq!(scene::encode_png(&a.image), scene::encode_png(&b.image));
    }
    assert_ne!(scene::generate(11, 0, &cfg).image, scene::generate(11, 1, &cfg).image);
    assert_ne!(scene::generate(11, 0, &cfg).image, scene::generate(12, 0, &cfg).image);
}

/// Regression guard: the first scene of seed 1 is pinned by its PNG hash, so an accidental
/// change to the generator (which would silently change training and evaluation data) fails.
#[test]
fn generator_output_is_pinned() {
    let s = scene::generate(1, 0, &SceneConfig::default());
    let png = scene::encode_png(&s.image);
    let hash = blake3::hash(s.image.as_raw()).to_hex().to_string();
    assert_eq!(s.image.dimensions(), (160, 120));
    assert!(!png.is_empty());
    assert_eq!(&hash[..16], PINNED_SCENE_1_0, "generator changed; update only on purpose");
}

const PINNED_SCENE_1_0: &str = "7564ad9843b424ea";

#[test]
fn scenes_cover_classes_counts_and_sizes() {
    let cfg = SceneConfig::default();
    let mut classes = HashSet::new();
    let mut counts = HashSet::new();
    let (mut min_side, mut max_side) = (f32::MAX, 0.0f32);
    for i in 0..300 {
        let s = scene::generate(5, i, &cfg);
        assert_eq!(s.image.dimensions(), (cfg.width, cfg.height));
        assert!(s.objects.len() <= 8);
        counts.insert(s.objects.len());
        for o in &s.objects {
            classes.insert(o.class);
            let b = o.bbox;
            assert!(b.x_min >= 0.0 && b.y_min >= 0.0, "{b:?}");
            assert!(b.x_max <= cfg.width as f32 && b.y_max <= cfg.height as f32, "{b:?}");
            let side = (b.x_max - b.x_min).max(b.y_max - b.y_min);
            min_side = min_side.min(side);
            max_side = max_side.max(side);
        }
    }
    assert_eq!(classes.len(), CLASS_NAMES.len());
    assert!(counts.contains(&0) && counts.contains(&8), "{counts:?}");
    assert!(min_side < 11.0 && max_side > 40.0, "{min_side}..{max_side}");
}

#[test]
fn image_size_is_configurable() {
    let cfg = SceneConfig::scaled_to(320, 200);
    cfg.validate().unwrap();
    let s = scene::generate(2, 3, &cfg);
    assert_eq!(s.image.dimensions(), (320, 200));
    assert!(SceneConfig { width: 8, ..SceneConfig::default() }.validate().is_err());
}
