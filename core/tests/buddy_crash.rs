//! Kill -9 during work: nothing acknowledged is lost, nothing half-done.
//!
//! The test runs itself as a child process (`PH_CRASH_CHILD` set) that
//! works on real SQLite files: Alice publishes 1,000 feed posts (each
//! queued in her outbox) and sends 100 buddy requests, each to its own
//! Bob, who answers (even Bobs accept, odd ones decline); Alice syncs the
//! answers. The "network" is a SQLite file too (a first-wins slot store),
//! so it survives the kills like a DHT survives one phone dying. The child
//! prints a line after each call that returned Ok. The parent kills it
//! with SIGKILL at 20 random moments (a random number of steps into a run,
//! plus up to 20 ms: inside a step, or during the restart's recovery); after each kill it checks every
//! database (`PRAGMA integrity_check`) and that every acknowledged
//! publish, sent request and answer is on disk; then it restarts the
//! child, which resumes where it was. At the end every request is
//! answered and recognised by Alice — including those whose send or
//! answer was cut between the put and the write — and no intent is left.

mod common;

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use async_trait::async_trait;
use common::*;
use pigeonhole::buddy::{BuddyBook, BuddyConfig};
use pigeonhole::clock::ManualClock;
use pigeonhole::contact::InboxToken;
use pigeonhole::mailbox::{Dht, DhtError, Draft, Mailbox};
use pigeonhole::record::body::{BodyRules, FeedPost, feed_mailbox};
use pigeonhole::record::{DhtKey, Kind, Validator};
use pigeonhole::store::Store;
use rand::Rng;
use rusqlite::{Connection, OptionalExtension, TransactionBehavior, params};

const STEPS: u64 = 1_000;
const REQUEST_EVERY: u64 = 10;
const KILLS: u32 = 20;
const CHILD_ENV: &str = "PH_CRASH_CHILD";
const START_ENV: &str = "PH_CRASH_START";

/// A DHT in a SQLite file shared by processes: the first valid record in
/// a slot wins; only a tombstone from the same sender may replace it.
struct FileDht {
    conn: Mutex<Connection>,
    validator: Validator,
    clock: Arc<ManualClock>,
}

impl FileDht {
    fn open(path: &Path, clock: Arc<ManualClock>) -> Self {
        let conn = Connection::open(path).unwrap();
        conn.pragma_update(None, "journal_mode", "WAL").unwrap();
        conn.pragma_update(None, "synchronous", "FULL").unwrap();
        conn.busy_timeout(Duration::from_secs(10)).unwrap();
        conn.execute(
            "CREATE TABLE IF NOT EXISTS slots (key BLOB PRIMARY KEY, bytes BLOB NOT NULL)",
            [],
        )
        .unwrap();
        Self {
            conn: Mutex::new(conn),
            validator: validator(),
            clock,
        }
    }
}

#[async_trait]
impl Dht for FileDht {
    async fn get(&self, key: DhtKey) -> Result<Option<Vec<u8>>, DhtError> {
        let conn = self.conn.lock().unwrap();
        conn.query_row(
            "SELECT bytes FROM slots WHERE key = ?1",
            params![key.0],
            |row| row.get(0),
        )
        .optional()
        .map_err(|error| DhtError::Unavailable(error.to_string()))
    }

    async fn put(&self, key: DhtKey, value: Vec<u8>) -> Result<(), DhtError> {
        use pigeonhole::clock::Clock;
        let now = self.clock.now();
        let record = self
            .validator
            .validate(&key, &value, now)
            .map_err(|error| DhtError::Rejected(error.to_string()))?;
        let unavailable = |error: rusqlite::Error| DhtError::Unavailable(error.to_string());
        let mut conn = self.conn.lock().unwrap();
        let tx = conn
            .transaction_with_behavior(TransactionBehavior::Immediate)
            .map_err(unavailable)?;
        let existing: Option<Vec<u8>> = tx
            .query_row(
                "SELECT bytes FROM slots WHERE key = ?1",
                params![key.0],
                |row| row.get(0),
            )
            .optional()
            .map_err(unavailable)?;
        if let Some(existing) = existing {
            let held = self.validator.validate(&key, &existing, now).ok();
            let same_sender_tombstone = record.header.kind == Kind::Tombstone
                && held.is_some_and(|held| held.header.sender == record.header.sender);
            if existing != value && !same_sender_tombstone {
                return Err(DhtError::Taken);
            }
        }
        tx.execute(
            "INSERT OR REPLACE INTO slots (key, bytes) VALUES (?1, ?2)",
            params![key.0, value],
        )
        .map_err(unavailable)?;
        tx.commit().map_err(unavailable)
    }
}

type Client = Arc<dyn Dht>;

struct World {
    dir: PathBuf,
    clock: Arc<ManualClock>,
    dht: Client,
}

impl World {
    fn open(dir: &Path) -> Self {
        let clock = clock();
        let dht: Client = Arc::new(FileDht::open(&dir.join("dht.db"), clock.clone()));
        Self {
            dir: dir.to_owned(),
            clock,
            dht,
        }
    }

    fn mailbox(&self) -> Mailbox<Client> {
        Mailbox::new(self.dht.clone(), validator(), self.clock.clone(), config())
    }

    fn store(&self, file: &str) -> Store {
        Store::open(self.dir.join(file), validator(), self.clock.clone()).unwrap()
    }

    fn alice(&self) -> (Arc<Store>, BuddyBook<Client>) {
        let store = Arc::new(self.store("alice.db"));
        let book = BuddyBook::new(
            store.clone(),
            self.mailbox(),
            self.clock.clone(),
            BuddyConfig::default(),
        )
        .unwrap();
        book.set_profile("Alice", None).unwrap();
        (store, book)
    }

    /// Bob number `r`: a fixed key, his own database file.
    fn bob(&self, r: u64) -> BuddyBook<Client> {
        let store = self.store(&format!("bob{r}.db"));
        if store.identity().is_err() {
            store
                .import_identity(
                    &bob_identity(r),
                    InboxToken([1, 2, 3, 4, 1, 2, 3, 4, 1, 2, 3, 4, 1, 2, 3, 4]),
                )
                .unwrap();
        }
        let book = BuddyBook::new(
            Arc::new(store),
            self.mailbox(),
            self.clock.clone(),
            BuddyConfig::default(),
        )
        .unwrap();
        book.set_profile(&format!("Bob {r}"), None).unwrap();
        book
    }
}

fn bob_identity(r: u64) -> pigeonhole::identity::Identity {
    let mut seed = [0x42; 32];
    seed[..8].copy_from_slice(&r.to_be_bytes());
    pigeonhole::identity::Identity::from_secret_bytes(seed)
}

/// The child: works from step `start` to the end, printing acknowledgements.
async fn child(dir: &Path, start: u64) {
    let world = World::open(dir);
    let (store, alice) = world.alice();
    // Finishes whatever the last kill interrupted before anything else.
    let resumed = alice.sync_now().await.unwrap().intents;
    println!("RESUMED {} {}", resumed.found, resumed.republished);
    let author = alice.public_key();
    for step in start..STEPS {
        let post = FeedPost {
            feed_name: "news".into(),
            title: format!("post {step}"),
            link: None,
            summary: "s".into(),
            number: step + 1,
            published_at: None,
            replaces: None,
        };
        let record = alice
            .mailbox()
            .publish(
                &alice_identity(&store),
                Draft {
                    kind: Kind::FeedPost,
                    mailbox: feed_mailbox(&author, "news"),
                    body: post.encode(),
                    lifetime_secs: 3 * DAY,
                },
            )
            .await
            .unwrap();
        store.outbox_put(&record).unwrap();
        println!("PUB {}", hex::encode(record.dht_key().0));
        if step % REQUEST_EVERY == REQUEST_EVERY - 1 {
            let r = step / REQUEST_EVERY;
            let bob = world.bob(r);
            let already = alice
                .sent_requests()
                .unwrap()
                .iter()
                .any(|sent| sent.to == bob.public_key());
            if !already {
                let sent = alice
                    .send_request(&bob.contact_code().unwrap().to_string(), "hi", vec![])
                    .await
                    .unwrap();
                println!("SENT {r} {}", hex::encode(sent.id));
            }
            let resumed = bob.sync_now().await.unwrap().intents;
            println!("RESUMED {} {}", resumed.found, resumed.republished);
            for pending in bob.pending_requests().unwrap() {
                if r.is_multiple_of(2) {
                    bob.accept(&pending.id).await.unwrap();
                } else {
                    bob.decline(&pending.id).await.unwrap();
                }
                println!("ANSWERED {r} {}", hex::encode(pending.id));
            }
            alice.sync_now().await.unwrap();
        }
        println!("STEP {step}");
    }
    println!("FINISHED");
}

fn alice_identity(store: &Store) -> pigeonhole::identity::Identity {
    store.identity().unwrap().0
}

/// What the child acknowledged, from its output.
#[derive(Default)]
struct Acks {
    published: Vec<[u8; 32]>,
    sent: Vec<(u64, [u8; 32])>,
    answered: Vec<(u64, [u8; 32])>,
    last_step: Option<u64>,
    finished: bool,
    /// Interrupted sends and answers finished after a restart: found out
    /// there (cut after the put) and put again (cut before it).
    resumed: (u32, u32),
}

fn hex32(text: &str) -> Option<[u8; 32]> {
    hex::decode(text).ok()?.try_into().ok()
}

impl Acks {
    fn read(&mut self, line: &str) {
        let words: Vec<&str> = line.split_whitespace().collect();
        match words.as_slice() {
            ["PUB", key] => self.published.extend(hex32(key)),
            ["SENT", r, id] => self.sent.extend(r.parse().ok().zip(hex32(id))),
            ["ANSWERED", r, id] => self.answered.extend(r.parse().ok().zip(hex32(id))),
            ["STEP", step] => self.last_step = step.parse().ok().or(self.last_step),
            ["FINISHED"] => self.finished = true,
            ["RESUMED", found, again] => {
                self.resumed.0 += found.parse::<u32>().unwrap_or(0);
                self.resumed.1 += again.parse::<u32>().unwrap_or(0);
            }
            _ => {} // the test harness's own lines
        }
    }
}

fn raw(path: &Path) -> Connection {
    let conn = Connection::open(path).unwrap();
    conn.busy_timeout(Duration::from_secs(10)).unwrap();
    conn
}

fn integrity_ok(path: &Path) {
    let result: String = raw(path)
        .query_row("PRAGMA integrity_check", [], |row| row.get(0))
        .unwrap();
    assert_eq!(result, "ok", "{}", path.display());
}

fn has_row(path: &Path, sql: &str, key: &[u8; 32]) -> bool {
    raw(path)
        .query_row(sql, params![&key[..]], |_| Ok(()))
        .optional()
        .unwrap()
        .is_some()
}

/// After a kill: every database sound, every acknowledged operation there.
fn check_acknowledged(dir: &Path, acks: &Acks) {
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.extension().is_some_and(|ext| ext == "db") {
            integrity_ok(&path);
        }
    }
    let alice = dir.join("alice.db");
    for key in &acks.published {
        assert!(has_row(&alice, "SELECT 1 FROM outbox WHERE key = ?1", key));
        assert!(has_row(
            &dir.join("dht.db"),
            "SELECT 1 FROM slots WHERE key = ?1",
            key
        ));
    }
    for (_, id) in &acks.sent {
        let sql = "SELECT 1 FROM sent_requests WHERE request_id = ?1";
        assert!(has_row(&alice, sql, id), "acknowledged send lost");
    }
    for (r, id) in &acks.answered {
        let sql = "SELECT 1 FROM answered_requests WHERE request_id = ?1";
        assert!(has_row(&dir.join(format!("bob{r}.db")), sql, id));
    }
}

/// When to kill a run: after it acknowledged `steps` more steps (0: during
/// its start-up, which finishes the intents the last kill cut), plus
/// `jitter`, so the kill lands anywhere inside the next step.
struct KillAt {
    steps: u64,
    jitter: Duration,
}

/// Runs the child from `start` until it ends, or until `kill` says.
fn run_child(dir: &Path, start: u64, kill: Option<KillAt>, acks: &mut Acks) {
    let mut child = Command::new(std::env::current_exe().unwrap())
        .args([
            "kill_nine_during_work_loses_nothing_acknowledged",
            "--exact",
            "--nocapture",
        ])
        .env(CHILD_ENV, dir)
        .env(START_ENV, start.to_string())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let stdout = child.stdout.take().unwrap();
    let (lines, received) = std::sync::mpsc::channel();
    let reader = std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            if lines.send(line).is_err() {
                break;
            }
        }
    });
    let deadline = Instant::now() + Duration::from_secs(600);
    let mut steps = 0;
    let mut killed = false;
    loop {
        if let Some(at) = &kill
            && !killed
            && steps >= at.steps
        {
            std::thread::sleep(at.jitter);
            child.kill().unwrap(); // SIGKILL
            killed = true;
        }
        let left = deadline.saturating_duration_since(Instant::now());
        match received.recv_timeout(left) {
            Ok(line) => {
                steps += u64::from(line.starts_with("STEP "));
                acks.read(&line);
            }
            Err(std::sync::mpsc::RecvTimeoutError::Disconnected) => break,
            Err(std::sync::mpsc::RecvTimeoutError::Timeout) => {
                child.kill().unwrap();
                panic!("the child made no progress for 10 min");
            }
        }
    }
    child.wait().unwrap();
    reader.join().unwrap();
}

#[test]
fn kill_nine_during_work_loses_nothing_acknowledged() {
    if let Ok(dir) = std::env::var(CHILD_ENV) {
        let start = std::env::var(START_ENV).unwrap().parse().unwrap();
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        runtime.block_on(child(Path::new(&dir), start));
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let mut acks = Acks::default();
    let mut rng = rand::thread_rng();
    let mut kills = 0;
    while kills < KILLS {
        let start = acks.last_step.map_or(0, |step| step + 1);
        // At most 45 steps per run: 20 kills fall inside the 1,000 steps.
        let mut steps = rng.gen_range(0..=35);
        if rng.gen_bool(0.5) {
            // Into a step that sends and answers: the intent log's windows.
            while (start + steps) % REQUEST_EVERY != REQUEST_EVERY - 1 {
                steps += 1;
            }
        }
        let at = KillAt {
            steps,
            jitter: Duration::from_micros(rng.gen_range(0..20_000)),
        };
        run_child(dir.path(), start, Some(at), &mut acks);
        assert!(!acks.finished, "a kill came after the end of the work");
        kills += 1;
        check_acknowledged(dir.path(), &acks);
    }
    let start = acks.last_step.map_or(0, |step| step + 1);
    run_child(dir.path(), start, None, &mut acks);
    assert!(acks.finished, "the last run completes the work");
    check_acknowledged(dir.path(), &acks);
    eprintln!(
        "{kills} kills; {} publishes, {} sends, {} answers acknowledged; \
         interrupted intents finished: {} found out, {} put again",
        acks.published.len(),
        acks.sent.len(),
        acks.answered.len(),
        acks.resumed.0,
        acks.resumed.1
    );
    check_converged(dir.path());
}

/// Every request was sent once, answered once, and recognised by Alice;
/// no intent is left anywhere; the buddy lists agree.
fn check_converged(dir: &Path) {
    let alice = raw(&dir.join("alice.db"));
    let intents: i64 = alice
        .query_row("SELECT count(*) FROM buddy_intents", [], |row| row.get(0))
        .unwrap();
    assert_eq!(intents, 0, "Alice has half-done intents");
    let mut statement = alice
        .prepare("SELECT request_id, recipient, status FROM sent_requests")
        .unwrap();
    let sent: BTreeMap<Vec<u8>, (Vec<u8>, i64)> = statement
        .query_map([], |row| Ok((row.get(1)?, (row.get(0)?, row.get(2)?))))
        .unwrap()
        .map(Result::unwrap)
        .collect();
    let requests = STEPS / REQUEST_EVERY;
    assert_eq!(sent.len() as u64, requests, "one sent request per Bob");
    for r in 0..requests {
        let bob_key = bob_identity(r).public_key();
        let (request_id, status) = &sent[&bob_key.0.to_vec()];
        let accepted = r.is_multiple_of(2);
        assert_eq!(*status, if accepted { 1 } else { 2 }, "Bob {r}'s answer");
        let bob = raw(&dir.join(format!("bob{r}.db")));
        let (decision, bob_intents): (i64, i64) = bob
            .query_row(
                "SELECT (SELECT decision FROM answered_requests WHERE request_id = ?1),
                        (SELECT count(*) FROM buddy_intents)",
                params![request_id],
                |row| Ok((row.get(0)?, row.get(1)?)),
            )
            .unwrap();
        assert_eq!(decision, if accepted { 1 } else { 2 });
        assert_eq!(bob_intents, 0, "Bob {r} has half-done intents");
        let alice_lists_bob: bool = alice
            .query_row(
                "SELECT EXISTS (SELECT 1 FROM buddies WHERE public_key = ?1)",
                params![&bob_key.0[..]],
                |row| row.get(0),
            )
            .unwrap();
        let bob_lists_alice: bool = bob
            .query_row("SELECT EXISTS (SELECT 1 FROM buddies)", [], |row| {
                row.get(0)
            })
            .unwrap();
        assert_eq!(alice_lists_bob, accepted, "Alice's list, Bob {r}");
        assert_eq!(bob_lists_alice, accepted, "Bob {r}'s list");
    }
}
