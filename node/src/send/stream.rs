//! `argus send --stream URL|FILE`: frames sampled at `--rate` from anything ffmpeg reads (an
//! RTSP or HTTP MJPEG camera, a video file). ffmpeg (from the system, e.g. Debian's) runs as a
//! child process and writes the sampled frames as JPEG to a pipe; a reader thread cuts them
//! apart and hands them to the sender through a queue of `QUEUE_FRAMES` (a frame that finds
//! it full is dropped and counted: a camera's newest frames matter, not a backlog). A file is
//! read at its own speed (`-re`) and ends the stream; anything else that ends or fails (a
//! camera rebooting, a network cut) is reopened after a backoff that doubles from
//! `BACKOFF_MIN` to `BACKOFF_MAX` and starts again once frames flow.

use std::io::Read;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::mpsc::{Receiver, SyncSender, TryRecvError, TrySendError, sync_channel};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use anyhow::{Context, bail};
use argus_protocol::limits::MAX_IMAGE_BYTES;
use tracing::{info, warn};

/// What a source has now.
pub(super) enum Next {
    Image(anyhow::Result<Vec<u8>>),
    /// Nothing yet (a watched folder, a stream between frames): ask again at the next tick.
    Wait,
    End,
}

/// Frames waiting for the sender.
const QUEUE_FRAMES: usize = 8;
const BACKOFF_MIN: Duration = Duration::from_millis(500);
const BACKOFF_MAX: Duration = Duration::from_secs(10);
/// A network source that sends nothing for this long is dropped and reopened (ffmpeg's
/// `-rw_timeout`, for the protocols that have it).
const IO_TIMEOUT_US: u64 = 5_000_000;

/// JPEG frames cut from ffmpeg's output: each runs from a start-of-image marker (FF D8) to
/// the next end-of-image marker (FF D9). Entropy-coded data never holds FF D9 (its FF bytes
/// are stuffed), and ffmpeg's encoder writes no embedded thumbnail, so the cut is exact. A
/// frame over `MAX_IMAGE_BYTES` is dropped whole.
#[derive(Default)]
pub(super) struct Frames {
    buf: Vec<u8>,
    /// Where the search for the end marker resumes.
    scanned: usize,
    /// Bytes dropped: before a start marker, or in frames over the limit.
    pub skipped: u64,
}

impl Frames {
    /// Appends `bytes`; returns the frames they complete.
    pub(super) fn push(&mut self, bytes: &[u8]) -> Vec<Vec<u8>> {
        self.buf.extend_from_slice(bytes);
        let mut out = Vec::new();
        loop {
            let Some(start) = self.buf.windows(2).position(|w| w == [0xFF, 0xD8]) else {
                // Keep a last FF: it may begin a marker.
                let keep = usize::from(self.buf.last() == Some(&0xFF));
                self.skipped += (self.buf.len() - keep) as u64;
                self.buf.drain(..self.buf.len() - keep);
                self.scanned = 0;
                return out;
            };
            if start > 0 {
                self.skipped += start as u64;
                self.buf.drain(..start);
                self.scanned = 0;
            }
            let from = self.scanned.max(2).saturating_sub(1);
            match self.buf[from..].windows(2).position(|w| w == [0xFF, 0xD9]) {
                Some(i) => {
                    let end = from + i + 2;
                    let frame: Vec<u8> = self.buf.drain(..end).collect();
                    self.scanned = 0;
                    if frame.len() as u64 <= MAX_IMAGE_BYTES {
                        out.push(frame);
                    } else {
                        self.skipped += frame.len() as u64;
                    }
                }
                None => {
                    self.scanned = self.buf.len();
                    if self.buf.len() as u64 > MAX_IMAGE_BYTES {
                        // No end in sight within the limit: drop it and look for the next start.
                        self.skipped += self.buf.len() as u64;
                        self.buf.clear();
                        self.scanned = 0;
                    }
                    return out;
                }
            }
        }
    }
}

/// What the sender and the reader thread share: the stop flag, the running ffmpeg (so a stop
/// can kill it mid-read), and the counts the closing log line reports.
#[derive(Default)]
struct Shared {
    stop: AtomicBool,
    child: Mutex<Option<Child>>,
    dropped: AtomicU64,
    reopened: AtomicU64,
}

/// A running stream source.
pub(super) struct Stream {
    frames: Receiver<Vec<u8>>,
    shared: Arc<Shared>,
}

impl Stream {
    /// Starts ffmpeg on `src`, sampling `rate` frames a second.
    pub(super) fn open(src: &str, rate: f64) -> anyhow::Result<Stream> {
        let probe =
            Command::new("ffmpeg").arg("-version").stdout(Stdio::null()).stderr(Stdio::null()).status();
        if !probe.is_ok_and(|s| s.success()) {
            bail!("--stream needs ffmpeg on the PATH (Debian: apt install ffmpeg)");
        }
        let file = Path::new(src).is_file();
        if !file && !src.contains("://") {
            bail!("--stream {src:?}: neither a file nor a URL (rtsp://, http://, ...)");
        }
        let (tx, rx) = sync_channel(QUEUE_FRAMES);
        let s = Stream { frames: rx, shared: Arc::default() };
        let reader = Reader { src: src.to_string(), file, rate, tx, shared: s.shared.clone() };
        std::thread::Builder::new()
            .name("stream".into())
            .spawn(move || reader.run())
            .context("starting the stream reader")?;
        Ok(s)
    }

    /// The next frame cut, `Wait` while none is, `End` once the file ended or the reader
    /// stopped.
    pub(super) fn next(&mut self) -> Next {
        match self.frames.try_recv() {
            Ok(f) => Next::Image(Ok(f)),
            Err(TryRecvError::Empty) => Next::Wait,
            Err(TryRecvError::Disconnected) => Next::End,
        }
    }
}

impl Drop for Stream {
    fn drop(&mut self) {
        self.shared.stop.store(true, Ordering::Relaxed);
        if let Ok(mut c) = self.shared.child.lock()
            && let Some(child) = c.as_mut()
        {
            let _ = child.kill();
        }
        let (dropped, reopened) =
            (self.shared.dropped.load(Ordering::Relaxed), self.shared.reopened.load(Ordering::Relaxed));
        info!(
            dropped,
            reopened, "stream closed (frames dropped with the queue full; times the source was reopened)"
        );
    }
}

struct Reader {
    src: String,
    file: bool,
    rate: f64,
    tx: SyncSender<Vec<u8>>,
    shared: Arc<Shared>,
}

impl Reader {
    fn command(&self) -> Command {
        let mut c = Command::new("ffmpeg");
        c.args(["-hide_banner", "-nostdin", "-loglevel", "error"]);
        if self.file {
            c.arg("-re");
        } else {
            // Sample a live stream by the clock: MJPEG over HTTP carries no timestamps, and
            // ffmpeg would otherwise assume 25 frames a second whatever the camera sends.
            c.args(["-use_wallclock_as_timestamps", "1"]);
            if ["http://", "https://", "tcp://"].iter().any(|p| self.src.starts_with(p)) {
                c.args(["-rw_timeout", &IO_TIMEOUT_US.to_string()]);
            } else if self.src.starts_with("rtsp://") {
                c.args(["-timeout", &IO_TIMEOUT_US.to_string()]);
            }
        }
        c.args(["-i", &self.src, "-an", "-vf", &format!("fps={}", self.rate)]);
        c.args(["-f", "image2pipe", "-c:v", "mjpeg", "-q:v", "3", "pipe:1"]);
        c.stdin(Stdio::null()).stdout(Stdio::piped()).stderr(Stdio::inherit());
        c
    }

    fn run(self) {
        let mut backoff = BACKOFF_MIN;
        while !self.shared.stop.load(Ordering::Relaxed) {
            let (frames, clean) = self.once();
            if self.file && clean {
                info!(src = %self.src, "the video file ended");
                return;
            }
            if frames > 0 {
                backoff = BACKOFF_MIN;
            }
            if self.shared.stop.load(Ordering::Relaxed) {
                return;
            }
            self.shared.reopened.fetch_add(1, Ordering::Relaxed);
            warn!(src = %self.src, frames, backoff_ms = backoff.as_millis() as u64, "the stream dropped: reopening after a backoff");
            std::thread::sleep(backoff);
            backoff = (backoff * 2).min(BACKOFF_MAX);
        }
    }

    /// One ffmpeg run: the frames it gave, and whether it ended cleanly (exit status 0).
    fn once(&self) -> (u64, bool) {
        let mut child = match self.command().spawn() {
            Ok(c) => c,
            Err(e) => {
                warn!(error = %e, "cannot start ffmpeg");
                return (0, false);
            }
        };
        let Some(mut out) = child.stdout.take() else { return (0, false) };
        if let Ok(mut c) = self.shared.child.lock() {
            *c = Some(child);
        }
        let (mut cut, mut frames, mut chunk) = (Frames::default(), 0u64, vec![0u8; 64 * 1024]);
        loop {
            let n = match out.read(&mut chunk) {
                Ok(0) | Err(_) => break,
                Ok(n) => n,
            };
            for f in cut.push(&chunk[..n]) {
                frames += 1;
                if frames == 1 {
                    info!(src = %self.src, "stream frames flowing");
                }
                match self.tx.try_send(f) {
                    Ok(()) => {}
                    Err(TrySendError::Full(_)) => {
                        self.shared.dropped.fetch_add(1, Ordering::Relaxed);
                    }
                    Err(TrySendError::Disconnected(_)) => return (frames, true),
                }
            }
        }
        let status = self.shared.child.lock().ok().and_then(|mut c| c.take()).map(|mut c| c.wait());
        (frames, matches!(status, Some(Ok(s)) if s.success()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn jpeg(n: u8, len: usize) -> Vec<u8> {
        let mut v = vec![0xFF, 0xD8];
        v.extend((0..len).map(|i| if i % 7 == 0 { 0xFF } else { n }).map(|b| if b == 0xD9 { 0 } else { b }));
        // Stuffed FF 00 and a restart marker inside, as entropy-coded data has them.
        v.extend([0xFF, 0x00, 0xFF, 0xD0, n, 0xFF, 0xD9]);
        v
    }

    #[test]
    fn frames_are_cut_at_their_markers_whatever_the_chunking() {
        let (a, b, c) = (jpeg(1, 100), jpeg(2, 5), jpeg(3, 3000));
        let stream: Vec<u8> = [b"junk".as_slice(), &a, &b, &c].concat();
        for chunk in [1, 2, 3, 7, 64, 5000] {
            let mut f = Frames::default();
            let got: Vec<Vec<u8>> = stream.chunks(chunk).flat_map(|c| f.push(c)).collect();
            assert_eq!(got, vec![a.clone(), b.clone(), c.clone()], "chunks of {chunk}");
            assert_eq!(f.skipped, 4);
        }
    }

    #[test]
    fn a_frame_over_the_limit_is_dropped_and_the_next_one_kept() {
        let mut f = Frames::default();
        let mut huge = vec![0xFF, 0xD8];
        huge.resize(MAX_IMAGE_BYTES as usize + 10, 0x11);
        assert!(f.push(&huge).is_empty());
        assert!(f.buf.is_empty(), "no end within the limit: dropped");
        let next = jpeg(4, 10);
        let tail = [&[0x22, 0xFF, 0xD9][..], &next].concat();
        assert_eq!(f.push(&tail), vec![next]);
    }
}
