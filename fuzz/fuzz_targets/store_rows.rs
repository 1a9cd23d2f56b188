//! The SQLite row readers on a database holding junk rows: a damaged file,
//! or one another program wrote. Every reader must refuse or drop bad rows
//! (the held-record and outbox readers re-validate each one), never panic.
//!
//! Input: a sequence of rows `table(1) ‖ len(1) ‖ a[len] ‖ len(2, LE) ‖
//! b[len]`, written with CHECK constraints off, then every reader runs.
#![no_main]

use std::sync::{Arc, Mutex, OnceLock};

use libfuzzer_sys::fuzz_target;
use pigeonhole::clock::ManualClock;
use pigeonhole::record::{Policy, Validator};
use pigeonhole::store::Store;
use rusqlite::{Connection, params};

const URI: &str = "file:pigeonhole-fuzz-rows?mode=memory&cache=shared";
const TABLES: [&str; 8] = [
    "held_set",
    "outbox",
    "sent_requests",
    "pending_requests",
    "buddy_intents",
    "identity",
    "buddies",
    "answered_requests",
];

struct Fixture {
    raw: Mutex<Connection>,
    store: Store,
}

fn fixture() -> &'static Fixture {
    static FIXTURE: OnceLock<Fixture> = OnceLock::new();
    FIXTURE.get_or_init(|| {
        // The raw connection keeps the shared in-memory database alive.
        let raw = Connection::open(URI).unwrap();
        let clock = Arc::new(ManualClock::new(1_800_000_000));
        let store = Store::open(URI, Validator::new(Policy::default()), clock).unwrap();
        raw.pragma_update(None, "ignore_check_constraints", true)
            .unwrap();
        Fixture {
            raw: Mutex::new(raw),
            store,
        }
    })
}

fn insert(conn: &Connection, table: u8, a: &[u8], b: &[u8]) {
    let n = i64::from(b.first().copied().unwrap_or(0));
    let sql = match TABLES[usize::from(table) % TABLES.len()] {
        "held_set" => {
            "INSERT OR REPLACE INTO held_set (mailbox, instance, record_id, key, sender, kind,
                 expires_at, size, bytes, stored_at)
             VALUES (?1, ?3, ?1, ?1, ?1, ?3, ?3, ?3, ?2, ?3)"
        }
        "outbox" => {
            "INSERT OR REPLACE INTO outbox (key, expires_at, bytes, queued_at) VALUES (?1, ?3, ?2, ?3)"
        }
        "sent_requests" => {
            "INSERT OR REPLACE INTO sent_requests (request_id, recipient, recipient_token, reply_token,
                 record, status, created_at, expires_at) VALUES (?1, ?2, ?1, ?2, ?2, ?3, ?3, ?3)"
        }
        "pending_requests" => {
            "INSERT OR REPLACE INTO pending_requests (request_id, sender, inbox, created_at, expires_at,
                 record, received_at) VALUES (?1, ?2, ?1, ?3, ?3 + 4000000000, ?2, ?3)"
        }
        "buddy_intents" => {
            "INSERT INTO buddy_intents (what, state, mailbox, body, lifetime_secs, peer, peer_token,
                 reply_token, request_id, request_expires_at, peer_name, queued_at)
             VALUES (?3 % 5, ?3 % 3, ?1, ?2, ?3, ?2, ?1, ?2, ?1, ?3, ?2, ?3)"
        }
        "identity" => {
            "INSERT OR REPLACE INTO identity (id, secret, inbox_token, created_at) VALUES (1, ?1, ?2, ?3)"
        }
        "buddies" => {
            "INSERT OR REPLACE INTO buddies (public_key, display_name, inbox_token, added_at)
             VALUES (?1, CAST(?2 AS TEXT), ?2, ?3)"
        }
        _ => {
            "INSERT OR REPLACE INTO answered_requests (request_id, sender, decision, answered_at, expires_at)
             VALUES (?1, ?2, ?3, ?3, ?3 + 4000000000)"
        }
    };
    // A refused row (a NOT NULL, a type) is as good as any: ignore.
    let _ = conn.execute(sql, params![a, b, n]);
}

fuzz_target!(|data: &[u8]| {
    let f = fixture();
    {
        let raw = f.raw.lock().unwrap();
        for table in TABLES {
            raw.execute(&format!("DELETE FROM {table}"), []).unwrap();
        }
        let mut rest = data;
        while let [table, a_len, tail @ ..] = rest {
            let a_len = usize::from(*a_len).min(tail.len());
            let (a, tail) = tail.split_at(a_len);
            let (b_len, tail) = match tail {
                [lo, hi, tail @ ..] => (usize::from(u16::from_le_bytes([*lo, *hi])), tail),
                _ => (0, &[][..]),
            };
            let (b, tail) = tail.split_at(b_len.min(tail.len()));
            insert(&raw, *table, a, b);
            rest = tail;
        }
    }
    let store = &f.store;
    let _ = store.list();
    let _ = store.outbox_list();
    let _ = store.sent();
    let _ = store.pending();
    let _ = store.intents();
    let _ = store.buddies();
    let _ = store.identity();
    let _ = store.totals();
    let _ = store.mailboxes().map(|mailboxes| {
        for mailbox in mailboxes.iter().take(4) {
            let _ = store.list_mailbox(mailbox, None, 64);
            let _ = store.list_mailbox_raw(mailbox, None, 64);
            let _ = store.items(mailbox);
            let _ = store.next_seq(mailbox, 1);
        }
    });
});
