//! pier's durable operation log.
//!
//! One [`Log`] per table, in its own directory. A push is acknowledged only after its batch was
//! [appended](Log::append) and [synced](Log::sync); concurrent syncs share one `fdatasync`
//! (group commit). An applier reads records in order with a [`LogReader`], which never returns
//! a record that is not yet durable, and later frees applied segments with
//! [`Log::truncate_through`].
//!
//! On disk the log is a series of segment files named after the seq of their first record
//! (`00000000000000000001.seg`, ...). Only the last one (the *active* segment) is appended to;
//! it is never deleted, so its name always tells where numbering continues. A segment is
//! fdatasync'd before its successor is created, which is why a sync only ever has to flush the
//! active file. See `segment.rs` for the byte format.
//!
//! A large payload prepared ahead of time (an upload job's batch) can be written to a [`Blob`]
//! file first, fsynced at the writer's pace, and then [appended](Log::append_blob) by moving the
//! file into the log: the append writes a few bytes instead of the payload. Blobs live and die
//! with the segment holding their record.

#![deny(missing_docs)]

mod reader;
mod segment;
#[cfg(test)]
mod tests;

use std::fs::{self, File, OpenOptions, TryLockError};
use std::io::{self, Write};
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};

use parking_lot::{Condvar, Mutex, RwLock};
use tokio::sync::watch;

pub use reader::LogReader;
use segment::{BLOB_REF_LEN, FILE_HEADER_LEN, Frame, SegmentReader};

/// Largest payload [`Log::append`] accepts. Also bounds what a reader will allocate for a
/// record whose length field is corrupt.
pub const MAX_PAYLOAD_BYTES: usize = 256 << 20;

/// Name of the lock file that keeps two `Log`s from writing one directory.
const LOCK_FILE: &str = "LOCK";

/// Bytes a [`BlobWriter`] gathers before it writes them to its file.
const BLOB_WRITE_BUFFER: usize = 1 << 20;

/// Don't keep an append buffer bigger than this around after an unusually large record.
const MAX_RETAINED_BUF: usize = 4 << 20;

/// Tuning knobs for a [`Log`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LogOptions {
    /// Size in bytes (its records' and their blobs') past which the active segment is sealed
    /// and a new one started (checked before each append, so a segment exceeds this by at most
    /// one record). Default 64 MiB.
    pub segment_bytes: u64,
}

impl Default for LogOptions {
    fn default() -> Self {
        LogOptions {
            segment_bytes: 64 << 20,
        }
    }
}

/// One log record as returned by [`LogReader::next_batch`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Record {
    /// Sequence number: 1-based, contiguous, assigned by [`Log::append`].
    pub seq: u64,
    /// The bytes passed to [`Log::append`].
    pub payload: Vec<u8>,
}

/// Errors from the operation log.
#[derive(thiserror::Error, Debug)]
pub enum LogError {
    /// An I/O operation failed.
    #[error("oplog I/O error: {0}")]
    Io(#[from] io::Error),
    /// A segment holds bytes that are not a valid record (or segment header) where one must be.
    #[error("corrupt oplog segment {}: {reason} (at byte {offset})", path.display())]
    Corrupt {
        /// The segment file (or, for a missing segment, the path it should have).
        path: PathBuf,
        /// Byte offset of the bad record or header within the file.
        offset: u64,
        /// What is wrong.
        reason: String,
    },
    /// The payload is larger than [`MAX_PAYLOAD_BYTES`].
    #[error("oplog payload of {len} bytes exceeds the limit of {max} bytes")]
    PayloadTooLarge {
        /// Size of the rejected payload.
        len: usize,
        /// The limit.
        max: usize,
    },
    /// [`Log::sync`] was asked for a seq that has not been appended.
    #[error("cannot sync oplog seq {seq}: only {last} appended")]
    NotAppended {
        /// The requested seq.
        seq: u64,
        /// The highest appended seq.
        last: u64,
    },
    /// A reader needs a record whose segment [`Log::truncate_through`] deleted.
    #[error("oplog record {seq} was truncated away")]
    Truncated {
        /// The first seq the reader could not find.
        seq: u64,
    },
    /// An earlier fdatasync (or the cleanup of a failed write) failed, so what is on disk is
    /// unknown; the log refuses further appends and syncs. Reopen it to recover.
    #[error("oplog is unusable after an earlier write or fsync failure; reopen it")]
    Poisoned,
    /// Another [`Log`] (in this or another process) has the directory open.
    #[error("oplog directory {} is already open", dir.display())]
    Locked {
        /// The directory.
        dir: PathBuf,
    },
}

/// A payload (or the tail of one) written to its own file, ready for [`Log::append_blob`].
/// Made by a [`BlobWriter`]; the file is durable.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Blob {
    path: PathBuf,
    len: u64,
    crc: u32,
}

impl Blob {
    /// The blob's size in bytes.
    pub fn len(&self) -> u64 {
        self.len
    }

    /// Whether the blob holds no bytes.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Deletes the file of a blob that will not be appended.
    pub fn discard(self) -> io::Result<()> {
        match fs::remove_file(&self.path) {
            Err(e) if e.kind() != io::ErrorKind::NotFound => Err(e),
            _ => Ok(()),
        }
    }
}

/// Writes a [`Blob`] file. Put it on the log's file system (appending moves it into the
/// log's directory).
pub struct BlobWriter {
    file: io::BufWriter<File>,
    path: PathBuf,
    len: u64,
    crc: crc32fast::Hasher,
}

impl BlobWriter {
    /// Creates the blob file at `path`. A file already there is unlinked first, never written
    /// through: it may be another name of a blob the log has taken.
    pub fn create(path: &Path) -> io::Result<BlobWriter> {
        match fs::remove_file(path) {
            Err(e) if e.kind() != io::ErrorKind::NotFound => return Err(e),
            _ => {}
        }
        let file = OpenOptions::new().write(true).create_new(true).open(path)?;
        Ok(BlobWriter {
            file: io::BufWriter::with_capacity(BLOB_WRITE_BUFFER, file),
            path: path.to_path_buf(),
            len: 0,
            crc: crc32fast::Hasher::new(),
        })
    }

    /// Appends bytes to the blob.
    pub fn write(&mut self, bytes: &[u8]) -> io::Result<()> {
        self.file.write_all(bytes)?;
        self.len += bytes.len() as u64;
        self.crc.update(bytes);
        Ok(())
    }

    /// Bytes written so far.
    pub fn len(&self) -> u64 {
        self.len
    }

    /// Whether nothing was written yet.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Makes the file durable (fdatasync) and returns the blob.
    pub fn finish(self) -> io::Result<Blob> {
        self.file
            .into_inner()
            .map_err(|e| e.into_error())?
            .sync_data()?;
        Ok(Blob {
            path: self.path,
            len: self.len,
            crc: self.crc.finalize(),
        })
    }
}

/// A durable, segmented, checksummed append-only log. `Send + Sync`; share it via `Arc`.
pub struct Log {
    shared: Arc<Shared>,
}

/// What a segment listing knows about one segment.
#[derive(Debug, Clone, Copy)]
struct SegmentMeta {
    first_seq: u64,
    /// File size; final for sealed segments, stale for the active one (tracked by `Writer`).
    bytes: u64,
}

/// Append-side state, guarded by one mutex so seq assignment and file order agree.
struct Writer {
    /// The active segment; an `Arc` so a sync leader can fdatasync it without the lock.
    file: Arc<File>,
    first_seq: u64,
    /// Bytes in the active segment, i.e. where the next record goes.
    len: u64,
    next_seq: u64,
    /// Reused encode buffer so each record goes out in a single write.
    buf: Vec<u8>,
    /// Bytes of the blobs of the active segment's records: they count towards its size, so a
    /// segment of blob records is sealed (and can be truncated, blobs with it) like any other.
    blob_bytes: u64,
}

/// State shared by the `Log` and its readers.
struct Shared {
    dir: PathBuf,
    segment_bytes: u64,
    writer: Mutex<Writer>,
    /// Whether a group-commit leader is fdatasyncing right now.
    leader_active: Mutex<bool>,
    /// Signalled when a leader finishes, so waiters re-check whether they are covered.
    leader_done: Condvar,
    /// All segments, oldest first; the last is the active one. Lock order: `writer`, then this.
    segments: RwLock<Vec<SegmentMeta>>,
    appended: AtomicU64,
    durable: AtomicU64,
    durable_tx: watch::Sender<u64>,
    disk_bytes: AtomicU64,
    sync_count: AtomicU64,
    poisoned: AtomicBool,
    /// Holds the directory's advisory lock for as long as the log or a reader lives.
    _lock: File,
}

impl Log {
    /// Opens or creates the log in `dir`.
    ///
    /// Recovery scans the last segment and truncates a torn or corrupt tail (short record, bad
    /// CRC, out-of-sequence record) so the next append continues cleanly; everything that
    /// survives is fdatasync'd and counts as durable. Earlier segments were sealed with an
    /// fdatasync and are not rescanned: a corrupt record there surfaces as
    /// [`LogError::Corrupt`] from the reader that reaches it.
    pub fn open(dir: &Path, options: LogOptions) -> Result<Log, LogError> {
        fs::create_dir_all(dir)?;
        let lock = OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(false)
            .open(dir.join(LOCK_FILE))?;
        match lock.try_lock() {
            Ok(()) => {}
            Err(TryLockError::WouldBlock) => {
                return Err(LogError::Locked {
                    dir: dir.to_path_buf(),
                });
            }
            Err(TryLockError::Error(e)) => return Err(e.into()),
        }

        let firsts = segment::list_segments(dir)?;
        let mut segments = Vec::with_capacity(firsts.len().max(1));
        let (file, first_seq, len, next_seq) = match firsts.split_last() {
            None => {
                let file = segment::create_segment(dir, 1)?;
                file.sync_data()?;
                segment::sync_dir(dir)?;
                (file, 1, FILE_HEADER_LEN, 1)
            }
            Some((&last, sealed)) => {
                for &first_seq in sealed {
                    let bytes = fs::metadata(segment::segment_path(dir, first_seq))?.len();
                    segments.push(SegmentMeta { first_seq, bytes });
                }
                let (file, len, next_seq) = recover_active(dir, last)?;
                (file, last, len, next_seq)
            }
        };
        segments.push(SegmentMeta {
            first_seq,
            bytes: len,
        });
        let blobs = open_blobs(dir, segments[0].first_seq, next_seq)?;
        let active_blob_bytes = blobs
            .iter()
            .filter(|&&(seq, _)| seq >= first_seq)
            .map(|(_, bytes)| bytes)
            .sum();
        let disk_bytes = segments.iter().map(|s| s.bytes).sum::<u64>()
            + blobs.iter().map(|(_, bytes)| bytes).sum::<u64>();
        let last_seq = next_seq - 1;
        tracing::info!(
            dir = %dir.display(),
            segments = segments.len(),
            last_seq,
            disk_bytes,
            "opened oplog"
        );
        let (durable_tx, _) = watch::channel(last_seq);
        Ok(Log {
            shared: Arc::new(Shared {
                dir: dir.to_path_buf(),
                segment_bytes: options.segment_bytes,
                writer: Mutex::new(Writer {
                    file: Arc::new(file),
                    first_seq,
                    len,
                    next_seq,
                    buf: Vec::new(),
                    blob_bytes: active_blob_bytes,
                }),
                leader_active: Mutex::new(false),
                leader_done: Condvar::new(),
                segments: RwLock::new(segments),
                appended: AtomicU64::new(last_seq),
                durable: AtomicU64::new(last_seq),
                durable_tx,
                disk_bytes: AtomicU64::new(disk_bytes),
                sync_count: AtomicU64::new(0),
                poisoned: AtomicBool::new(false),
                _lock: lock,
            }),
        })
    }

    /// Appends one record and returns its sequence number (1-based, contiguous, never reused
    /// even after truncation or restart). The record reaches the OS in one write but is not
    /// durable until a [`sync`](Log::sync) covers it.
    pub fn append(&self, payload: &[u8]) -> Result<u64, LogError> {
        if payload.len() > MAX_PAYLOAD_BYTES {
            return Err(LogError::PayloadTooLarge {
                len: payload.len(),
                max: MAX_PAYLOAD_BYTES,
            });
        }
        self.shared.write_record(
            0,
            |buf, seq| segment::encode_record(buf, seq, payload),
            |_| Ok(()),
            |_| {},
        )
    }

    /// Appends one record whose payload is `inline` followed by the bytes of `blob`, like
    /// [`append`](Log::append) but moving the blob's file into the log instead of writing its
    /// bytes again: the append costs a rename and a directory fsync whatever the blob's size.
    /// On error the blob is left where it was (unless moving it back failed too).
    pub fn append_blob(&self, inline: &[u8], blob: &Blob) -> Result<u64, LogError> {
        let total = (inline.len() + BLOB_REF_LEN) as u64 + blob.len;
        if total > MAX_PAYLOAD_BYTES as u64 {
            return Err(LogError::PayloadTooLarge {
                len: usize::try_from(total).unwrap_or(usize::MAX),
                max: MAX_PAYLOAD_BYTES,
            });
        }
        let s = &*self.shared;
        let seq = s.write_record(
            blob.len,
            |buf, seq| segment::encode_blob_record(buf, seq, inline, blob.len, blob.crc),
            |seq| {
                // Durable under its new name before the record that names it can be.
                let target = segment::blob_path(&s.dir, seq);
                fs::rename(&blob.path, &target)?;
                if let Err(e) = segment::sync_dir(&s.dir) {
                    s.move_blob_back(&target, blob);
                    return Err(e.into());
                }
                Ok(())
            },
            |seq| s.move_blob_back(&segment::blob_path(&s.dir, seq), blob),
        )?;
        s.disk_bytes.fetch_add(blob.len, Ordering::Relaxed);
        Ok(seq)
    }

    /// Blocks until every record with seq <= `seq` is fdatasync'd.
    ///
    /// Group commit: the first caller to find `seq` not yet durable becomes the leader and
    /// syncs everything appended so far; callers arriving meanwhile wait for it and then
    /// usually find themselves covered, so concurrent callers share one fdatasync.
    ///
    /// Blocking (as is [`append`](Log::append)); from async code call it via
    /// `tokio::task::spawn_blocking`.
    pub fn sync(&self, seq: u64) -> Result<(), LogError> {
        let s = &*self.shared;
        if s.durable.load(Ordering::Acquire) >= seq {
            return Ok(());
        }
        let last = s.appended.load(Ordering::Acquire);
        if seq > last {
            return Err(LogError::NotAppended { seq, last });
        }
        {
            let mut active = s.leader_active.lock();
            loop {
                // A leader that finished while we waited may have covered us.
                if s.durable.load(Ordering::Acquire) >= seq {
                    return Ok(());
                }
                if !*active {
                    *active = true;
                    break;
                }
                s.leader_done.wait(&mut active);
            }
        }
        let _leadership = Leadership(s);
        s.check_poisoned()?;
        // Sealed segments were synced when they were rotated out, so syncing the file that is
        // active now covers everything appended up to now.
        let (file, target) = {
            let w = s.writer.lock();
            (Arc::clone(&w.file), w.next_seq - 1)
        };
        s.sync_data(&file)?;
        s.advance_durable(target);
        Ok(())
    }

    /// Highest seq known durable (0 when empty).
    pub fn durable_seq(&self) -> u64 {
        self.shared.durable.load(Ordering::Acquire)
    }

    /// A watch channel that publishes [`durable_seq`](Log::durable_seq) every time it
    /// advances, for appliers to await.
    pub fn subscribe_durable(&self) -> watch::Receiver<u64> {
        self.shared.durable_tx.subscribe()
    }

    /// Highest seq appended, durable or not; 0 when empty.
    pub fn last_seq(&self) -> u64 {
        self.shared.appended.load(Ordering::Acquire)
    }

    /// A sequential reader positioned at the first retained record with seq >= `from_seq`.
    /// If `from_seq` lies in truncated segments, it starts at the oldest retained record
    /// (compare the first [`Record::seq`] with what you expected to detect the gap).
    pub fn reader(&self, from_seq: u64) -> Result<LogReader, LogError> {
        LogReader::new(Arc::clone(&self.shared), from_seq)
    }

    /// Deletes whole segment files all of whose records have seq <= `seq`, oldest first and
    /// never the active segment. Returns the bytes freed.
    pub fn truncate_through(&self, seq: u64) -> Result<u64, LogError> {
        let s = &*self.shared;
        let mut segments = s.segments.write();
        let mut freed = 0;
        let mut removed = 0;
        let mut failure = None;
        // A sealed segment's last seq is its successor's first seq minus one; the active
        // segment has no successor and is never a candidate.
        while removed + 1 < segments.len() && segments[removed + 1].first_seq - 1 <= seq {
            let victim = segments[removed];
            match fs::remove_file(segment::segment_path(&s.dir, victim.first_seq)) {
                Ok(()) => {}
                Err(e) if e.kind() == io::ErrorKind::NotFound => {}
                Err(e) => {
                    failure = Some(e);
                    break;
                }
            }
            freed += victim.bytes;
            removed += 1;
        }
        segments.drain(..removed);
        if removed > 0 && failure.is_none() {
            match s.remove_blobs_before(segments[0].first_seq) {
                Ok(bytes) => freed += bytes,
                Err(e) => failure = Some(e),
            }
        }
        drop(segments);
        s.disk_bytes.fetch_sub(freed, Ordering::Relaxed);
        if let Some(e) = failure {
            return Err(e.into());
        }
        if removed > 0 {
            // Keeps deleted segments from reappearing after a crash.
            segment::sync_dir(&s.dir)?;
            tracing::debug!(through = seq, removed, freed, "truncated oplog");
        }
        Ok(freed)
    }

    /// Bytes on disk used by all segments and blobs.
    pub fn disk_bytes(&self) -> u64 {
        self.shared.disk_bytes.load(Ordering::Relaxed)
    }

    /// Statistic: number of fdatasync calls issued on segment data since open (group-commit
    /// syncs plus segment seals on rotation). Under concurrency this stays well below the
    /// number of [`sync`](Log::sync) calls.
    pub fn sync_count(&self) -> u64 {
        self.shared.sync_count.load(Ordering::Relaxed)
    }
}

impl std::fmt::Debug for Log {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Log")
            .field("dir", &self.shared.dir)
            .field("last_seq", &self.last_seq())
            .field("durable_seq", &self.durable_seq())
            .finish()
    }
}

/// Ends a group-commit leadership on drop (including on error) and wakes the waiters: they
/// return if covered, otherwise one of them leads the next round.
struct Leadership<'a>(&'a Shared);

impl Drop for Leadership<'_> {
    fn drop(&mut self) {
        *self.0.leader_active.lock() = false;
        self.0.leader_done.notify_all();
    }
}

impl Shared {
    /// Writes one record (whose blob, if any, has `blob_len` bytes) at the end of the active
    /// segment, under the writer lock so seq order and file order agree. `prepare` runs first
    /// with the record's seq and may refuse the append; `undo` runs if the write then fails.
    fn write_record(
        &self,
        blob_len: u64,
        encode: impl FnOnce(&mut Vec<u8>, u64),
        prepare: impl FnOnce(u64) -> Result<(), LogError>,
        undo: impl FnOnce(u64),
    ) -> Result<u64, LogError> {
        let mut w = self.writer.lock();
        self.check_poisoned()?;
        // Rotate before writing rather than after, so a failed rotation fails this append
        // cleanly instead of reporting an error for a record that was in fact written. A
        // segment without records is never sealed: its successor would get the same name.
        if w.len + w.blob_bytes > self.segment_bytes && w.next_seq > w.first_seq {
            self.rotate(&mut w)?;
        }
        let seq = w.next_seq;
        prepare(seq)?;
        let Writer { file, len, buf, .. } = &mut *w;
        buf.clear();
        encode(buf, seq);
        if let Err(e) = file.write_all_at(buf, *len) {
            // Cut off whatever part of the record made it, so the next append lands on a
            // record boundary.
            if let Err(cleanup) = file.set_len(*len) {
                self.poison("truncating a failed append", &cleanup);
            }
            undo(seq);
            return Err(e.into());
        }
        let written = buf.len() as u64;
        *len += written;
        if buf.capacity() > MAX_RETAINED_BUF {
            *buf = Vec::new();
        }
        w.next_seq += 1;
        w.blob_bytes += blob_len;
        self.appended.store(seq, Ordering::Release);
        self.disk_bytes.fetch_add(written, Ordering::Relaxed);
        Ok(seq)
    }

    /// Gives a blob back its name after an append that took it failed. If even that fails the
    /// blob stays under the log's name, where it is deleted on the next open.
    fn move_blob_back(&self, taken: &Path, blob: &Blob) {
        if let Err(e) = fs::rename(taken, &blob.path) {
            tracing::warn!(error = %e, blob = %blob.path.display(), "could not move a blob back after a failed append");
        }
    }

    /// Deletes the blobs of records before `first_kept` (their segments are gone). Returns the
    /// bytes freed.
    fn remove_blobs_before(&self, first_kept: u64) -> io::Result<u64> {
        let mut freed = 0;
        for seq in segment::list_blobs(&self.dir)? {
            if seq >= first_kept {
                break;
            }
            let path = segment::blob_path(&self.dir, seq);
            freed += fs::metadata(&path).map(|m| m.len()).unwrap_or(0);
            match fs::remove_file(&path) {
                Err(e) if e.kind() != io::ErrorKind::NotFound => return Err(e),
                _ => {}
            }
        }
        Ok(freed)
    }

    fn check_poisoned(&self) -> Result<(), LogError> {
        if self.poisoned.load(Ordering::Acquire) {
            return Err(LogError::Poisoned);
        }
        Ok(())
    }

    fn poison(&self, what: &str, error: &io::Error) {
        tracing::error!(dir = %self.dir.display(), %error, "oplog poisoned: {what} failed");
        self.poisoned.store(true, Ordering::Release);
    }

    /// fdatasync with failure handling: after a failed fdatasync the kernel may have dropped
    /// the dirty pages and cleared the error, so a retry could "succeed" without the data.
    /// Never report anything durable again until reopened.
    fn sync_data(&self, file: &File) -> Result<(), LogError> {
        self.sync_count.fetch_add(1, Ordering::Relaxed);
        file.sync_data().map_err(|e| {
            self.poison("fdatasync", &e);
            LogError::Io(e)
        })
    }

    /// Raises the durable seq to `seq` (never lowers it) and publishes it.
    fn advance_durable(&self, seq: u64) {
        if self.durable.fetch_max(seq, Ordering::AcqRel) < seq {
            self.durable_tx.send_if_modified(|durable| {
                let advanced = *durable < seq;
                if advanced {
                    *durable = seq;
                }
                advanced
            });
        }
    }

    /// Seals the active segment and starts the next one. Nothing is changed in memory until
    /// every fallible step succeeded, so a failed rotation is simply retried by the next append.
    fn rotate(&self, w: &mut Writer) -> Result<(), LogError> {
        // Sync only ever flushes the active file, so the outgoing one must be fully durable
        // before any seq in its successor can be reported durable.
        self.sync_data(&w.file)?;
        self.advance_durable(w.next_seq - 1);
        let first_seq = w.next_seq;
        let file = segment::create_segment(&self.dir, first_seq)?;
        // Header and directory entry durable before any record goes in, so recovery can
        // trust the name and header of every segment except a torn-header last one.
        self.sync_data(&file)?;
        segment::sync_dir(&self.dir)?;
        {
            let mut segments = self.segments.write();
            if let Some(sealed) = segments.last_mut() {
                sealed.bytes = w.len;
            }
            segments.push(SegmentMeta {
                first_seq,
                bytes: FILE_HEADER_LEN,
            });
        }
        self.disk_bytes
            .fetch_add(FILE_HEADER_LEN, Ordering::Relaxed);
        tracing::debug!(sealed_bytes = w.len, first_seq, "rotated oplog segment");
        w.file = Arc::new(file);
        w.first_seq = first_seq;
        w.len = FILE_HEADER_LEN;
        w.blob_bytes = 0;
        Ok(())
    }
}

/// Deletes the blobs no record names (of truncated records, or moved in by an append that did
/// not complete) and returns the seq and size of the others.
fn open_blobs(dir: &Path, first_seq: u64, next_seq: u64) -> io::Result<Vec<(u64, u64)>> {
    let mut kept = Vec::new();
    let mut removed = false;
    for seq in segment::list_blobs(dir)? {
        let path = segment::blob_path(dir, seq);
        if seq < first_seq || seq >= next_seq {
            fs::remove_file(&path)?;
            removed = true;
        } else {
            kept.push((seq, fs::metadata(&path)?.len()));
        }
    }
    if removed {
        segment::sync_dir(dir)?;
    }
    Ok(kept)
}

/// Recovers the last segment: validates its header, scans its records and cuts off a torn or
/// corrupt tail. Returns the file (open for writing), its length and the next seq.
fn recover_active(dir: &Path, first_seq: u64) -> Result<(File, u64, u64), LogError> {
    let path = segment::segment_path(dir, first_seq);
    let file = OpenOptions::new().read(true).write(true).open(&path)?;
    if let Err(invalid) = segment::check_file_header(&file, first_seq)? {
        if file.metadata()?.len() > FILE_HEADER_LEN {
            return Err(LogError::Corrupt {
                path,
                offset: 0,
                reason: invalid.0.to_owned(),
            });
        }
        // A crash between creating the segment and its header reaching the disk (short or
        // zero-filled). Records are only appended after the header is synced, so it holds
        // none, and its name still says where numbering continues.
        tracing::warn!(path = %path.display(), reason = invalid.0, "rewriting incomplete oplog segment header");
        drop(file);
        let file = segment::create_segment(dir, first_seq)?;
        file.sync_data()?;
        return Ok((file, FILE_HEADER_LEN, first_seq));
    }

    let mut scan = SegmentReader::new(file.try_clone()?, FILE_HEADER_LEN);
    let mut next_seq = first_seq;
    let torn = loop {
        let at = scan.pos();
        let header = match scan.peek_header()? {
            Frame::Eof => break None,
            Frame::Invalid(invalid) => break Some((at, invalid.0)),
            Frame::Header(header) => header,
        };
        if header.seq != next_seq {
            break Some((at, "out-of-sequence record"));
        }
        match scan.read_payload(&header)? {
            Ok(_) => next_seq += 1,
            Err(invalid) => break Some((at, invalid.0)),
        }
    };
    let len = match torn {
        None => scan.pos(),
        Some((at, reason)) => {
            let dropped = file.metadata()?.len() - at;
            tracing::warn!(
                path = %path.display(),
                offset = at,
                dropped,
                reason,
                "truncating torn oplog tail"
            );
            file.set_len(at)?;
            // sync_all: the new size itself must be durable, or the garbage comes back.
            file.sync_all()?;
            at
        }
    };
    if torn.is_none() {
        // A crashed process may have left records in the page cache only; they are reported
        // durable from now on, so make them so.
        file.sync_data()?;
    }
    Ok((file, len, next_seq))
}
