//! The node's peer protocols read from a peer's stream: the mailbox
//! protocol (`/pigeonhole/mailbox/2.1.0` with referrals and `2.0.0`
//! without: put, list, next-seq and their answers), replica repair
//! (`/pigeonhole/reconcile/1.0.0`) and the roster exchange
//! (`/pigeonhole/roster/1.0.0`). Decoding
//! must never panic or allocate without bound, and a message that decodes
//! must survive a round trip: encode it again, decode that, same message.
#![no_main]

use futures::executor::block_on;
use futures::io::Cursor;
use libfuzzer_sys::fuzz_target;
use libp2p::request_response::Codec;
use pigeonhole_node::mailbox_protocol::{MAILBOX_PROTOCOL, MAILBOX_PROTOCOL_V3, MailboxCodec};
use pigeonhole_node::reconcile_codec::{RECONCILE_PROTOCOL, ReconcileCodec};
use pigeonhole_node::roster::{ROSTER_PROTOCOL, RosterCodec};

/// Decodes `data` as a request and as a response of `codec`; whatever
/// decodes is written back and read again and must come back equal.
macro_rules! round_trip {
    ($codec:expr, $protocol:expr, $data:expr) => {{
        let mut codec = $codec;
        let protocol = &$protocol;
        if let Ok(request) = block_on(codec.read_request(protocol, &mut Cursor::new($data))) {
            let mut wire = Cursor::new(Vec::new());
            block_on(codec.write_request(protocol, &mut wire, request.clone())).unwrap();
            let again = block_on(codec.read_request(protocol, &mut Cursor::new(wire.into_inner())));
            assert_eq!(again.unwrap(), request);
        }
        if let Ok(response) = block_on(codec.read_response(protocol, &mut Cursor::new($data))) {
            let mut wire = Cursor::new(Vec::new());
            block_on(codec.write_response(protocol, &mut wire, response.clone())).unwrap();
            let again =
                block_on(codec.read_response(protocol, &mut Cursor::new(wire.into_inner())));
            assert_eq!(again.unwrap(), response);
        }
    }};
}

fuzz_target!(|data: &[u8]| {
    round_trip!(MailboxCodec, MAILBOX_PROTOCOL, data);
    round_trip!(MailboxCodec, MAILBOX_PROTOCOL_V3, data);
    round_trip!(ReconcileCodec, RECONCILE_PROTOCOL, data);
    round_trip!(RosterCodec, ROSTER_PROTOCOL, data);
});
