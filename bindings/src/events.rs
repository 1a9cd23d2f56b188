//! Events to the app: [`Event`], the [`EventListener`] the app implements,
//! and the [`EventSubscription`] handle that stops delivery.
//!
//! uniffi cannot carry a tokio broadcast receiver, so the app registers a
//! listener (a foreign trait: a Kotlin/Swift/Python object) and gets a
//! handle back; closing or dropping the handle stops delivery, and so does
//! dropping the node. The Kotlin `Flow` and Swift `AsyncStream` helpers
//! shipped with the bindings are built on this.
//!
//! [`Event`] is the one enum every source of events maps into: the SDK's
//! merged stream (`Node::events`) of buddy, feed and document events. New
//! sources join it as new variants (an app's `when`/`switch` should keep an
//! `else`/`default` branch). Each
//! listener gets its own task on the bindings' runtime, and a listener that
//! falls behind by more than the SDK's buffer gets [`Event::EventsLost`]
//! instead of the events it missed.

use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

use pigeonhole::buddy::BuddyEvent;
use pigeonhole::feed::FeedEvent;
use pigeonhole::notice::NoticeEvent;
use pigeonhole_sdk::Event as SdkEvent;
use tokio::sync::{broadcast, oneshot};
use tracing::{debug, error};

use crate::error::PigeonholeError;
use crate::feeds::FeedPost;
use crate::notices::{DocumentConflict, DocumentNotice, DocumentRef};
use crate::runtime;

/// Something the app shows or reacts to.
#[derive(Clone, Debug, PartialEq, Eq, uniffi::Enum)]
pub enum Event {
    /// A new buddy request is pending: list it with `pendingRequests`.
    RequestReceived {
        /// The request's id, for `accept` / `decline`.
        request_id: String,
        /// The requester's public key.
        from: String,
        /// The name they gave.
        display_name: String,
        /// Whether that name mixes alphabets or imitates an ASCII name:
        /// show a warning next to it.
        name_suspicious: bool,
    },
    /// Someone already on the buddy list sent a new request (they may have
    /// lost this user from their list). It is not pending: they are a
    /// buddy already; the app may tell the user.
    BuddyRequestedAgain {
        /// The new request's id.
        request_id: String,
        /// The buddy's public key.
        from: String,
        /// The name they gave.
        display_name: String,
    },
    /// A request this user sent was answered.
    RequestAnswered {
        /// The request's id.
        request_id: String,
        /// Who answered (public key).
        by: String,
        /// Accepted (they are now a buddy) or declined.
        accepted: bool,
    },
    /// This user withdrew a request it sent.
    RequestWithdrawn {
        /// The request's id.
        request_id: String,
    },
    /// Someone joined the buddy list.
    BuddyAdded {
        /// Their public key.
        public_key: String,
        /// Their display name.
        display_name: String,
    },
    /// Someone left the buddy list.
    BuddyRemoved {
        /// Their public key.
        public_key: String,
    },
    /// A background sync could not complete (the next one retries).
    SyncFailed {
        /// Why, in words.
        reason: String,
    },
    /// This listener fell behind and missed `count` events: refresh the
    /// lists the app shows.
    EventsLost {
        /// How many were missed.
        count: u64,
    },
    /// A followed feed has a new post (found by `fetchFeed` or the
    /// background sync).
    FeedPostAdded {
        /// The post.
        post: FeedPost,
    },
    /// A post of a followed feed was edited: `post.replaces` names the
    /// version it replaces.
    FeedPostEdited {
        /// The new version.
        post: FeedPost,
    },
    /// The author deleted a post of a followed feed.
    FeedPostDeleted {
        /// The feed's reference (`PHF-…`).
        feed: String,
        /// The deleted version's id.
        post_id: String,
    },
    /// Posts of a followed feed expired before this user read them.
    FeedPostsMissed {
        /// The feed's reference (`PHF-…`).
        feed: String,
        /// How many.
        count: u64,
    },
    /// A watched document has a new version.
    DocumentUpdated {
        /// The notice, with its content inline when it was small.
        notice: DocumentNotice,
    },
    /// Versions `fromVersion..=toVersion` of a watched document were never
    /// seen (expired, or never published).
    DocumentGap {
        /// The document.
        doc: DocumentRef,
        /// First missing version.
        from_version: u64,
        /// Last missing version.
        to_version: u64,
    },
    /// Two or more different notices for one version of a watched document.
    DocumentVersionConflict {
        /// The document.
        doc: DocumentRef,
        /// What conflicts.
        conflict: DocumentConflict,
    },
    /// Notices of a watched document from non-editors were rejected.
    DocumentNoticesRejected {
        /// The document.
        doc: DocumentRef,
        /// How many.
        count: u64,
    },
}

impl From<SdkEvent> for Event {
    fn from(event: SdkEvent) -> Self {
        match event {
            SdkEvent::Buddy(event) => event.into(),
            SdkEvent::Feed(event) => event.into(),
            SdkEvent::Doc(event) => event.into(),
        }
    }
}

impl From<FeedEvent> for Event {
    fn from(event: FeedEvent) -> Self {
        match event {
            FeedEvent::Posted(post) => Event::FeedPostAdded { post: post.into() },
            FeedEvent::Edited(post) => Event::FeedPostEdited { post: post.into() },
            FeedEvent::Deleted { feed, post_id } => Event::FeedPostDeleted {
                feed: feed.to_string(),
                post_id: hex::encode(post_id),
            },
            FeedEvent::Missed { feed, count } => Event::FeedPostsMissed {
                feed: feed.to_string(),
                count,
            },
        }
    }
}

impl From<NoticeEvent> for Event {
    fn from(event: NoticeEvent) -> Self {
        match event {
            NoticeEvent::Updated(notice) => Event::DocumentUpdated {
                notice: (*notice).into(),
            },
            NoticeEvent::Gap { doc, from, to } => Event::DocumentGap {
                doc: doc.into(),
                from_version: from,
                to_version: to,
            },
            NoticeEvent::Conflict { doc, conflict } => Event::DocumentVersionConflict {
                doc: doc.into(),
                conflict: conflict.into(),
            },
            NoticeEvent::Rejected { doc, count } => Event::DocumentNoticesRejected {
                doc: doc.into(),
                count,
            },
        }
    }
}

impl From<BuddyEvent> for Event {
    fn from(event: BuddyEvent) -> Self {
        match event {
            BuddyEvent::RequestReceived {
                request_id,
                from,
                display_name,
            } => Event::RequestReceived {
                request_id: hex::encode(request_id),
                from: from.to_hex(),
                name_suspicious: pigeonhole::names::NameCheck::of(&display_name).suspicious(),
                display_name,
            },
            BuddyEvent::BuddyRequestedAgain {
                request_id,
                from,
                display_name,
            } => Event::BuddyRequestedAgain {
                request_id: hex::encode(request_id),
                from: from.to_hex(),
                display_name,
            },
            BuddyEvent::RequestAnswered {
                request_id,
                by,
                accepted,
            } => Event::RequestAnswered {
                request_id: hex::encode(request_id),
                by: by.to_hex(),
                accepted,
            },
            BuddyEvent::RequestWithdrawn { request_id } => Event::RequestWithdrawn {
                request_id: hex::encode(request_id),
            },
            BuddyEvent::BuddyAdded {
                public_key,
                display_name,
            } => Event::BuddyAdded {
                public_key: public_key.to_hex(),
                display_name,
            },
            BuddyEvent::BuddyRemoved { public_key } => Event::BuddyRemoved {
                public_key: public_key.to_hex(),
            },
            BuddyEvent::SyncFailed { reason } => Event::SyncFailed { reason },
        }
    }
}

/// Receives a node's events; implemented by the app.
///
/// `on_event` is called on a library thread, one event at a time and in
/// order, never on the app's main thread: hand the event over (post to a
/// channel, a `Flow`, a main-thread queue) and return quickly.
#[uniffi::export(foreign)]
pub trait EventListener: Send + Sync {
    /// One event.
    fn on_event(&self, event: Event);
}

/// A registered listener. Cancelling it (or dropping it: Kotlin `close()`,
/// Swift `deinit`) stops delivery: no call to the listener starts after
/// `cancel` returns.
#[derive(uniffi::Object)]
pub struct EventSubscription {
    closed: Arc<AtomicBool>,
    stop: Mutex<Option<oneshot::Sender<()>>>,
}

#[uniffi::export]
impl EventSubscription {
    /// Stops delivery to the listener; calling it again does nothing.
    pub fn cancel(&self) {
        self.closed.store(true, Ordering::SeqCst);
        let stop = self
            .stop
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
            .take();
        if let Some(stop) = stop {
            let _ = stop.send(());
        }
    }

    /// Whether delivery has stopped (cancelled, or the node went away).
    pub fn is_cancelled(&self) -> bool {
        self.closed.load(Ordering::SeqCst)
    }
}

impl Drop for EventSubscription {
    fn drop(&mut self) {
        self.cancel();
    }
}

/// Delivers what `receiver` gets to `listener` on the bindings' runtime
/// until the subscription is cancelled or the sender side goes away.
pub fn subscribe<E>(
    mut receiver: broadcast::Receiver<E>,
    listener: Arc<dyn EventListener>,
) -> Result<Arc<EventSubscription>, PigeonholeError>
where
    E: Into<Event> + Clone + Send + 'static,
{
    let closed = Arc::new(AtomicBool::new(false));
    let (stop, mut stopped) = oneshot::channel();
    let task_closed = closed.clone();
    runtime::handle()?.spawn(async move {
        loop {
            let event = tokio::select! {
                _ = &mut stopped => break,
                received = receiver.recv() => match received {
                    Ok(event) => event.into(),
                    Err(broadcast::error::RecvError::Lagged(count)) => Event::EventsLost { count },
                    Err(broadcast::error::RecvError::Closed) => break,
                },
            };
            if task_closed.load(Ordering::SeqCst) {
                break;
            }
            // Foreign code may block (a Python listener waits for the
            // GIL): let the runtime move its other tasks off this worker.
            let delivered = tokio::task::block_in_place(|| {
                catch_unwind(AssertUnwindSafe(|| listener.on_event(event)))
            });
            if delivered.is_err() {
                error!("an event listener failed; it keeps receiving events");
            }
        }
        task_closed.store(true, Ordering::SeqCst);
        debug!("event delivery ended");
    });
    Ok(Arc::new(EventSubscription {
        closed,
        stop: Mutex::new(Some(stop)),
    }))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::mpsc;
    use std::time::Duration;

    struct ToChannel(Mutex<mpsc::Sender<Event>>);

    impl EventListener for ToChannel {
        fn on_event(&self, event: Event) {
            let _ = self.0.lock().expect("lock").send(event);
        }
    }

    fn failed(n: u32) -> BuddyEvent {
        BuddyEvent::SyncFailed {
            reason: format!("r{n}"),
        }
    }

    #[test]
    fn sdk_feed_and_doc_events_convert() {
        use pigeonhole::feed::{FeedRef, Post};
        use pigeonhole::identity::PublicKey;
        use pigeonhole::notice::{Conflict, DocRef};

        let feed = FeedRef::new(PublicKey([1; 32]), "news").expect("feed");
        let post = Post {
            id: [2; 32],
            guid: [2; 32],
            feed: feed.clone(),
            number: 1,
            title: "t".into(),
            link: None,
            summary: "s".into(),
            published_at: 3,
            created_at: 3,
            replaces: None,
        };
        match Event::from(SdkEvent::Feed(FeedEvent::Posted(post.clone()))) {
            Event::FeedPostAdded { post: crossed } => assert_eq!(crossed, post.clone().into()),
            other => panic!("expected FeedPostAdded, got {other:?}"),
        }
        assert!(matches!(
            Event::from(SdkEvent::Feed(FeedEvent::Edited(post))),
            Event::FeedPostEdited { .. }
        ));
        assert_eq!(
            Event::from(SdkEvent::Feed(FeedEvent::Deleted {
                feed: feed.clone(),
                post_id: [4; 32],
            })),
            Event::FeedPostDeleted {
                feed: feed.to_string(),
                post_id: "04".repeat(32),
            }
        );
        assert_eq!(
            Event::from(SdkEvent::Feed(FeedEvent::Missed {
                feed: feed.clone(),
                count: 5,
            })),
            Event::FeedPostsMissed {
                feed: feed.to_string(),
                count: 5,
            }
        );
        let doc = DocRef::new(PublicKey([6; 32]), "plan").expect("doc");
        let crossed_doc = DocumentRef {
            owner: "06".repeat(32),
            name: "plan".into(),
        };
        assert_eq!(
            Event::from(SdkEvent::Doc(NoticeEvent::Gap {
                doc: doc.clone(),
                from: 2,
                to: 4,
            })),
            Event::DocumentGap {
                doc: crossed_doc.clone(),
                from_version: 2,
                to_version: 4,
            }
        );
        let conflict = Event::from(SdkEvent::Doc(NoticeEvent::Conflict {
            doc: doc.clone(),
            conflict: Conflict {
                version: 3,
                notice_ids: vec![[7; 32]],
                senders: vec![PublicKey([8; 32])],
            },
        }));
        match conflict {
            Event::DocumentVersionConflict { doc, conflict } => {
                assert_eq!(doc, crossed_doc);
                assert_eq!(conflict.version, 3);
                assert_eq!(conflict.senders, vec!["08".repeat(32)]);
            }
            other => panic!("expected DocumentVersionConflict, got {other:?}"),
        }
        assert_eq!(
            Event::from(SdkEvent::Doc(NoticeEvent::Rejected { doc, count: 2 })),
            Event::DocumentNoticesRejected {
                doc: crossed_doc,
                count: 2,
            }
        );
        assert_eq!(
            Event::from(SdkEvent::Buddy(failed(9))),
            Event::SyncFailed {
                reason: "r9".into()
            }
        );
    }

    #[test]
    fn delivers_in_order_then_stops_when_cancelled() {
        let (sender, receiver) = broadcast::channel(16);
        let (tx, rx) = mpsc::channel();
        let subscription =
            subscribe(receiver, Arc::new(ToChannel(Mutex::new(tx)))).expect("subscribed");
        sender.send(failed(1)).expect("sent");
        sender.send(failed(2)).expect("sent");
        let wait = Duration::from_secs(10);
        assert_eq!(
            rx.recv_timeout(wait).expect("first"),
            Event::SyncFailed {
                reason: "r1".into()
            }
        );
        assert_eq!(
            rx.recv_timeout(wait).expect("second"),
            Event::SyncFailed {
                reason: "r2".into()
            }
        );
        subscription.cancel();
        assert!(subscription.is_cancelled());
        // Once the task has seen the cancel, the sender has no receiver.
        for _ in 0..1000 {
            if sender.receiver_count() == 0 {
                break;
            }
            std::thread::sleep(Duration::from_millis(5));
        }
        assert_eq!(sender.receiver_count(), 0);
        assert!(rx.try_recv().is_err());
    }

    #[test]
    fn dropping_the_sender_ends_delivery_and_lag_is_reported() {
        let (sender, receiver) = broadcast::channel(2);
        for n in 0..5 {
            sender.send(failed(n)).expect("sent");
        }
        let (tx, rx) = mpsc::channel();
        let subscription =
            subscribe(receiver, Arc::new(ToChannel(Mutex::new(tx)))).expect("subscribed");
        drop(sender);
        let wait = Duration::from_secs(10);
        assert_eq!(
            rx.recv_timeout(wait).expect("lag"),
            Event::EventsLost { count: 3 }
        );
        assert_eq!(
            rx.recv_timeout(wait).expect("r3"),
            Event::SyncFailed {
                reason: "r3".into()
            }
        );
        assert_eq!(
            rx.recv_timeout(wait).expect("r4"),
            Event::SyncFailed {
                reason: "r4".into()
            }
        );
        assert!(
            rx.recv_timeout(wait).is_err(),
            "the channel closes with the task"
        );
        assert!(subscription.is_cancelled());
    }
}
