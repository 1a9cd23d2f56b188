//! What a fetch costs as a mailbox grows, on the probe path (plain
//! single-value DHT) versus the listing path (v2 replicas), both on the
//! in-memory DHT: network requests (gets, listing pages, next-seq
//! questions), sequential rounds and the time of one `fetch_all`, for 0
//! (an idle sync), 1, 10, 100 and 1,000 live records in one mailbox.
//!
//! `cargo bench -p pigeonhole --bench mailbox_fetch` prints one table (the
//! probe path is the baseline of the same run), then criterion's timings.

use std::sync::Arc;
use std::time::{Duration, Instant};

use criterion::Criterion;
use pigeonhole::clock::ManualClock;
use pigeonhole::contact::{ContactCode, InboxToken};
use pigeonhole::identity::Identity;
use pigeonhole::mailbox::{Draft, Mailbox, MailboxConfig, MemoryDht};
use pigeonhole::record::body::SEALED_SCHEME_V1;
use pigeonhole::record::{Kind, MailboxId, Validator};

const NOW: u64 = 1_800_000_000;
const DAY: u64 = 86_400;
const TIMED_RUNS: usize = 15;

type Setup = (Mailbox<Arc<MemoryDht>>, MailboxId);

fn filled(runtime: &tokio::runtime::Runtime, live: usize, listing: bool) -> Setup {
    let clock = Arc::new(ManualClock::new(NOW));
    let dht = if listing {
        MemoryDht::with_listing(Validator::default(), clock.clone())
    } else {
        MemoryDht::new(Validator::default(), clock.clone())
    };
    let mailbox = Mailbox::new(
        Arc::new(dht),
        Validator::default(),
        clock,
        MailboxConfig::default(),
    );
    let owner = Identity::from_secret_bytes([1; 32]);
    let inbox = ContactCode::new(owner.public_key(), InboxToken([0; 16])).inbox_id();
    let mut body = vec![SEALED_SCHEME_V1];
    body.resize(400, 7);
    runtime.block_on(async {
        for i in 0..live {
            // Spread records over three expiry days, as senders with
            // different lifetimes would.
            let sender = Identity::from_secret_bytes([(i % 200) as u8 + 2; 32]);
            let draft = Draft {
                kind: Kind::BuddyRequest,
                mailbox: inbox,
                body: body.clone(),
                lifetime_secs: DAY * (1 + (i as u64 % 3)),
            };
            mailbox.publish(&sender, draft).await.expect("publish");
        }
    });
    (mailbox, inbox)
}

/// Median wall time of one `fetch_all` over a few runs.
fn median_fetch(runtime: &tokio::runtime::Runtime, (mailbox, inbox): &Setup) -> Duration {
    let mut times: Vec<_> = (0..TIMED_RUNS)
        .map(|_| {
            let start = Instant::now();
            runtime.block_on(mailbox.fetch_all(*inbox)).expect("fetch");
            start.elapsed()
        })
        .collect();
    times.sort();
    times[TIMED_RUNS / 2]
}

fn main() {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .build()
        .expect("runtime");
    let sizes = [0usize, 1, 10, 100, 1000];
    let mut setups = Vec::new();
    for &n in &sizes {
        for (path, listing) in [("probe", false), ("listing", true)] {
            setups.push((n, path, filled(&runtime, n, listing)));
        }
    }

    println!("| live records | path | found | requests | sequential rounds | fetch p50 |");
    println!("|---|---|---|---|---|---|");
    for (n, path, setup) in &setups {
        let fetched = runtime.block_on(setup.0.fetch_all(setup.1)).expect("fetch");
        assert_eq!(fetched.records.len(), *n, "{path} path lost records");
        let s = &fetched.stats;
        println!(
            "| {n} | {path} | {} | {} | {} | {:.1?} |",
            fetched.records.len(),
            s.requests,
            s.rounds,
            median_fetch(&runtime, setup)
        );
    }
    println!();

    let mut criterion = Criterion::default()
        .sample_size(10)
        .measurement_time(Duration::from_secs(1))
        .warm_up_time(Duration::from_millis(200))
        .configure_from_args();
    let mut group = criterion.benchmark_group("fetch_all_memory");
    for (n, path, (mailbox, inbox)) in &setups {
        group.bench_function(format!("{path}_{n}_live"), |b| {
            b.iter(|| runtime.block_on(mailbox.fetch_all(*inbox)).expect("fetch"))
        });
    }
    group.finish();
    criterion.final_summary();
}
