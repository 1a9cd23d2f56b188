//! Referrals: a replica's answer names the peers it knows closest to the
//! mailbox, so a read is its own lookup (peer protocol version 4,
//! `/pigeonhole/mailbox/2.1.0`).
//!
//! Why: a node's routing table keeps 20 peers per k-bucket, so on a network
//! of a few hundred phones it does not know who is closest to an arbitrary
//! mailbox. Version 3 ran a Kademlia closest-peers lookup before the first
//! read of each mailbox: ~10 requests and 3–4 sequential round trips at 200
//! nodes, before the read itself. A publish (next seq, then the put) thus
//! took ~18 round trips at 200 nodes, and 3 instead of 2 on a small LAN.
//! Kademlia's own `GET_VALUE` answers with the value *and* the closer
//! peers; the same here: a List or NextSeq answer carries the answering
//! peer's `factor` closest known peers to the mailbox (with addresses), the
//! reader asks at once the peers it believes closest, and when the answers
//! name closer ones it asks those too ([`crate::protocol`]). Where the
//! routing table already knows the replicas (one-hop routing on a LAN,
//! [`crate::roster`]) nothing extra is sent; where it does not (one-hop
//! routing off, or a roster still behind) a read costs one more round trip
//! the first time a mailbox is read.
//!
//! Wire (version 4 only; a `/pigeonhole/mailbox/2.0.0` stream carries no
//! referrals and is decoded as an empty list): `n u8 ‖ n × (bytes16
//! peer_id ‖ m u8 ‖ m × bytes16 multiaddr)`, at most [`MAX_REFERRALS`]
//! peers of at most [`MAX_REFERRAL_ADDRS`] addresses of at most
//! [`MAX_ADDR_BYTES`] bytes; anything else is a malformed answer.

use std::io;

use libp2p::{Multiaddr, PeerId};
use pigeonhole::codec::{Reader, Writer};

use crate::mailbox_protocol::bad;

/// Most peers one answer refers to.
pub const MAX_REFERRALS: usize = 8;
/// Most addresses sent per referred peer.
pub const MAX_REFERRAL_ADDRS: usize = 4;
/// Longest address sent (bytes of the binary multiaddr).
pub const MAX_ADDR_BYTES: usize = 255;

/// A peer the answering replica knows close to the mailbox asked about.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Referral {
    /// The peer.
    pub peer: PeerId,
    /// Where it listens, as the referring peer knows it.
    pub addrs: Vec<Multiaddr>,
}

/// Appends `referrals` (cut to the limits) to `writer`.
pub(crate) fn encode(writer: &mut Writer, referrals: &[Referral]) {
    encode_at_most(writer, referrals, MAX_REFERRALS);
}

/// Reads a referral list written by [`encode`].
pub(crate) fn decode(reader: &mut Reader<'_>) -> io::Result<Vec<Referral>> {
    decode_at_most(reader, MAX_REFERRALS)
}

/// Appends the first `max` (at most 255) of `peers` to `writer` in the
/// referral format: also the roster answer's format ([`crate::roster`]).
pub(crate) fn encode_at_most(writer: &mut Writer, peers: &[Referral], max: usize) {
    let referrals = &peers[..peers.len().min(max).min(usize::from(u8::MAX))];
    writer.u8(referrals.len() as u8);
    for referral in referrals {
        writer.bytes16(&referral.peer.to_bytes());
        let addrs: Vec<&Multiaddr> = referral
            .addrs
            .iter()
            .filter(|addr| addr.len() <= MAX_ADDR_BYTES)
            .take(MAX_REFERRAL_ADDRS)
            .collect();
        writer.u8(addrs.len() as u8);
        for addr in addrs {
            writer.bytes16(addr.as_ref());
        }
    }
}

/// Reads a list written by [`encode_at_most`], refusing more than `max`
/// peers.
pub(crate) fn decode_at_most(reader: &mut Reader<'_>, max: usize) -> io::Result<Vec<Referral>> {
    let count = usize::from(reader.u8("referral count").map_err(bad)?);
    if count > max {
        return Err(bad("too many referrals"));
    }
    let mut referrals = Vec::with_capacity(count);
    for _ in 0..count {
        let peer = PeerId::from_bytes(reader.bytes16("referred peer").map_err(bad)?)
            .map_err(|_| bad("bad referred peer id"))?;
        let addr_count = usize::from(reader.u8("address count").map_err(bad)?);
        if addr_count > MAX_REFERRAL_ADDRS {
            return Err(bad("too many addresses in a referral"));
        }
        let mut addrs = Vec::with_capacity(addr_count);
        for _ in 0..addr_count {
            let raw = reader.bytes16("referred address").map_err(bad)?;
            if raw.len() > MAX_ADDR_BYTES {
                return Err(bad("referred address too long"));
            }
            addrs.push(Multiaddr::try_from(raw.to_vec()).map_err(|_| bad("bad referred address"))?);
        }
        referrals.push(Referral { peer, addrs });
    }
    Ok(referrals)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn referrals_round_trip_and_limits_hold() {
        let referrals: Vec<Referral> = (0..10)
            .map(|i| Referral {
                peer: PeerId::random(),
                addrs: (0..6)
                    .map(|port| {
                        format!("/ip4/127.0.0.{i}/tcp/{}", 4000 + port)
                            .parse()
                            .unwrap()
                    })
                    .collect(),
            })
            .collect();
        let mut writer = Writer::with_capacity(64);
        encode(&mut writer, &referrals);
        let bytes = writer.into_bytes();
        let mut reader = Reader::new(&bytes);
        let decoded = decode(&mut reader).unwrap();
        reader.finish().unwrap();
        assert_eq!(decoded.len(), MAX_REFERRALS, "cut to the limit");
        for (got, sent) in decoded.iter().zip(&referrals) {
            assert_eq!(got.peer, sent.peer);
            assert_eq!(got.addrs, sent.addrs[..MAX_REFERRAL_ADDRS]);
        }
        for junk in [&[9u8][..], &[1, 0, 3, 1, 2, 3, 0], &[1, 0, 0, 5]] {
            assert!(decode(&mut Reader::new(junk)).is_err(), "{junk:?}");
        }
    }
}
