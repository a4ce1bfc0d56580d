//! Drawing detections onto an image: a one-pixel box per detection and a small label (class
//! name and score) in a built-in 3x5 bitmap font. Only paints pixels inside the image; never
//! reads or writes files.

use argus_protocol::detection::Detection;

const PALETTE: [[u8; 3]; 6] =
    [[230, 25, 75], [60, 180, 75], [255, 225, 25], [0, 130, 200], [245, 130, 48], [145, 30, 180]];

/// 3x5 glyphs, rows top to bottom, `#` = ink.
fn glyph(c: char) -> Option<[&'static str; 5]> {
    let g = match c.to_ascii_uppercase() {
        'A' => [".#.", "#.#", "###", "#.#", "#.#"],
        'B' => ["##.", "#.#", "##.", "#.#", "##."],
        'C' => [".##", "#..", "#..", "#..", ".##"],
        'D' => ["##.", "#.#", "#.#", "#.#", "##."],
        'E' => ["###", "#..", "##.", "#..", "###"],
        'F' => ["###", "#..", "##.", "#..", "#.."],
        'G' => [".##", "#..", "#.#", "#.#", ".##"],
        'H' => ["#.#", "#.#", "###", "#.#", "#.#"],
        'I' => ["###", ".#.", ".#.", ".#.", "###"],
        'J' => ["..#", "..#", "..#", "#.#", ".#."],
        'K' => ["#.#", "#.#", "##.", "#.#", "#.#"],
        'L' => ["#..", "#..", "#..", "#..", "###"],
        'M' => ["#.#", "###", "###", "#.#", "#.#"],
        'N' => ["##.", "#.#", "#.#", "#.#", "#.#"],
        'O' => [".#.", "#.#", "#.#", "#.#", ".#."],
        'P' => ["##.", "#.#", "##.", "#..", "#.."],
        'Q' => [".#.", "#.#", "#.#", "###", ".##"],
        'R' => ["##.", "#.#", "##.", "#.#", "#.#"],
        'S' => [".##", "#..", ".#.", "..#", "##."],
        'T' => ["###", ".#.", ".#.", ".#.", ".#."],
        'U' => ["#.#", "#.#", "#.#", "#.#", "###"],
        'V' => ["#.#", "#.#", "#.#", "#.#", ".#."],
        'W' => ["#.#", "#.#", "###", "###", "#.#"],
        'X' => ["#.#", "#.#", ".#.", "#.#", "#.#"],
        'Y' => ["#.#", "#.#", ".#.", ".#.", ".#."],
        'Z' => ["###", "..#", ".#.", "#..", "###"],
        '0' => ["###", "#.#", "#.#", "#.#", "###"],
        '1' => [".#.", "##.", ".#.", ".#.", "###"],
        '2' => ["##.", "..#", ".#.", "#..", "###"],
        '3' => ["##.", "..#", ".#.", "..#", "##."],
        '4' => ["#.#", "#.#", "###", "..#", "..#"],
        '5' => ["###", "#..", "##.", "..#", "##."],
        '6' => [".##", "#..", "###", "#.#", "###"],
        '7' => ["###", "..#", ".#.", ".#.", ".#."],
        '8' => ["###", "#.#", "###", "#.#", "###"],
        '9' => ["###", "#.#", "###", "..#", "##."],
        '.' => ["...", "...", "...", "...", ".#."],
        ' ' => ["...", "...", "...", "...", "..."],
        _ => return None,
    };
    Some(g)
}

fn put(img: &mut image::RgbImage, x: i64, y: i64, c: [u8; 3]) {
    if x >= 0 && y >= 0 && (x as u32) < img.width() && (y as u32) < img.height() {
        img.put_pixel(x as u32, y as u32, image::Rgb(c));
    }
}

/// Writes `text` with its top-left corner at `(x, y)`, each font pixel `scale` image pixels.
pub fn draw_text(img: &mut image::RgbImage, x: i64, y: i64, text: &str, scale: i64, ink: [u8; 3]) {
    for (k, ch) in text.chars().enumerate() {
        let Some(rows) = glyph(ch) else { continue };
        let gx = x + k as i64 * 4 * scale;
        for (r, row) in rows.iter().enumerate() {
            for (col, b) in row.bytes().enumerate() {
                if b != b'#' {
                    continue;
                }
                for dy in 0..scale {
                    for dx in 0..scale {
                        put(img, gx + col as i64 * scale + dx, y + r as i64 * scale + dy, ink);
                    }
                }
            }
        }
    }
}

/// Draws every detection's box and a `name score` label above it (inside when at the top);
/// `labels` names the classes. Lines and letters grow with the image (one pixel and 3x5 glyphs
/// up to 256 pixels on the longer side, then one step more per 256 pixels).
pub fn draw_detections(img: &mut image::RgbImage, dets: &[Detection], labels: &[&str]) {
    let scale = i64::from((img.width().max(img.height()) / 256).max(1));
    for d in dets {
        let colour = PALETTE[d.class as usize % PALETTE.len()];
        let (x0, y0) = (d.bbox.x_min.floor() as i64, d.bbox.y_min.floor() as i64);
        let (x1, y1) = (d.bbox.x_max.ceil() as i64 - 1, d.bbox.y_max.ceil() as i64 - 1);
        for t in 0..scale {
            for x in x0..=x1 {
                put(img, x, y0 + t, colour);
                put(img, x, y1 - t, colour);
            }
            for y in y0..=y1 {
                put(img, x0 + t, y, colour);
                put(img, x1 - t, y, colour);
            }
        }
        let name = labels.get(d.class as usize).copied().unwrap_or("?");
        let label = format!("{name} {:.2}", d.score);
        let (w, h) = (label.len() as i64 * 4 * scale + scale, 6 * scale + scale);
        let ly = if y0 - h >= 0 { y0 - h } else { y0 + 1 };
        for y in ly..ly + h {
            for x in x0..x0 + w {
                put(img, x, y, colour);
            }
        }
        draw_text(img, x0 + scale, ly + scale, &label, scale, [0, 0, 0]);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use argus_protocol::detection::BBox;

    #[test]
    fn every_class_name_is_drawable() {
        for name in crate::ModelKind::ALL.iter().flat_map(|m| m.labels()) {
            assert!(name.chars().all(|c| glyph(c).is_some()), "{name}");
        }
    }

    #[test]
    fn boxes_are_drawn_and_clipped() {
        let mut img = image::RgbImage::new(40, 30);
        let d = Detection {
            class: 1,
            score: 0.9,
            bbox: BBox { x_min: 5.0, y_min: 10.0, x_max: 60.0, y_max: 20.0 },
        };
        draw_detections(&mut img, &[d], crate::CLASS_NAMES);
        assert_eq!(img.get_pixel(5, 15).0, PALETTE[1]);
        assert_eq!(img.get_pixel(20, 19).0, PALETTE[1]);
        assert_eq!(img.get_pixel(20, 15).0, [0, 0, 0]);
    }
}
