//! Sequential reading of durable records across segments.

use std::fs::File;
use std::io;
use std::os::unix::fs::FileExt;
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::Ordering;

use crate::segment::{self, BLOB_REF_LEN, FILE_HEADER_LEN, Frame, SegmentReader};
use crate::{LogError, MAX_PAYLOAD_BYTES, Record, SegmentMeta, Shared};

/// A sequential reader over a [`Log`](crate::Log), typically driven by the applier. It keeps
/// the log's directory lock alive while it exists.
pub struct LogReader {
    shared: Arc<Shared>,
    /// Records below this are skipped, not returned.
    from_seq: u64,
    /// Seq of the record at the cursor.
    next_seq: u64,
    cursor: Cursor,
}

/// The segment being read.
struct Cursor {
    path: PathBuf,
    first_seq: u64,
    /// First seq of the following segment, once one exists: this segment ends right before it.
    end: Option<u64>,
    reader: SegmentReader,
}

impl Cursor {
    /// Opens segment `index` of `segments`. Callers hold the segment lock, so the file cannot
    /// be deleted in between (and once open, deleting it does not affect reading).
    fn open(shared: &Shared, segments: &[SegmentMeta], index: usize) -> Result<Cursor, LogError> {
        let first_seq = segments[index].first_seq;
        let path = segment::segment_path(&shared.dir, first_seq);
        let file = File::open(&path)?;
        if let Err(invalid) = segment::check_file_header(&file, first_seq)? {
            return Err(LogError::Corrupt {
                path,
                offset: 0,
                reason: invalid.0.to_owned(),
            });
        }
        Ok(Cursor {
            path,
            first_seq,
            end: segments.get(index + 1).map(|s| s.first_seq),
            reader: SegmentReader::new(file, FILE_HEADER_LEN),
        })
    }
}

impl LogReader {
    pub(crate) fn new(shared: Arc<Shared>, from_seq: u64) -> Result<LogReader, LogError> {
        let from_seq = from_seq.max(1);
        let segments = shared.segments.read();
        // The segment holding `from_seq`, or the oldest one if that was truncated away. The
        // list is never empty: the active segment always exists.
        let index = segments
            .partition_point(|s| s.first_seq <= from_seq)
            .saturating_sub(1);
        let cursor = Cursor::open(&shared, &segments, index)?;
        drop(segments);
        Ok(LogReader {
            next_seq: cursor.first_seq,
            from_seq,
            cursor,
            shared,
        })
    }

    /// Returns the next records in order: only durable ones (seq <= the log's durable seq, so
    /// never an un-fsynced record), at most `max_bytes` of payload in total but always at least
    /// one record if one is available. An empty vec means caught up. Follows segment rotation.
    ///
    /// If an error occurs after some records were read, those are returned and the error is
    /// reported by the next call.
    pub fn next_batch(&mut self, max_bytes: usize) -> Result<Vec<Record>, LogError> {
        let durable = self.shared.durable.load(Ordering::Acquire);
        let mut batch = Vec::new();
        if self.next_seq > durable {
            return Ok(batch);
        }
        if self.cursor.end.is_none() {
            // Looked up after loading `durable`: a segment holding a seq <= durable was
            // created before that seq was appended, hence is listed by now.
            let segments = self.shared.segments.read();
            self.cursor.end = segments
                .iter()
                .map(|s| s.first_seq)
                .find(|&first| first > self.cursor.first_seq);
        }
        let mut bytes = 0;
        while self.next_seq <= durable {
            match self.step(&mut batch, bytes, max_bytes) {
                Ok(Some(len)) => bytes += len,
                Ok(None) => break,
                Err(e) if batch.is_empty() => return Err(e),
                Err(e) => {
                    tracing::debug!(error = %e, "oplog reader stopping early");
                    break;
                }
            }
        }
        // Bytes buffered past this point may belong to a write still in progress (or one that
        // failed and gets overwritten); re-read them from the file next time.
        self.cursor.reader.discard_buffer();
        Ok(batch)
    }

    /// Consumes the record at `next_seq`: returns the payload bytes it added to `batch` (0 for
    /// a skipped record), or `None` if it does not fit. On error, nothing is consumed.
    fn step(
        &mut self,
        batch: &mut Vec<Record>,
        bytes: usize,
        max_bytes: usize,
    ) -> Result<Option<usize>, LogError> {
        if self.cursor.end.is_some_and(|end| self.next_seq >= end) {
            self.advance_segment()?;
        }
        let at = self.cursor.reader.pos();
        let header = match self.cursor.reader.peek_header()? {
            Frame::Header(header) => header,
            // The record is durable, so it must be there.
            Frame::Eof => return Err(self.corrupt(at, "durable record missing".to_owned())),
            Frame::Invalid(invalid) => return Err(self.corrupt(at, invalid.0.to_owned())),
        };
        if header.seq != self.next_seq {
            let reason = format!("expected seq {}, found {}", self.next_seq, header.seq);
            return Err(self.corrupt(at, reason));
        }
        if header.seq < self.from_seq {
            self.cursor.reader.skip(&header);
            self.next_seq += 1;
            return Ok(Some(0));
        }
        let len = header.len as usize;
        if !batch.is_empty() && bytes + len > max_bytes {
            return Ok(None);
        }
        let mut payload = match self.cursor.reader.read_payload(&header) {
            Ok(Ok(payload)) => payload,
            Ok(Err(invalid)) => return Err(self.corrupt(at, invalid.0.to_owned())),
            Err(e) => {
                self.cursor.reader.rewind(at);
                return Err(e.into());
            }
        };
        if header.external {
            let (blob_len, crc, _) =
                segment::decode_blob_ref(&payload).expect("checked by peek_header");
            let total = payload.len() - BLOB_REF_LEN + blob_len as usize;
            if !batch.is_empty() && bytes + total > max_bytes {
                self.cursor.reader.rewind(at);
                return Ok(None);
            }
            payload = self.with_blob(at, header.seq, payload, blob_len, crc)?;
        }
        let len = payload.len();
        batch.push(Record {
            seq: header.seq,
            payload,
        });
        self.next_seq += 1;
        Ok(Some(len))
    }

    /// The payload of external record `seq` (at `at`): its inline bytes, then its blob's.
    fn with_blob(
        &mut self,
        at: u64,
        seq: u64,
        mut payload: Vec<u8>,
        blob_len: u64,
        crc: u32,
    ) -> Result<Vec<u8>, LogError> {
        let path = segment::blob_path(&self.shared.dir, seq);
        let inline = payload.len() - BLOB_REF_LEN;
        let total = inline as u64 + blob_len;
        if total > MAX_PAYLOAD_BYTES as u64 {
            return Err(self.corrupt(at, "blob length exceeds the payload limit".to_owned()));
        }
        let file = match File::open(&path) {
            Ok(file) => file,
            Err(e) if e.kind() == io::ErrorKind::NotFound => {
                self.cursor.reader.rewind(at);
                // Truncation deletes blobs with their segments, even under a reader.
                let oldest = self.shared.segments.read()[0].first_seq;
                return Err(if seq < oldest {
                    LogError::Truncated { seq }
                } else {
                    LogError::Corrupt {
                        path,
                        offset: 0,
                        reason: format!("the blob of record {seq} is missing"),
                    }
                });
            }
            Err(e) => {
                self.cursor.reader.rewind(at);
                return Err(e.into());
            }
        };
        payload.drain(..BLOB_REF_LEN);
        payload.resize(total as usize, 0);
        let problem = match file.read_exact_at(&mut payload[inline..], 0) {
            Ok(()) if crc32fast::hash(&payload[inline..]) == crc => return Ok(payload),
            Ok(()) => "blob checksum mismatch".to_owned(),
            Err(e) if e.kind() == io::ErrorKind::UnexpectedEof => {
                "blob shorter than its record says".to_owned()
            }
            Err(e) => {
                self.cursor.reader.rewind(at);
                return Err(e.into());
            }
        };
        self.cursor.reader.rewind(at);
        Err(LogError::Corrupt {
            path,
            offset: 0,
            reason: problem,
        })
    }

    /// Moves to the segment starting at `next_seq`.
    fn advance_segment(&mut self) -> Result<(), LogError> {
        let segments = self.shared.segments.read();
        let index = segments.partition_point(|s| s.first_seq < self.next_seq);
        match segments.get(index) {
            Some(s) if s.first_seq == self.next_seq => {
                self.cursor = Cursor::open(&self.shared, &segments, index)?;
                Ok(())
            }
            _ if index == 0 => Err(LogError::Truncated { seq: self.next_seq }),
            _ => Err(LogError::Corrupt {
                path: segment::segment_path(&self.shared.dir, self.next_seq),
                offset: 0,
                reason: format!("no segment starts at seq {}", self.next_seq),
            }),
        }
    }

    /// A corruption error at `offset` of the current segment; rewinds so a retry re-reads it.
    fn corrupt(&mut self, offset: u64, reason: String) -> LogError {
        self.cursor.reader.rewind(offset);
        LogError::Corrupt {
            path: self.cursor.path.clone(),
            offset,
            reason,
        }
    }
}

impl std::fmt::Debug for LogReader {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LogReader")
            .field("dir", &self.shared.dir)
            .field("next_seq", &self.next_seq)
            .field("segment", &self.cursor.path)
            .finish()
    }
}
