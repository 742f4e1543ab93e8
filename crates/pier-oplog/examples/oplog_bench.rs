//! Group-commit throughput: 8 threads each append a record and sync it, in a loop.
//!
//! `cargo run --release -p pier-oplog --example oplog_bench -- [RECORDS_PER_THREAD] [RECORD_BYTES] [DIR]`
//! (defaults: 32 records of 1 MiB per thread, in a temp dir). Prints append+sync throughput,
//! how many fdatasyncs served how many sync calls, then read-back throughput.

use std::error::Error;
use std::path::PathBuf;
use std::sync::Arc;
use std::thread;
use std::time::Instant;

use pier_oplog::{Log, LogError, LogOptions};

const THREADS: usize = 8;

fn main() -> Result<(), Box<dyn Error>> {
    let mut args = std::env::args().skip(1);
    let per_thread: usize = args.next().map_or(Ok(32), |a| a.parse())?;
    let record_bytes: usize = args.next().map_or(Ok(1 << 20), |a| a.parse())?;
    let temp = tempfile::tempdir()?;
    let dir = args
        .next()
        .map_or_else(|| temp.path().to_path_buf(), PathBuf::from);

    let log = Arc::new(Log::open(&dir, LogOptions::default())?);
    let start = Instant::now();
    let workers: Vec<_> = (0..THREADS)
        .map(|t| {
            let log = Arc::clone(&log);
            thread::spawn(move || -> Result<(), LogError> {
                let payload = vec![t as u8; record_bytes];
                for _ in 0..per_thread {
                    let seq = log.append(&payload)?;
                    log.sync(seq)?;
                }
                Ok(())
            })
        })
        .collect();
    for worker in workers {
        worker.join().map_err(|_| "worker panicked")??;
    }
    let elapsed = start.elapsed().as_secs_f64();
    let records = THREADS * per_thread;
    let mb = (records * record_bytes) as f64 / 1e6;
    println!(
        "append+sync: {records} records x {record_bytes} B from {THREADS} threads in {elapsed:.2} s: \
         {:.1} MB/s, {:.0} records/s",
        mb / elapsed,
        records as f64 / elapsed
    );
    println!(
        "fdatasyncs: {} for {records} sync calls (includes segment seals); {} MB on disk",
        log.sync_count(),
        log.disk_bytes() / 1_000_000
    );

    let start = Instant::now();
    let mut reader = log.reader(1)?;
    let mut read = 0;
    loop {
        let batch = reader.next_batch(8 << 20)?;
        if batch.is_empty() {
            break;
        }
        read += batch.len();
    }
    let elapsed = start.elapsed().as_secs_f64();
    println!(
        "read back: {read} records in {elapsed:.2} s: {:.1} MB/s",
        mb / elapsed
    );
    Ok(())
}
