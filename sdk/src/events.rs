//! One event stream for the app: buddy, feed and document events merged
//! into [`Event`], so an app (or a binding) has a single listener.
//!
//! Each layer keeps its own broadcast channel (the core crates know nothing
//! of each other); a forwarding task per layer re-sends into one channel.
//! A slow listener that falls 256 events behind loses the oldest, and is
//! told so by `RecvError::Lagged`, exactly as with each layer's own stream.

use pigeonhole::buddy::BuddyEvent;
use pigeonhole::feed::FeedEvent;
use pigeonhole::notice::NoticeEvent;
use tokio::sync::broadcast;
use tokio::task::JoinHandle;

/// Everything an app is told about, from every layer.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Event {
    /// Buddy requests, answers, the buddy list.
    Buddy(BuddyEvent),
    /// Feed posts: new, edited, deleted, missed.
    Feed(FeedEvent),
    /// Document notices: update, gap, conflict, rejected.
    Doc(NoticeEvent),
}

/// The merged channel and the tasks feeding it.
pub(crate) struct Merged {
    pub(crate) sender: broadcast::Sender<Event>,
    pub(crate) tasks: Vec<JoinHandle<()>>,
}

impl Merged {
    /// Starts forwarding the three layers' streams into one.
    pub(crate) fn start(
        buddy: broadcast::Receiver<BuddyEvent>,
        feed: broadcast::Receiver<FeedEvent>,
        doc: broadcast::Receiver<NoticeEvent>,
    ) -> Self {
        let (sender, _) = broadcast::channel(256);
        let tasks = vec![
            forward(buddy, sender.clone(), Event::Buddy),
            forward(feed, sender.clone(), Event::Feed),
            forward(doc, sender.clone(), Event::Doc),
        ];
        Self { sender, tasks }
    }

    /// Stops the forwarding tasks.
    pub(crate) fn stop(&self) {
        for task in &self.tasks {
            task.abort();
        }
    }
}

fn forward<T: Clone + Send + 'static>(
    mut from: broadcast::Receiver<T>,
    to: broadcast::Sender<Event>,
    wrap: fn(T) -> Event,
) -> JoinHandle<()> {
    tokio::spawn(async move {
        loop {
            match from.recv().await {
                Ok(event) => {
                    // No listener is not an error: events are dropped.
                    let _ = to.send(wrap(event));
                }
                Err(broadcast::error::RecvError::Lagged(skipped)) => {
                    tracing::warn!(skipped, "event forwarder lagged");
                }
                Err(broadcast::error::RecvError::Closed) => break,
            }
        }
    })
}
