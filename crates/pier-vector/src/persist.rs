//! Checkpoints: one self-describing file per index, written atomically.
//!
//! Layout (little-endian):
//!
//! ```text
//! magic      8 bytes  "PIERVEC1"
//! header     HEADER_LEN bytes: dimension u32, metric u8, storage u8, pad u16, m u32,
//!            ef_construction u32, ef_search u32, linear_build_threshold u64,
//!            key_count u64, vector_count u64, blob_len u64
//! registry   key_count x (key u64, generation u8, count u8)
//! blob       blob_len bytes: the usearch index (`save_to_buffer`)
//! crc32      u32 over everything before it
//! ```
//!
//! Why one file: the engine records "index covers log position P" next to it, and two files
//! (graph + registry) could not be replaced atomically together. usearch streams the blob to a
//! scratch file, which is then copied behind the header in 1 MiB chunks, so saving never holds
//! the index a second time in memory (about 1 GB at 1M x 384-d f16). An earlier version wrote
//! into a memory map of the whole file instead: no heap copy, but every written page counted in
//! the process's resident memory until the save ended (+0.8 GiB at 1M). Then fsync, rename over
//! the old file, fsync the directory: a crash leaves either the old or the new checkpoint, never
//! a torn one.

use std::collections::HashMap;
use std::fs::File;
use std::io::{BufWriter, Read, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::Ordering;

use crate::{Entry, Metric, Result, Storage, VectorError, VectorIndex, VectorParams};

const MAGIC: &[u8; 8] = b"PIERVEC1";
const HEADER_LEN: usize = 4 + 1 + 1 + 2 + 4 + 4 + 4 + 8 + 8 + 8 + 8;
const ENTRY_LEN: usize = 10;

fn io_err(path: &Path) -> impl FnOnce(std::io::Error) -> VectorError + '_ {
    move |source| VectorError::Io {
        path: path.to_path_buf(),
        source,
    }
}

fn corrupt(path: &Path, reason: impl Into<String>) -> VectorError {
    VectorError::Corrupt {
        path: path.to_path_buf(),
        reason: reason.into(),
    }
}

fn metric_code(m: Metric) -> u8 {
    match m {
        Metric::L2 => 0,
        Metric::InnerProduct => 1,
        Metric::Cosine => 2,
    }
}

fn storage_code(s: Storage) -> u8 {
    match s {
        Storage::F32 => 0,
        Storage::F16 => 1,
        Storage::I8 => 2,
    }
}

/// Suffixes of the scratch files of a save in progress (followed by the process id).
const SCRATCH_SUFFIXES: [&str; 2] = [".tmp-", ".graph-tmp-"];

/// The checkpoint being written, renamed over `path` once complete.
fn tmp_path(path: &Path) -> PathBuf {
    scratch_path(path, SCRATCH_SUFFIXES[0])
}

/// Where usearch streams the graph before it is copied into the checkpoint.
fn blob_tmp_path(path: &Path) -> PathBuf {
    scratch_path(path, SCRATCH_SUFFIXES[1])
}

fn scratch_path(path: &Path, suffix: &str) -> PathBuf {
    let mut name = path.file_name().unwrap_or_default().to_os_string();
    name.push(format!("{suffix}{}", std::process::id()));
    path.with_file_name(name)
}

/// Removes the scratch files that saves into `dir` left when their process died mid-save (a
/// checkpoint is only ever replaced by rename, so they are never needed); returns how many.
/// Call it before anything saves into `dir`.
pub fn remove_interrupted_saves(dir: &Path) -> std::io::Result<usize> {
    let mut removed = 0;
    for entry in std::fs::read_dir(dir)? {
        let entry = entry?;
        let name = entry.file_name();
        let name = name.to_string_lossy();
        let scratch = SCRATCH_SUFFIXES.iter().any(|suffix| {
            name.rsplit_once(suffix)
                .is_some_and(|(_, pid)| !pid.is_empty() && pid.bytes().all(|b| b.is_ascii_digit()))
        });
        if scratch && entry.file_type()?.is_file() {
            std::fs::remove_file(entry.path())?;
            removed += 1;
        }
    }
    Ok(removed)
}

struct Reader<'a> {
    buf: &'a [u8],
    pos: usize,
}

impl Reader<'_> {
    fn take<const N: usize>(&mut self) -> [u8; N] {
        let mut out = [0u8; N];
        out.copy_from_slice(&self.buf[self.pos..self.pos + N]);
        self.pos += N;
        out
    }
    fn u8(&mut self) -> u8 {
        self.take::<1>()[0]
    }
    fn u16(&mut self) -> u16 {
        u16::from_le_bytes(self.take())
    }
    fn u32(&mut self) -> u32 {
        u32::from_le_bytes(self.take())
    }
    fn u64(&mut self) -> u64 {
        u64::from_le_bytes(self.take())
    }
}

impl VectorIndex {
    /// Writes a checkpoint to `path` atomically (temporary file, fsync, rename, fsync of the
    /// directory). Searches continue meanwhile; writers wait.
    pub fn save(&self, path: impl AsRef<Path>) -> Result<()> {
        let path = path.as_ref();
        let _w = self.writer.lock();
        let tmp = tmp_path(path);
        let blob_tmp = blob_tmp_path(path);
        let result = (|| -> Result<()> {
            // Under the read locks: the header (with the key registry) and the graph, which
            // usearch streams to a file of its own.
            let (head, blob_len) = {
                let graph = self.graph.read();
                let keys = self.keys.read();
                let blob_len = graph.index.serialized_length();
                let head = self.checkpoint_head(&keys, blob_len);
                let blob_path = blob_tmp
                    .to_str()
                    .ok_or_else(|| corrupt(&blob_tmp, "the checkpoint path is not valid UTF-8"))?;
                graph.index.save(blob_path)?;
                (head, blob_len as u64)
            };
            // Then the checkpoint: header, graph copied in 1 MiB chunks, checksum.
            let mut blob = File::open(&blob_tmp).map_err(io_err(&blob_tmp))?;
            let written = blob.metadata().map_err(io_err(&blob_tmp))?.len();
            if written != blob_len {
                return Err(corrupt(
                    &blob_tmp,
                    format!("usearch wrote {written} bytes, {blob_len} expected"),
                ));
            }
            let file = File::create(&tmp).map_err(io_err(&tmp))?;
            let mut out = BufWriter::with_capacity(1 << 20, file);
            let mut crc = crc32fast::Hasher::new();
            out.write_all(&head).map_err(io_err(&tmp))?;
            crc.update(&head);
            let mut chunk = vec![0u8; 1 << 20];
            loop {
                let n = blob.read(&mut chunk).map_err(io_err(&blob_tmp))?;
                if n == 0 {
                    break;
                }
                crc.update(&chunk[..n]);
                out.write_all(&chunk[..n]).map_err(io_err(&tmp))?;
            }
            out.write_all(&crc.finalize().to_le_bytes())
                .map_err(io_err(&tmp))?;
            let file = out.into_inner().map_err(|e| io_err(&tmp)(e.into_error()))?;
            file.sync_all().map_err(io_err(&tmp))?;
            Ok(())
        })();
        let _ = std::fs::remove_file(&blob_tmp);
        if let Err(e) = result {
            let _ = std::fs::remove_file(&tmp);
            return Err(e);
        }
        std::fs::rename(&tmp, path).map_err(io_err(path))?;
        let dir = match path.parent() {
            Some(d) if !d.as_os_str().is_empty() => d,
            _ => Path::new("."),
        };
        // Make the rename itself durable.
        File::open(dir)
            .and_then(|d| d.sync_all())
            .map_err(io_err(dir))?;
        Ok(())
    }

    /// The checkpoint's magic, header and key registry.
    fn checkpoint_head(&self, keys: &HashMap<u64, Entry>, blob_len: usize) -> Vec<u8> {
        let mut head = Vec::with_capacity(MAGIC.len() + HEADER_LEN + keys.len() * ENTRY_LEN);
        let p = &self.params;
        head.extend_from_slice(MAGIC);
        head.extend_from_slice(&(p.dimension as u32).to_le_bytes());
        head.push(metric_code(p.metric));
        head.push(storage_code(p.storage));
        head.extend_from_slice(&0u16.to_le_bytes());
        head.extend_from_slice(&(p.m as u32).to_le_bytes());
        head.extend_from_slice(&(p.ef_construction as u32).to_le_bytes());
        head.extend_from_slice(&(p.ef_search as u32).to_le_bytes());
        head.extend_from_slice(&(p.linear_build_threshold as u64).to_le_bytes());
        head.extend_from_slice(&(keys.len() as u64).to_le_bytes());
        head.extend_from_slice(&(self.vectors.load(Ordering::Relaxed) as u64).to_le_bytes());
        head.extend_from_slice(&(blob_len as u64).to_le_bytes());
        for (key, e) in keys.iter() {
            head.extend_from_slice(&key.to_le_bytes());
            head.push(e.generation);
            head.push(e.count);
        }
        head
    }

    /// Loads a checkpoint written by [`VectorIndex::save`]. The parameters come from the file.
    pub fn load(path: impl AsRef<Path>) -> Result<VectorIndex> {
        let path = path.as_ref();
        let file = File::open(path).map_err(io_err(path))?;
        // SAFETY: checkpoints are only replaced by rename, never modified in place, so the
        // mapped file does not change under us.
        let map = unsafe { memmap2::Mmap::map(&file) }.map_err(io_err(path))?;
        let min = MAGIC.len() + HEADER_LEN + 4;
        if map.len() < min || &map[..MAGIC.len()] != MAGIC {
            return Err(corrupt(path, "not a pier vector index checkpoint"));
        }
        let body = map.len() - 4;
        let stored = u32::from_le_bytes(map[body..].try_into().expect("4 bytes"));
        if crc32fast::hash(&map[..body]) != stored {
            return Err(corrupt(path, "checksum mismatch"));
        }
        let mut r = Reader {
            buf: &map[..body],
            pos: MAGIC.len(),
        };
        let dimension = r.u32() as usize;
        let metric = match r.u8() {
            0 => Metric::L2,
            1 => Metric::InnerProduct,
            2 => Metric::Cosine,
            m => return Err(corrupt(path, format!("unknown metric code {m}"))),
        };
        let storage = match r.u8() {
            0 => Storage::F32,
            1 => Storage::F16,
            2 => Storage::I8,
            s => return Err(corrupt(path, format!("unknown storage code {s}"))),
        };
        let _pad = r.u16();
        let params = VectorParams {
            dimension,
            metric,
            storage,
            m: r.u32() as usize,
            ef_construction: r.u32() as usize,
            ef_search: r.u32() as usize,
            linear_build_threshold: r.u64() as usize,
        };
        let key_count = r.u64() as usize;
        let vector_count = r.u64() as usize;
        let blob_len = r.u64() as usize;
        let expected = key_count
            .checked_mul(ENTRY_LEN)
            .and_then(|n| n.checked_add(r.pos))
            .and_then(|n| n.checked_add(blob_len));
        if expected != Some(body) {
            return Err(corrupt(
                path,
                "section lengths do not add up to the file size",
            ));
        }
        let index = VectorIndex::create(params, false).map_err(|e| corrupt(path, e.to_string()))?;
        {
            let mut keys = index.keys.write();
            keys.reserve(key_count);
            for _ in 0..key_count {
                let key = r.u64();
                let generation = r.u8();
                let count = r.u8();
                keys.insert(key, Entry { generation, count });
            }
        }
        {
            let mut g = index.graph.write();
            g.index
                .load_from_buffer(&map[r.pos..r.pos + blob_len])
                .map_err(|e| corrupt(path, e.what().to_string()))?;
            if g.index.dimensions() != dimension {
                return Err(corrupt(path, "graph dimension differs from the header"));
            }
            // Loading resets limits; restore the search contexts and some headroom.
            let cap = g.index.size().max(1) * 5 / 4 + 1024;
            g.index
                .reserve_capacity_and_threads(cap, crate::MAX_CONCURRENT_OPS)?;
            g.index.change_expansion_add(index.params.ef_construction);
            g.index.change_expansion_search(*index.ef.read());
            g.kernel = crate::install_kernels(&mut g.index, &index.params);
        }
        index.vectors.store(vector_count, Ordering::Relaxed);
        Ok(index)
    }
}
