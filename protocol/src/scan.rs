//! Pre-scan of untrusted CBOR before serde sees it: one pass, no recursion, no allocation
//! beyond a stack of at most `max_depth` counters. It proves the input is exactly one
//! well-formed data item in the subset docs/PROTOCOL.md allows (definite lengths only, no
//! tags), nested at most `max_depth` deep, and that every declared length fits in the bytes
//! that remain, so no later step can size an allocation from a length prefix the input does
//! not back. It must never read past the input or trust a length before checking it.

use crate::error::CodecError;

/// Cursor over the input; every read is bounds-checked.
struct Cursor<'a> {
    buf: &'a [u8],
    pos: usize,
}

impl Cursor<'_> {
    fn left(&self) -> usize {
        self.buf.len() - self.pos
    }

    fn take(&mut self, n: u64) -> Result<&[u8], CodecError> {
        let left = self.left();
        if n > left as u64 {
            return Err(CodecError::Truncated { offset: self.pos, needed: n, left });
        }
        let start = self.pos;
        self.pos += n as usize;
        Ok(&self.buf[start..self.pos])
    }

    /// The argument of a header whose additional information is `ai` (RFC 8949 §3).
    fn argument(&mut self, ai: u8) -> Result<u64, CodecError> {
        let width = match ai {
            0..=23 => return Ok(u64::from(ai)),
            24 => 1,
            25 => 2,
            26 => 4,
            27 => 8,
            31 => {
                return Err(malformed(self.pos, "indefinite-length items are not allowed"));
            }
            _ => {
                return Err(malformed(self.pos, "reserved additional information (28..30)"));
            }
        };
        let bytes = self.take(width)?;
        Ok(bytes.iter().fold(0u64, |acc, b| (acc << 8) | u64::from(*b)))
    }
}

fn malformed(offset: usize, what: &str) -> CodecError {
    CodecError::Malformed(format!("at byte {offset}: {what}"))
}

/// What reading one header did.
enum Step {
    /// A complete item (scalar or string) was consumed.
    Done,
    /// A container with this many child items was opened (never zero).
    Open(u64),
}

fn step(c: &mut Cursor<'_>) -> Result<Step, CodecError> {
    let offset = c.pos;
    let initial = c.take(1)?[0];
    let (major, ai) = (initial >> 5, initial & 0x1f);
    let arg = c.argument(ai)?;
    match major {
        0 | 1 => Ok(Step::Done),
        2 | 3 => c.take(arg).map(|_| Step::Done),
        4 | 5 => {
            // Every child takes at least one byte: a count the rest of the input cannot hold
            // is refused here, before anything is sized from it.
            let children = if major == 4 { Some(arg) } else { arg.checked_mul(2) };
            match children {
                Some(0) => Ok(Step::Done),
                Some(n) if n <= c.left() as u64 => Ok(Step::Open(n)),
                _ => Err(CodecError::Truncated { offset, needed: arg, left: c.left() }),
            }
        }
        6 => Err(malformed(offset, "tags are not allowed")),
        _ => Ok(Step::Done), // major 7: simple values and floats; their bytes were consumed
    }
}

/// Checks that `input` is exactly one well-formed item, nested at most `max_depth` deep.
pub(crate) fn prescan(input: &[u8], max_depth: usize) -> Result<(), CodecError> {
    let mut c = Cursor { buf: input, pos: 0 };
    // Children still expected by each open container, innermost last.
    let mut open: Vec<u64> = Vec::with_capacity(max_depth);
    loop {
        match step(&mut c)? {
            Step::Open(n) => {
                if open.len() >= max_depth {
                    return Err(CodecError::TooDeep);
                }
                open.push(n);
                continue;
            }
            Step::Done => {}
        }
        // An item finished: it may finish its parents too.
        loop {
            match open.last_mut() {
                None => return finish(&c),
                Some(left) => {
                    *left -= 1;
                    if *left > 0 {
                        break;
                    }
                    open.pop();
                }
            }
        }
    }
}

fn finish(c: &Cursor<'_>) -> Result<(), CodecError> {
    if c.left() != 0 {
        return Err(malformed(c.pos, "trailing bytes after the item"));
    }
    Ok(())
}
