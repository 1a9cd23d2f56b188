//! Peer protocol v2, `/pigeonhole/mailbox/2.1.0` (and `2.0.0`): requests to
//! one replica of a mailbox, one round trip each.
//!
//! Why, next to Kademlia: placement is by mailbox (all slots of mailbox M on
//! the peers closest to M), so a replica can answer for the whole mailbox —
//! "your records of M after this cursor" and "the next free seq of bucket b"
//! — and a read or an append costs one round trip per replica instead of a
//! probe per slot. Kademlia's PUT is acknowledged before the record is
//! judged (libp2p's `FilterBoth`), so a put here answers with the replica's
//! *judged* outcome: stored, already held, or refused with a kind and reason.
//!
//! Wire format (each message is the whole stream, then the writer closes;
//! integers big-endian; see `docs/PROTOCOL.md` §"Peer protocol v2"):
//!
//! | message | bytes |
//! |---|---|
//! | Put | `0x01 ‖ record` |
//! | List | `0x02 ‖ mailbox[32] ‖ has_cursor u8 ‖ [instance u64 ‖ record_id[32]] ‖ limit u16` |
//! | NextSeq | `0x03 ‖ mailbox[32] ‖ bucket u32` |
//! | Put answer | `0x81 ‖ outcome u8` (0 stored, 1 already held) or `0x81 ‖ 2 ‖ kind u8 ‖ reason str16` |
//! | List answer | `0x82 ‖ more u8 ‖ count u16 ‖ count × bytes16(record) ‖ referrals` |
//! | NextSeq answer | `0x83 ‖ seq u32 ‖ referrals` |
//! | Busy answer (to any request) | `0x84` |
//!
//! Every message is bounded: a list page carries at most
//! [`MAX_PAGE_RECORDS`] records and [`MAX_PAGE_BYTES`] of them, and a
//! request at most [`MAX_REQUEST`] bytes (a put carries one record).
//!
//! `referrals` ([`crate::referral`], protocol version 4) are the answering
//! peer's closest known peers to the mailbox; they are sent only on
//! `/pigeonhole/mailbox/2.1.0` streams. A `2.0.0` stream (a version-3 peer)
//! carries the same messages without them, so the two versions
//! interoperate: the node offers `2.1.0` first and accepts both.
//!
//! "Busy" (protocol version 3) means the replica did nothing: the asking
//! peer is over its budget or the replica's worker queue is full (see
//! [`crate::inbound`]). A writer then asks the next closest peer, a reader
//! the next replica, exactly as for a replica that did not answer.

use std::io;

use futures::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use libp2p::StreamProtocol;
use libp2p::request_response;
use pigeonhole::codec::{Reader, Writer};
use pigeonhole::mailbox::ListCursor;
use pigeonhole::record::{DhtKey, InstanceId, MAX_RECORD_BYTES, MailboxId};

pub use crate::referral::Referral;

/// The protocol name (version 4: answers carry referrals).
pub const MAILBOX_PROTOCOL: StreamProtocol = StreamProtocol::new("/pigeonhole/mailbox/2.1.0");
/// The version-3 protocol name: the same messages without referrals, still
/// answered so that version-3 peers interoperate.
pub const MAILBOX_PROTOCOL_V3: StreamProtocol = StreamProtocol::new("/pigeonhole/mailbox/2.0.0");

/// Most records one list answer carries.
pub const MAX_PAGE_RECORDS: u16 = 256;
/// Most record bytes one list answer carries (a replica stops a page early
/// and says `more` when the next record would not fit).
pub const MAX_PAGE_BYTES: usize = 256 * 1024;
/// Longest refusal reason sent (longer ones are cut).
const MAX_REASON: usize = 256;
/// Largest message accepted: a full page (which may pass
/// [`MAX_PAGE_BYTES`] by its last record) plus framing; a put carries one
/// record, and the slack lets an oversized one reach the validator and be
/// refused with its reason rather than cut.
const MAX_MESSAGE: u64 = (MAX_PAGE_BYTES + MAX_RECORD_BYTES + 4 * 1024) as u64;
/// Largest request accepted: one record plus slack, so that an oversized
/// record still reaches the validator and is refused with its reason,
/// while a peer cannot make this node buffer a page-sized request per
/// stream.
pub const MAX_REQUEST: usize = 2 * MAX_RECORD_BYTES;

/// A request to one replica.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum MailboxRequest {
    /// Judge and store this record (its slot is in its header).
    Put(Vec<u8>),
    /// Records of `mailbox` strictly after `after`, at most `limit`.
    List {
        /// The mailbox.
        mailbox: MailboxId,
        /// Where to resume; `None` from the start.
        after: Option<ListCursor>,
        /// Most records wanted (capped at [`MAX_PAGE_RECORDS`]).
        limit: u16,
    },
    /// The first seq after every slot the replica holds in `bucket`.
    NextSeq {
        /// The mailbox.
        mailbox: MailboxId,
        /// The bucket (day of expiry).
        bucket: u32,
    },
}

pub use crate::error::RefusalKind;

/// A replica's judged answer to a put.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum PutAnswer {
    /// Stored now.
    Stored,
    /// Already held, byte for byte.
    AlreadyHeld,
    /// Refused.
    Refused {
        /// Why, as a code.
        kind: RefusalKind,
        /// Why, for people.
        reason: String,
    },
}

/// An answer from one replica.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum MailboxResponse {
    /// To a put.
    Put(PutAnswer),
    /// To a list: records (unvalidated) and whether more follow.
    List {
        /// Encoded records in listing order.
        records: Vec<Vec<u8>>,
        /// Whether more records follow the last one.
        more: bool,
        /// The answering peer's closest known peers to the mailbox
        /// (version 4; empty on a version-3 stream).
        closer: Vec<Referral>,
    },
    /// To a next-seq question.
    NextSeq {
        /// The first free seq of the bucket asked about.
        seq: u32,
        /// As for [`MailboxResponse::List`].
        closer: Vec<Referral>,
    },
    /// To any request: nothing was done, ask another replica (the asking
    /// peer is over its budget, or the replica's queue is full).
    Busy,
}

/// The mailbox and instance a record's bytes name (record layout: version,
/// kind, mailbox[32], instance u64), without validating anything.
pub fn slot_of(record: &[u8]) -> Option<(MailboxId, InstanceId)> {
    let mailbox: [u8; 32] = record.get(2..34)?.try_into().ok()?;
    let instance: [u8; 8] = record.get(34..42)?.try_into().ok()?;
    Some((
        MailboxId(mailbox),
        InstanceId::from_u64(u64::from_be_bytes(instance)),
    ))
}

/// The slot key a record's bytes name (see [`slot_of`]).
pub fn slot_key_of(record: &[u8]) -> Option<DhtKey> {
    slot_of(record).map(|(mailbox, instance)| DhtKey::for_slot(&mailbox, instance))
}

/// The byte codec of [`MAILBOX_PROTOCOL`].
#[derive(Clone, Copy, Debug, Default)]
pub struct MailboxCodec;

/// A malformed message from a peer.
pub(crate) fn bad(what: impl std::fmt::Display) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, what.to_string())
}

async fn read_all<T: AsyncRead + Unpin + Send>(io: &mut T) -> io::Result<Vec<u8>> {
    read_bounded(io, MAX_MESSAGE as usize).await
}

/// Reads a whole message (the writer closes its side after it), refusing
/// one longer than `max` bytes without buffering more than `max + 1`.
/// Shared by every request-response codec of the node.
pub(crate) async fn read_bounded<T: AsyncRead + Unpin + Send>(
    io: &mut T,
    max: usize,
) -> io::Result<Vec<u8>> {
    let mut buf = Vec::new();
    io.take(max as u64 + 1).read_to_end(&mut buf).await?;
    if buf.len() > max {
        return Err(bad("message too large"));
    }
    Ok(buf)
}

fn u32_of(reader: &mut Reader<'_>, field: &'static str) -> io::Result<u32> {
    let raw: [u8; 4] = reader.array(field).map_err(bad)?;
    Ok(u32::from_be_bytes(raw))
}

/// Encodes a request.
pub fn encode_request(request: &MailboxRequest) -> Vec<u8> {
    let mut writer = Writer::with_capacity(64);
    match request {
        MailboxRequest::Put(record) => {
            writer.u8(0x01).raw(record);
        }
        MailboxRequest::List {
            mailbox,
            after,
            limit,
        } => {
            writer.u8(0x02).raw(&mailbox.0);
            match after {
                None => {
                    writer.u8(0);
                }
                Some(cursor) => {
                    writer
                        .u8(1)
                        .u64(cursor.instance.to_u64())
                        .raw(&cursor.record_id);
                }
            }
            writer.u16(*limit);
        }
        MailboxRequest::NextSeq { mailbox, bucket } => {
            writer.u8(0x03).raw(&mailbox.0).raw(&bucket.to_be_bytes());
        }
    }
    writer.into_bytes()
}

/// Decodes a request.
pub fn decode_request(bytes: &[u8]) -> io::Result<MailboxRequest> {
    let (tag, rest) = bytes.split_first().ok_or_else(|| bad("empty request"))?;
    if *tag == 0x01 {
        if rest.is_empty() {
            return Err(bad("empty record"));
        }
        return Ok(MailboxRequest::Put(rest.to_vec()));
    }
    let mut reader = Reader::new(rest);
    let mailbox = MailboxId(reader.array("mailbox").map_err(bad)?);
    let request = match tag {
        0x02 => {
            let after = match reader.u8("has_cursor").map_err(bad)? {
                0 => None,
                1 => Some(ListCursor {
                    instance: InstanceId::from_u64(reader.u64("instance").map_err(bad)?),
                    record_id: reader.array("record_id").map_err(bad)?,
                }),
                _ => return Err(bad("bad cursor flag")),
            };
            let limit = reader.u16("limit").map_err(bad)?;
            MailboxRequest::List {
                mailbox,
                after,
                limit,
            }
        }
        0x03 => MailboxRequest::NextSeq {
            mailbox,
            bucket: u32_of(&mut reader, "bucket")?,
        },
        _ => return Err(bad("unknown request")),
    };
    reader.finish().map_err(bad)?;
    Ok(request)
}

/// Encodes a response as version 4 (with referrals).
pub fn encode_response(response: &MailboxResponse) -> Vec<u8> {
    encode_response_as(response, true)
}

/// Decodes a version-4 response (with referrals).
pub fn decode_response(bytes: &[u8]) -> io::Result<MailboxResponse> {
    decode_response_as(bytes, true)
}

/// Whether streams of `protocol` carry referrals (version 4).
fn has_referrals(protocol: &StreamProtocol) -> bool {
    *protocol != MAILBOX_PROTOCOL_V3
}

/// Encodes a response; `referrals`: as version 4, else as version 3 (the
/// referrals left out).
pub fn encode_response_as(response: &MailboxResponse, referrals: bool) -> Vec<u8> {
    let mut writer = Writer::with_capacity(64);
    match response {
        MailboxResponse::Put(answer) => {
            writer.u8(0x81);
            match answer {
                PutAnswer::Stored => {
                    writer.u8(0);
                }
                PutAnswer::AlreadyHeld => {
                    writer.u8(1);
                }
                PutAnswer::Refused { kind, reason } => {
                    let mut cut = reason.len().min(MAX_REASON);
                    while !reason.is_char_boundary(cut) {
                        cut -= 1;
                    }
                    writer.u8(2).u8(*kind as u8).str16(&reason[..cut]);
                }
            }
        }
        MailboxResponse::List {
            records,
            more,
            closer,
        } => {
            writer
                .u8(0x82)
                .u8(u8::from(*more))
                .u16(records.len() as u16);
            for record in records {
                writer.bytes16(record);
            }
            if referrals {
                crate::referral::encode(&mut writer, closer);
            }
        }
        MailboxResponse::NextSeq { seq, closer } => {
            writer.u8(0x83).raw(&seq.to_be_bytes());
            if referrals {
                crate::referral::encode(&mut writer, closer);
            }
        }
        MailboxResponse::Busy => {
            writer.u8(0x84);
        }
    }
    writer.into_bytes()
}

/// Decodes a response; `referrals` as for [`encode_response_as`].
pub fn decode_response_as(bytes: &[u8], referrals: bool) -> io::Result<MailboxResponse> {
    let mut reader = Reader::new(bytes);
    let response = match reader.u8("tag").map_err(bad)? {
        0x81 => MailboxResponse::Put(match reader.u8("outcome").map_err(bad)? {
            0 => PutAnswer::Stored,
            1 => PutAnswer::AlreadyHeld,
            2 => PutAnswer::Refused {
                kind: RefusalKind::from_u8(reader.u8("kind").map_err(bad)?),
                reason: reader.str16("reason").map_err(bad)?.to_string(),
            },
            _ => return Err(bad("unknown put outcome")),
        }),
        0x82 => {
            let more = match reader.u8("more").map_err(bad)? {
                0 => false,
                1 => true,
                _ => return Err(bad("bad more flag")),
            };
            let count = reader.u16("count").map_err(bad)?;
            if count > MAX_PAGE_RECORDS {
                return Err(bad("too many records in a page"));
            }
            let mut records = Vec::with_capacity(count.into());
            for _ in 0..count {
                records.push(reader.bytes16("record").map_err(bad)?.to_vec());
            }
            let closer = closer_of(&mut reader, referrals)?;
            MailboxResponse::List {
                records,
                more,
                closer,
            }
        }
        0x83 => {
            let seq = u32_of(&mut reader, "seq")?;
            let closer = closer_of(&mut reader, referrals)?;
            MailboxResponse::NextSeq { seq, closer }
        }
        0x84 => MailboxResponse::Busy,
        _ => return Err(bad("unknown response")),
    };
    reader.finish().map_err(bad)?;
    Ok(response)
}

/// The referrals at the end of an answer (none on a version-3 stream).
fn closer_of(reader: &mut Reader<'_>, referrals: bool) -> io::Result<Vec<Referral>> {
    if referrals {
        crate::referral::decode(reader)
    } else {
        Ok(Vec::new())
    }
}

impl request_response::Codec for MailboxCodec {
    type Protocol = StreamProtocol;
    type Request = MailboxRequest;
    type Response = MailboxResponse;

    async fn read_request<T>(
        &mut self,
        _: &StreamProtocol,
        io: &mut T,
    ) -> io::Result<MailboxRequest>
    where
        T: AsyncRead + Unpin + Send,
    {
        decode_request(&read_bounded(io, MAX_REQUEST).await?)
    }

    async fn read_response<T>(
        &mut self,
        protocol: &StreamProtocol,
        io: &mut T,
    ) -> io::Result<MailboxResponse>
    where
        T: AsyncRead + Unpin + Send,
    {
        decode_response_as(&read_all(io).await?, has_referrals(protocol))
    }

    async fn write_request<T>(
        &mut self,
        _: &StreamProtocol,
        io: &mut T,
        request: MailboxRequest,
    ) -> io::Result<()>
    where
        T: AsyncWrite + Unpin + Send,
    {
        io.write_all(&encode_request(&request)).await?;
        io.close().await
    }

    async fn write_response<T>(
        &mut self,
        protocol: &StreamProtocol,
        io: &mut T,
        response: MailboxResponse,
    ) -> io::Result<()>
    where
        T: AsyncWrite + Unpin + Send,
    {
        io.write_all(&encode_response_as(&response, has_referrals(protocol)))
            .await?;
        io.close().await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn messages_round_trip_and_junk_is_refused() {
        let mailbox = MailboxId([7; 32]);
        let cursor = ListCursor {
            instance: InstanceId {
                bucket: 20_000,
                seq: 3,
            },
            record_id: [9; 32],
        };
        let requests = [
            MailboxRequest::Put(vec![1, 2, 3]),
            MailboxRequest::List {
                mailbox,
                after: None,
                limit: 64,
            },
            MailboxRequest::List {
                mailbox,
                after: Some(cursor),
                limit: 1,
            },
            MailboxRequest::NextSeq {
                mailbox,
                bucket: 20_001,
            },
        ];
        for request in requests {
            assert_eq!(decode_request(&encode_request(&request)).unwrap(), request);
        }
        let responses = [
            MailboxResponse::Put(PutAnswer::Stored),
            MailboxResponse::Put(PutAnswer::AlreadyHeld),
            MailboxResponse::Put(PutAnswer::Refused {
                kind: RefusalKind::Quota,
                reason: "mailbox already holds 4096 records".into(),
            }),
            MailboxResponse::List {
                records: vec![vec![1; 100], vec![2; 8192]],
                more: true,
                closer: vec![Referral {
                    peer: libp2p::PeerId::random(),
                    addrs: vec!["/ip4/127.0.0.1/tcp/4001".parse().unwrap()],
                }],
            },
            MailboxResponse::List {
                records: vec![],
                more: false,
                closer: vec![],
            },
            MailboxResponse::NextSeq {
                seq: 17,
                closer: vec![],
            },
            MailboxResponse::Busy,
        ];
        for response in responses {
            assert_eq!(
                decode_response(&encode_response(&response)).unwrap(),
                response
            );
        }
        let long = MailboxResponse::Put(PutAnswer::Refused {
            kind: RefusalKind::Invalid,
            reason: "é".repeat(400),
        });
        match decode_response(&encode_response(&long)).unwrap() {
            MailboxResponse::Put(PutAnswer::Refused { reason, .. }) => {
                assert!(reason.len() <= MAX_REASON)
            }
            other => panic!("{other:?}"),
        }
        let junk: [&[u8]; 6] = [&[], &[0x01], &[0x02; 10], &[0x03; 40], &[0x09; 40], &[0x7f]];
        for bytes in junk {
            assert!(decode_request(bytes).is_err(), "{bytes:?}");
        }
        // A version-3 stream carries no referrals: they are left out.
        let with = MailboxResponse::NextSeq {
            seq: 3,
            closer: vec![Referral {
                peer: libp2p::PeerId::random(),
                addrs: vec![],
            }],
        };
        assert_eq!(
            decode_response_as(&encode_response_as(&with, false), false).unwrap(),
            MailboxResponse::NextSeq {
                seq: 3,
                closer: vec![]
            }
        );
        assert!(decode_response_as(&encode_response_as(&with, true), false).is_err());
        let mut too_many = vec![0x82, 0];
        too_many.extend_from_slice(&(MAX_PAGE_RECORDS + 1).to_be_bytes());
        for bytes in [&[][..], &[0x81, 7], &[0x82, 2, 0, 0], &too_many, &[0x83, 0]] {
            assert!(decode_response(bytes).is_err(), "{bytes:?}");
        }
    }
}
