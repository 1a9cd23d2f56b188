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
//! the design). Count: `PIGEONHOLE_BENCH_FLOOD_PUBLISHES` (40 per phase).

#[path = "../../core/tests/common/mod.rs"]
mod common;
#[path = "../tests/conn_flood/mod.rs"]
mod conn_flood;
use conn_flood as flood;
#[path = "../tests/support/mod.rs"]
mod support;

use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use common::*;
use flood::*;
use pigeonhole::record::MailboxId;
use pigeonhole_node::{Node, NodeConfig};
use support::*;

struct Phase {
    app: Vec<Duration>,
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
        phase.app_ok += usize::from(matches!(published, Ok(Ok(_))));
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

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
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

    let (counts, flooder) = start_flood(
        victim.peer_id(),
        victim.listen_addrs()[0].clone(),
        FloodPlan::connection_flood(NOW),
    );
    while counts.sent.load(Ordering::Relaxed) == 0 {
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let flood_started = Instant::now();
    let flooded = run_phase(
        &victim,
        &writer,
        &clock,
        (inbox_of(82), inbox_of(83)),
        count,
        100,
        || counts.done.load(Ordering::SeqCst),
    )
    .await;
    let flood_covered = flood_started.elapsed();
    flooder.join().expect("flooder");
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
        "| phase | publishes | victim app publish p50 ms | p99 ms | ok | honest publish p50 ms | p99 ms | delivered | held by victim |"
    );
    println!("|---|---|---|---|---|---|---|---|---|");
    for (name, phase, read, held) in [
        ("no attacker", &quiet, quiet_read, quiet_held),
        ("connection flood", &flooded, flood_read, flood_held),
    ] {
        let n = phase.honest.len().max(1) as f64;
        println!(
            "| {name} | {} | {:.1} | {:.1} | {}/{} | {:.1} | {:.1} | {:.1}% | {:.1}% |",
            phase.app.len(),
            pct(&phase.app, 50),
            pct(&phase.app, 99),
            phase.app_ok,
            phase.app.len(),
            pct(&phase.honest, 50),
            pct(&phase.honest, 99),
            100.0 * read as f64 / n,
            100.0 * held as f64 / n,
        );
    }
    println!(
        "\nflood: {} puts sent, {} stored, {} refused, {} busy, {} failed; {} connections seen by the flooders; \
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
