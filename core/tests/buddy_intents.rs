//! The buddy intent log, cut at each step on purpose: a call dropped
//! (the app killed) before or after its put, a put whose read-back failed,
//! a put that never landed. Each converges at the next sync of a new book
//! on the same database (a restart): sent and known as sent, or reported
//! failed and never put behind the user's back.

mod common;

use std::sync::{Arc, Mutex};

use async_trait::async_trait;
use common::*;
use pigeonhole::buddy::{BuddyBook, BuddyConfig, DropReason};
use pigeonhole::clock::ManualClock;
use pigeonhole::mailbox::{Dht, DhtError, Mailbox, MemoryDht};
use pigeonhole::record::DhtKey;
use pigeonhole::store::Store;
use pigeonhole::store::buddies::SentStatus;
use pigeonhole::store::intents::IntentState;

/// What the next put does wrong.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Fault {
    None,
    /// Never returns, without storing (killed before the put).
    HangBeforePut,
    /// Stores, then never returns (killed after the put).
    HangAfterPut,
    /// Stores and returns; every get fails from then on (read-back lost).
    FailGetsAfterPut,
    /// Fails without storing (the network went away).
    FailPut,
    FailGets,
}

struct Faulty {
    inner: Arc<MemoryDht>,
    fault: Mutex<Fault>,
    /// Signalled when a put starts hanging: the moment to "kill" the app.
    hanging: tokio::sync::Notify,
}

impl Faulty {
    fn set(&self, fault: Fault) {
        *self.fault.lock().unwrap() = fault;
    }
}

fn unavailable() -> DhtError {
    DhtError::Unavailable("test fault".into())
}

#[async_trait]
impl Dht for Faulty {
    async fn get(&self, key: DhtKey) -> Result<Option<Vec<u8>>, DhtError> {
        if *self.fault.lock().unwrap() == Fault::FailGets {
            return Err(unavailable());
        }
        self.inner.get(key).await
    }

    async fn put(&self, key: DhtKey, value: Vec<u8>) -> Result<(), DhtError> {
        let fault = *self.fault.lock().unwrap();
        match fault {
            Fault::None | Fault::FailGets => self.inner.put(key, value).await,
            Fault::HangBeforePut => {
                self.hanging.notify_one();
                std::future::pending().await
            }
            Fault::HangAfterPut => {
                self.inner.put(key, value).await?;
                self.hanging.notify_one();
                std::future::pending().await
            }
            Fault::FailGetsAfterPut => {
                self.inner.put(key, value).await?;
                self.set(Fault::FailGets);
                Ok(())
            }
            Fault::FailPut => Err(unavailable()),
        }
    }
}

type Client = Arc<dyn Dht>;

struct Net {
    clock: Arc<ManualClock>,
    faulty: Arc<Faulty>,
}

impl Net {
    fn new() -> Self {
        let clock = clock();
        let faulty = Arc::new(Faulty {
            inner: memory_dht(&clock),
            fault: Mutex::new(Fault::None),
            hanging: tokio::sync::Notify::new(),
        });
        Self { clock, faulty }
    }

    /// A book on `store` (a new book on the same store is a restart).
    fn book(&self, store: &Arc<Store>, name: &str) -> BuddyBook<Client> {
        let client: Client = self.faulty.clone();
        let mailbox = Mailbox::new(client, validator(), self.clock.clone(), config());
        let book = BuddyBook::new(
            store.clone(),
            mailbox,
            self.clock.clone(),
            BuddyConfig::default(),
        )
        .unwrap();
        book.set_profile(name, None).unwrap();
        book
    }

    fn store(&self) -> Arc<Store> {
        Arc::new(Store::open_in_memory(validator(), self.clock.clone()).unwrap())
    }
}

fn code(book: &BuddyBook<Client>) -> String {
    book.contact_code().unwrap().to_string()
}

/// Runs `call` until it hangs in the faulty put, then drops it: what an app
/// killed at that moment leaves behind.
async fn cut<F: std::future::Future>(net: &Net, call: F) {
    tokio::select! {
        _ = call => panic!("the call was expected to hang in its put"),
        () = net.faulty.hanging.notified() => {}
    }
}

#[tokio::test]
async fn an_accept_of_a_request_cut_after_its_put_is_recognised() {
    let net = Net::new();
    let (alice_store, bob_store) = (net.store(), net.store());
    let alice = net.book(&alice_store, "Alice");
    let bob = net.book(&bob_store, "Bob");
    net.faulty.set(Fault::HangAfterPut);
    cut(&net, alice.send_request(&code(&bob), "hi", vec![])).await;
    net.faulty.set(Fault::None);
    assert!(alice.sent_requests().unwrap().is_empty(), "no sent row yet");
    assert_eq!(alice_store.intents().unwrap().len(), 1);
    drop(alice);

    // Bob sees the request that is out, and accepts it.
    bob.sync_now().await.unwrap();
    let pending = bob.pending_requests().unwrap();
    assert_eq!(pending.len(), 1);
    bob.accept(&pending[0].id).await.unwrap();

    // Alice restarts: her sync finds her request and then Bob's answer.
    let alice = net.book(&alice_store, "Alice");
    let report = alice.sync_now().await.unwrap();
    assert_eq!(report.intents.found, 1);
    assert_eq!(report.answers_received, 1);
    assert_eq!(report.dropped.get(&DropReason::Unsolicited), None);
    let sent = alice.sent_requests().unwrap();
    assert_eq!(sent.len(), 1);
    assert_eq!(sent[0].id, pending[0].id);
    assert_eq!(sent[0].status, SentStatus::Accepted);
    assert_eq!(alice.buddies().unwrap()[0].public_key, bob.public_key());
    assert!(alice_store.intents().unwrap().is_empty());
}

#[tokio::test]
async fn a_request_cut_before_its_put_is_sent_by_the_next_sync() {
    let net = Net::new();
    let (alice_store, bob_store) = (net.store(), net.store());
    let alice = net.book(&alice_store, "Alice");
    let bob = net.book(&bob_store, "Bob");
    net.faulty.set(Fault::HangBeforePut);
    cut(&net, alice.send_request(&code(&bob), "hi", vec![])).await;
    net.faulty.set(Fault::None);
    bob.sync_now().await.unwrap();
    assert!(
        bob.pending_requests().unwrap().is_empty(),
        "nothing was out"
    );
    drop(alice);

    let alice = net.book(&alice_store, "Alice");
    let report = alice.sync_now().await.unwrap();
    assert_eq!(report.intents.republished, 1);
    let sent = alice.sent_requests().unwrap();
    assert_eq!(sent.len(), 1);
    bob.sync_now().await.unwrap();
    let pending = bob.pending_requests().unwrap();
    assert_eq!(pending.len(), 1);
    assert_eq!(pending[0].id, sent[0].id);
    bob.decline(&pending[0].id).await.unwrap();
    alice.sync_now().await.unwrap();
    assert_eq!(
        alice.sent_requests().unwrap()[0].status,
        SentStatus::Declined
    );
    // A second sync does nothing more: converged.
    let again = alice.sync_now().await.unwrap();
    assert_eq!(again.intents, Default::default());
}

#[tokio::test]
async fn a_send_that_failed_after_its_put_is_recorded_never_repeated() {
    let net = Net::new();
    let (alice_store, bob_store) = (net.store(), net.store());
    let alice = net.book(&alice_store, "Alice");
    let bob = net.book(&bob_store, "Bob");
    let bob_code = code(&bob);
    net.faulty.set(Fault::FailGetsAfterPut);
    assert!(alice.send_request(&bob_code, "hi", vec![]).await.is_err());
    net.faulty.set(Fault::None);
    let intents = alice_store.intents().unwrap();
    assert_eq!(intents.len(), 1);
    assert_eq!(intents[0].state, IntentState::Uncertain);
    let report = alice.sync_now().await.unwrap();
    assert_eq!(report.intents.found, 1, "the put had happened");
    assert_eq!(alice.sent_requests().unwrap().len(), 1);

    // A put that never landed: reported failed, forgotten, not put again.
    let carol_store = net.store();
    let carol = net.book(&carol_store, "Carol");
    net.faulty.set(Fault::FailPut);
    assert!(
        alice
            .send_request(&code(&carol), "hi", vec![])
            .await
            .is_err()
    );
    net.faulty.set(Fault::None);
    let report = alice.sync_now().await.unwrap();
    assert_eq!(report.intents.dropped, 1);
    assert_eq!(report.intents.republished, 0);
    carol.sync_now().await.unwrap();
    assert!(carol.pending_requests().unwrap().is_empty());
    assert_eq!(alice.sent_requests().unwrap().len(), 1);
    assert!(alice_store.intents().unwrap().is_empty());
}

#[tokio::test]
async fn an_answer_cut_after_its_put_is_recorded_by_the_next_sync() {
    let net = Net::new();
    let (alice_store, bob_store) = (net.store(), net.store());
    let alice = net.book(&alice_store, "Alice");
    let bob = net.book(&bob_store, "Bob");
    alice.send_request(&code(&bob), "hi", vec![]).await.unwrap();
    bob.sync_now().await.unwrap();
    let id = bob.pending_requests().unwrap()[0].id;
    net.faulty.set(Fault::HangAfterPut);
    cut(&net, bob.accept(&id)).await;
    net.faulty.set(Fault::None);
    assert!(bob.buddies().unwrap().is_empty(), "not recorded yet");
    // Not offered again while the cut answer waits for the sync.
    assert!(bob.pending_requests().unwrap().is_empty());
    assert!(matches!(
        bob.decline(&id).await,
        Err(pigeonhole::buddy::BuddyError::UnknownRequest)
    ));
    drop(bob);

    let bob = net.book(&bob_store, "Bob");
    let report = bob.sync_now().await.unwrap();
    assert_eq!(report.intents.found, 1);
    assert_eq!(bob.buddies().unwrap()[0].public_key, alice.public_key());
    assert!(bob.pending_requests().unwrap().is_empty());
    alice.sync_now().await.unwrap();
    assert_eq!(alice.buddies().unwrap()[0].public_key, bob.public_key());
    // Exactly one answer went out: Alice saw one, nothing is left to do.
    assert!(bob_store.intents().unwrap().is_empty());
    assert_eq!(
        alice.sent_requests().unwrap()[0].status,
        SentStatus::Accepted
    );
}
