//! Where `argus send` gets its images: a folder of files or synthetic scenes, produced lazily.

use std::collections::VecDeque;
use std::path::Path;

use anyhow::{Context, bail};
use argus_model::ModelKind;
use argus_model::scene::{SceneConfig, encode_png, generate};
use argus_protocol::limits::MAX_IMAGE_BYTES;

use crate::cli::SendArgs;

/// The images to send, produced lazily.
pub(super) enum Source {
    Synthetic {
        seed: u64,
        next: u64,
        end: u64,
        cfg: SceneConfig,
    },
    Files(VecDeque<std::path::PathBuf>),
    /// New files in a folder; `left`: how many more to send (`--count`), None: no end.
    Watch {
        watch: Box<super::watch::Watch>,
        left: Option<u64>,
    },
    /// Frames of a camera stream or video; `left` as for `Watch`.
    Stream {
        stream: Box<super::stream::Stream>,
        left: Option<u64>,
    },
}

pub(super) use super::stream::Next;

impl Source {
    pub(super) fn next(&mut self) -> Next {
        match self {
            Source::Synthetic { seed, next, end, cfg } => {
                if *next >= *end {
                    return Next::End;
                }
                let scene = generate(*seed, *next, cfg);
                *next += 1;
                Next::Image(Ok(encode_png(&scene.image)))
            }
            Source::Files(files) => match files.pop_front() {
                Some(path) => Next::Image(read_image_file(&path)),
                None => Next::End,
            },
            Source::Watch { watch, left } => counted(left, || match watch.next_file() {
                Ok(Some(path)) => Next::Image(read_image_file(&path)),
                Ok(None) => Next::Wait,
                Err(e) => Next::Image(Err(e)),
            }),
            Source::Stream { stream, left } => counted(left, || stream.next()),
        }
    }
}

/// `--count` over a source without an end of its own: `End` once `left` images went out.
fn counted(left: &mut Option<u64>, next: impl FnOnce() -> Next) -> Next {
    if *left == Some(0) {
        return Next::End;
    }
    let n = next();
    if let (Next::Image(_), Some(l)) = (&n, left.as_mut()) {
        *l -= 1;
    }
    n
}

fn read_image_file(path: &Path) -> anyhow::Result<Vec<u8>> {
    let len = std::fs::metadata(path)?.len();
    if len > MAX_IMAGE_BYTES {
        bail!("{} is {len} bytes; the limit is {MAX_IMAGE_BYTES}", path.display());
    }
    std::fs::read(path).with_context(|| format!("reading {}", path.display()))
}

/// The model the images need: `--model`, else `coco` for a folder (photographs) and `shapes`
/// for synthetic scenes.
pub(super) fn source_model(args: &SendArgs) -> anyhow::Result<String> {
    let model = match &args.model {
        Some(m) => m.clone(),
        None if args.synthetic => ModelKind::Shapes.to_string(),
        // A watched folder and a camera hold photographs, like --dir.
        None => ModelKind::Coco.to_string(),
    };
    if crate::models::known(&model).is_none() {
        bail!("unknown model {model:?}: expected shapes or coco");
    }
    Ok(model)
}

pub(super) fn source(args: &SendArgs) -> anyhow::Result<Source> {
    if let Some(src) = &args.stream {
        let stream = Box::new(super::stream::Stream::open(src, args.rate)?);
        return Ok(Source::Stream { stream, left: args.count });
    }
    if let Some(dir) = &args.watch {
        let watch = Box::new(super::watch::Watch::new(dir)?);
        return Ok(Source::Watch { watch, left: args.count });
    }
    if let Some(dir) = &args.dir {
        let mut files: Vec<_> = std::fs::read_dir(dir)
            .with_context(|| format!("reading {}", dir.display()))?
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|p| super::watch::is_image(p))
            .collect();
        files.sort();
        if files.is_empty() {
            bail!("no .png/.jpg/.jpeg files in {}", dir.display());
        }
        return Ok(Source::Files(files.into()));
    }
    if args.synthetic {
        let count = args.count.context("--synthetic needs --count")?;
        return Ok(Source::Synthetic {
            seed: args.seed,
            next: args.start_index,
            end: args.start_index + count,
            cfg: SceneConfig::default(),
        });
    }
    bail!("say what to send: --dir DIR, --watch DIR, --stream URL|FILE or --synthetic --count N")
}
