//! On-disk segment format and a bounded-memory sequential segment reader.
//!
//! A segment file is `<first seq, 20 digits>.seg` and holds:
//!
//! ```text
//! file header (16 B):   b"PLOG" | u32 LE version | u64 LE first seq
//! record (16 B + len):  u32 LE payload len | u32 LE crc32(seq LE bytes ++ payload) | u64 LE seq | payload
//! ```
//!
//! A record whose payload lives mostly in a blob file (see [`crate::Blob`]) has the top bit of
//! its length set; its payload in the segment is `u64 LE blob len | u32 LE crc32(blob) | inline
//! bytes`, and the blob is `<seq, 20 digits>.blob` beside the segments. The record's payload as
//! read back is the inline bytes followed by the blob's.

use std::fs::{self, File, OpenOptions};
use std::io;
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};

use crate::MAX_PAYLOAD_BYTES;

const MAGIC: [u8; 4] = *b"PLOG";
const VERSION: u32 = 1;
const SUFFIX: &str = ".seg";
const BLOB_SUFFIX: &str = ".blob";
/// Set in a record's length field when its payload continues in a blob file.
const EXTERNAL: u32 = 1 << 31;
/// Length of a blob reference at the start of an external record's payload.
pub(crate) const BLOB_REF_LEN: usize = 12;
/// Length of the header at the start of every segment file.
pub(crate) const FILE_HEADER_LEN: u64 = 16;
/// Length of the header in front of every record's payload.
pub(crate) const RECORD_HEADER_LEN: usize = 16;
/// Read granularity; records larger than this bypass the buffer.
const READ_CHUNK: usize = 256 * 1024;

/// Path of the segment whose first record has `first_seq`.
pub(crate) fn segment_path(dir: &Path, first_seq: u64) -> PathBuf {
    dir.join(format!("{first_seq:020}{SUFFIX}"))
}

/// Path of the blob holding the rest of record `seq`'s payload.
pub(crate) fn blob_path(dir: &Path, seq: u64) -> PathBuf {
    dir.join(format!("{seq:020}{BLOB_SUFFIX}"))
}

/// Parses a file name `<20 digits><suffix>` back into its number; `None` for other files.
fn parse_name(name: &str, suffix: &str) -> Option<u64> {
    let digits = name.strip_suffix(suffix)?;
    if digits.len() != 20 || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    digits.parse().ok()
}

/// The numbers of the files in `dir` named `<20 digits><suffix>`, ascending.
fn list_numbered(dir: &Path, suffix: &str) -> io::Result<Vec<u64>> {
    let mut numbers = Vec::new();
    for entry in fs::read_dir(dir)? {
        let entry = entry?;
        if let Some(n) = entry
            .file_name()
            .to_str()
            .and_then(|n| parse_name(n, suffix))
        {
            numbers.push(n);
        }
    }
    numbers.sort_unstable();
    Ok(numbers)
}

/// First seqs of all segment files in `dir`, ascending.
pub(crate) fn list_segments(dir: &Path) -> io::Result<Vec<u64>> {
    list_numbered(dir, SUFFIX)
}

/// Seqs of all blob files in `dir`, ascending.
pub(crate) fn list_blobs(dir: &Path) -> io::Result<Vec<u64>> {
    list_numbered(dir, BLOB_SUFFIX)
}

/// Creates (or empties) the segment file for `first_seq` and writes its header. Not synced.
pub(crate) fn create_segment(dir: &Path, first_seq: u64) -> io::Result<File> {
    // `truncate` rather than `create_new`: a previous rotation attempt that failed half-way may
    // have left this exact file behind, and it cannot hold records yet.
    let file = OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .open(segment_path(dir, first_seq))?;
    file.write_all_at(&file_header(first_seq), 0)?;
    Ok(file)
}

/// Makes directory entry changes (created/removed segments) durable.
pub(crate) fn sync_dir(dir: &Path) -> io::Result<()> {
    File::open(dir)?.sync_all()
}

fn file_header(first_seq: u64) -> [u8; FILE_HEADER_LEN as usize] {
    let mut header = [0u8; FILE_HEADER_LEN as usize];
    header[..4].copy_from_slice(&MAGIC);
    header[4..8].copy_from_slice(&VERSION.to_le_bytes());
    header[8..].copy_from_slice(&first_seq.to_le_bytes());
    header
}

/// Checks the file header of the segment named after `first_seq`.
pub(crate) fn check_file_header(file: &File, first_seq: u64) -> io::Result<Result<(), Invalid>> {
    let mut header = [0u8; FILE_HEADER_LEN as usize];
    match file.read_exact_at(&mut header, 0) {
        Ok(()) => {}
        Err(e) if e.kind() == io::ErrorKind::UnexpectedEof => {
            return Ok(Err(Invalid("truncated segment header")));
        }
        Err(e) => return Err(e),
    }
    let expected = file_header(first_seq);
    Ok(if header[..4] != expected[..4] {
        Err(Invalid("not a pier oplog segment (bad magic)"))
    } else if header[4..8] != expected[4..8] {
        Err(Invalid("unsupported segment format version"))
    } else if header[8..] != expected[8..] {
        Err(Invalid("segment header seq does not match its file name"))
    } else {
        Ok(())
    })
}

/// crc32 over the seq's little-endian bytes followed by the payload, so a record copied to the
/// wrong position (or a stale record from an earlier life of the file) fails the check.
pub(crate) fn checksum(seq: u64, payload: &[u8]) -> u32 {
    let mut hasher = crc32fast::Hasher::new();
    hasher.update(&seq.to_le_bytes());
    hasher.update(payload);
    hasher.finalize()
}

/// Appends the encoded record to `buf`. `payload` must be at most [`MAX_PAYLOAD_BYTES`].
pub(crate) fn encode_record(buf: &mut Vec<u8>, seq: u64, payload: &[u8]) {
    // The caller enforces MAX_PAYLOAD_BYTES, which fits in u32.
    let len = payload.len() as u32;
    buf.reserve(RECORD_HEADER_LEN + payload.len());
    buf.extend_from_slice(&len.to_le_bytes());
    buf.extend_from_slice(&checksum(seq, payload).to_le_bytes());
    buf.extend_from_slice(&seq.to_le_bytes());
    buf.extend_from_slice(payload);
}

/// Appends the encoded record of a payload made of `inline` followed by a blob of `blob_len`
/// bytes whose crc32 is `blob_crc`. The caller keeps the total within [`MAX_PAYLOAD_BYTES`].
pub(crate) fn encode_blob_record(
    buf: &mut Vec<u8>,
    seq: u64,
    inline: &[u8],
    blob_len: u64,
    blob_crc: u32,
) {
    let start = buf.len();
    encode_record(
        buf,
        seq,
        &[&blob_len.to_le_bytes()[..], &blob_crc.to_le_bytes(), inline].concat(),
    );
    let len = u32::from_le_bytes(buf[start..start + 4].try_into().expect("4 bytes")) | EXTERNAL;
    buf[start..start + 4].copy_from_slice(&len.to_le_bytes());
}

/// Splits an external record's payload into the blob's length and crc32, and the inline bytes.
pub(crate) fn decode_blob_ref(payload: &[u8]) -> Option<(u64, u32, &[u8])> {
    let (reference, inline) = payload.split_at_checked(BLOB_REF_LEN)?;
    let len = u64::from_le_bytes(reference[..8].try_into().ok()?);
    let crc = u32::from_le_bytes(reference[8..].try_into().ok()?);
    Some((len, crc, inline))
}

/// Why the bytes at some offset do not form a valid record or segment header.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Invalid(pub(crate) &'static str);

/// A decoded record header.
#[derive(Debug, Clone, Copy)]
pub(crate) struct RecordHeader {
    /// Payload bytes in the segment.
    pub(crate) len: u32,
    /// Whether the payload continues in a blob file.
    pub(crate) external: bool,
    crc: u32,
    pub(crate) seq: u64,
}

impl RecordHeader {
    fn decode(b: [u8; RECORD_HEADER_LEN]) -> Self {
        let len = u32::from_le_bytes([b[0], b[1], b[2], b[3]]);
        RecordHeader {
            len: len & !EXTERNAL,
            external: len & EXTERNAL != 0,
            crc: u32::from_le_bytes([b[4], b[5], b[6], b[7]]),
            seq: u64::from_le_bytes([b[8], b[9], b[10], b[11], b[12], b[13], b[14], b[15]]),
        }
    }
}

/// What lies at the reader's position.
#[derive(Debug)]
pub(crate) enum Frame {
    /// No bytes at all: a clean end at a record boundary.
    Eof,
    /// A plausible record header (payload not yet read or checked).
    Header(RecordHeader),
    /// Bytes that cannot start a record.
    Invalid(Invalid),
}

/// Sequential reader over one segment with a bounded buffer. Uses positional reads, so it never
/// shares a file cursor, and only reads what the caller asks for: it can trail a segment that
/// is still being appended to.
pub(crate) struct SegmentReader {
    file: File,
    /// File offset of `buf[start]`, i.e. of the next unconsumed byte.
    pos: u64,
    buf: Vec<u8>,
    start: usize,
}

impl SegmentReader {
    /// A reader positioned at byte `pos` of `file`.
    pub(crate) fn new(file: File, pos: u64) -> Self {
        SegmentReader {
            file,
            pos,
            buf: Vec::new(),
            start: 0,
        }
    }

    /// File offset of the next unconsumed byte.
    pub(crate) fn pos(&self) -> u64 {
        self.pos
    }

    /// Moves to `pos`, dropping anything buffered.
    pub(crate) fn rewind(&mut self, pos: u64) {
        self.buf.clear();
        self.start = 0;
        self.pos = pos;
    }

    /// Drops buffered bytes past the position so they are re-read from the file next time.
    pub(crate) fn discard_buffer(&mut self) {
        self.rewind(self.pos);
    }

    fn buffered(&self) -> usize {
        self.buf.len() - self.start
    }

    fn consume(&mut self, n: usize) {
        self.start += n;
        self.pos += n as u64;
    }

    /// Buffers at least `want` bytes if the file has them; returns how many are buffered.
    fn fill(&mut self, want: usize) -> io::Result<usize> {
        if self.buffered() >= want {
            return Ok(self.buffered());
        }
        self.buf.drain(..self.start);
        self.start = 0;
        let mut filled = self.buf.len();
        self.buf.resize(want.max(READ_CHUNK), 0);
        while filled < want {
            match self
                .file
                .read_at(&mut self.buf[filled..], self.pos + filled as u64)
            {
                Ok(0) => break,
                Ok(n) => filled += n,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => {
                    self.buf.truncate(filled);
                    return Err(e);
                }
            }
        }
        self.buf.truncate(filled);
        Ok(filled)
    }

    /// Decodes the record header at the position without consuming it.
    pub(crate) fn peek_header(&mut self) -> io::Result<Frame> {
        let available = self.fill(RECORD_HEADER_LEN)?;
        if available == 0 {
            return Ok(Frame::Eof);
        }
        if available < RECORD_HEADER_LEN {
            return Ok(Frame::Invalid(Invalid("truncated record header")));
        }
        let mut bytes = [0u8; RECORD_HEADER_LEN];
        bytes.copy_from_slice(&self.buf[self.start..self.start + RECORD_HEADER_LEN]);
        let header = RecordHeader::decode(bytes);
        if header.len as usize > MAX_PAYLOAD_BYTES {
            return Ok(Frame::Invalid(Invalid(
                "record length exceeds the payload limit",
            )));
        }
        if header.external && (header.len as usize) < BLOB_REF_LEN {
            return Ok(Frame::Invalid(Invalid("blob record too short")));
        }
        Ok(Frame::Header(header))
    }

    /// Consumes the record whose header was just peeked without reading its payload.
    pub(crate) fn skip(&mut self, header: &RecordHeader) {
        let total = RECORD_HEADER_LEN + header.len as usize;
        if self.buffered() >= total {
            self.consume(total);
        } else {
            self.rewind(self.pos + total as u64);
        }
    }

    /// Consumes the record whose header was just peeked and returns its checked payload.
    /// On `Err`/`Invalid` the position is unspecified; callers rewind.
    pub(crate) fn read_payload(
        &mut self,
        header: &RecordHeader,
    ) -> io::Result<Result<Vec<u8>, Invalid>> {
        const SHORT: Invalid = Invalid("truncated record payload");
        let len = header.len as usize;
        let total = RECORD_HEADER_LEN + len;
        let payload = if total <= READ_CHUNK {
            if self.fill(total)? < total {
                return Ok(Err(SHORT));
            }
            let payload = self.buf[self.start + RECORD_HEADER_LEN..self.start + total].to_vec();
            self.consume(total);
            payload
        } else {
            // Large payloads go straight from the file into their own allocation instead of
            // growing (and copying through) the shared buffer.
            self.consume(RECORD_HEADER_LEN);
            let take = self.buffered().min(len);
            let mut payload = Vec::with_capacity(len);
            payload.extend_from_slice(&self.buf[self.start..self.start + take]);
            self.consume(take);
            payload.resize(len, 0);
            match self.file.read_exact_at(&mut payload[take..], self.pos) {
                Ok(()) => {}
                Err(e) if e.kind() == io::ErrorKind::UnexpectedEof => return Ok(Err(SHORT)),
                Err(e) => return Err(e),
            }
            self.rewind(self.pos + (len - take) as u64);
            payload
        };
        if checksum(header.seq, &payload) != header.crc {
            return Ok(Err(Invalid("checksum mismatch")));
        }
        Ok(Ok(payload))
    }
}
