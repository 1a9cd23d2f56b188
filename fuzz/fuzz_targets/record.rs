//! The record envelope: layout decode and every validator check, on bytes
//! as they arrive from a peer. Validated twice: under the key the bytes'
//! own header names (so the layout, size and signature paths are reached)
//! and under a key taken from the input (the binding check).
#![no_main]

use libfuzzer_sys::fuzz_target;
use pigeonhole::record::{DhtKey, InstanceId, MailboxId, Policy, Validator};

const NOW: u64 = 1_800_000_000;

fuzz_target!(|data: &[u8]| {
    let validator = Validator::new(Policy::default());
    // version(1) kind(1) mailbox(32) instance(8): the slot the header names.
    if data.len() >= 42 {
        let mailbox = MailboxId(data[2..34].try_into().unwrap());
        let instance = InstanceId::from_u64(u64::from_be_bytes(data[34..42].try_into().unwrap()));
        let key = DhtKey::for_slot(&mailbox, instance);
        if let Ok(record) = validator.validate(&key, data, NOW) {
            assert_eq!(record.bytes(), data);
            assert_eq!(record.dht_key(), key);
        }
    }
    if data.len() >= 32 {
        let key = DhtKey(data[..32].try_into().unwrap());
        let _ = validator.validate(&key, &data[32..], NOW);
    }
});
