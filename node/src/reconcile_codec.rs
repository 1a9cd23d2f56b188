//! The wire format of `/pigeonhole/reconcile/1.0.0`, the replica-repair
//! protocol (see [`crate::reconcile`] for what it does and why).
//!
//! One request and one response per stream, each the whole stream, every
//! message bounded. All integers big-endian.
//!
//! ```text
//! request  0x01 ‖ mailbox[32] ‖ negentropy message          (sync round)
//!          0x02 ‖ mailbox[32] ‖ n:u16 ‖ n × record id[32]   (fetch these)
//!          0x03 ‖ mailbox[32] ‖ n:u16 ‖ n × record id[32]   (offer: I hold these, you lack them)
//! response 0x01 ‖ negentropy message                        (sync answer)
//!          0x02 ‖ n:u16 ‖ n × (instance:u64 ‖ len:u16 ‖ record)  (fetched records)
//!          0x03                                              (offer noted)
//!          0x04                                              (busy: over the rate, retry later)
//!          0x05                                              (refused: malformed or store failure)
//! ```
//! `n` is at most [`ID_BATCH`]; a fetch answer carries at most that many
//! records, each at most `MAX_RECORD_BYTES` (plus slack, so that an
//! oversized record reaches the validator and is refused with a reason).

use std::io;

use futures::{AsyncRead, AsyncWrite, AsyncWriteExt};
use libp2p::StreamProtocol;
use libp2p::request_response;
use pigeonhole::record::{InstanceId, MAX_RECORD_BYTES, MailboxId};

use crate::mailbox_protocol::{bad, read_bounded};
use crate::reconcile::{FRAME_LIMIT, ID_BATCH};

/// The protocol name.
pub const RECONCILE_PROTOCOL: StreamProtocol = StreamProtocol::new("/pigeonhole/reconcile/1.0.0");

/// Largest record accepted inside a fetch answer.
const MAX_WIRE_RECORD: usize = MAX_RECORD_BYTES + 1024;
/// Largest request: a sync round (tag, mailbox, one negentropy frame plus
/// slack) or an id batch, whichever is larger.
const MAX_REQUEST: usize = 1 + 32 + FRAME_LIMIT + 1024;
/// Largest response: a full fetch batch.
const MAX_RESPONSE: usize = 1 + 2 + ID_BATCH * (8 + 2 + MAX_WIRE_RECORD);

/// A reconciliation request about one mailbox.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ReconcileRequest {
    /// One negentropy round.
    Sync(MailboxId, Vec<u8>),
    /// Send me these records.
    Fetch(MailboxId, Vec<[u8; 32]>),
    /// I hold these records of the mailbox and you lack them: fetch them
    /// from me if you should hold the mailbox.
    Offer(MailboxId, Vec<[u8; 32]>),
}

/// The answer to a [`ReconcileRequest`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ReconcileResponse {
    /// The negentropy answer to a sync round.
    Sync(Vec<u8>),
    /// The requested records held (others are simply absent).
    Records(Vec<(InstanceId, Vec<u8>)>),
    /// The offer was noted.
    Noted,
    /// Over the rate limit: nothing was done.
    Busy,
    /// Malformed request or store failure: nothing was done.
    Refused,
}

/// The byte codec of [`RECONCILE_PROTOCOL`].
#[derive(Clone, Copy, Debug, Default)]
pub struct ReconcileCodec;

/// Splits `n` bytes off the front of `input`.
fn take<'a>(input: &mut &'a [u8], n: usize) -> io::Result<&'a [u8]> {
    if input.len() < n {
        return Err(bad("reconcile message cut short"));
    }
    let (head, rest) = input.split_at(n);
    *input = rest;
    Ok(head)
}

fn take_u16(input: &mut &[u8]) -> io::Result<usize> {
    Ok(u16::from_be_bytes(take(input, 2)?.try_into().expect("2 bytes")) as usize)
}

fn decode_ids(mut rest: &[u8]) -> io::Result<Vec<[u8; 32]>> {
    let n = take_u16(&mut rest)?;
    if n > ID_BATCH || rest.len() != n * 32 {
        return Err(bad("bad record id list"));
    }
    Ok(rest
        .chunks_exact(32)
        .map(|id| id.try_into().expect("32 bytes"))
        .collect())
}

fn encode_ids(buf: &mut Vec<u8>, ids: &[[u8; 32]]) {
    let n = ids.len().min(ID_BATCH);
    buf.extend_from_slice(&(n as u16).to_be_bytes());
    for id in &ids[..n] {
        buf.extend_from_slice(id);
    }
}

/// Decodes a request (also used by tests of hostile input).
pub fn decode_request(buf: &[u8]) -> io::Result<ReconcileRequest> {
    let mut rest = buf;
    let tag = take(&mut rest, 1)?[0];
    let mailbox = MailboxId(take(&mut rest, 32)?.try_into().expect("32 bytes"));
    match tag {
        0x01 if !rest.is_empty() => Ok(ReconcileRequest::Sync(mailbox, rest.to_vec())),
        0x02 => Ok(ReconcileRequest::Fetch(mailbox, decode_ids(rest)?)),
        0x03 => Ok(ReconcileRequest::Offer(mailbox, decode_ids(rest)?)),
        _ => Err(bad("unknown reconcile request")),
    }
}

/// Encodes a request; id lists longer than [`ID_BATCH`] are cut to it.
pub fn encode_request(request: &ReconcileRequest) -> Vec<u8> {
    let mut buf = Vec::new();
    match request {
        ReconcileRequest::Sync(mailbox, message) => {
            buf.push(0x01);
            buf.extend_from_slice(&mailbox.0);
            buf.extend_from_slice(message);
        }
        ReconcileRequest::Fetch(mailbox, ids) | ReconcileRequest::Offer(mailbox, ids) => {
            let tag = if matches!(request, ReconcileRequest::Fetch(..)) {
                0x02
            } else {
                0x03
            };
            buf.push(tag);
            buf.extend_from_slice(&mailbox.0);
            encode_ids(&mut buf, ids);
        }
    }
    buf
}

/// Decodes a response.
pub fn decode_response(buf: &[u8]) -> io::Result<ReconcileResponse> {
    let mut rest = buf;
    let tag = take(&mut rest, 1)?[0];
    match (tag, rest.is_empty()) {
        (0x01, false) => Ok(ReconcileResponse::Sync(rest.to_vec())),
        (0x02, _) => {
            let n = take_u16(&mut rest)?;
            if n > ID_BATCH {
                return Err(bad("too many records"));
            }
            let mut records = Vec::with_capacity(n);
            for _ in 0..n {
                let instance = u64::from_be_bytes(take(&mut rest, 8)?.try_into().expect("8"));
                let len = take_u16(&mut rest)?;
                if len == 0 || len > MAX_WIRE_RECORD {
                    return Err(bad("bad record length"));
                }
                records.push((
                    InstanceId::from_u64(instance),
                    take(&mut rest, len)?.to_vec(),
                ));
            }
            if !rest.is_empty() {
                return Err(bad("trailing bytes after records"));
            }
            Ok(ReconcileResponse::Records(records))
        }
        (0x03, true) => Ok(ReconcileResponse::Noted),
        (0x04, true) => Ok(ReconcileResponse::Busy),
        (0x05, true) => Ok(ReconcileResponse::Refused),
        _ => Err(bad("unknown reconcile response")),
    }
}

/// Encodes a response; records beyond [`ID_BATCH`] or too large for the
/// wire are left out (the asker fetches what is missing again).
pub fn encode_response(response: &ReconcileResponse) -> Vec<u8> {
    match response {
        ReconcileResponse::Sync(message) => {
            let mut buf = Vec::with_capacity(1 + message.len());
            buf.push(0x01);
            buf.extend_from_slice(message);
            buf
        }
        ReconcileResponse::Records(records) => {
            let fitting: Vec<_> = records
                .iter()
                .filter(|(_, bytes)| !bytes.is_empty() && bytes.len() <= MAX_WIRE_RECORD)
                .take(ID_BATCH)
                .collect();
            let mut buf = vec![0x02];
            buf.extend_from_slice(&(fitting.len() as u16).to_be_bytes());
            for (instance, bytes) in fitting {
                buf.extend_from_slice(&instance.to_u64().to_be_bytes());
                buf.extend_from_slice(&(bytes.len() as u16).to_be_bytes());
                buf.extend_from_slice(bytes);
            }
            buf
        }
        ReconcileResponse::Noted => vec![0x03],
        ReconcileResponse::Busy => vec![0x04],
        ReconcileResponse::Refused => vec![0x05],
    }
}

impl request_response::Codec for ReconcileCodec {
    type Protocol = StreamProtocol;
    type Request = ReconcileRequest;
    type Response = ReconcileResponse;

    async fn read_request<T>(
        &mut self,
        _: &StreamProtocol,
        io: &mut T,
    ) -> io::Result<ReconcileRequest>
    where
        T: AsyncRead + Unpin + Send,
    {
        decode_request(&read_bounded(io, MAX_REQUEST).await?)
    }

    async fn read_response<T>(
        &mut self,
        _: &StreamProtocol,
        io: &mut T,
    ) -> io::Result<ReconcileResponse>
    where
        T: AsyncRead + Unpin + Send,
    {
        decode_response(&read_bounded(io, MAX_RESPONSE).await?)
    }

    async fn write_request<T>(
        &mut self,
        _: &StreamProtocol,
        io: &mut T,
        request: ReconcileRequest,
    ) -> io::Result<()>
    where
        T: AsyncWrite + Unpin + Send,
    {
        io.write_all(&encode_request(&request)).await?;
        io.close().await
    }

    async fn write_response<T>(
        &mut self,
        _: &StreamProtocol,
        io: &mut T,
        response: ReconcileResponse,
    ) -> io::Result<()>
    where
        T: AsyncWrite + Unpin + Send,
    {
        io.write_all(&encode_response(&response)).await?;
        io.close().await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn messages_round_trip() {
        let mailbox = MailboxId([3; 32]);
        let requests = [
            ReconcileRequest::Sync(mailbox, vec![0x61, 0, 1]),
            ReconcileRequest::Fetch(mailbox, vec![[1; 32], [2; 32]]),
            ReconcileRequest::Offer(mailbox, vec![[9; 32]]),
            ReconcileRequest::Fetch(mailbox, vec![]),
        ];
        for request in requests {
            assert_eq!(decode_request(&encode_request(&request)).unwrap(), request);
        }
        let responses = [
            ReconcileResponse::Sync(vec![0x61]),
            ReconcileResponse::Records(vec![
                (InstanceId { bucket: 7, seq: 1 }, vec![5; 300]),
                (InstanceId { bucket: 7, seq: 2 }, vec![6; MAX_RECORD_BYTES]),
            ]),
            ReconcileResponse::Records(vec![]),
            ReconcileResponse::Noted,
            ReconcileResponse::Busy,
            ReconcileResponse::Refused,
        ];
        for response in responses {
            let wire = encode_response(&response);
            assert!(wire.len() <= MAX_RESPONSE);
            assert_eq!(decode_response(&wire).unwrap(), response);
        }
    }

    #[test]
    fn batches_are_capped_and_junk_is_refused() {
        let mailbox = MailboxId([3; 32]);
        let many = vec![[1u8; 32]; ID_BATCH + 10];
        let wire = encode_request(&ReconcileRequest::Fetch(mailbox, many));
        match decode_request(&wire).unwrap() {
            ReconcileRequest::Fetch(_, ids) => assert_eq!(ids.len(), ID_BATCH),
            other => panic!("{other:?}"),
        }
        let mut over = vec![0x02];
        over.extend_from_slice(&[0; 32]);
        over.extend_from_slice(&((ID_BATCH + 1) as u16).to_be_bytes());
        over.extend(std::iter::repeat_n(0u8, (ID_BATCH + 1) * 32));
        let junk_requests: [&[u8]; 6] =
            [&[], &[0x01], &[0x01; 33], &[0x09; 40], &over, &[0x02; 36]];
        for junk in junk_requests {
            assert!(decode_request(junk).is_err(), "{junk:?}");
        }
        let junk_responses: [&[u8]; 6] = [
            &[],
            &[0x01],
            &[0x03, 0],
            &[0x02, 0, 1, 0, 0, 0, 0, 0, 0, 0, 1, 0, 9, 1],
            &[0x02, 0, 1, 0, 0, 0, 0, 0, 0, 0, 1, 0, 0],
            &[0x07],
        ];
        for junk in junk_responses {
            assert!(decode_response(junk).is_err(), "{junk:?}");
        }
    }
}
