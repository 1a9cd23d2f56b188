//! Power-loss model: the database files are copied at random moments while
//! a writer commits acknowledged rows, and also cut with a torn WAL tail;
//! every copy opens, passes `PRAGMA integrity_check`, and holds every row
//! whose call had returned Ok before the copy began.
//!
//! Which tables rely on `synchronous = FULL`, and why: `identity` (a lost
//! row is a new key and a silently changed contact code), `sent_requests`
//! and `buddy_intents` ("request sent": without them an accept is dropped
//! as unsolicited, or a send interrupted by the cut is never finished),
//! `answered_requests` and `buddies` (an accept the user made), `outbox`
//! (a publish reported done) and `held_set` (a replica acknowledged to its
//! writer). In WAL mode FULL fsyncs the WAL at every commit, so on a real
//! power cut the disk holds at least every frame of every commit that had
//! returned; with NORMAL it may hold an older prefix of the WAL.
//!
//! What this model checks, and what it cannot: a copy taken while the
//! writer runs is what the disk could hold if every write reached it in
//! order up to some instant (a WAL frame half-copied is a torn write), and
//! the torn-tail cases cut the WAL at arbitrary bytes after the last
//! acknowledged commit. So it checks that SQLite's recovery from any such
//! prefix keeps every acknowledged commit and yields a sound file. It
//! reads the page cache, not the platter, so it cannot see a missing fsync
//! (rusqlite has no SQLite test VFS to drop unsynced writes): that part is
//! `synchronous = FULL` (set in `Store::init`) and SQLite's own guarantee.

mod common;

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use common::*;
use pigeonhole::contact::InboxToken;
use pigeonhole::identity::PublicKey;
use pigeonhole::record::{DhtKey, Kind, MailboxId};
use pigeonhole::store::Store;
use pigeonhole::store::buddies::{BuddyRow, SentRow, SentStatus};
use pigeonhole::store::intents::{IntentAction, IntentRow, IntentState};

/// Operations the writer does (each one or two acknowledged commits).
const OPERATIONS: u32 = 300;
/// Copies taken while the writer runs.
const LIVE_COPIES: usize = 30;
/// Pairs of copies between which the WAL tail is torn.
const TORN_PAIRS: usize = 12;
/// Cut points per torn pair.
const CUTS_PER_PAIR: usize = 4;

/// A row whose call returned Ok.
#[derive(Clone, Debug)]
enum Ack {
    Identity(PublicKey),
    /// A request intent logged; its sent row (once finished) has this id.
    RequestIntent {
        id: i64,
        request_id: [u8; 32],
    },
    Sent([u8; 32]),
    /// An answer intent logged (never finished here).
    AnswerIntent(i64),
    Answered {
        request_id: [u8; 32],
        buddy: PublicKey,
    },
    Held(DhtKey, Vec<u8>),
    Outbox(DhtKey, Vec<u8>),
}

fn key(n: u32, tag: u8) -> [u8; 32] {
    let mut key = [tag; 32];
    key[..4].copy_from_slice(&n.to_be_bytes());
    key
}

fn sent_row(n: u32) -> SentRow {
    SentRow {
        request_id: key(n, 0x51),
        recipient: PublicKey(key(n, 0x52)),
        recipient_token: InboxToken([1; 16]),
        reply_token: InboxToken([5; 16]),
        record: vec![n as u8; 64],
        status: SentStatus::Pending,
        created_at: NOW,
        expires_at: NOW + DAY,
    }
}

fn intent(n: u32, action: IntentAction) -> IntentRow {
    IntentRow {
        id: 0,
        action,
        state: IntentState::InFlight,
        mailbox: MailboxId(key(n, 0x61)),
        body: vec![7; 100],
        lifetime_secs: DAY,
        peer: PublicKey(key(n, 0x62)),
        peer_token: InboxToken([1; 16]),
        queued_at: 0,
    }
}

/// The writer's operation `n`; pushes an ack after each call returns Ok.
fn operate(store: &Store, n: u32, acks: &Mutex<Vec<Ack>>) {
    let ack = |ack: Ack| acks.lock().unwrap().push(ack);
    match n % 4 {
        0 => {
            let row = sent_row(n);
            let logged = intent(
                n,
                IntentAction::Request {
                    reply_token: row.reply_token,
                },
            );
            let id = store.log_intent(&logged).unwrap();
            ack(Ack::RequestIntent {
                id,
                request_id: row.request_id,
            });
            assert!(store.finish_request_intent(id, &row).unwrap());
            ack(Ack::Sent(row.request_id));
        }
        1 => {
            let spec = Spec::new(Kind::BuddyRequest, identity(3), DAY, n);
            let record = validator()
                .validate(&spec.key(), &spec.bytes(), NOW)
                .unwrap();
            store.put(&record).unwrap();
            ack(Ack::Held(spec.key(), spec.bytes()));
            store.outbox_put(&record).unwrap();
            ack(Ack::Outbox(spec.key(), spec.bytes()));
        }
        2 => {
            let buddy = BuddyRow {
                public_key: PublicKey(key(n, 0x71)),
                display_name: format!("buddy {n}"),
                inbox_token: Some(InboxToken([9; 16])),
                added_at: NOW,
            };
            let request_id = key(n, 0x72);
            store
                .mark_answered(&request_id, &buddy.public_key, 1, NOW + DAY, Some(&buddy))
                .unwrap();
            ack(Ack::Answered {
                request_id,
                buddy: buddy.public_key,
            });
        }
        _ => {
            let logged = intent(
                n,
                IntentAction::Answer {
                    request_id: key(n, 0x73),
                    request_expires_at: NOW + DAY,
                    accepted_name: None,
                },
            );
            let id = store.log_intent(&logged).unwrap();
            ack(Ack::AnswerIntent(id));
        }
    }
}

fn wal(path: &Path) -> PathBuf {
    let mut name = path.as_os_str().to_owned();
    name.push("-wal");
    PathBuf::from(name)
}

/// The database and WAL bytes as they are now, or `None` if a checkpoint
/// wrote the database file while it was read (the database is read before
/// and after the WAL; a changed file means the pair may not be one state).
fn snapshot(path: &Path) -> Option<(Vec<u8>, Vec<u8>)> {
    let before = std::fs::read(path).unwrap();
    let wal = std::fs::read(wal(path)).unwrap_or_default();
    let after = std::fs::read(path).unwrap();
    (before == after).then_some((before, wal))
}

/// Writes a copy, opens it, and checks integrity and every ack.
fn check_copy(dir: &Path, name: &str, db: &[u8], wal_bytes: &[u8], acks: &[Ack]) {
    let path = dir.join(name);
    std::fs::write(&path, db).unwrap();
    std::fs::write(wal(&path), wal_bytes).unwrap();
    {
        let raw = rusqlite::Connection::open(&path).unwrap();
        let verdict: String = raw
            .query_row("PRAGMA integrity_check", [], |row| row.get(0))
            .unwrap();
        assert_eq!(verdict, "ok", "{name}: integrity");
    }
    let store = Store::open(&path, validator(), clock()).unwrap();
    let intents: Vec<i64> = store.intents().unwrap().iter().map(|i| i.id).collect();
    for ack in acks {
        let present = match ack {
            Ack::Identity(key) => store.identity().unwrap().0.public_key() == *key,
            Ack::RequestIntent { id, request_id } => {
                intents.contains(id) || store.sent_by_id(request_id).unwrap().is_some()
            }
            Ack::Sent(request_id) => store.sent_by_id(request_id).unwrap().is_some(),
            Ack::AnswerIntent(id) => intents.contains(id),
            Ack::Answered { request_id, buddy } => {
                store.is_answered(request_id).unwrap()
                    && store
                        .buddies()
                        .unwrap()
                        .iter()
                        .any(|row| row.public_key == *buddy)
            }
            Ack::Held(key, bytes) => store
                .get_slot(key)
                .unwrap()
                .iter()
                .any(|record| record.bytes() == &bytes[..]),
            Ack::Outbox(key, bytes) => store.outbox_get(key).unwrap().as_deref() == Some(bytes),
        };
        assert!(present, "{name}: acknowledged {ack:?} is missing");
    }
    drop(store);
    for file in [path.clone(), wal(&path)] {
        let _ = std::fs::remove_file(file);
    }
}

/// A small deterministic generator (the seed is printed on failure).
struct Rng(u64);

impl Rng {
    fn below(&mut self, n: u64) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0 % n.max(1)
    }
}

#[test]
fn copies_at_random_points_and_torn_wal_tails_keep_every_acknowledged_row() {
    let seed = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_nanos() as u64
        | 1;
    eprintln!("power-loss seed {seed}");
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("node.db");
    let store = Store::open(&path, validator(), clock()).unwrap();
    let acks = Arc::new(Mutex::new(Vec::new()));
    let (identity, _) = store.create_identity().unwrap();
    acks.lock()
        .unwrap()
        .push(Ack::Identity(identity.public_key()));
    // The writer holds `gate` for each operation and its acks, so the
    // torn-tail copies can be taken between operations.
    let gate = Arc::new(Mutex::new(()));
    let writer = {
        let (acks, gate) = (acks.clone(), gate.clone());
        std::thread::spawn(move || {
            for n in 0..OPERATIONS {
                {
                    let _held = gate.lock().unwrap();
                    operate(&store, n, &acks);
                }
                // Room for the copier to take the gate.
                std::thread::sleep(Duration::from_micros(200));
            }
        })
    };

    let copies = tempfile::tempdir().unwrap();
    let mut rng = Rng(seed);
    let (mut live, mut torn) = (0, 0);
    let mut attempts = 0;
    while (live < LIVE_COPIES || torn < TORN_PAIRS * CUTS_PER_PAIR) && attempts < 2_000 {
        attempts += 1;
        std::thread::sleep(Duration::from_micros(rng.below(3_000)));
        if live < LIVE_COPIES && rng.below(2) == 0 {
            // A copy at a random moment, the writer running.
            let acked = acks.lock().unwrap().clone();
            if let Some((db, wal_bytes)) = snapshot(&path) {
                check_copy(copies.path(), "live.db", &db, &wal_bytes, &acked);
                live += 1;
            }
        } else if torn < TORN_PAIRS * CUTS_PER_PAIR {
            // Two copies between operations; the second's WAL cut anywhere
            // after the first's end is the first state plus a torn write.
            let (first, acked) = {
                let _paused = gate.lock().unwrap();
                (snapshot(&path), acks.lock().unwrap().clone())
            };
            std::thread::sleep(Duration::from_micros(500 + rng.below(3_000)));
            let second = {
                let _paused = gate.lock().unwrap();
                snapshot(&path)
            };
            let (Some((db, wal_a)), Some((db_b, wal_b))) = (first, second) else {
                continue;
            };
            if db != db_b || wal_b.len() <= wal_a.len() || !wal_b.starts_with(&wal_a) {
                continue; // a checkpoint came between, or nothing was written
            }
            for _ in 0..CUTS_PER_PAIR {
                let cut = wal_a.len() + 1 + rng.below((wal_b.len() - wal_a.len()) as u64) as usize;
                check_copy(
                    copies.path(),
                    "torn.db",
                    &db,
                    &wal_b[..cut.min(wal_b.len())],
                    &acked,
                );
                torn += 1;
            }
        }
        if writer.is_finished() {
            break;
        }
    }
    writer.join().unwrap();
    // Whatever the timing, the finished file is checked too.
    let acked = acks.lock().unwrap().clone();
    let (db, wal_bytes) = snapshot(&path).expect("no writer left");
    check_copy(copies.path(), "final.db", &db, &wal_bytes, &acked);
    eprintln!("checked {live} live copies and {torn} torn tails");
    assert!(live >= 5, "too few live copies were taken ({live})");
    assert!(torn >= 8, "too few torn tails were checked ({torn})");
}
