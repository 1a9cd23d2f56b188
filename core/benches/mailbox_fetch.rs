//! How `fetch_all` grows with the number of live records, on the in-memory
//! DHT: DHT gets issued and sequential rounds of parallel gets for 1, 10,
//! 100 and 1,000 records in one mailbox (plus an empty one), and the time
//! each fetch takes.
//!
//! `cargo bench -p pigeonhole --bench mailbox_fetch` prints a table, then
//! criterion's timings.

use std::sync::Arc;

use criterion::Criterion;
use pigeonhole::clock::ManualClock;
use pigeonhole::contact::{ContactCode, InboxToken};
use pigeonhole::identity::Identity;
use pigeonhole::mailbox::{Draft, Mailbox, MailboxConfig, MemoryDht};
use pigeonhole::record::body::SEALED_SCHEME_V1;
use pigeonhole::record::{Kind, MailboxId, Validator};

const NOW: u64 = 1_800_000_000;
const DAY: u64 = 86_400;

fn filled(runtime: &tokio::runtime::Runtime, live: usize) -> (Mailbox<Arc<MemoryDht>>, MailboxId) {
    let clock = Arc::new(ManualClock::new(NOW));
    let dht = Arc::new(MemoryDht::new(Validator::default(), clock.clone()));
    let mailbox = Mailbox::new(dht, Validator::default(), clock, MailboxConfig::default());
    let owner = Identity::from_secret_bytes([1; 32]);
    let inbox = ContactCode::new(owner.public_key(), InboxToken([0; 4])).inbox_id();
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

fn main() {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .build()
        .expect("runtime");
    let sizes = [0usize, 1, 10, 100, 1000];
    let setups: Vec<_> = sizes.iter().map(|&n| (n, filled(&runtime, n))).collect();

    println!("| live records | found | buckets | DHT gets | sequential rounds |");
    println!("|---|---|---|---|---|");
    for (n, (mailbox, inbox)) in &setups {
        let fetched = runtime.block_on(mailbox.fetch_all(*inbox)).expect("fetch");
        assert_eq!(fetched.records.len(), *n);
        let s = &fetched.stats;
        println!(
            "| {n} | {} | {} | {} | {} |",
            fetched.records.len(),
            s.buckets,
            s.gets,
            s.rounds
        );
    }
    println!();

    let mut criterion = Criterion::default().configure_from_args();
    let mut group = criterion.benchmark_group("fetch_all_memory");
    for (n, (mailbox, inbox)) in &setups {
        group.bench_function(format!("{n}_live"), |b| {
            b.iter(|| runtime.block_on(mailbox.fetch_all(*inbox)).expect("fetch"))
        });
    }
    group.finish();
    criterion.final_summary();
}
