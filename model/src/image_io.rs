//! Decoding untrusted image bytes: a size check before anything is parsed, format sniffing
//! (PNG and JPEG only), `image::Limits` on dimensions and decoder allocations, and conversion
//! of grey, grey+alpha, RGBA and 16-bit images to 8-bit RGB. Never panics on any input and
//! never allocates beyond the limits below.

use std::io::Cursor;

use image::{ImageError, ImageFormat, ImageReader, Limits};

use crate::error::ModelError;

/// Largest encoded image accepted, checked before decoding. A 4096x4096 PNG of camera content
/// is well under this; the network's frames are ~20-60 KB.
pub const MAX_INPUT_BYTES: usize = 16 * 1024 * 1024;
/// Largest width or height accepted (decompression-bomb guard, enforced by the decoder).
pub const MAX_DIMENSION_PX: u32 = 4096;
/// Largest decoder allocation: a 4096x4096 RGB image at 16 bits per channel (96 MiB).
pub const MAX_DECODE_ALLOC_BYTES: u64 = 96 * 1024 * 1024;

/// Decodes PNG or JPEG bytes into 8-bit RGB, with the limits above.
pub fn decode_image(bytes: &[u8]) -> Result<image::RgbImage, ModelError> {
    if bytes.is_empty() {
        return Err(ModelError::EmptyImage("zero bytes".into()));
    }
    if bytes.len() > MAX_INPUT_BYTES {
        return Err(ModelError::InputTooLarge { size_bytes: bytes.len(), limit_bytes: MAX_INPUT_BYTES });
    }
    let format = image::guess_format(bytes)
        .map_err(|_| ModelError::UnsupportedFormat("not a PNG or JPEG image".into()))?;
    if !matches!(format, ImageFormat::Png | ImageFormat::Jpeg) {
        return Err(ModelError::UnsupportedFormat(format!("{format:?}")));
    }
    if format == ImageFormat::Jpeg && !has_jpeg_end_marker(bytes) {
        // The JPEG decoder fills missing scan data with grey instead of failing; a frame cut
        // short in transit must be refused, not detected on.
        return Err(ModelError::CorruptImage("truncated JPEG: no end-of-image marker".into()));
    }
    let mut reader = ImageReader::with_format(Cursor::new(bytes), format);
    let mut limits = Limits::default();
    limits.max_image_width = Some(MAX_DIMENSION_PX);
    limits.max_image_height = Some(MAX_DIMENSION_PX);
    limits.max_alloc = Some(MAX_DECODE_ALLOC_BYTES);
    reader.limits(limits);
    let decoded = reader.decode().map_err(map_error)?;
    if decoded.width() == 0 || decoded.height() == 0 {
        return Err(ModelError::EmptyImage(format!("{}x{} pixels", decoded.width(), decoded.height())));
    }
    Ok(decoded.into_rgb8())
}

/// Whether an end-of-image marker (`FF D9`) occurs within the last bytes (some encoders pad
/// after it).
fn has_jpeg_end_marker(bytes: &[u8]) -> bool {
    const TAIL_BYTES: usize = 1024;
    let tail = &bytes[bytes.len().saturating_sub(TAIL_BYTES)..];
    tail.windows(2).any(|w| w == [0xFF, 0xD9])
}

fn map_error(e: ImageError) -> ModelError {
    match e {
        ImageError::Limits(l) => ModelError::LimitsExceeded(l.to_string()),
        ImageError::Unsupported(u) => ModelError::UnsupportedFormat(u.to_string()),
        ImageError::Decoding(d) => ModelError::CorruptImage(d.to_string()),
        ImageError::Parameter(p) => ModelError::CorruptImage(p.to_string()),
        ImageError::IoError(io) => ModelError::CorruptImage(io.to_string()),
        ImageError::Encoding(en) => ModelError::CorruptImage(en.to_string()),
    }
}

/// A small JPEG of `image` whose longer side is at most `max_side_px` (never enlarged), in at
/// most `max_bytes`: tried at quality 75, then 50 and 30; `None` when even that is too large
/// or `max_side_px` is 0. Deterministic: the same image gives the same bytes on every node.
pub fn thumbnail_jpeg(image: &image::RgbImage, max_side_px: u32, max_bytes: usize) -> Option<Vec<u8>> {
    if max_side_px == 0 || image.width() == 0 || image.height() == 0 {
        return None;
    }
    let (w, h) = image.dimensions();
    let scale = (f64::from(max_side_px) / f64::from(w.max(h))).min(1.0);
    let tw = ((f64::from(w) * scale).round() as u32).max(1);
    let th = ((f64::from(h) * scale).round() as u32).max(1);
    let small = image::imageops::thumbnail(image, tw, th);
    [75u8, 50, 30].into_iter().find_map(|quality| {
        let mut out = Vec::new();
        let encoder = image::codecs::jpeg::JpegEncoder::new_with_quality(&mut out, quality);
        small.write_with_encoder(encoder).ok()?;
        (out.len() <= max_bytes).then_some(out)
    })
}

#[cfg(test)]
mod thumbnail_tests {
    use super::*;

    #[test]
    fn thumbnails_are_small_decodable_and_deterministic() {
        let img =
            image::RgbImage::from_fn(640, 480, |x, y| image::Rgb([(x % 256) as u8, (y % 256) as u8, 90]));
        let t = thumbnail_jpeg(&img, 160, 16 * 1024).expect("a thumbnail");
        assert!(t.len() <= 16 * 1024, "{} bytes", t.len());
        let back = decode_image(&t).expect("decodes");
        assert_eq!(back.dimensions(), (160, 120));
        assert_eq!(thumbnail_jpeg(&img, 160, 16 * 1024), Some(t));
        assert_eq!(thumbnail_jpeg(&img, 0, 16 * 1024), None);
        assert_eq!(thumbnail_jpeg(&img, 160, 10), None, "over the byte bound at every quality");
        let tiny = image::RgbImage::new(20, 10);
        assert_eq!(
            decode_image(&thumbnail_jpeg(&tiny, 160, 16 * 1024).unwrap()).unwrap().dimensions(),
            (20, 10)
        );
    }
}
