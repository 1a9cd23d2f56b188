//! The node's slot protocol codec (`pigeonhole_node::slot_protocol`, v1 on
//! this branch): requests and responses read from a peer's stream. A
//! message that decodes must write back to the same bytes.
#![no_main]

use futures::executor::block_on;
use futures::io::Cursor;
use libfuzzer_sys::fuzz_target;
use libp2p::request_response::Codec;
use pigeonhole_node::slot_protocol::{SLOT_PROTOCOL, SlotCodec};

fuzz_target!(|data: &[u8]| {
    let mut codec = SlotCodec;
    if let Ok(request) = block_on(codec.read_request(&SLOT_PROTOCOL, &mut Cursor::new(data))) {
        let mut wire = Cursor::new(Vec::new());
        block_on(codec.write_request(&SLOT_PROTOCOL, &mut wire, request)).unwrap();
        assert_eq!(wire.into_inner(), data);
    }
    if let Ok(response) = block_on(codec.read_response(&SLOT_PROTOCOL, &mut Cursor::new(data))) {
        let mut wire = Cursor::new(Vec::new());
        block_on(codec.write_response(&SLOT_PROTOCOL, &mut wire, response)).unwrap();
        assert_eq!(wire.into_inner(), data);
    }
});
