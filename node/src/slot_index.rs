//! Which mailbox a slot key belongs to, for slot reads.
//!
//! A slot key is a hash of (mailbox, instance), so a reader holding only
//! the key cannot tell which replica set to ask. The core asks for single
//! slots only on its probe fallback; the node remembers the slot of every
//! record it saw published or listed and reads such a slot from its
//! mailbox's replicas. Bounded: when full it starts over (a forgotten slot
//! is read by a Kademlia lookup, slower but still correct).

use std::collections::HashMap;

use pigeonhole::record::{DhtKey, InstanceId, MailboxId};

/// Slots remembered at most.
const MAX_SLOTS: usize = 65_536;

/// Slot key to (mailbox, instance).
#[derive(Debug, Default)]
pub struct SlotIndex {
    slots: HashMap<DhtKey, (MailboxId, InstanceId)>,
}

impl SlotIndex {
    /// Remembers slot `instance` of `mailbox`.
    pub fn remember(&mut self, mailbox: MailboxId, instance: InstanceId) {
        let key = DhtKey::for_slot(&mailbox, instance);
        if self.slots.len() >= MAX_SLOTS && !self.slots.contains_key(&key) {
            self.slots.clear();
        }
        self.slots.insert(key, (mailbox, instance));
    }

    /// The mailbox and instance of `key`, if remembered.
    pub fn lookup(&self, key: &DhtKey) -> Option<(MailboxId, InstanceId)> {
        self.slots.get(key).copied()
    }
}
