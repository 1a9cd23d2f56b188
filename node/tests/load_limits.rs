//! What one hostile peer (or a crowd of them) can do to a node's own user:
//! nothing worse than slow its own requests. Real nodes on loopback, real
//! SQLite files; the flooders speak raw libp2p (see `conn_flood/mod.rs`).

#[path = "../../core/tests/common/mod.rs"]
mod common;
mod conn_flood;
use conn_flood as flood;
mod support;

use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use common::*;
use flood::*;
use pigeonhole_node::mailbox_protocol::{MailboxRequest, MailboxResponse, PutAnswer};
use pigeonhole_node::{Node, NodeConfig, PeerLimits};
use support::*;

/// Longest an app call may take during the flood (a generous bound for a
/// loaded 2-core machine; the p99 figure is in `benches/conn_flood.rs`).
const APP_CALL_BOUND: Duration = Duration::from_secs(10);
/// Most the whole test process (three nodes and the flooders' 500
/// connections, which live in this process too) may grow its resident set
/// during the flood. The flood pushes 500 MiB of oversized (256 KiB) puts.
/// Measured on a 2-core machine: ~35 MiB of growth with the limits; ~110
/// MiB with them disabled (1,024 streams per connection, no connection
/// limits, page-sized requests buffered, answers inline), which fails.
const RSS_GROWTH_BOUND_KIB: u64 = 80 * 1024;

/// 500 connections from 250 fresh identities (started over 3 s) and
/// 10,000 parallel junk puts (8,000 validly signed, 2,000 oversized)
/// against one node: its own
/// publishes and reads still complete within the bound, it never holds
/// more inbound connections than its limit, and memory stays bounded.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn connection_flood_leaves_the_users_calls_working_and_memory_bounded() {
    init_tracing();
    let clock = clock();
    let dir = tempfile::tempdir().unwrap();
    let limits = PeerLimits::default();
    let victim = Node::start(NodeConfig {
        data_dir: Some(dir.path().to_path_buf()),
        ..node_config(&clock)
    })
    .await
    .expect("start victim");
    let honest = [
        Node::start(node_config(&clock)).await.expect("start"),
        Node::start(node_config(&clock)).await.expect("start"),
    ];
    connect_all(&[victim.clone(), honest[0].clone(), honest[1].clone()]).await;

    let (rss_before, _) = rss_kib();
    let (counts, flooder) = start_flood(
        victim.peer_id(),
        victim.listen_addrs()[0].clone(),
        FloodPlan::connection_flood(NOW),
    );
    let started = Instant::now();
    while counts.sent.load(Ordering::Relaxed) == 0 && started.elapsed() < Duration::from_secs(30) {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }

    // The user's own calls, while the flood runs.
    let app = mailbox(&victim, &clock);
    let mut calls = Vec::new();
    let mut peak_peers = 0;
    let mut peak_rss = 0;
    for round in 0..6u8 {
        let begun = Instant::now();
        let published = tokio::time::timeout(
            APP_CALL_BOUND,
            app.publish(&identity(100 + round), request_draft(inbox_of(60), DAY)),
        )
        .await;
        let publish_time = begun.elapsed();
        assert!(
            matches!(published, Ok(Ok(_))),
            "publish {round} did not complete within {APP_CALL_BOUND:?} during the flood \
             ({publish_time:?}, {published:?}); flood so far: sent {} settled {}",
            counts.sent.load(Ordering::Relaxed),
            counts.settled()
        );
        let begun = Instant::now();
        let fetched =
            tokio::time::timeout(APP_CALL_BOUND, app.fetch_within(inbox_of(60), DAY)).await;
        let fetch_time = begun.elapsed();
        match fetched {
            Ok(Ok(fetched)) => assert_eq!(fetched.records.len(), usize::from(round) + 1),
            other => panic!("fetch {round} did not complete in time ({fetch_time:?}): {other:?}"),
        }
        calls.push((publish_time, fetch_time));
        peak_peers = peak_peers.max(victim.status().connected_peers);
        peak_rss = peak_rss.max(rss_kib().0);
    }
    // Until the flood has run its course, keep watching.
    while !counts.done.load(Ordering::SeqCst) && started.elapsed() < Duration::from_secs(120) {
        peak_peers = peak_peers.max(victim.status().connected_peers);
        peak_rss = peak_rss.max(rss_kib().0);
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    flooder.join().expect("flooder thread");
    let stats = victim.load_stats();
    eprintln!(
        "app calls (publish, fetch): {calls:?}\nflood: sent {} stored {} refused {} busy {} failed {}, \
         flooder saw {} connections (peak {} open)\nvictim: peak {peak_peers} peers, {stats:?}\n\
         rss before {rss_before} KiB, peak {peak_rss} KiB",
        counts.sent.load(Ordering::Relaxed),
        counts.stored.load(Ordering::Relaxed),
        counts.refused.load(Ordering::Relaxed),
        counts.busy.load(Ordering::Relaxed),
        counts.failed.load(Ordering::Relaxed),
        counts.established.load(Ordering::Relaxed),
        counts.peak_open.load(Ordering::Relaxed),
    );

    assert_eq!(
        counts.sent.load(Ordering::Relaxed),
        10_000,
        "the flood was not sent"
    );
    assert_eq!(counts.settled(), 10_000, "the flood did not settle");
    assert!(
        peak_peers <= limits.max_established_incoming as usize + honest.len(),
        "the victim held {peak_peers} peers, over its inbound limit"
    );
    assert!(
        peak_rss.saturating_sub(rss_before) < RSS_GROWTH_BOUND_KIB,
        "resident set grew by {} KiB (bound {RSS_GROWTH_BOUND_KIB} KiB)",
        peak_rss.saturating_sub(rss_before)
    );
    assert!(
        stats.connections_denied > 0,
        "no connection was denied: {stats:?}"
    );

    victim.stop().await;
    stop_all(&honest).await;
}

/// One peer sends 600 puts, 16 in flight at a time (within the stream
/// cap), as fast as it is answered: past its budget it is answered "busy"
/// (at once, not dropped), while another peer's puts are judged and stored.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_peer_over_its_budget_is_answered_busy_while_another_is_served() {
    init_tracing();
    let clock = clock();
    let victim = Node::start(node_config(&clock)).await.expect("start");
    let addr = victim.listen_addrs()[0].clone();

    let (counts, flooder) = start_flood(
        victim.peer_id(),
        addr.clone(),
        FloodPlan {
            identities: 1,
            connections_each: 1,
            puts: signed_junk(600, NOW, 64),
            dial_spread: Duration::ZERO,
            // Within the stream cap: the budget, not the cap, answers.
            window: 16,
            deadline: Duration::from_secs(60),
            hold: Duration::ZERO,
        },
    );
    let started = Instant::now();
    while counts.busy.load(Ordering::Relaxed) == 0
        && !counts.done.load(Ordering::SeqCst)
        && started.elapsed() < WAIT
    {
        tokio::time::sleep(Duration::from_millis(10)).await;
    }

    // Another peer, meanwhile: every put judged and stored.
    let mut other = RawMailboxClient::new().await;
    let sender = identity(77);
    for seq in 0..20u32 {
        let header = pigeonhole::record::Header {
            kind: pigeonhole::record::Kind::BuddyRequest,
            mailbox: inbox_of(61),
            instance: pigeonhole::record::InstanceId {
                bucket: pigeonhole::record::InstanceId::bucket_of(NOW + DAY),
                seq,
            },
            sender: sender.public_key(),
            created_at: NOW,
            expires_at: NOW + DAY,
        };
        let bytes = header.sign(&sender, &sealed_blob(64));
        let answer = other
            .request(victim.peer_id(), addr.clone(), MailboxRequest::Put(bytes))
            .await;
        assert_eq!(
            answer,
            Some(MailboxResponse::Put(PutAnswer::Stored)),
            "the other peer's put {seq} was not served"
        );
    }
    flooder.join().expect("flooder thread");
    let stats = victim.load_stats();
    let busy = counts.busy.load(Ordering::Relaxed);
    eprintln!(
        "flooder: stored {} busy {busy} failed {}; victim: {stats:?}",
        counts.stored.load(Ordering::Relaxed),
        counts.failed.load(Ordering::Relaxed)
    );
    assert!(busy > 0, "the flooder was never answered busy");
    assert_eq!(
        counts.failed.load(Ordering::Relaxed),
        0,
        "busy answers must be answers"
    );
    assert!(stats.busy_over_budget > 0, "{stats:?}");
    assert_eq!(counts.settled(), 600);
    victim.stop().await;
}

/// One identity dials the node 8 times: it gets its per-peer share of
/// connections (3), the rest are denied.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_peer_gets_at_most_its_share_of_connections() {
    init_tracing();
    let clock = clock();
    let victim = Node::start(node_config(&clock)).await.expect("start");
    let limits = PeerLimits::default();
    let (counts, flooder) = start_flood(
        victim.peer_id(),
        victim.listen_addrs()[0].clone(),
        FloodPlan {
            identities: 1,
            connections_each: 8,
            puts: Vec::new(),
            dial_spread: Duration::ZERO,
            window: 0,
            deadline: Duration::from_secs(30),
            hold: Duration::from_secs(3),
        },
    );
    flooder.join().expect("flooder thread");
    // The default allows 3 connections per peer, so 5 of 8 are denied.
    let denied = 8 - u64::from(limits.max_established_per_peer.min(3));
    // The dialer sees a connection up before the node has judged it.
    let started = Instant::now();
    while victim.load_stats().connections_denied < denied && started.elapsed() < WAIT {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let stats = victim.load_stats();
    eprintln!(
        "flooder saw {} connections; victim: {stats:?}",
        counts.established.load(Ordering::Relaxed)
    );
    assert!(
        stats.connections_denied >= denied,
        "expected at least {denied} of 8 connections denied: {stats:?}"
    );
    victim.stop().await;
}
