//! The node's upkeep of its own records: the expiry sweep and the outbox
//! republish, both read on the own lane ([`crate::own_lane`]) and the
//! republish sent in small batches through the put path ([`crate::put`]),
//! so a large outbox never floods the replicas.

use std::time::Duration;

use pigeonhole::record::Record;
use tracing::{debug, info, warn};

use crate::runner::Runner;

/// How often queued republishes are sent, and how many at a time: at most
/// `REPUBLISH_BATCH / REPUBLISH_TICK` records per second to the replicas.
pub(crate) const REPUBLISH_TICK: Duration = Duration::from_millis(200);
/// Records sent per republish tick.
pub(crate) const REPUBLISH_BATCH: usize = 16;

impl Runner {
    /// Sweeps expired records (on the own lane; see `SqliteRecordStore::sweep`).
    pub(crate) fn sweep(&mut self) {
        self.own.spawn(|store| log_sweep(store.lock().sweep()));
    }

    /// Queues every live outbox record for republishing (sent in batches by
    /// [`Runner::drain_republish`]), once the own lane has read the outbox.
    pub(crate) fn republish(&mut self) {
        self.own.run(
            |store| store.inner().outbox_list(),
            |runner, queued| runner.queue_republish(queued),
        );
    }

    pub(crate) fn queue_republish(
        &mut self,
        queued: Result<Vec<Record>, pigeonhole::store::StoreError>,
    ) {
        match queued {
            Ok(queued) => {
                if !queued.is_empty() {
                    debug!(records = queued.len(), "republishing the outbox");
                }
                self.republish_queue = queued.into();
            }
            Err(error) => warn!(%error, "outbox unreadable"),
        }
    }

    /// Sends the next batch of queued records through the put path: each
    /// replica answers whether it holds the record, and one that did not
    /// stores it now (the publisher asks the replicas, not its own store).
    pub(crate) fn drain_republish(&mut self) {
        if self.routing_size() == 0 {
            return;
        }
        for _ in 0..REPUBLISH_BATCH {
            let Some(record) = self.republish_queue.pop_front() else {
                break;
            };
            self.put_record(record, None);
        }
    }
}

/// Logs what an expiry sweep did.
pub(crate) fn log_sweep(swept: Result<usize, pigeonhole::store::StoreError>) {
    match swept {
        Ok(0) => {}
        Ok(swept) => info!(swept, "expired records swept"),
        Err(error) => warn!(%error, "sweep failed"),
    }
}
