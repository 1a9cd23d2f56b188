//! Pigeonhole: serverless buddy requests, sequenced mailboxes and feeds for
//! instant-messaging apps on a local network.
//!
//! A user sends a signed *buddy request* to someone who may be offline. The
//! request is stored in a distributed hash table kept by the peers
//! themselves; when the recipient comes back it fetches every pending request,
//! checks each one's signature, format and syntax, and answers. Many records
//! per recipient come from the *sequenced mailbox* ([`mailbox`]): a primary
//! id plus an instance id, since a DHT keeps one value per key.
//!
//! Layers, bottom up:
//! * [`codec`], [`identity`], [`ids`], [`contact`] — bytes, keys, the ids
//!   records and contact codes share (mailbox ids, inbox tokens), contact
//!   codes;
//! * [`names`] — text rules for names and titles, look-alike checks;
//! * [`record`] — the signed envelope, per-kind bodies and the one
//!   [`record::Validator`] every peer runs;
//! * [`slot_rule`] — who may write an occupied slot (single-value DHTs);
//! * [`stamp`] — the proof-of-work stamp on first-contact buddy requests;
//! * [`set_rule`] — keep-both: what a storing peer keeps per slot;
//! * [`mailbox`] — publish / fetch / delete over a small [`mailbox::Dht`] trait;
//! * [`buddy`], [`feed`], [`notice`] — the three uses of the mailbox: buddy
//!   requests, feeds (with RSS 2.0 out) and owned document-update notices;
//! * [`store`] — SQLite persistence of the identity and held records.
//!
//! The byte-level protocol is written down in `docs/PROTOCOL.md`.

#![deny(missing_docs)]

pub mod buddy;
pub mod clock;
pub mod codec;
pub mod contact;
pub mod feed;
pub mod identity;
pub mod ids;
pub mod mailbox;
pub mod names;
pub mod notice;
pub mod record;
pub mod seal;
pub mod set_rule;
pub mod slot_rule;
pub mod stamp;
pub mod store;
