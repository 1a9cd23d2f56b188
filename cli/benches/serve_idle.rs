//! What an always-on `pigeonhole serve` costs the laptop that runs it:
//! resident memory and CPU over a window (60 s by default), once with no
//! phones (the baseline, same run) and once with 4 phones each running
//! `pigeonhole sync` against it every 30 s. Prints a table.
//!
//! `cargo bench -p pigeonhole-cli --bench serve_idle`
//! (`PIGEONHOLE_BENCH_SECS=N` changes the window). Linux only: it reads
//! /proc.

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

const PHONES: usize = 4;
const SYNC_EVERY: Duration = Duration::from_secs(30);

struct Sample {
    label: &'static str,
    secs: f64,
    cpu_percent: f64,
    rss_end_kib: u64,
    rss_peak_kib: u64,
    syncs: usize,
}

fn bin() -> &'static str {
    env!("CARGO_BIN_EXE_pigeonhole")
}

fn cpu_ticks(pid: u32) -> u64 {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).expect("read stat");
    // Fields after the command name (which may hold spaces) start at ") ".
    let rest = &stat[stat.rfind(')').expect("comm") + 2..];
    let fields: Vec<&str> = rest.split_whitespace().collect();
    // utime and stime are fields 14 and 15 of the line, 12 and 13 here.
    fields[11].parse::<u64>().expect("utime") + fields[12].parse::<u64>().expect("stime")
}

fn rss_kib(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).expect("read status");
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.split_whitespace().next())
        .and_then(|v| v.parse().ok())
        .expect("VmRSS")
}

fn clock_ticks_per_sec() -> f64 {
    Command::new("getconf")
        .arg("CLK_TCK")
        .output()
        .ok()
        .and_then(|o| String::from_utf8(o.stdout).ok())
        .and_then(|s| s.trim().parse().ok())
        .unwrap_or(100.0)
}

fn start_serve(dir: &std::path::Path) -> (Child, String) {
    let mut child = Command::new(bin())
        .args([
            "--json",
            "--no-mdns",
            "--listen",
            "/ip4/127.0.0.1/tcp/0",
            "--data-dir",
        ])
        .arg(dir)
        .arg("serve")
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("spawn serve");
    let mut line = String::new();
    BufReader::new(child.stdout.take().expect("stdout"))
        .read_line(&mut line)
        .expect("ready line");
    let ready: serde_json::Value = serde_json::from_str(&line).expect("ready JSON");
    let addr = ready["listen_addrs"][0]
        .as_str()
        .expect("address")
        .to_string();
    (child, addr)
}

fn pigeonhole(dir: &std::path::Path, args: &[&str]) -> Command {
    let mut command = Command::new(bin());
    command
        .args([
            "--no-mdns",
            "--listen",
            "/ip4/127.0.0.1/tcp/0",
            "--data-dir",
        ])
        .arg(dir)
        .args(args)
        .stdout(Stdio::null())
        .stderr(Stdio::null());
    command
}

fn measure(label: &'static str, phones: usize, window: Duration) -> Sample {
    let root = tempfile::tempdir().expect("temp dir");
    let (mut serve, addr) = start_serve(&root.path().join("laptop"));
    let pid = serve.id();
    let phone_dirs: Vec<_> = (0..phones)
        .map(|i| root.path().join(format!("phone{i}")))
        .collect();
    for (i, dir) in phone_dirs.iter().enumerate() {
        let status = pigeonhole(dir, &["profile", &format!("Phone {i}")])
            .status()
            .expect("profile");
        assert!(status.success());
    }
    let started = Instant::now();
    let ticks_before = cpu_ticks(pid);
    let mut peak = rss_kib(pid);
    let mut next_sync = started;
    let mut syncs = 0;
    while started.elapsed() < window {
        if phones > 0 && Instant::now() >= next_sync {
            let running: Vec<Child> = phone_dirs
                .iter()
                .map(|dir| {
                    pigeonhole(dir, &["--peer", &addr, "sync"])
                        .spawn()
                        .expect("spawn sync")
                })
                .collect();
            for mut child in running {
                assert!(
                    child.wait().expect("sync").success(),
                    "a phone's sync failed"
                );
                syncs += 1;
            }
            next_sync += SYNC_EVERY;
        }
        peak = peak.max(rss_kib(pid));
        std::thread::sleep(Duration::from_millis(500));
    }
    let secs = started.elapsed().as_secs_f64();
    let cpu = (cpu_ticks(pid) - ticks_before) as f64 / clock_ticks_per_sec();
    let rss_end = rss_kib(pid);
    let _ = Command::new("kill").arg(pid.to_string()).status();
    let _ = serve.wait();
    Sample {
        label,
        secs,
        cpu_percent: 100.0 * cpu / secs,
        rss_end_kib: rss_end,
        rss_peak_kib: peak.max(rss_end),
        syncs,
    }
}

fn main() {
    // `cargo bench` passes --bench; `cargo test --benches` passes nothing
    // of the kind and must not sit here for two minutes.
    if !std::env::args().any(|a| a == "--bench") {
        println!("serve_idle: run with `cargo bench -p pigeonhole-cli --bench serve_idle`");
        return;
    }
    let window = Duration::from_secs(
        std::env::var("PIGEONHOLE_BENCH_SECS")
            .ok()
            .and_then(|s| s.parse().ok())
            .unwrap_or(60),
    );
    let samples = [
        measure("serve, no phones (baseline)", 0, window),
        measure("serve, 4 phones syncing every 30 s", PHONES, window),
    ];
    println!(
        "\n{:<38} {:>7} {:>7} {:>11} {:>12} {:>6}",
        "case", "secs", "CPU %", "RSS end KiB", "RSS peak KiB", "syncs"
    );
    for s in &samples {
        println!(
            "{:<38} {:>7.1} {:>7.2} {:>11} {:>12} {:>6}",
            s.label, s.secs, s.cpu_percent, s.rss_end_kib, s.rss_peak_kib, s.syncs
        );
    }
}
