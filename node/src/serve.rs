//! Answering other peers' protocol-v2 requests, and judging inbound
//! Kademlia puts.
//!
//! Every inbound record — a v2 put or a Kademlia PUT_VALUE (still accepted,
//! for other implementations) — goes through the one write path
//! ([`crate::record_store::SqliteRecordStore::put_checked`]: validator,
//! quotas, keep-both rule). A v2 put is answered with that judgement; a
//! Kademlia PUT has already been acknowledged by libp2p before it is judged
//! (`FilterBoth` acknowledges by echoing the record back), which is why our
//! own writers never count a Kademlia acknowledgement as stored.
//!
//! Listing answers are bounded by the page limits of
//! [`crate::mailbox_protocol`]. They carry the held rows' bytes without a
//! second signature check (`Store::list_mailbox_raw`): the asking peer
//! validates everything it receives, and expired rows are never served.

use libp2p::PeerId;
use libp2p::request_response::ResponseChannel;
use pigeonhole::store::PutOutcome;
use tracing::{debug, trace, warn};

use crate::mailbox_protocol::{
    MAX_PAGE_BYTES, MAX_PAGE_RECORDS, MailboxRequest, MailboxResponse, PutAnswer, RefusalKind,
    slot_key_of,
};
use crate::record_store::Refusal;
use crate::runner::Runner;

impl Runner {
    /// Judges an inbound record by the one write path.
    pub(crate) fn judge_inbound(&mut self, peer: PeerId, bytes: &[u8]) -> PutAnswer {
        let Some(key) = slot_key_of(bytes) else {
            return PutAnswer::Refused {
                kind: RefusalKind::Invalid,
                reason: Refusal::BadKey.to_string(),
            };
        };
        match self.kad().store_mut().put_checked(&key, bytes) {
            Ok((record, outcome)) => {
                self.slots
                    .remember(record.header.mailbox, record.header.instance);
                match outcome {
                    PutOutcome::Unchanged => PutAnswer::AlreadyHeld,
                    PutOutcome::Stored | PutOutcome::Replaced(_) => {
                        trace!(%peer, "inbound record stored");
                        self.note_accepted();
                        // sybil: a newcomer's record reaches the replicas of standing.
                        self.relay_from_newcomer(peer, record.header.mailbox, record.id());
                        PutAnswer::Stored
                    }
                }
            }
            Err(refusal) => {
                debug!(%peer, %refusal, "inbound record refused");
                PutAnswer::Refused {
                    kind: refusal.kind(),
                    reason: refusal.to_string(),
                }
            }
        }
    }

    /// A peer's v2 request: answer it from the store.
    pub(crate) fn on_mailbox_request(
        &mut self,
        peer: PeerId,
        request: MailboxRequest,
        channel: ResponseChannel<MailboxResponse>,
    ) {
        let response = match request {
            MailboxRequest::Put(bytes) => MailboxResponse::Put(self.judge_inbound(peer, &bytes)),
            MailboxRequest::List {
                mailbox,
                after,
                limit,
            } => {
                let limit = limit.clamp(1, MAX_PAGE_RECORDS);
                let store = self.kad().store_mut().inner();
                match store.list_mailbox_raw(&mailbox, after, u32::from(limit)) {
                    Ok((records, more)) => {
                        let mut page = Vec::with_capacity(records.len());
                        let mut bytes = 0;
                        let mut cut = false;
                        for record in records {
                            if !page.is_empty() && bytes + record.len() > MAX_PAGE_BYTES {
                                cut = true;
                                break;
                            }
                            bytes += record.len();
                            page.push(record);
                        }
                        MailboxResponse::List {
                            records: page,
                            more: more || cut,
                        }
                    }
                    Err(error) => {
                        warn!(%error, "store read failed; answering nothing");
                        return;
                    }
                }
            }
            MailboxRequest::NextSeq { mailbox, bucket } => {
                match self.kad().store_mut().inner().next_seq(&mailbox, bucket) {
                    Ok(seq) => MailboxResponse::NextSeq(seq),
                    Err(error) => {
                        warn!(%error, "store read failed; answering nothing");
                        return;
                    }
                }
            }
        };
        if self.mailbox().send_response(channel, response).is_err() {
            debug!(%peer, "requester gone before the answer");
        }
    }
}
