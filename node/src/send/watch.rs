//! `argus send --watch DIR`: announces image files as they appear in a folder (a camera or a
//! recorder writing frames). Files there when the sender starts are not sent. The folder is
//! listed every `SCAN_EVERY`; a new `.png`/`.jpg`/`.jpeg` file is sent once its size is the
//! same in two listings in a row (a file still being written is not), in name order. What it
//! remembers is bounded by the folder: names that disappear from it are forgotten.

use std::collections::{BTreeMap, HashSet, VecDeque};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use anyhow::Context;

/// How often the folder is listed.
const SCAN_EVERY: Duration = Duration::from_millis(250);
/// Most files one listing takes in; the rest wait for the next listings.
const MAX_NEW_PER_SCAN: usize = 4_096;

/// Whether a file name is one `argus send` takes: `.png`, `.jpg` or `.jpeg`, any case.
pub(super) fn is_image(p: &Path) -> bool {
    p.extension()
        .and_then(|e| e.to_str())
        .is_some_and(|e| ["png", "jpg", "jpeg"].contains(&e.to_ascii_lowercase().as_str()))
}

pub(super) struct Watch {
    dir: PathBuf,
    /// Files already sent, or there at the start, still in the folder.
    done: HashSet<PathBuf>,
    /// New files and their size at the last listing.
    growing: BTreeMap<PathBuf, u64>,
    /// Files ready to send, in name order.
    ready: VecDeque<PathBuf>,
    last_scan: Option<Instant>,
}

fn list(dir: &Path) -> anyhow::Result<Vec<(PathBuf, u64)>> {
    let mut v = Vec::new();
    for e in std::fs::read_dir(dir).with_context(|| format!("reading {}", dir.display()))?.flatten() {
        let p = e.path();
        if is_image(&p)
            && let Ok(m) = e.metadata()
            && m.is_file()
        {
            v.push((p, m.len()));
        }
    }
    v.sort();
    Ok(v)
}

impl Watch {
    /// Starts watching `dir`; the files already in it are not sent.
    pub(super) fn new(dir: &Path) -> anyhow::Result<Watch> {
        let done = list(dir)?.into_iter().map(|(p, _)| p).collect();
        let w = Watch {
            dir: dir.to_path_buf(),
            done,
            growing: BTreeMap::new(),
            ready: VecDeque::new(),
            last_scan: None,
        };
        Ok(w)
    }

    /// The next file whose writing has finished, if any by now.
    pub(super) fn next_file(&mut self) -> anyhow::Result<Option<PathBuf>> {
        if self.ready.is_empty() && self.last_scan.is_none_or(|t| t.elapsed() >= SCAN_EVERY) {
            self.scan()?;
        }
        Ok(self.ready.pop_front())
    }

    fn scan(&mut self) -> anyhow::Result<()> {
        self.last_scan = Some(Instant::now());
        let listing = list(&self.dir)?;
        let present: HashSet<&PathBuf> = listing.iter().map(|(p, _)| p).collect();
        self.done.retain(|p| present.contains(p));
        self.growing.retain(|p, _| present.contains(p));
        let mut taken = 0;
        for (p, size) in &listing {
            if self.done.contains(p) || taken >= MAX_NEW_PER_SCAN {
                continue;
            }
            taken += 1;
            match self.growing.insert(p.clone(), *size) {
                Some(before) if before == *size && *size > 0 => {
                    self.growing.remove(p);
                    self.done.insert(p.clone());
                    self.ready.push_back(p.clone());
                }
                _ => {}
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_new_files_are_sent_once_their_size_holds_and_forgotten_names_stay_bounded() {
        let dir = std::env::temp_dir().join(format!("argus-watch-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(dir.join("old.png"), b"old").unwrap();
        let mut w = Watch::new(&dir).unwrap();
        let scan = |w: &mut Watch| {
            w.last_scan = None;
            w.next_file().unwrap()
        };
        assert_eq!(scan(&mut w), None, "a file there at the start is not sent");
        std::fs::write(dir.join("b.png"), b"half").unwrap();
        std::fs::write(dir.join("a.jpg"), b"frame").unwrap();
        std::fs::write(dir.join("notes.txt"), b"text").unwrap();
        assert_eq!(scan(&mut w), None, "first sight: sizes not yet known to hold");
        std::fs::write(dir.join("b.png"), b"half and the rest").unwrap();
        assert_eq!(scan(&mut w), Some(dir.join("a.jpg")), "a.jpg held its size; b.png grew");
        assert_eq!(scan(&mut w), Some(dir.join("b.png")));
        assert_eq!(scan(&mut w), None, "each file once");
        std::fs::remove_file(dir.join("a.jpg")).unwrap();
        scan(&mut w);
        assert!(!w.done.contains(&dir.join("a.jpg")), "names gone from the folder are forgotten");
        let _ = std::fs::remove_dir_all(&dir);
    }
}
