//! The user's calls during a connection flood, next to the same calls with
//! no attacker, in one run (issue 11: app calls p99 under 1 s).
//!
//! `cargo bench -p pigeonhole-node --bench conn_flood` prints one table. Three
//! loopback nodes (the victim on a real SQLite file); the flood is the one
//! of `tests/load_limits.rs`: 250 fresh identities opening 500 connections
//! over 3 s and 10,000 parallel junk puts (8,000 validly signed, 2,000 of
//! 256 KiB). Rows: the victim's own publishes (its app's calls: local
//! store, then the replicas) and an honest peer's publishes into a mailbox
//! the victim replicates; "delivered" is the share of honest publishes a
//! third node can read afterwards, "held by victim" the share the flooded
//! node itself stored (a busy victim is skipped by the writer, which is
//! the design); "app read" is the victim app reading its own inbox after
//! each publish (a sync's listing read). Count:
//! `PIGEONHOLE_BENCH_FLOOD_PUBLISHES` (40 per phase).
//!
//! Where the flooder runs: an attacker on the Wi-Fi is another device, with
//! its own CPU. By default the flood therefore runs in a child process (this
//! same binary, re-run with `PIGEONHOLE_FLOODER_TARGET` set) pinned with
//! `taskset` to CPU `PIGEONHOLE_BENCH_FLOODER_CPU` (default 1), while the
//! three honest nodes share this process (not pinned, so they still meet
//! the flooder on its CPU). `PIGEONHOLE_BENCH_FLOODER=thread` runs the flood
//! on a thread of this process instead (the old setup: attacker and victim
//! on the same cores), for comparison.

#[path = "../../core/tests/common/mod.rs"]
mod common;
#[path = "../tests/conn_flood/mod.rs"]
mod conn_flood;
use conn_flood as flood;
#[path = "../tests/support/mod.rs"]
mod support;

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use common::*;
use flood::*;
use pigeonhole::record::MailboxId;
use pigeonhole_node::{Node, NodeConfig};
use support::*;

struct Phase {
    app: Vec<Duration>,
    /// The victim app's reads of its own inbox (a sync's listing read).
    reads: Vec<Duration>,
    reads_ok: usize,
    honest: Vec<Duration>,
    honest_ok: usize,
    app_ok: usize,
    keys: Vec<pigeonhole::record::DhtKey>,
}

fn pct(times: &[Duration], p: usize) -> f64 {
    let mut sorted = times.to_vec();
    sorted.sort();
    if sorted.is_empty() {
        return f64::NAN;
    }
    sorted[(sorted.len() * p / 100).min(sorted.len() - 1)].as_secs_f64() * 1e3
}

async fn run_phase(
    victim: &Node,
    writer: &Node,
    clock: &std::sync::Arc<pigeonhole::clock::ManualClock>,
    (app_inbox, honest_inbox): (MailboxId, MailboxId),
    count: usize,
    seed_base: u8,
    until: impl Fn() -> bool,
) -> Phase {
    let app = mailbox(victim, clock);
    let other = mailbox(writer, clock);
    let mut phase = Phase {
        app: Vec::new(),
        reads: Vec::new(),
        reads_ok: 0,
        honest: Vec::new(),
        honest_ok: 0,
        app_ok: 0,
        keys: Vec::new(),
    };
    for i in 0..count {
        if until() {
            break;
        }
        let seed = seed_base.wrapping_add(i as u8);
        let begun = Instant::now();
        let published = tokio::time::timeout(
            Duration::from_secs(30),
            app.publish(&identity(seed), request_draft(app_inbox, DAY)),
        )
        .await;
        phase.app.push(begun.elapsed());
        if begun.elapsed() > Duration::from_secs(1) {
            tracing::warn!(took = ?begun.elapsed(), "slow app publish");
        }
        phase.app_ok += usize::from(matches!(published, Ok(Ok(_))));
        let begun = Instant::now();
        let read =
            tokio::time::timeout(Duration::from_secs(30), app.fetch_within(app_inbox, DAY)).await;
        phase.reads.push(begun.elapsed());
        phase.reads_ok += usize::from(matches!(read, Ok(Ok(_))));
        let begun = Instant::now();
        let published = tokio::time::timeout(
            Duration::from_secs(30),
            other.publish(&identity(seed), request_draft(honest_inbox, DAY)),
        )
        .await;
        phase.honest.push(begun.elapsed());
        if let Ok(Ok(record)) = published {
            phase.honest_ok += 1;
            phase.keys.push(record.dht_key());
        }
    }
    phase
}

/// The environment variable that makes this binary the flooder: the
/// target's peer id and address, separated by a space.
const FLOODER_TARGET: &str = "PIGEONHOLE_FLOODER_TARGET";

/// The counts of a flood, in the order the child prints them
/// ([`FloodCounts::tallies`]).
const COUNT_FIELDS: usize = 6;

fn counts_line(counts: &FloodCounts) -> String {
    counts
        .tallies()
        .map(|n| n.load(Ordering::Relaxed).to_string())
        .join(" ")
}

/// The child's side: floods the target, prints `started` once the first
/// put is out, then the final counts, and exits.
fn run_flooder(target: &str) {
    let (peer, addr) = target.split_once(' ').expect("peer id and address");
    let (counts, flooder) = start_flood(
        peer.parse().expect("peer id"),
        addr.parse().expect("address"),
        FloodPlan::connection_flood(NOW),
    );
    while counts.sent.load(Ordering::Relaxed) == 0 && !counts.done.load(Ordering::SeqCst) {
        std::thread::sleep(Duration::from_millis(5));
    }
    println!("started");
    flooder.join().expect("flooder");
    println!("{}", counts_line(&counts));
}

/// A flood under way: its live (thread) or final (process) counts, and
/// whether it is over.
struct Flood {
    counts: Arc<FloodCounts>,
    over: Arc<AtomicBool>,
    finish: Box<dyn FnOnce()>,
    place: String,
}

/// Starts the flood against `victim` where the environment says, and
/// returns once its first put is out.
async fn start_flood_somewhere(victim: &Node) -> Flood {
    let target = victim.peer_id();
    let addr = victim.listen_addrs()[0].clone();
    if std::env::var("PIGEONHOLE_BENCH_FLOODER").as_deref() == Ok("thread") {
        let (counts, flooder) = start_flood(target, addr, FloodPlan::connection_flood(NOW));
        while counts.sent.load(Ordering::Relaxed) == 0 {
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        let over = Arc::new(AtomicBool::new(false));
        let watched = counts.clone();
        let flag = over.clone();
        std::thread::spawn(move || {
            while !watched.done.load(Ordering::SeqCst) {
                std::thread::sleep(Duration::from_millis(5));
            }
            flag.store(true, Ordering::SeqCst);
        });
        return Flood {
            counts,
            over,
            finish: Box::new(move || flooder.join().expect("flooder")),
            place: "a thread of the victim's process".into(),
        };
    }
    let cpu = std::env::var("PIGEONHOLE_BENCH_FLOODER_CPU").unwrap_or_else(|_| "1".into());
    let exe = std::env::current_exe().expect("this binary");
    let pinned = std::thread::available_parallelism().map_or(1, usize::from) > 1
        && Command::new("taskset").arg("-V").output().is_ok();
    let mut command = if pinned {
        let mut command = Command::new("taskset");
        command.arg("-c").arg(&cpu).arg(&exe);
        command
    } else {
        Command::new(&exe)
    };
    let mut child = command
        .env(FLOODER_TARGET, format!("{target} {addr}"))
        .stdout(Stdio::piped())
        .spawn()
        .expect("start the flooder process");
    let stdout = child.stdout.take().expect("flooder stdout");
    let counts = Arc::new(FloodCounts::default());
    let over = Arc::new(AtomicBool::new(false));
    let (started_tx, started_rx) = tokio::sync::oneshot::channel();
    let (shared, flag) = (counts.clone(), over.clone());
    let reader = std::thread::spawn(move || {
        let mut started = Some(started_tx);
        for line in BufReader::new(stdout).lines() {
            let line = line.expect("flooder output");
            if line == "started" {
                if let Some(started) = started.take() {
                    let _ = started.send(());
                }
                continue;
            }
            let fields: Vec<usize> = line.split(' ').filter_map(|n| n.parse().ok()).collect();
            if fields.len() == COUNT_FIELDS {
                for (counter, value) in shared.tallies().into_iter().zip(fields) {
                    counter.store(value, Ordering::Relaxed);
                }
            }
        }
        let status = child.wait().expect("flooder exit");
        assert!(status.success(), "the flooder process failed: {status}");
        flag.store(true, Ordering::SeqCst);
    });
    started_rx.await.expect("the flooder never started");
    Flood {
        counts,
        over,
        finish: Box::new(move || reader.join().expect("flooder reader")),
        place: if pinned {
            format!("its own process, pinned to CPU {cpu}")
        } else {
            "its own process (not pinned: no taskset or one CPU)".into()
        },
    }
}

fn main() {
    if let Ok(target) = std::env::var(FLOODER_TARGET) {
        run_flooder(&target);
        return;
    }
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime")
        .block_on(bench());
}

async fn bench() {
    init_tracing();
    let count = std::env::var("PIGEONHOLE_BENCH_FLOOD_PUBLISHES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(40);
    let clock = clock();
    let dir = tempfile::tempdir().unwrap();
    let victim = Node::start(NodeConfig {
        data_dir: Some(dir.path().to_path_buf()),
        ..node_config(&clock)
    })
    .await
    .expect("start victim");
    let writer = Node::start(node_config(&clock)).await.expect("start");
    let reader = Node::start(node_config(&clock)).await.expect("start");
    connect_all(&[victim.clone(), writer.clone(), reader.clone()]).await;

    let quiet = run_phase(
        &victim,
        &writer,
        &clock,
        (inbox_of(80), inbox_of(81)),
        count,
        0,
        || false,
    )
    .await;

    let flood = start_flood_somewhere(&victim).await;
    let over = flood.over.clone();
    let flood_started = Instant::now();
    let flooded = run_phase(
        &victim,
        &writer,
        &clock,
        (inbox_of(82), inbox_of(83)),
        count,
        100,
        || over.load(Ordering::SeqCst),
    )
    .await;
    let flood_covered = flood_started.elapsed();
    (flood.finish)();
    let counts = flood.counts;
    let stats = victim.load_stats();

    let delivered = |inbox: MailboxId, phase: &Phase| {
        let reader = reader.clone();
        let clock = clock.clone();
        let keys = phase.keys.clone();
        let victim = victim.clone();
        async move {
            let fetched = mailbox(&reader, &clock)
                .fetch_within(inbox, DAY)
                .await
                .map(|f| f.records.len())
                .unwrap_or(0);
            let mut held = 0;
            for key in keys {
                held += usize::from(matches!(victim.held(key).await, Ok(Some(_))));
            }
            (fetched, held)
        }
    };
    let (quiet_read, quiet_held) = delivered(inbox_of(81), &quiet).await;
    let (flood_read, flood_held) = delivered(inbox_of(83), &flooded).await;

    println!(
        "| phase | publishes | victim app publish p50 ms | p99 ms | ok | app read p50 ms | p99 ms | ok | honest publish p50 ms | p99 ms | delivered | held by victim |"
    );
    println!("|---|---|---|---|---|---|---|---|---|---|---|---|");
    for (name, phase, read, held) in [
        ("no attacker", &quiet, quiet_read, quiet_held),
        ("connection flood", &flooded, flood_read, flood_held),
    ] {
        let n = phase.honest.len().max(1) as f64;
        println!(
            "| {name} | {} | {:.1} | {:.1} | {}/{} | {:.1} | {:.1} | {}/{} | {:.1} | {:.1} | {:.1}% | {:.1}% |",
            phase.app.len(),
            pct(&phase.app, 50),
            pct(&phase.app, 99),
            phase.app_ok,
            phase.app.len(),
            pct(&phase.reads, 50),
            pct(&phase.reads, 99),
            phase.reads_ok,
            phase.reads.len(),
            pct(&phase.honest, 50),
            pct(&phase.honest, 99),
            100.0 * read as f64 / n,
            100.0 * held as f64 / n,
        );
    }
    println!("\nthe flooder ran in {}", flood.place);
    println!(
        "flood: {} puts sent, {} stored, {} refused, {} busy, {} failed; {} connections seen by the flooders; \
         the flooded phase covered {:.1} s of it\nvictim load stats: {stats:?}",
        counts.sent.load(Ordering::Relaxed),
        counts.stored.load(Ordering::Relaxed),
        counts.refused.load(Ordering::Relaxed),
        counts.busy.load(Ordering::Relaxed),
        counts.failed.load(Ordering::Relaxed),
        counts.established.load(Ordering::Relaxed),
        flood_covered.as_secs_f64(),
    );
    stop_all(&[victim, writer, reader]).await;
}
