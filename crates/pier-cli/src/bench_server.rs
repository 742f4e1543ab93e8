//! What every `pier bench` shares: the server under test (this binary's `pier serve` on a
//! private loopback port), and readings of a process and the machine from /proc.

use crate::client::{Client, Connection};
use anyhow::{Context, bail};
use indicatif::{ProgressBar, ProgressStyle};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

/// The server under test; killed when dropped.
pub struct Server {
    /// The `pier serve` process.
    pub child: std::process::Child,
    /// Its data dir.
    pub data_dir: PathBuf,
    _temp: Option<tempfile::TempDir>,
}

impl Server {
    /// Stops the server with SIGTERM (it commits and exits), SIGKILL after 20 s.
    pub fn stop(&mut self) {
        let _ = std::process::Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status();
        let deadline = Instant::now() + Duration::from_secs(20);
        while Instant::now() < deadline {
            if let Ok(Some(_)) = self.child.try_wait() {
                return;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A spinner with a message, for waits of unknown length.
pub fn spinner(message: String) -> ProgressBar {
    let pb = ProgressBar::new_spinner();
    pb.set_style(
        ProgressStyle::with_template("{spinner} [{elapsed_precise}] {msg}").expect("template"),
    );
    pb.set_message(message);
    pb.enable_steady_tick(Duration::from_millis(200));
    pb
}

/// Starts `pier serve` with `args` on `data_dir` (a temporary dir when None; an existing dir
/// keeps its data and access key), and waits until it is ready (log replayed).
pub async fn start_server(
    data_dir: Option<&Path>,
    args: &[String],
) -> anyhow::Result<(Server, Client)> {
    let (data_dir, temp) = match data_dir {
        Some(d) => {
            std::fs::create_dir_all(d)
                .with_context(|| format!("creating data dir {}", d.display()))?;
            (d.to_path_buf(), None)
        }
        None => {
            let t = tempfile::tempdir()?;
            (t.path().to_path_buf(), Some(t))
        }
    };
    let keys = pier_engine::KeyStore::open(&data_dir)?;
    let key = match keys.list().into_iter().find(|k| !k.revoked) {
        Some(k) => (k.id, k.secret),
        None => {
            let k = keys.create(Some("bench".into()))?;
            (k.id, k.secret)
        }
    };
    drop(keys);
    let port = std::net::TcpListener::bind("127.0.0.1:0")?
        .local_addr()?
        .port();
    let child = std::process::Command::new(std::env::current_exe()?)
        .args(["serve", "--listen", &format!("127.0.0.1:{port}")])
        .args(args)
        .arg("--data-dir")
        .arg(&data_dir)
        // Quiet unless the caller asks for the server's logs (PIER_LOG=info, say).
        .env(
            "PIER_LOG",
            std::env::var("PIER_LOG").unwrap_or_else(|_| "warn".into()),
        )
        .spawn()
        .context("starting the server")?;
    let server = Server {
        child,
        data_dir,
        _temp: temp,
    };
    let conn = Connection::to(format!("http://127.0.0.1:{port}"), key.0, key.1);
    let client = conn.client()?;
    let deadline = Instant::now() + Duration::from_secs(600);
    let pb = spinner("starting the server (replaying its log)".into());
    loop {
        let ready = reqwest::get(format!("{}/ready", client.endpoint)).await;
        if ready.is_ok_and(|r| r.status().is_success()) {
            break;
        }
        if Instant::now() > deadline {
            bail!("the server did not become ready within 600 s");
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    pb.finish_and_clear();
    Ok((server, client))
}

/// CPU seconds the process has used (user + system), from /proc (clock ticks of 1/100 s).
pub fn cpu_seconds(pid: u32) -> Option<f64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let rest = &stat[stat.rfind(')')? + 2..];
    let f: Vec<&str> = rest.split_whitespace().collect();
    let ticks: u64 = f.get(11)?.parse::<u64>().ok()? + f.get(12)?.parse::<u64>().ok()?;
    Some(ticks as f64 / 100.0)
}

/// A line of /proc/PID/status in bytes, e.g. `VmRSS` (all resident memory), `VmHWM` (its peak)
/// or `RssAnon` (heap and stacks, without the index files mapped into memory).
pub fn proc_status_bytes(pid: u32, field: &str) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let line = status
        .lines()
        .find(|l| l.starts_with(field) && l[field.len()..].starts_with(':'))?;
    Some(line.split_whitespace().nth(1)?.parse::<u64>().ok()? * 1024)
}

/// The `p` quantile (0..=1) of sorted values.
pub fn percentile(sorted: &[f64], p: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    sorted[((sorted.len() as f64 - 1.0) * p).round() as usize]
}

/// Cores, CPU model and memory of this machine, for the report.
pub fn machine() -> String {
    let cpu = std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|c| {
            c.lines()
                .find(|l| l.starts_with("model name"))
                .map(|l| l.split(':').nth(1).unwrap_or("").trim().to_string())
        })
        .unwrap_or_default();
    let mem = std::fs::read_to_string("/proc/meminfo")
        .ok()
        .and_then(|m| {
            m.lines()
                .next()
                .and_then(|l| l.split_whitespace().nth(1))
                .and_then(|k| k.parse::<u64>().ok())
        })
        .map(|kb| kb / 1024 / 1024)
        .unwrap_or(0);
    let cores = std::thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(0);
    format!("{cores} cores ({cpu}), {mem} GiB RAM")
}

/// The 1-minute load average.
pub fn load_average() -> f64 {
    std::fs::read_to_string("/proc/loadavg")
        .ok()
        .and_then(|l| l.split_whitespace().next()?.parse().ok())
        .unwrap_or(f64::NAN)
}
