//! Interrupted requests and answers are finished at start-up, not only at
//! the first sync.
//!
//! Why: a request whose app died mid-send has no sent row until its intent
//! is resumed, and until then an accept naming it cannot be matched. The
//! sync resumes intents first, but an app may start without a background
//! sync (`sync_interval: None`) or hold off its first sync; the user was
//! told "sending" and should not wait for that. The resume runs in the
//! background so that [`crate::Node::start`] never waits on the network.
//!
//! It waits for a first peer before resuming: finding out whether an
//! interrupted put is out needs a read of the target mailbox, and a node
//! alone would find nothing and publish a second copy whose id the
//! recipient's answer does not name. A resume that fails (peers not
//! reachable yet) is retried with backoff; the sync's own resume covers
//! whatever is left if this task is stopped first.

use std::sync::Arc;
use std::time::Duration;

use pigeonhole::buddy::BuddyBook;
use pigeonhole::store::Store;
use tokio::task::JoinHandle;
use tracing::{debug, info, warn};

use crate::Peer;

/// How long one wait for a first peer lasts before it is checked again.
const PEER_WAIT: Duration = Duration::from_secs(30);
/// First and longest delay between two failed resumes.
const FIRST_RETRY: Duration = Duration::from_millis(500);
const LONGEST_RETRY: Duration = Duration::from_secs(30);

/// Spawns the start-up resume of `book`'s intent log (it ends at once when
/// the log is empty). Aborting the task is safe: the intent log converges
/// from any point it stops at, like after a crash.
pub(crate) fn spawn_resume(
    book: Arc<BuddyBook<Peer>>,
    store: Arc<Store>,
    peer: Peer,
) -> JoinHandle<()> {
    tokio::spawn(async move {
        match crate::offload::blocking(move || store.intents()).await {
            Ok(intents) if intents.is_empty() => return,
            Ok(intents) => info!(
                interrupted = intents.len(),
                "resuming interrupted requests and answers"
            ),
            Err(error) => {
                warn!(%error, "cannot read the intent log; the sync will resume it");
                return;
            }
        }
        let mut retry = FIRST_RETRY;
        loop {
            if peer.wait_for_peers(1, PEER_WAIT).await.routing_peers == 0 {
                debug!("no peer yet: interrupted intents wait");
            } else {
                let book = book.clone();
                let resumed =
                    crate::offload::offload(move || async move { book.resume_intents().await });
                match resumed.await {
                    Ok(done) => {
                        info!(?done, "interrupted intents resumed at start-up");
                        return;
                    }
                    Err(error) => warn!(%error, ?retry, "resuming interrupted intents failed"),
                }
            }
            tokio::time::sleep(retry).await;
            retry = (retry * 2).min(LONGEST_RETRY);
        }
    })
}
