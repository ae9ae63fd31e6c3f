//! ISO base media file format (ISO/IEC 14496-12) boxes: the one place in the house that reads
//! and writes box headers, so every size and bound check is made here once.
//!
//! - [`box_header`]: size (32-bit, `largesize`, or 0 "to the end"), type.
//! - [`children`]: the boxes of a container's body, each checked to lie inside it ([`BoxRef`]
//!   gives its type, `uuid` user type, body); [`Reader`]: big-endian fields, bounds-checked.
//! - [`write_box`], [`write_full_box`], [`write_uuid_box`]: a small box writer.
//! - [`TopLevelWalk`]: a sans-I/O walk over a file's top-level boxes. Fed the file length and
//!   the bytes it asks for, it says which byte range it needs next and finally where `moov`,
//!   `mdat`, `moof`, `mfra`, `sidx` are, so a caller holding only ranged reads (an HTTP origin,
//!   a blob audit) finds them without parsing boxes itself.

use std::ops::Range;

use crate::{FormatError, Result};

/// A larger `moov` is refused rather than read (a 2-hour 60 fps rendition needs a few MiB).
pub const MAX_MOOV_BYTES: u64 = 256 * 1024 * 1024;

/// Bytes that always hold a top-level box header (size, type, `largesize`).
pub const HEADER_READ: u64 = 16;

/// A box header: its type, header length (size and type fields, and `largesize`) and whole size
/// (`None`: to the end of its container or file). A `uuid` box's 16-byte user type follows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BoxHeader {
    /// The four-byte type, e.g. `moov` (see [`fourcc`] to print it).
    pub kind: [u8; 4],
    /// Bytes of the size and type fields: 8, or 16 with a `largesize`.
    pub header_len: u64,
    /// The whole box in bytes, header included; `None` for size 0, which runs to the end.
    pub size: Option<u64>,
}

/// Reads a box header from the first 8 or 16 bytes of `b`; `None` if `b` is too short.
pub fn box_header(b: &[u8]) -> Option<BoxHeader> {
    let kind: [u8; 4] = b.get(4..8)?.try_into().ok()?;
    match u32::from_be_bytes(b[..4].try_into().ok()?) {
        0 => Some(BoxHeader { kind, header_len: 8, size: None }),
        1 => {
            let large = u64::from_be_bytes(b.get(8..16)?.try_into().ok()?);
            Some(BoxHeader { kind, header_len: 16, size: Some(large) })
        }
        n => Some(BoxHeader { kind, header_len: 8, size: Some(n as u64) }),
    }
}

/// A box type for messages: printable ASCII kept, anything else as `?`.
pub fn fourcc(kind: &[u8]) -> String {
    kind.iter().map(|&c| if c.is_ascii_graphic() || c == b' ' { c as char } else { '?' }).collect()
}

/// One box inside a buffer, checked to lie within it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BoxRef<'a> {
    /// The four-byte type.
    pub kind: [u8; 4],
    /// A `uuid` box's extended type.
    pub user_type: Option<[u8; 16]>,
    /// The whole box, header included.
    pub raw: &'a [u8],
    /// What follows the header (and a `uuid` box's user type).
    pub body: &'a [u8],
}

impl BoxRef<'_> {
    /// The type for messages.
    pub fn name(&self) -> String {
        fourcc(&self.kind)
    }
}

/// The boxes of a container's body in order. Lenient at the end as players are: fewer than 8
/// bytes after the last box are ignored (see [`Children::exact`]). Every box lies within the body,
/// so the walk ends after at most `body.len() / 8` boxes; after an error it yields nothing more.
pub fn children(body: &[u8]) -> Children<'_> {
    Children { rest: body, exact: false, failed: false }
}

/// The iterator of [`children`].
#[derive(Debug, Clone)]
pub struct Children<'a> {
    rest: &'a [u8],
    exact: bool,
    failed: bool,
}

impl<'a> Children<'a> {
    /// Bytes after the last box that cannot hold a box are an error, not ignored.
    pub fn exact(mut self) -> Self {
        self.exact = true;
        self
    }

    fn next_box(&mut self) -> Result<BoxRef<'a>> {
        let b = self.rest;
        let h =
            box_header(b).ok_or_else(|| FormatError::new(format!("box header truncated: {} bytes remain", b.len())))?;
        let size = h.size.unwrap_or(b.len() as u64);
        if size < h.header_len || size > b.len() as u64 {
            return Err(FormatError::new(format!("box '{}' claims {size} bytes; {} remain", fourcc(&h.kind), b.len())));
        }
        let (raw, rest) = b.split_at(size as usize);
        let mut body = &raw[h.header_len as usize..];
        let mut user_type = None;
        if &h.kind == b"uuid" {
            let id = body.get(..16).ok_or_else(|| FormatError::new("uuid box shorter than its user type"))?;
            user_type = Some(id.try_into().expect("16 bytes"));
            body = &body[16..];
        }
        self.rest = rest;
        Ok(BoxRef { kind: h.kind, user_type, raw, body })
    }
}

impl<'a> Iterator for Children<'a> {
    type Item = Result<BoxRef<'a>>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.failed || self.rest.is_empty() || (self.rest.len() < 8 && !self.exact) {
            return None;
        }
        let next = self.next_box();
        self.failed = next.is_err();
        Some(next)
    }
}

/// The first child of `body` of type `kind`.
pub fn find<'a>(body: &'a [u8], kind: &[u8; 4]) -> Result<Option<BoxRef<'a>>> {
    for b in children(body) {
        let b = b?;
        if &b.kind == kind {
            return Ok(Some(b));
        }
    }
    Ok(None)
}

/// The body of the first child of `body` of type `kind`, which `parent` must have.
pub fn need<'a>(body: &'a [u8], kind: &[u8; 4], parent: &str) -> Result<&'a [u8]> {
    find(body, kind)?
        .map(|b| b.body)
        .ok_or_else(|| FormatError::new(format!("'{parent}' has no '{}' box", fourcc(kind))))
}

/// One whole box (`raw`, header included), checked: its size matches `raw`'s length.
pub fn whole(raw: &[u8]) -> Result<BoxRef<'_>> {
    let mut it = children(raw).exact();
    match (it.next(), it.next()) {
        (Some(b), None) => b,
        (None, _) => Err(FormatError::new("box truncated")),
        (Some(Ok(b)), Some(_)) => Err(FormatError::new(format!("box '{}' is followed by more bytes", b.name()))),
        (Some(Err(e)), _) => Err(e),
    }
}

/// Big-endian fields of a box body, every read bounds-checked.
#[derive(Debug, Clone)]
pub struct Reader<'a> {
    b: &'a [u8],
    pos: usize,
}

impl<'a> Reader<'a> {
    /// A reader at the start of `b`.
    pub fn new(b: &'a [u8]) -> Self {
        Reader { b, pos: 0 }
    }
    /// The next `n` bytes; an error, and nothing consumed, when fewer remain.
    pub fn take(&mut self, n: usize) -> Result<&'a [u8]> {
        let end = self.pos.checked_add(n).filter(|&e| e <= self.b.len()).ok_or_else(|| {
            FormatError::new(format!("box truncated: wanted {n} bytes at {} of {}", self.pos, self.b.len()))
        })?;
        let s = &self.b[self.pos..end];
        self.pos = end;
        Ok(s)
    }
    /// Passes over `n` bytes (reserved fields, ones the caller ignores); an error when fewer remain.
    pub fn skip(&mut self, n: usize) -> Result<()> {
        self.take(n).map(|_| ())
    }
    /// The next byte.
    pub fn u8(&mut self) -> Result<u8> {
        Ok(self.take(1)?[0])
    }
    /// The next big-endian 16-bit field.
    pub fn u16(&mut self) -> Result<u16> {
        Ok(u16::from_be_bytes(self.take(2)?.try_into().expect("2 bytes")))
    }
    /// The next big-endian 32-bit field.
    pub fn u32(&mut self) -> Result<u32> {
        Ok(u32::from_be_bytes(self.take(4)?.try_into().expect("4 bytes")))
    }
    /// The next big-endian 64-bit field.
    pub fn u64(&mut self) -> Result<u64> {
        Ok(u64::from_be_bytes(self.take(8)?.try_into().expect("8 bytes")))
    }
    /// A full box's version and flags.
    pub fn version_flags(&mut self) -> Result<(u8, u32)> {
        let word = self.u32()?;
        Ok(((word >> 24) as u8, word & 0xff_ffff))
    }
    /// What has not been read.
    pub fn rest(&self) -> &'a [u8] {
        &self.b[self.pos.min(self.b.len())..]
    }
}

/// Appends a box of type `kind` whose body `body` writes; a body past 4 GiB gets a `largesize`.
pub fn write_box(out: &mut Vec<u8>, kind: &[u8; 4], body: impl FnOnce(&mut Vec<u8>)) {
    let start = out.len();
    out.extend_from_slice(&[0; 4]);
    out.extend_from_slice(kind);
    body(out);
    let size = (out.len() - start) as u64;
    match u32::try_from(size) {
        Ok(size) => out[start..start + 4].copy_from_slice(&size.to_be_bytes()),
        Err(_) => {
            out[start..start + 4].copy_from_slice(&1u32.to_be_bytes());
            let large = size + 8;
            out.splice(start + 8..start + 8, large.to_be_bytes());
        }
    }
}

/// Appends a full box (version and flags first in its body).
pub fn write_full_box(out: &mut Vec<u8>, kind: &[u8; 4], version: u8, flags: u32, body: impl FnOnce(&mut Vec<u8>)) {
    write_box(out, kind, |b| {
        b.extend_from_slice(&((version as u32) << 24 | (flags & 0xff_ffff)).to_be_bytes());
        body(b);
    })
}

/// Appends a `uuid` box of extended type `user_type`.
pub fn write_uuid_box(out: &mut Vec<u8>, user_type: &[u8; 16], body: impl FnOnce(&mut Vec<u8>)) {
    write_box(out, b"uuid", |b| {
        b.extend_from_slice(user_type);
        body(b);
    })
}

/// A top-level box: its type, where it starts, its header length and whole size.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TopBox {
    /// The four-byte type.
    pub kind: [u8; 4],
    /// Where the box starts, in bytes from the start of the file.
    pub offset: u64,
    /// Bytes of its size and type fields (8, or 16 with a `largesize`).
    pub header_len: u64,
    /// The whole box in bytes, header included (a size 0 box resolved to the end of the file).
    pub size: u64,
}

impl TopBox {
    /// The whole box's bytes in the file.
    pub fn range(&self) -> Range<u64> {
        self.offset..self.offset + self.size
    }

    /// Its body's bytes in the file.
    pub fn body_range(&self) -> Range<u64> {
        self.offset + self.header_len..self.offset + self.size
    }

    /// The type for messages.
    pub fn name(&self) -> String {
        fourcc(&self.kind)
    }
}

/// Where a file's top-level boxes are (up to the `moov` when the walk stops there).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Layout {
    /// The file's length in bytes, as the walk was told.
    pub file_len: u64,
    /// The top-level boxes in file order.
    pub boxes: Vec<TopBox>,
}

impl Layout {
    /// The first top-level box of type `kind`.
    pub fn first(&self, kind: &[u8; 4]) -> Option<&TopBox> {
        self.boxes.iter().find(|b| &b.kind == kind)
    }

    /// The movie box: the tracks and, in a progressive file, every sample's place.
    pub fn moov(&self) -> Option<&TopBox> {
        self.first(b"moov")
    }

    /// The first media data box.
    pub fn mdat(&self) -> Option<&TopBox> {
        self.first(b"mdat")
    }

    /// Every `moof` (a fragmented file's movie fragments), in order.
    pub fn moofs(&self) -> impl Iterator<Item = &TopBox> {
        self.boxes.iter().filter(|b| &b.kind == b"moof")
    }

    /// The movie fragment random access box (a fragmented file's index of sync samples), if any.
    pub fn mfra(&self) -> Option<&TopBox> {
        self.first(b"mfra")
    }

    /// The first segment index box (byte ranges of a file's subsegments), if any.
    pub fn sidx(&self) -> Option<&TopBox> {
        self.first(b"sidx")
    }
}

/// Why a file's top-level boxes do not add up.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum WalkError {
    /// The file ends in fewer than 8 bytes after the last box: too few for a box header.
    #[error("{count} stray bytes after the last box at offset {offset}")]
    StrayBytes {
        /// Where the stray bytes start.
        offset: u64,
        /// How many there are (1 to 7).
        count: u64,
    },
    /// The caller fed fewer bytes than the walk asked for (a ranged read came back short).
    #[error("short read at offset {offset} (asked for {wanted} bytes, got {got})")]
    ShortRead {
        /// Where the read started.
        offset: u64,
        /// Bytes asked for.
        wanted: u64,
        /// Bytes fed.
        got: u64,
    },
    /// A box says its size is in a `largesize` field, but the file ends before those 8 bytes.
    #[error("box '{kind}' at {offset} has a truncated 64-bit size")]
    TruncatedLargeSize {
        /// The box type, printable.
        kind: String,
        /// Where the box starts.
        offset: u64,
    },
    /// A box claims fewer bytes than its own header takes.
    #[error("box '{kind}' at {offset} claims {size} bytes, less than its header")]
    TooSmall {
        /// The box type, printable.
        kind: String,
        /// Where the box starts.
        offset: u64,
        /// The size it claims.
        size: u64,
    },
    /// A box claims to run past the end of the file (usually a truncated upload or copy).
    #[error(
        "box '{kind}' at {offset} claims {size} bytes: the top-level boxes end at byte {end}, \
         but the file has {file_len} bytes (truncated?)"
    )]
    PastEnd {
        /// The box type, printable.
        kind: String,
        /// Where the box starts.
        offset: u64,
        /// The size it claims.
        size: u64,
        /// Where it would end (wide enough that `offset + size` cannot overflow).
        end: u128,
        /// The file's length in bytes.
        file_len: u64,
    },
    /// More top-level boxes than [`TopLevelWalk::max_boxes`] allows.
    #[error("more than {0} top-level boxes")]
    TooManyBoxes(usize),
    /// The `moov` is larger than [`TopLevelWalk::max_moov`] allows, so it is not read into memory.
    #[error("moov of {size} bytes is larger than {max}")]
    MoovTooLarge {
        /// The size the `moov` claims.
        size: u64,
        /// The limit in force.
        max: u64,
    },
}

/// What a [`TopLevelWalk`] wants next.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum WalkStep {
    /// Feed at least these bytes (more, from the same start, is fine and may save reads).
    Need(Range<u64>),
    /// The walk is over.
    Done(Layout),
}

/// A sans-I/O walk over a file's top-level boxes: the caller reads, the walk checks. Each box
/// must fit in the file (sizes checked without overflow, `largesize` and size 0 understood); a
/// `moov` past [`MAX_MOOV_BYTES`] (or [`Self::max_moov`]) is refused; at most `max_boxes` boxes are walked.
///
/// ```
/// use mirrorcast_media::bmff::{TopLevelWalk, WalkStep};
/// # fn read(file: &[u8], r: std::ops::Range<u64>) -> &[u8] { &file[r.start as usize..r.end as usize] }
/// # let mut file = b"\0\0\0\x10ftypisom\0\0\0\0\0\0\0\x08moov".to_vec();
/// let len = file.len() as u64;
/// let mut walk = TopLevelWalk::until_moov(len);
/// // A first read of the file's head often holds every header up to the moov.
/// let (mut at, mut bytes) = (0, read(&file, 0..len.min(64 * 1024)));
/// let layout = loop {
///     match walk.feed(at, bytes).unwrap() {
///         WalkStep::Need(range) => (at, bytes) = (range.start, read(&file, range)),
///         WalkStep::Done(layout) => break layout,
///     }
/// };
/// assert_eq!(layout.moov().unwrap().range(), 16..24);
/// ```
#[derive(Debug, Clone)]
pub struct TopLevelWalk {
    layout: Layout,
    pos: u64,
    until_moov: bool,
    max_boxes: usize,
    max_moov: u64,
    asked: Option<Range<u64>>,
    done: bool,
}

impl TopLevelWalk {
    /// Walks every top-level box to the end of a file of `file_len` bytes.
    pub fn whole(file_len: u64) -> Self {
        TopLevelWalk {
            layout: Layout { file_len, boxes: Vec::new() },
            pos: 0,
            until_moov: false,
            max_boxes: usize::MAX,
            max_moov: MAX_MOOV_BYTES,
            asked: None,
            done: false,
        }
    }

    /// Walks until the `moov` (included), or to the end when there is none.
    pub fn until_moov(file_len: u64) -> Self {
        TopLevelWalk { until_moov: true, ..Self::whole(file_len) }
    }

    /// Refuses a file with more than `max` top-level boxes (walked before the moov, if it stops there).
    pub fn max_boxes(mut self, max: usize) -> Self {
        self.max_boxes = max;
        self
    }

    /// Refuses a `moov` larger than `max` bytes (default [`MAX_MOOV_BYTES`]).
    pub fn max_moov(mut self, max: u64) -> Self {
        self.max_moov = max;
        self
    }

    /// The range to read first (the first box header), or `None` when the file is empty.
    pub fn first_read(&self) -> Option<Range<u64>> {
        (self.layout.file_len > 0).then(|| 0..self.layout.file_len.min(HEADER_READ))
    }

    /// Takes `bytes`, read from the file at offset `at` (any read: the first, one it asked for,
    /// or a bigger one), walks every header they hold, and says what it needs next.
    pub fn feed(&mut self, at: u64, bytes: &[u8]) -> std::result::Result<WalkStep, WalkError> {
        let file_len = self.layout.file_len;
        let asked = self.asked.take();
        loop {
            if self.done || self.pos >= file_len {
                self.done = true;
                return Ok(WalkStep::Done(self.layout.clone()));
            }
            let pos = self.pos;
            let left = file_len - pos;
            if left < 8 {
                return Err(WalkError::StrayBytes { offset: pos, count: left });
            }
            let wanted = pos..pos + left.min(HEADER_READ);
            let head = window(at, bytes, &wanted);
            let Some(h) = box_header(head) else {
                if let Some(asked) = asked.as_ref().filter(|a| a.start == at && a.start == pos) {
                    if head.len() < 8 || (bytes.len() as u64) < asked.end - asked.start {
                        let got = bytes.len() as u64;
                        return Err(WalkError::ShortRead { offset: pos, wanted: asked.end - asked.start, got });
                    }
                    // The whole rest of the file was read: a 64-bit size without its 8 bytes.
                    return Err(WalkError::TruncatedLargeSize { kind: fourcc(&head[4..8]), offset: pos });
                }
                self.asked = Some(wanted.clone());
                return Ok(WalkStep::Need(wanted));
            };
            let kind = fourcc(&h.kind);
            let size = h.size.unwrap_or(left);
            if size < h.header_len {
                return Err(WalkError::TooSmall { kind, offset: pos, size });
            }
            if size > left {
                let end = pos as u128 + size as u128;
                return Err(WalkError::PastEnd { kind, offset: pos, size, end, file_len });
            }
            if self.layout.boxes.len() >= self.max_boxes {
                return Err(WalkError::TooManyBoxes(self.max_boxes));
            }
            let is_moov = &h.kind == b"moov";
            if is_moov && size > self.max_moov {
                return Err(WalkError::MoovTooLarge { size, max: self.max_moov });
            }
            self.layout.boxes.push(TopBox { kind: h.kind, offset: pos, header_len: h.header_len, size });
            self.pos = pos + size;
            self.done = is_moov && self.until_moov;
        }
    }
}

/// The bytes of `wanted` that `bytes` (read at `at`) holds, from `wanted.start`; empty if none.
fn window<'a>(at: u64, bytes: &'a [u8], wanted: &Range<u64>) -> &'a [u8] {
    let Some(from) = wanted.start.checked_sub(at).and_then(|f| usize::try_from(f).ok()) else { return &[] };
    let Some(rest) = bytes.get(from..) else { return &[] };
    &rest[..rest.len().min((wanted.end - wanted.start) as usize)]
}

#[cfg(test)]
mod tests {
    use super::*;

    fn boxed(kind: &[u8; 4], body: &[u8]) -> Vec<u8> {
        let mut out = Vec::new();
        write_box(&mut out, kind, |b| b.extend_from_slice(body));
        out
    }

    /// A file's bytes behind ranged reads, counting them: what an origin has of a blob.
    struct Ranged<'a> {
        file: &'a [u8],
        reads: Vec<Range<u64>>,
    }

    impl Ranged<'_> {
        fn read(&mut self, r: Range<u64>) -> &[u8] {
            self.reads.push(r.clone());
            let end = (r.end as usize).min(self.file.len());
            &self.file[(r.start as usize).min(end)..end]
        }
    }

    /// What the origin does: one first read of the head, the walk's ranges after it, then the
    /// moov's bytes (from the first read when it holds them); the origin's 64-box limit.
    fn origin_finds_moov(file: &[u8], first_read: u64) -> std::result::Result<(Vec<u8>, usize), WalkError> {
        let len = file.len() as u64;
        let mut store = Ranged { file, reads: Vec::new() };
        let first = store.read(0..len.min(first_read)).to_vec();
        let mut walk = TopLevelWalk::until_moov(len).max_boxes(64);
        let mut fed = (0, first.clone());
        let layout = loop {
            match walk.feed(fed.0, &fed.1)? {
                WalkStep::Need(range) => fed = (range.start, store.read(range.clone()).to_vec()),
                WalkStep::Done(layout) => break layout,
            }
        };
        let Some(moov) = layout.moov() else { return Ok((Vec::new(), store.reads.len())) };
        let r = moov.range();
        let bytes = if r.end <= first.len() as u64 {
            first[r.start as usize..r.end as usize].to_vec()
        } else {
            store.read(r).to_vec()
        };
        Ok((bytes, store.reads.len()))
    }

    fn moov() -> Vec<u8> {
        boxed(b"moov", &boxed(b"mvhd", &[7; 100]))
    }

    fn ftyp() -> Vec<u8> {
        boxed(b"ftyp", b"isom\0\0\0\0isom")
    }

    #[test]
    fn the_moov_is_found_at_the_start_in_one_read() {
        let file = [ftyp(), moov(), boxed(b"mdat", &[1; 5000])].concat();
        let (found, reads) = origin_finds_moov(&file, 64 * 1024).unwrap();
        assert_eq!((found, reads), (moov(), 1));
    }

    #[test]
    fn the_moov_at_the_end_costs_a_header_read_per_box_then_its_own() {
        let file = [ftyp(), boxed(b"free", &[0; 10]), boxed(b"mdat", &[1; 100_000]), moov()].concat();
        let (found, reads) = origin_finds_moov(&file, 1024).unwrap();
        // head, the moov's header past the head, the moov itself
        assert_eq!((found, reads), (moov(), 3));
    }

    #[test]
    fn the_moov_after_an_mdat_with_a_64_bit_size_is_found() {
        let mut mdat = b"\0\0\0\x01mdat".to_vec();
        mdat.extend_from_slice(&(16u64 + 70_000).to_be_bytes());
        mdat.resize(16 + 70_000, 9);
        let file = [ftyp(), mdat, moov()].concat();
        let (found, _) = origin_finds_moov(&file, 64 * 1024).unwrap();
        assert_eq!(found, moov());
        let mut walk = TopLevelWalk::whole(file.len() as u64);
        let WalkStep::Done(layout) = walk.feed(0, &file).unwrap() else { panic!("the whole file was fed") };
        let mdat = layout.mdat().unwrap();
        assert_eq!((mdat.header_len, mdat.size, mdat.body_range().start), (16, 70_016, 20 + 16));
    }

    #[test]
    fn a_moov_running_to_the_end_with_size_0_is_found() {
        let mut file = [ftyp(), moov()].concat();
        file[20..24].copy_from_slice(&[0; 4]);
        let (found, _) = origin_finds_moov(&file, 16).unwrap();
        assert_eq!(found.len(), moov().len());
    }

    #[test]
    fn no_moov_is_a_layout_without_one() {
        let file = [ftyp(), boxed(b"mdat", &[1; 10])].concat();
        assert_eq!(origin_finds_moov(&file, 1024).unwrap().0, Vec::<u8>::new());
    }

    #[test]
    fn hostile_and_truncated_files_are_errors_that_say_where() {
        let mut large = ftyp();
        large.extend_from_slice(b"\0\0\0\x01mdat");
        large.extend_from_slice(&u64::MAX.to_be_bytes());
        let e = origin_finds_moov(&large, 1024).unwrap_err();
        assert!(matches!(e, WalkError::PastEnd { offset: 20, .. }), "{e}");
        assert!(e.to_string().contains(&format!("end at byte {}", 20 + u64::MAX as u128)), "{e}");

        let cut = [ftyp(), boxed(b"mdat", &[1; 100]), moov()].concat();
        let e = origin_finds_moov(&cut[..cut.len() - 5], 1024).unwrap_err();
        assert!(e.to_string().contains("truncated?"), "{e}");

        let stray = [ftyp(), vec![0; 5]].concat();
        assert_eq!(origin_finds_moov(&stray, 1024).unwrap_err(), WalkError::StrayBytes { offset: 20, count: 5 });

        let small = [ftyp(), b"\0\0\0\x04free".to_vec()].concat();
        assert!(matches!(origin_finds_moov(&small, 1024).unwrap_err(), WalkError::TooSmall { size: 4, .. }));

        let mut short_large = ftyp();
        short_large.extend_from_slice(b"\0\0\0\x01mdat\0\0");
        let e = origin_finds_moov(&short_large, 1024).unwrap_err();
        assert!(matches!(e, WalkError::TruncatedLargeSize { offset: 20, .. }), "{e}");

        let many: Vec<u8> = (0..100).flat_map(|_| boxed(b"free", &[])).chain(moov()).collect();
        assert_eq!(origin_finds_moov(&many, 1024).unwrap_err(), WalkError::TooManyBoxes(64));

        let mut huge = ftyp();
        huge.extend_from_slice(b"\0\0\0\x01moov");
        huge.extend_from_slice(&(MAX_MOOV_BYTES + 16 + 1).to_be_bytes());
        let mut walk = TopLevelWalk::until_moov(MAX_MOOV_BYTES * 2);
        assert!(matches!(walk.feed(0, &huge).unwrap_err(), WalkError::MoovTooLarge { .. }));
    }

    #[test]
    fn a_read_shorter_than_asked_is_an_error_not_a_loop() {
        let file = [ftyp(), boxed(b"mdat", &[1; 100]), moov()].concat();
        let mut walk = TopLevelWalk::whole(file.len() as u64);
        let WalkStep::Need(r) = walk.feed(0, &file[..30]).unwrap() else { panic!("the mdat's header is past 30") };
        assert_eq!(r, 128..144);
        let e = walk.feed(r.start, &file[128..131]).unwrap_err();
        assert!(matches!(e, WalkError::ShortRead { offset: 128, wanted: 16, got: 3 }), "{e}");
    }

    #[test]
    fn children_stay_inside_their_parent_and_read_uuid_user_types() {
        let mut body = boxed(b"free", b"abc");
        write_uuid_box(&mut body, &[5; 16], |b| b.extend_from_slice(b"xyz"));
        body.extend_from_slice(&[0; 3]);
        let kids: Vec<BoxRef> = children(&body).collect::<Result<_>>().unwrap();
        assert_eq!(kids.len(), 2, "three trailing bytes are ignored");
        assert_eq!((kids[1].user_type, kids[1].body), (Some([5; 16]), &b"xyz"[..]));
        assert!(children(&body).exact().any(|b| b.is_err()), "but not by an exact walk");
        let lying = [b"\0\0\0\xffmoov".to_vec(), vec![0; 10]].concat();
        assert!(children(&lying).next().unwrap().unwrap_err().0.contains("claims 255"));
        assert!(children(b"\0\0\0\x1cuuid\0\0\0\0").next().unwrap().is_err(), "uuid without its user type");
        assert!(need(&body, b"moov", "test").unwrap_err().0.contains("'test' has no 'moov'"));
        assert!(whole(&boxed(b"free", b"")).is_ok() && whole(&[boxed(b"free", b""), vec![0]].concat()).is_err());
    }

    #[test]
    fn a_written_full_box_reads_back() {
        let mut out = Vec::new();
        write_full_box(&mut out, b"tfdt", 1, 0, |b| b.extend_from_slice(&7u64.to_be_bytes()));
        let h = box_header(&out).unwrap();
        assert_eq!((h.size, h.header_len, &h.kind), (Some(20), 8, b"tfdt"));
        let mut r = Reader::new(whole(&out).unwrap().body);
        assert_eq!((r.version_flags().unwrap(), r.u64().unwrap()), ((1, 0), 7));
        assert!(r.u8().is_err());
    }
}
