//! Untrusted image bytes: every malformed, hostile or unusual input gives a precise
//! `ModelError` or a correct conversion, never a panic or an unbounded allocation.

use argus_model::ModelError;
use argus_model::image_io::{MAX_DIMENSION_PX, MAX_INPUT_BYTES, decode_image};
use argus_model::scene::{self, ImageFormat, SceneConfig};

fn crc32(bytes: &[u8]) -> u32 {
    let mut crc = 0xFFFF_FFFFu32;
    for &b in bytes {
        crc ^= u32::from(b);
        for _ in 0..8 {
            crc = if crc & 1 != 0 { (crc >> 1) ^ 0xEDB8_8320 } else { crc >> 1 };
        }
    }
    !crc
}

fn chunk(kind: &[u8; 4], data: &[u8]) -> Vec<u8> {
    let mut out = (data.len() as u32).to_be_bytes().to_vec();
    let mut body = kind.to_vec();
    body.extend_from_slice(data);
    out.extend_from_slice(&body);
    out.extend_from_slice(&crc32(&body).to_be_bytes());
    out
}

/// A PNG with a valid signature and IHDR claiming `w x h` at `depth` bits, colour `colour`,
/// followed by an empty IDAT and IEND: no pixel data at all.
fn png_header_only(w: u32, h: u32, depth: u8, colour: u8) -> Vec<u8> {
    let mut png = b"\x89PNG\r\n\x1a\n".to_vec();
    let mut ihdr = w.to_be_bytes().to_vec();
    ihdr.extend_from_slice(&h.to_be_bytes());
    ihdr.extend_from_slice(&[depth, colour, 0, 0, 0]);
    png.extend(chunk(b"IHDR", &ihdr));
    png.extend(chunk(b"IDAT", &[]));
    png.extend(chunk(b"IEND", &[]));
    png
}

fn sample_png() -> Vec<u8> {
    scene::encode_png(&scene::generate(3, 0, &SceneConfig::default()).image)
}

#[test]
fn empty_input_is_rejected() {
    assert!(matches!(decode_image(&[]), Err(ModelError::EmptyImage(_))));
}

#[test]
fn oversized_input_is_rejected_before_decoding() {
    let mut bytes = sample_png();
    bytes.resize(MAX_INPUT_BYTES + 1, 0);
    assert!(matches!(
        decode_image(&bytes),
        Err(ModelError::InputTooLarge { size_bytes, .. }) if size_bytes == MAX_INPUT_BYTES + 1
    ));
}

#[test]
fn garbage_and_unsupported_formats_are_rejected() {
    let noise: Vec<u8> = (0..4096u32).map(|i| (i.wrapping_mul(2654435761) >> 13) as u8).collect();
    assert!(matches!(decode_image(&noise), Err(ModelError::UnsupportedFormat(_))));
    let gif = b"GIF89a\x01\x00\x01\x00\x00\x00\x00;".to_vec();
    assert!(matches!(decode_image(&gif), Err(ModelError::UnsupportedFormat(_))));
    let bmp = b"BM\x3a\x00\x00\x00\x00\x00\x00\x00\x36\x00\x00\x00".to_vec();
    assert!(matches!(decode_image(&bmp), Err(ModelError::UnsupportedFormat(_))));
}

#[test]
fn corrupt_png_is_rejected() {
    let mut bytes = sample_png();
    let mid = bytes.len() / 2;
    for b in &mut bytes[mid..mid + 64] {
        *b ^= 0xA5;
    }
    assert!(matches!(decode_image(&bytes), Err(ModelError::CorruptImage(_))));
}

#[test]
fn truncated_png_and_jpeg_are_rejected() {
    let png = sample_png();
    for cut in [9, 40, png.len() / 2, png.len() - 13] {
        let r = decode_image(&png[..cut]).map(|i| i.dimensions());
        assert!(matches!(r, Err(ModelError::CorruptImage(_))), "png cut at {cut}: {r:?}");
    }
    let img = scene::generate(3, 1, &SceneConfig::default()).image;
    let jpeg = scene::encode(&img, ImageFormat::Jpeg).unwrap();
    for cut in [3, 100, jpeg.len() / 3, jpeg.len() - 2] {
        let r = decode_image(&jpeg[..cut]).map(|i| i.dimensions());
        assert!(matches!(r, Err(ModelError::CorruptImage(_))), "jpeg cut at {cut}: {r:?}");
    }
}

#[test]
fn zero_sized_png_is_rejected() {
    for (w, h) in [(0, 10), (10, 0), (0, 0)] {
        let r = decode_image(&png_header_only(w, h, 8, 2)).map(|i| i.dimensions());
        assert!(matches!(r, Err(ModelError::CorruptImage(_) | ModelError::EmptyImage(_))), "{w}x{h}: {r:?}");
    }
}

#[test]
fn absurd_dimensions_are_refused_without_allocating() {
    // A decompression bomb's header: it claims ~1.5e10 pixels; decoding must stop at the limit.
    let r = decode_image(&png_header_only(123_456, 123_456, 8, 6)).map(|i| i.dimensions());
    assert!(matches!(r, Err(ModelError::LimitsExceeded(_))), "{r:?}");
    let r = decode_image(&png_header_only(MAX_DIMENSION_PX + 1, 1, 8, 2)).map(|i| i.dimensions());
    assert!(matches!(r, Err(ModelError::LimitsExceeded(_))), "{r:?}");
    // Within the side limit but over the allocation limit: 4096x4096 RGBA at 16 bits = 128 MiB.
    let r = decode_image(&png_header_only(4096, 4096, 16, 6)).map(|i| i.dimensions());
    assert!(matches!(r, Err(ModelError::LimitsExceeded(_))), "{r:?}");
}

#[test]
fn grayscale_and_rgba_are_converted() {
    let gray = image::GrayImage::from_fn(20, 10, |x, _| image::Luma([(x * 10) as u8]));
    let mut bytes = Vec::new();
    gray.write_to(&mut std::io::Cursor::new(&mut bytes), image::ImageFormat::Png).unwrap();
    let rgb = decode_image(&bytes).unwrap();
    assert_eq!(rgb.dimensions(), (20, 10));
    assert_eq!(rgb.get_pixel(7, 3).0, [70, 70, 70]);

    let rgba = image::RgbaImage::from_fn(8, 6, |x, y| image::Rgba([x as u8 * 30, y as u8 * 40, 9, 128]));
    let mut bytes = Vec::new();
    rgba.write_to(&mut std::io::Cursor::new(&mut bytes), image::ImageFormat::Png).unwrap();
    let rgb = decode_image(&bytes).unwrap();
    assert_eq!(rgb.dimensions(), (8, 6));
    assert_eq!(rgb.get_pixel(3, 2).0, [90, 80, 9]);
}

#[test]
fn valid_png_and_jpeg_round_trip() {
    let img = scene::generate(4, 2, &SceneConfig::default()).image;
    assert_eq!(decode_image(&scene::encode_png(&img)).unwrap(), img);
    let jpeg = scene::encode(&img, ImageFormat::Jpeg).unwrap();
    let back = decode_image(&jpeg).unwrap();
    assert_eq!(back.dimensions(), img.dimensions());
    let mean_abs: f64 = back
        .as_raw()
        .iter()
        .zip(img.as_raw())
        .map(|(a, b)| (f64::from(*a) - f64::from(*b)).abs())
        .sum::<f64>()
        / img.as_raw().len() as f64;
    assert!(mean_abs < 8.0, "JPEG q90 should stay close: {mean_abs}");
}
