//! Tests against real files in a temp dir, with real fsyncs.

use std::collections::HashSet;
use std::fs::{self, OpenOptions};
use std::io::Write;
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Barrier};
use std::thread;

use super::*;

type TestResult = Result<(), Box<dyn std::error::Error>>;

fn options(segment_bytes: u64) -> LogOptions {
    LogOptions { segment_bytes }
}

/// Deterministic payload for `seq` so corruption or mix-ups show up.
fn payload(seq: u64, len: usize) -> Vec<u8> {
    (0..len).map(|i| (seq as usize * 31 + i) as u8).collect()
}

fn read_all(reader: &mut LogReader) -> Result<Vec<Record>, LogError> {
    let mut records = Vec::new();
    loop {
        let batch = reader.next_batch(usize::MAX)?;
        if batch.is_empty() {
            return Ok(records);
        }
        records.extend(batch);
    }
}

fn seqs(records: &[Record]) -> Vec<u64> {
    records.iter().map(|r| r.seq).collect()
}

fn segment_files(dir: &Path) -> Result<Vec<PathBuf>, std::io::Error> {
    Ok(segment::list_segments(dir)?
        .into_iter()
        .map(|first| segment::segment_path(dir, first))
        .collect())
}

fn size_on_disk(dir: &Path) -> Result<u64, std::io::Error> {
    let mut total = 0;
    for path in segment_files(dir)? {
        total += fs::metadata(path)?.len();
    }
    Ok(total)
}

/// Appends `count` records of `len` bytes and syncs them; returns the last seq.
fn append_synced(log: &Log, count: u64, len: usize) -> Result<u64, LogError> {
    let mut last = log.last_seq();
    for _ in 0..count {
        let seq = log.last_seq() + 1;
        last = log.append(&payload(seq, len))?;
        assert_eq!(last, seq);
    }
    log.sync(last)?;
    Ok(last)
}

fn assert_records(records: &[Record], expected_seqs: impl IntoIterator<Item = u64>, len: usize) {
    let expected: Vec<u64> = expected_seqs.into_iter().collect();
    assert_eq!(seqs(records), expected);
    for record in records {
        assert_eq!(
            record.payload,
            payload(record.seq, len),
            "seq {}",
            record.seq
        );
    }
}

#[test]
fn log_is_send_sync() {
    fn assert_send_sync<T: Send + Sync>() {}
    fn assert_send<T: Send>() {}
    assert_send_sync::<Log>();
    assert_send::<LogReader>();
}

#[test]
fn append_sync_read_round_trip() -> TestResult {
    let dir = tempfile::tempdir()?;
    let log = Log::open(dir.path(), LogOptions::default())?;
    assert_eq!((log.last_seq(), log.durable_seq()), (0, 0));
    let durable = log.subscribe_durable();
    let mut reader = log.reader(1)?;

    for seq in 1..=3 {
        assert_eq!(log.append(&payload(seq, 100))?, seq);
    }
    assert_eq!((log.last_seq(), log.durable_seq()), (3, 0));
    assert!(
        reader.next_batch(usize::MAX)?.is_empty(),
        "nothing durable yet"
    );

    log.sync(2)?;
    // The leader syncs everything appended, not just what it was asked for.
    assert_eq!(log.durable_seq(), 3);
    assert_eq!(*durable.borrow(), 3);
    assert_eq!(log.sync_count(), 1);
    log.sync(3)?;
    assert_eq!(log.sync_count(), 1, "already covered");

    assert_records(&read_all(&mut reader)?, 1..=3, 100);
    assert_records(&read_all(&mut log.reader(2)?)?, 2..=3, 100);
    assert!(read_all(&mut log.reader(4)?)?.is_empty());
    assert_eq!(log.disk_bytes(), size_on_disk(dir.path())?);
    Ok(())
}

#[test]
fn reader_never_returns_records_beyond_durable() -> TestResult {
    let dir = tempfile::tempdir()?;
    let log = Log::open(dir.path(), LogOptions::default())?;
    let mut reader = log.reader(0)?;
    append_synced(&log, 3, 10)?;
    log.append(&payload(4, 10))?;
    log.append(&payload(5, 10))?;
    assert_eq!((log.last_seq(), log.durable_seq()), (5, 3));
    assert_records(&read_all(&mut reader)?, 1..=3, 10);

    log.sync(5)?;
    assert_records(&read_all(&mut reader)?, 4..=5, 10);

    log.sync(0)?;
    assert!(matches!(
        log.sync(6),
        Err(LogError::NotAppended { seq: 6, last: 5 })
    ));
    Ok(())
}

#[test]
fn max_bytes_bounds_batches_but_returns_at_least_one() -> TestResult {
    let dir = tempfile::tempdir()?;
    let log = Log::open(dir.path(), LogOptions::default())?;
    append_synced(&log, 10, 100)?;
    let mut reader = log.reader(1)?;
    assert_eq!(seqs(&reader.next_batch(250)?), [1, 2]);
    assert_eq!(seqs(&reader.next_batch(0)?), [3]);
    assert_eq!(seqs(&reader.next_batch(300)?), [4, 5, 6]);
    assert_records(&reader.next_batch(usize::MAX)?, 7..=10, 100);
    assert!(reader.next_batch(usize::MAX)?.is_empty());
    Ok(())
}

#[test]
fn large_payloads_round_trip_across_rotation() -> TestResult {
    let dir = tempfile::tempdir()?;
    let log = Log::open(dir.path(), options(3 << 20))?;
    let sizes = [2 << 20, 10, 300 << 10, 0, (2 << 20) + 1, 5];
    for (i, &len) in sizes.iter().enumerate() {
        let seq = i as u64 + 1;
        assert_eq!(log.append(&payload(seq, len))?, seq);
    }
    log.sync(log.last_seq())?;
    assert!(segment_files(dir.path())?.len() > 1);

    let mut reader = log.reader(1)?;
    for (i, &len) in sizes.iter().enumerate() {
        let seq = i as u64 + 1;
        let batch = reader.next_batch(1)?;
        assert_eq!(batch.len(), 1);
        assert_eq!(batch[0].seq, seq);
        assert!(
            batch[0].payload == payload(seq, len),
            "payload of seq {seq}"
        );
    }
    assert!(reader.next_batch(1)?.is_empty());
    Ok(())
}

#[test]
fn numbering_continues_after_reopen() -> TestResult {
    let dir = tempfile::tempdir()?;
    {
        let log = Log::open(dir.path(), LogOptions::default())?;
        append_synced(&log, 5, 20)?;
    }
    let log = Log::open(dir.path(), LogOptions::default())?;
    assert_eq!((log.last_seq(), log.durable_seq()), (5, 5));
    assert_eq!(*log.subscribe_durable().borrow(), 5);
    assert_eq!(log.append(&payload(6, 20))?, 6);
    log.sync(6)?;
    assert_records(&read_all(&mut log.reader(1)?)?, 1..=6, 20);
    assert_eq!(log.disk_bytes(), size_on_disk(dir.path())?);
    Ok(())
}

#[test]
fn torn_tail_is_truncated_on_open() -> TestResult {
    let partial_record = {
        let mut bytes = Vec::new();
        segment::encode_record(&mut bytes, 4, &payload(4, 100));
        bytes.truncate(40);
        bytes
    };
    let garbage: [&[u8]; 3] = [b"\x07\x00", &[0xff; 64], &partial_record];
    for tail in garbage {
        let dir = tempfile::tempdir()?;
        {
            let log = Log::open(dir.path(), LogOptions::default())?;
            append_synced(&log, 3, 50)?;
        }
        let path = segment::segment_path(dir.path(), 1);
        let clean_len = fs::metadata(&path)?.len();
        OpenOptions::new()
            .append(true)
            .open(&path)?
            .write_all(tail)?;

        let log = Log::open(dir.path(), LogOptions::default())?;
        assert_eq!(fs::metadata(&path)?.len(), clean_len, "tail cut off");
        assert_eq!((log.last_seq(), log.durable_seq()), (3, 3));
        assert_eq!(log.append(&payload(4, 50))?, 4);
        log.sync(4)?;
        assert_records(&read_all(&mut log.reader(1)?)?, 1..=4, 50);
        assert_eq!(log.disk_bytes(), size_on_disk(dir.path())?);
    }
    Ok(())
}

#[test]
fn bad_crc_in_tail_record_is_truncated_on_open() -> TestResult {
    let dir = tempfile::tempdir()?;
    {
        let log = Log::open(dir.path(), LogOptions::default())?;
        append_synced(&log, 3, 50)?;
    }
    let path = segment::segment_path(dir.path(), 1);
    let file = OpenOptions::new().read(true).write(true).open(&path)?;
    let last_byte = file.metadata()?.len() - 1;
    let mut byte = [0u8];
    file.read_exact_at(&mut byte, last_byte)?;
    file.write_all_at(&[byte[0] ^ 0x55], last_byte)?;
    drop(file);

    let log = Log::open(dir.path(), LogOptions::default())?;
    assert_eq!(log.last_seq(), 2);
    // Seq 3 never made it intact, so the number is free again.
    assert_eq!(log.append(&payload(3, 50))?, 3);
    log.sync(3)?;
    assert_records(&read_all(&mut log.reader(1)?)?, 1..=3, 50);
    Ok(())
}

#[test]
fn corrupt_record_in_sealed_segment_is_an_error() -> TestResult {
    let dir = tempfile::tempdir()?;
    {
        let log = Log::open(dir.path(), options(256))?;
        append_synced(&log, 20, 64)?;
    }
    let files = segment_files(dir.path())?;
    assert!(files.len() > 2);
    let file = OpenOptions::new().write(true).open(&files[0])?;
    // First payload byte of the first record.
    file.write_all_at(&[0xee], FILE_HEADER_LEN + segment::RECORD_HEADER_LEN as u64)?;
    drop(file);

    let log = Log::open(dir.path(), options(256))?;
    assert_eq!(log.last_seq(), 20, "sealed segments are not truncated");
    let mut reader = log.reader(1)?;
    for _ in 0..2 {
        match reader.next_batch(usize::MAX) {
            Err(LogError::Corrupt { path, offset, .. }) => {
                assert_eq!(path, files[0]);
                assert_eq!(offset, FILE_HEADER_LEN);
            }
            other => panic!("expected Corrupt, got {other:?}"),
        }
    }
    // Later segments still read fine.
    let second_first = segment::list_segments(dir.path())?[1];
    assert_records(
        &read_all(&mut log.reader(second_first)?)?,
        second_first..=20,
        64,
    );
    Ok(())
}

#[test]
fn reader_follows_rotation() -> TestResult {
    let dir = tempfile::tempdir()?;
    let log = Log::open(dir.path(), options(1024))?;
    let mut reader = log.reader(1)?;
    let mut seen = Vec::new();
    for seq in 1..=100 {
        assert_eq!(log.append(&payload(seq, 100))?, seq);
        if seq % 7 == 0 {
            log.sync(seq)?;
            seen.extend(reader.next_batch(usize::MAX)?);
            assert_eq!(seen.last().map(|r| r.seq), Some(seq));
        }
    }
    log.sync(100)?;
    seen.extend(read_all(&mut reader)?);
    assert_records(&seen, 1..=100, 100);

    let firsts = segment::list_segments(dir.path())?;
    assert!(firsts.len() >= 10, "{} segments", firsts.len());
    for window in firsts.windows(2) {
        let size = fs::metadata(segment::segment_path(dir.path(), window[0]))?.len();
        // Sealed once past the limit: exceeds it by at most one record.
        assert!(size > 1024 && size <= 1024 + 116, "segment size {size}");
    }
    // Each file is named after its first record.
    for &first in &firsts {
        let records = log.reader(first)?.next_batch(0)?;
        assert_eq!(records[0].seq, first);
    }
    assert_records(&read_all(&mut log.reader(57)?)?, 57..=100, 100);
    assert_eq!(log.disk_bytes(), size_on_disk(dir.path())?);
    // Each rotation sealed its segment with an fdatasync (and synced the new header).
    assert!(log.sync_count() >= firsts.len() as u64);
    Ok(())
}

#[test]
fn truncate_through_frees_whole_segments_and_numbering_continues() -> TestResult {
    let dir = tempfile::tempdir()?;
    {
        let log = Log::open(dir.path(), options(512))?;
        append_synced(&log, 100, 50)?;
        let before = log.disk_bytes();
        let firsts = segment::list_segments(dir.path())?;

        let freed = log.truncate_through(50)?;
        assert!(freed > 0);
        assert_eq!(log.disk_bytes(), before - freed);
        assert_eq!(log.disk_bytes(), size_on_disk(dir.path())?);
        let kept = segment::list_segments(dir.path())?;
        let oldest = kept[0];
        // Exactly the segments ending at or before 50 went away: the previous one ended at
        // oldest - 1, and the oldest kept one holds seqs past 50.
        assert!(oldest > 1 && oldest <= 51);
        assert!(kept[1] > 51);
        assert_eq!(
            firsts.iter().filter(|&&f| f < oldest).count(),
            firsts.len() - kept.len()
        );
        assert_eq!(log.truncate_through(50)?, 0, "idempotent");

        assert_records(&read_all(&mut log.reader(51)?)?, 51..=100, 50);
        // From a truncated seq: starts at the oldest retained record.
        assert_records(&read_all(&mut log.reader(1)?)?, oldest..=100, 50);

        log.truncate_through(u64::MAX)?;
        assert_eq!(segment_files(dir.path())?.len(), 1, "active segment stays");
        assert_eq!(log.disk_bytes(), size_on_disk(dir.path())?);
    }
    let log = Log::open(dir.path(), options(512))?;
    assert_eq!(log.last_seq(), 100);
    assert_eq!(log.append(&payload(101, 50))?, 101);
    log.sync(101)?;
    let records = read_all(&mut log.reader(1)?)?;
    assert_eq!(records.last().map(|r| r.seq), Some(101));
    Ok(())
}

#[test]
fn reader_reports_segments_truncated_under_it() -> TestResult {
    let dir = tempfile::tempdir()?;
    let log = Log::open(dir.path(), options(256))?;
    append_synced(&log, 30, 64)?;
    let mut reader = log.reader(1)?;
    assert_eq!(seqs(&reader.next_batch(0)?), [1]);
    log.truncate_through(30)?;
    // The open segment keeps reading; the deleted ones after it cannot be found.
    let mut result = reader.next_batch(usize::MAX);
    if matches!(&result, Ok(batch) if !batch.is_empty()) {
        result = reader.next_batch(usize::MAX);
    }
    assert!(
        matches!(result, Err(LogError::Truncated { .. })),
        "{result:?}"
    );
    Ok(())
}

#[test]
fn empty_active_segment_tells_next_seq() -> TestResult {
    // A segment with just a header: rotation created it, nothing was appended yet.
    let dir = tempfile::tempdir()?;
    segment::create_segment(dir.path(), 42)?;
    let log = Log::open(dir.path(), LogOptions::default())?;
    assert_eq!((log.last_seq(), log.durable_seq()), (41, 41));
    assert_eq!(log.append(&payload(42, 10))?, 42);
    log.sync(42)?;
    assert_records(&read_all(&mut log.reader(1)?)?, [42], 10);
    drop(log);

    // The header did not make it to disk: short, or the right size but zero-filled.
    for torn_header in [&b"PL"[..], &[0; FILE_HEADER_LEN as usize]] {
        let dir = tempfile::tempdir()?;
        fs::write(segment::segment_path(dir.path(), 77), torn_header)?;
        let log = Log::open(dir.path(), LogOptions::default())?;
        assert_eq!(log.last_seq(), 76);
        assert_eq!(log.append(&payload(77, 10))?, 77);
        log.sync(77)?;
        assert_records(&read_all(&mut log.reader(0)?)?, [77], 10);
    }
    Ok(())
}

#[test]
fn bad_header_in_last_segment_is_an_error() -> TestResult {
    let dir = tempfile::tempdir()?;
    fs::write(segment::segment_path(dir.path(), 1), [0u8; 32])?;
    assert!(matches!(
        Log::open(dir.path(), LogOptions::default()),
        Err(LogError::Corrupt { offset: 0, .. })
    ));
    Ok(())
}

#[test]
fn second_open_is_refused_while_the_first_lives() -> TestResult {
    let dir = tempfile::tempdir()?;
    let log = Log::open(dir.path(), LogOptions::default())?;
    assert!(matches!(
        Log::open(dir.path(), LogOptions::default()),
        Err(LogError::Locked { .. })
    ));
    drop(log);
    Log::open(dir.path(), LogOptions::default())?;
    Ok(())
}

#[test]
fn oversized_payload_is_rejected() -> TestResult {
    let dir = tempfile::tempdir()?;
    let log = Log::open(dir.path(), LogOptions::default())?;
    assert!(matches!(
        log.append(&vec![0; MAX_PAYLOAD_BYTES + 1]),
        Err(LogError::PayloadTooLarge { .. })
    ));
    assert_eq!(log.append(b"ok")?, 1);
    Ok(())
}

const THREADS: u64 = 8;
const PER_THREAD: u64 = 200;

/// Payload naming its writer, so each can be checked to appear exactly once.
fn tagged(thread: u64, i: u64) -> Vec<u8> {
    let mut tag = format!("{thread}:{i}:").into_bytes();
    tag.resize(64, b'.');
    tag
}

/// Checks that `records` are seqs 1..=THREADS*PER_THREAD and hold every tag exactly once, each
/// writer's in its own order.
fn assert_all_tags_once(records: &[Record]) {
    assert_eq!(
        seqs(records),
        (1..=THREADS * PER_THREAD).collect::<Vec<_>>()
    );
    let mut seen = HashSet::new();
    let mut next_per_thread = vec![0; THREADS as usize];
    for record in records {
        let text = String::from_utf8_lossy(&record.payload);
        let mut parts = text.split(':');
        let thread: usize = parts
            .next()
            .and_then(|t| t.parse().ok())
            .unwrap_or(usize::MAX);
        let i: u64 = parts
            .next()
            .and_then(|i| i.parse().ok())
            .unwrap_or(u64::MAX);
        assert_eq!(record.payload, tagged(thread as u64, i));
        assert!(seen.insert((thread, i)), "duplicate {thread}:{i}");
        assert_eq!(next_per_thread[thread], i, "thread {thread} out of order");
        next_per_thread[thread] += 1;
    }
}

#[test]
fn group_commit_shares_one_fdatasync_per_round() -> TestResult {
    let dir = tempfile::tempdir()?;
    let log = Arc::new(Log::open(dir.path(), LogOptions::default())?);
    let barrier = Arc::new(Barrier::new(THREADS as usize));
    let workers: Vec<_> = (0..THREADS)
        .map(|t| {
            let (log, barrier) = (Arc::clone(&log), Arc::clone(&barrier));
            thread::spawn(move || -> Result<(), LogError> {
                for i in 0..PER_THREAD {
                    let seq = log.append(&tagged(t, i))?;
                    // Everyone appends before anyone syncs, so one leader covers the round.
                    barrier.wait();
                    log.sync(seq)?;
                    assert!(log.durable_seq() >= seq);
                }
                Ok(())
            })
        })
        .collect();
    for worker in workers {
        worker.join().map_err(|_| "worker panicked")??;
    }
    // A round's appends all precede its leader's capture, and the next round's appends all
    // follow its fdatasync: exactly one per round instead of one per call.
    assert_eq!(log.sync_count(), PER_THREAD);
    assert_all_tags_once(&read_all(&mut log.reader(1)?)?);
    Ok(())
}

#[test]
fn concurrent_appends_with_live_reader() -> TestResult {
    let dir = tempfile::tempdir()?;
    // Small segments so rotation happens under concurrency too.
    let log = Arc::new(Log::open(dir.path(), options(16 << 10))?);
    let total = THREADS * PER_THREAD;
    let applier = {
        let log = Arc::clone(&log);
        thread::spawn(move || -> Result<Vec<Record>, LogError> {
            let mut reader = log.reader(1)?;
            let mut records: Vec<Record> = Vec::new();
            while (records.len() as u64) < total {
                let batch = reader.next_batch(4096)?;
                let durable = log.durable_seq();
                for record in &batch {
                    assert!(
                        record.seq <= durable,
                        "read {} > durable {durable}",
                        record.seq
                    );
                }
                if batch.is_empty() {
                    thread::yield_now();
                }
                records.extend(batch);
            }
            Ok(records)
        })
    };
    let workers: Vec<_> = (0..THREADS)
        .map(|t| {
            let log = Arc::clone(&log);
            thread::spawn(move || -> Result<(), LogError> {
                for i in 0..PER_THREAD {
                    let seq = log.append(&tagged(t, i))?;
                    log.sync(seq)?;
                    assert!(log.durable_seq() >= seq);
                }
                Ok(())
            })
        })
        .collect();
    for worker in workers {
        worker.join().map_err(|_| "worker panicked")??;
    }
    let records = applier.join().map_err(|_| "applier panicked")??;
    assert_all_tags_once(&records);
    assert!(segment_files(dir.path())?.len() > 5);
    assert!(
        log.sync_count() < total,
        "{} fdatasyncs for {total} syncs",
        log.sync_count()
    );
    Ok(())
}

#[tokio::test]
async fn subscribe_durable_publishes_progress() -> TestResult {
    let dir = tempfile::tempdir()?;
    let log = Arc::new(Log::open(dir.path(), LogOptions::default())?);
    let mut durable = log.subscribe_durable();
    let writer = {
        let log = Arc::clone(&log);
        tokio::task::spawn_blocking(move || -> Result<(), LogError> {
            for seq in 1..=10 {
                log.append(&payload(seq, 10))?;
                log.sync(seq)?;
            }
            Ok(())
        })
    };
    let mut last = 0;
    while last < 10 {
        durable.changed().await?;
        let now = *durable.borrow_and_update();
        assert!(now > last, "durable went from {last} to {now}");
        last = now;
    }
    writer.await??;
    assert_eq!(log.durable_seq(), 10);
    Ok(())
}

/// Writes `bytes` as a durable blob at `path`.
fn blob(path: &Path, bytes: &[u8]) -> std::io::Result<Blob> {
    let mut writer = BlobWriter::create(path)?;
    // In two writes, as callers stream them.
    let (a, b) = bytes.split_at(bytes.len() / 2);
    writer.write(a)?;
    writer.write(b)?;
    writer.finish()
}

fn blob_files(dir: &Path) -> std::io::Result<Vec<u64>> {
    segment::list_blobs(dir)
}

#[test]
fn blob_records_read_back_as_inline_then_blob_bytes() -> TestResult {
    let dir = tempfile::tempdir()?;
    let outside = tempfile::tempdir_in(dir.path())?;
    let log = Log::open(&dir.path().join("log"), LogOptions::default())?;
    log.append(&payload(1, 10))?;
    let body = payload(2, 300_000);
    let b = blob(&outside.path().join("batch.blob"), &body)?;
    assert_eq!(b.len(), 300_000);
    let before = log.disk_bytes();
    assert_eq!(log.append_blob(b"head:", &b)?, 2);
    log.append(&payload(3, 10))?;
    log.sync(3)?;
    assert!(
        !outside.path().join("batch.blob").exists(),
        "the log took the file"
    );
    assert_eq!(blob_files(&dir.path().join("log"))?, vec![2]);
    assert!(log.disk_bytes() >= before + 300_000);

    let records = read_all(&mut log.reader(1)?)?;
    assert_eq!(seqs(&records), vec![1, 2, 3]);
    assert_eq!(records[0].payload, payload(1, 10));
    assert_eq!(records[1].payload, [&b"head:"[..], &body].concat());
    assert_eq!(records[2].payload, payload(3, 10));

    // max_bytes counts the blob's bytes: a batch that has a record stops before the blob.
    let mut reader = log.reader(1)?;
    assert_eq!(seqs(&reader.next_batch(1_000)?), vec![1]);
    assert_eq!(seqs(&reader.next_batch(1_000)?), vec![2]);
    assert_eq!(seqs(&reader.next_batch(1_000)?), vec![3]);

    // And after a restart.
    drop(reader);
    drop(log);
    let log = Log::open(&dir.path().join("log"), LogOptions::default())?;
    assert_eq!(log.last_seq(), 3);
    let records = read_all(&mut log.reader(2)?)?;
    assert_eq!(records[0].payload, [&b"head:"[..], &body].concat());
    Ok(())
}

#[test]
fn blobs_go_with_their_truncated_segments() -> TestResult {
    let dir = tempfile::tempdir()?;
    let log = Log::open(dir.path(), options(512))?;
    for seq in 1..=20u64 {
        if seq % 2 == 0 {
            let b = blob(&dir.path().join("pending.blob"), &payload(seq, 1000))?;
            assert_eq!(log.append_blob(b"", &b)?, seq);
        } else {
            log.append(&payload(seq, 100))?;
        }
    }
    log.sync(20)?;
    assert_eq!(
        blob_files(dir.path())?,
        (2..=20).step_by(2).collect::<Vec<_>>()
    );
    let mut lagging = log.reader(1)?;
    assert_eq!(seqs(&lagging.next_batch(1)?), vec![1]);

    log.truncate_through(10)?;
    let oldest = segment::list_segments(dir.path())?[0];
    assert!(oldest > 2 && oldest <= 11);
    let kept = blob_files(dir.path())?;
    assert!(
        kept.iter().all(|&seq| seq >= oldest),
        "{kept:?} from {oldest}"
    );
    assert_eq!(kept.last(), Some(&20));
    let records = read_all(&mut log.reader(oldest)?)?;
    assert_eq!(records.len() as u64, 21 - oldest);
    for r in records.iter().filter(|r| r.seq % 2 == 0) {
        assert_eq!(r.payload, payload(r.seq, 1000));
    }
    // A reader that had the old segment open finds its blob gone: truncated, not corrupt.
    assert!(matches!(
        lagging.next_batch(usize::MAX),
        Err(LogError::Truncated { seq: 2 })
    ));
    Ok(())
}

#[test]
fn open_deletes_blobs_no_record_names() -> TestResult {
    let dir = tempfile::tempdir()?;
    {
        let log = Log::open(dir.path(), LogOptions::default())?;
        let b = blob(&dir.path().join("a.blob"), b"[1]")?;
        log.append_blob(b"", &b)?;
        log.sync(1)?;
    }
    // As if a crash came after an append moved its blob in but before its record was written.
    fs::write(segment::blob_path(dir.path(), 2), b"orphan")?;
    let log = Log::open(dir.path(), LogOptions::default())?;
    assert_eq!(blob_files(dir.path())?, vec![1]);
    assert_eq!(log.last_seq(), 1);
    // The seq is free for the next append.
    let b = blob(&dir.path().join("b.blob"), b"[2]")?;
    assert_eq!(log.append_blob(b"x", &b)?, 2);
    log.sync(2)?;
    let records = read_all(&mut log.reader(1)?)?;
    assert_eq!(records[1].payload, b"x[2]");
    Ok(())
}

#[test]
fn damaged_or_missing_blob_is_an_error() -> TestResult {
    let dir = tempfile::tempdir()?;
    let log = Log::open(dir.path(), LogOptions::default())?;
    for _ in 0..2 {
        let b = blob(&dir.path().join("p.blob"), &payload(7, 5000))?;
        log.append_blob(b"", &b)?;
    }
    log.sync(2)?;
    let first = segment::blob_path(dir.path(), 1);
    let file = OpenOptions::new().write(true).open(&first)?;
    file.write_all_at(b"\xff", 100)?;
    let error = log.reader(1)?.next_batch(usize::MAX).unwrap_err();
    assert!(
        matches!(&error, LogError::Corrupt { reason, .. } if reason.contains("checksum")),
        "{error}"
    );
    fs::remove_file(segment::blob_path(dir.path(), 2))?;
    let error = log.reader(2)?.next_batch(usize::MAX).unwrap_err();
    assert!(
        matches!(&error, LogError::Corrupt { reason, .. } if reason.contains("missing")),
        "{error}"
    );
    Ok(())
}

#[test]
fn blob_writer_never_writes_through_an_old_name() -> TestResult {
    let dir = tempfile::tempdir()?;
    let log = Log::open(dir.path(), LogOptions::default())?;
    let path = dir.path().join("batch.blob");
    let b = blob(&path, b"[\"kept\"]")?;
    log.append_blob(b"", &b)?;
    log.sync(1)?;
    // After a crash the old name can still link to the file the log took.
    fs::hard_link(segment::blob_path(dir.path(), 1), &path)?;
    blob(&path, b"[\"new\"]")?;
    let records = read_all(&mut log.reader(1)?)?;
    assert_eq!(records[0].payload, b"[\"kept\"]");
    Ok(())
}

#[test]
fn oversized_blob_is_rejected_and_left_with_its_writer() -> TestResult {
    let dir = tempfile::tempdir()?;
    let log = Log::open(dir.path(), LogOptions::default())?;
    let b = Blob {
        path: dir.path().join("big.blob"),
        len: MAX_PAYLOAD_BYTES as u64,
        crc: 0,
    };
    assert!(matches!(
        log.append_blob(b"x", &b),
        Err(LogError::PayloadTooLarge { .. })
    ));
    assert_eq!(log.last_seq(), 0);
    Ok(())
}

#[test]
fn blob_bytes_count_towards_sealing_a_segment_even_across_reopen() -> TestResult {
    let dir = tempfile::tempdir()?;
    let append_blobs = |log: &Log, count: u64| -> TestResult {
        for _ in 0..count {
            let b = blob(&dir.path().join("p.blob"), &[7u8; 4000])?;
            log.append_blob(b"", &b)?;
        }
        log.sync(log.last_seq())?;
        Ok(())
    };
    {
        let log = Log::open(dir.path(), options(10_000))?;
        // Records of a few bytes each: only their blobs fill the segments.
        append_blobs(&log, 5)?;
        assert_eq!(segment::list_segments(dir.path())?, vec![1, 4]);
        log.truncate_through(5)?;
        assert_eq!(
            blob_files(dir.path())?,
            vec![4, 5],
            "the sealed segment's blobs went"
        );
        assert_eq!(
            log.disk_bytes(),
            size_on_disk(dir.path())? + 2 * 4000,
            "disk bytes count the blobs kept"
        );
    }
    let log = Log::open(dir.path(), options(10_000))?;
    append_blobs(&log, 2)?;
    // The reopened log knew its active segment held 8,000 bytes of blobs.
    assert_eq!(segment::list_segments(dir.path())?, vec![4, 7]);
    Ok(())
}
