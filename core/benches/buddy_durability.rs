//! What durability costs, on a real SQLite file (WAL, `synchronous =
//! FULL`) and the in-memory DHT, in one run:
//!
//! * publishes/s: `Mailbox::publish` + `Store::outbox_put` (the node's
//!   acknowledged publish) as the baseline, against the same publish
//!   wrapped in the intent log the way requests and answers are (intent
//!   row committed before the put, removed after it);
//! * `send_request`/s with the intent log, against the same steps without
//!   it (seal, publish, then the sent row — the order before issue 12), as
//!   the baseline;
//! * `pending_requests()` latency with 1, 10 and 100 pending.
//!
//! `cargo bench -p pigeonhole --bench buddy_durability` prints the table.
//! `BENCH_N` sets the number of publishes and sends (default 200).

use std::sync::Arc;
use std::time::{Duration, Instant};

use pigeonhole::buddy::{BuddyBook, BuddyConfig};
use pigeonhole::clock::ManualClock;
use pigeonhole::contact::{ContactCode, InboxToken};
use pigeonhole::identity::Identity;
use pigeonhole::mailbox::{Draft, Mailbox, MailboxConfig, MemoryDht};
use pigeonhole::record::body::{BodyRules, BuddyRequest, FeedPost, feed_mailbox};
use pigeonhole::record::{Kind, Validator};
use pigeonhole::seal::{self, SealContext};
use pigeonhole::store::Store;
use pigeonhole::store::buddies::{SentRow, SentStatus};
use pigeonhole::store::intents::{IntentAction, IntentRow, IntentState};

const NOW: u64 = 1_800_000_000;
const DAY: u64 = 86_400;
const ROUNDS: usize = 10;

type Book = BuddyBook<Arc<MemoryDht>>;

struct Env {
    clock: Arc<ManualClock>,
    dht: Arc<MemoryDht>,
    dir: tempfile::TempDir,
}

impl Env {
    fn new() -> Self {
        let clock = Arc::new(ManualClock::new(NOW));
        let dht = Arc::new(MemoryDht::new(Validator::default(), clock.clone()));
        Self {
            clock,
            dht,
            dir: tempfile::tempdir().expect("tempdir"),
        }
    }

    fn mailbox(&self) -> Mailbox<Arc<MemoryDht>> {
        Mailbox::new(
            self.dht.clone(),
            Validator::default(),
            self.clock.clone(),
            MailboxConfig::default(),
        )
    }

    fn book(&self, file: &str) -> (Arc<Store>, Book) {
        let store = Arc::new(
            Store::open(
                self.dir.path().join(file),
                Validator::default(),
                self.clock.clone(),
            )
            .expect("store"),
        );
        let book = BuddyBook::new(
            store.clone(),
            self.mailbox(),
            self.clock.clone(),
            BuddyConfig::default(),
        )
        .expect("book");
        book.set_profile(file, None).expect("profile");
        (store, book)
    }
}

fn code(seed: u32) -> ContactCode {
    let mut secret = [9; 32];
    secret[..4].copy_from_slice(&seed.to_be_bytes());
    ContactCode::new(
        Identity::from_secret_bytes(secret).public_key(),
        InboxToken([1, 2, 3, 4, 1, 2, 3, 4, 1, 2, 3, 4, 1, 2, 3, 4]),
    )
}

fn per_second(count: usize, elapsed: Duration) -> String {
    format!("{:.0}/s", count as f64 / elapsed.as_secs_f64())
}

async fn publishes(
    user: &(Arc<Store>, Book),
    batch: std::ops::Range<usize>,
    with_intent: bool,
) -> Duration {
    let (store, book) = user;
    let (identity, token) = store.identity().expect("identity");
    let started = Instant::now();
    for i in batch {
        let post = FeedPost {
            feed_name: "news".into(),
            title: format!("post {i}"),
            link: None,
            summary: "s".into(),
            number: i as u64 + 1,
            published_at: None,
            replaces: None,
        };
        let draft = Draft {
            kind: Kind::FeedPost,
            mailbox: feed_mailbox(&identity.public_key(), "news"),
            body: post.encode(),
            lifetime_secs: DAY,
        };
        let logged = with_intent.then(|| {
            let intent = IntentRow {
                id: 0,
                action: IntentAction::Request { reply_token: token },
                state: IntentState::InFlight,
                mailbox: draft.mailbox,
                body: draft.body.clone(),
                lifetime_secs: draft.lifetime_secs,
                peer: identity.public_key(),
                peer_token: token,
                queued_at: NOW,
            };
            store.log_intent(&intent).expect("intent")
        });
        let record = book
            .mailbox()
            .publish(&identity, draft)
            .await
            .expect("publish");
        if let Some(id) = logged {
            store.drop_intent(id).expect("intent done");
        }
        store.outbox_put(&record).expect("outbox");
    }
    started.elapsed()
}

/// The steps of `send_request` in the order before the intent log.
async fn sends_without_log(user: &(Arc<Store>, Book), batch: std::ops::Range<usize>) -> Duration {
    let (store, book) = user;
    let (identity, token) = store.identity().expect("identity");
    let started = Instant::now();
    for i in batch {
        let to = code(100_000 + i as u32);
        let request = BuddyRequest {
            display_name: "me".into(),
            message: "hi".into(),
            reply_token: token,
            sender_name: None,
            contacts: vec![],
            stamp: Some(pigeonhole::stamp::mint_stamp(
                &to.inbox_id(),
                &identity.public_key(),
                pigeonhole::stamp::STAMP_BITS,
            )),
        };
        let context = SealContext {
            kind: Kind::BuddyRequest,
            mailbox: to.inbox_id(),
            sender: identity.public_key(),
        };
        let sealed = seal::seal(&to.public_key, &context, &request.encode()).expect("seal");
        let record = book
            .mailbox()
            .publish(
                &identity,
                Draft {
                    kind: Kind::BuddyRequest,
                    mailbox: to.inbox_id(),
                    body: sealed,
                    lifetime_secs: 7 * DAY,
                },
            )
            .await
            .expect("publish");
        store
            .insert_sent(&SentRow {
                request_id: record.id(),
                recipient: to.public_key,
                recipient_token: to.inbox_token,
                reply_token: token,
                record: record.bytes().to_vec(),
                status: SentStatus::Pending,
                created_at: record.header.created_at,
                expires_at: record.header.expires_at,
            })
            .expect("sent row");
    }
    started.elapsed()
}

async fn sends_with_log(user: &(Arc<Store>, Book), batch: std::ops::Range<usize>) -> Duration {
    let (_, book) = user;
    let started = Instant::now();
    for i in batch {
        let to = code(200_000 + i as u32).to_string();
        book.send_request(&to, "hi", vec![]).await.expect("send");
    }
    started.elapsed()
}

/// Median of 21 `pending_requests()` calls with `pending` requests kept.
async fn pending_latency(env: &Env, pending: usize) -> Duration {
    let (_, bob) = env.book(&format!("bob{pending}.db"));
    let bob_code = bob.contact_code().expect("code").to_string();
    for i in 0..pending {
        let (_, sender) = env.book(&format!("sender{pending}-{i}.db"));
        sender
            .send_request(&bob_code, "hi", vec![])
            .await
            .expect("send");
    }
    bob.sync_now().await.expect("sync");
    let mut times = Vec::new();
    for _ in 0..21 {
        let started = Instant::now();
        let found = bob.pending_requests().expect("pending");
        times.push(started.elapsed());
        assert_eq!(found.len(), pending);
    }
    times.sort();
    times[times.len() / 2]
}

fn main() {
    let n: usize = std::env::var("BENCH_N")
        .ok()
        .and_then(|n| n.parse().ok())
        .unwrap_or(200);
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    let env = Env::new();
    runtime.block_on(async {
        // Interleaved batches, the order rotating, so that a loaded machine
        // or a warming cache weighs on every variant alike.
        let (publisher, logged_publisher, baseline, sender) = (
            env.book("publisher.db"),
            env.book("logged-publisher.db"),
            env.book("baseline.db"),
            env.book("sender.db"),
        );
        let (mut published, mut published_logged, mut before, mut after) = (
            Duration::ZERO,
            Duration::ZERO,
            Duration::ZERO,
            Duration::ZERO,
        );
        let batch = n.div_ceil(ROUNDS);
        for round in 0..ROUNDS {
            let range = round * batch..((round + 1) * batch).min(n);
            for turn in 0..4 {
                match (round + turn) % 4 {
                    0 => published += publishes(&publisher, range.clone(), false).await,
                    1 => {
                        published_logged += publishes(&logged_publisher, range.clone(), true).await
                    }
                    2 => before += sends_without_log(&baseline, range.clone()).await,
                    _ => after += sends_with_log(&sender, range.clone()).await,
                }
            }
        }
        println!("durability costs, SQLite file with synchronous=FULL, n = {n}");
        println!("{:<44} {:>12}", "operation", "rate");
        println!(
            "{:<44} {:>12}",
            "publish + outbox_put, no intent (baseline)",
            per_second(n, published)
        );
        println!(
            "{:<44} {:>12}",
            "publish + outbox_put with the intent log",
            per_second(n, published_logged)
        );
        println!(
            "{:<44} {:>12}",
            "send_request steps, no intent log (baseline)",
            per_second(n, before)
        );
        println!(
            "{:<44} {:>12}",
            "send_request with the intent log",
            per_second(n, after)
        );
        println!(
            "{:<44} {:>12}",
            "pending_requests() with N pending", "median"
        );
        for pending in [1, 10, 100] {
            let latency = pending_latency(&env, pending).await;
            println!("{:<44} {:>12.2?}", format!("  N = {pending}"), latency);
        }
    });
}
