//! A direct request to one peer about one slot: "what do you hold here?"
//! and "store this here, then tell me what you hold".
//!
//! Why, next to Kademlia: the write protocol (the private `protocol` module)
//! makes the slot's primary authoritative, so a read or a write needs one
//! answer from one known peer. Kademlia has no targeted get — a
//! `get_record` asks *k* peers and, when nothing is found, cannot stop
//! before all have answered — and its put acknowledgement is sent before
//! the record is judged. This protocol asks exactly one peer, one round
//! trip, and its put answer *is* the read-back: the value the peer holds
//! after judging the record. Inbound puts here go through the same single
//! write path as Kademlia's (validator, quotas, slot rule).
//!
//! Wire format (each message is the whole stream, then the writer closes):
//! request `0x00 ‖ key[32]` (get) or `0x01 ‖ key[32] ‖ record` (put);
//! response `0x00` (nothing held) or `0x01 ‖ record`.

use std::io;

use futures::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use libp2p::StreamProtocol;
use libp2p::request_response;
use pigeonhole::record::{DhtKey, MAX_RECORD_BYTES};

/// The protocol name.
pub const SLOT_PROTOCOL: StreamProtocol = StreamProtocol::new("/pigeonhole/slot/1.0.0");

/// Largest message accepted: tag, key and the largest valid record, plus
/// slack so that an oversized record reaches the validator and is refused
/// with its reason rather than cut.
const MAX_MESSAGE: u64 = (1 + 32 + MAX_RECORD_BYTES + 1024) as u64;

/// A question about one slot.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum SlotRequest {
    /// What is held under the key?
    Get(DhtKey),
    /// Judge and store this record under the key, then answer what is held.
    Put(DhtKey, Vec<u8>),
}

/// What the peer holds under the slot (after judging a put).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SlotResponse(pub Option<Vec<u8>>);

/// The byte codec of [`SLOT_PROTOCOL`].
#[derive(Clone, Copy, Debug, Default)]
pub struct SlotCodec;

async fn read_all<T: AsyncRead + Unpin + Send>(io: &mut T) -> io::Result<Vec<u8>> {
    let mut buf = Vec::new();
    io.take(MAX_MESSAGE + 1).read_to_end(&mut buf).await?;
    if buf.len() as u64 > MAX_MESSAGE {
        return Err(io::Error::new(
            io::ErrorKind::InvalidData,
            "slot message too large",
        ));
    }
    Ok(buf)
}

fn bad(what: &str) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, what.to_string())
}

impl request_response::Codec for SlotCodec {
    type Protocol = StreamProtocol;
    type Request = SlotRequest;
    type Response = SlotResponse;

    async fn read_request<T>(&mut self, _: &StreamProtocol, io: &mut T) -> io::Result<SlotRequest>
    where
        T: AsyncRead + Unpin + Send,
    {
        let buf = read_all(io).await?;
        let (tag, rest) = buf.split_first().ok_or_else(|| bad("empty slot request"))?;
        if rest.len() < 32 {
            return Err(bad("short slot key"));
        }
        let (key, value) = rest.split_at(32);
        let key = DhtKey(key.try_into().expect("32 bytes"));
        match (tag, value.is_empty()) {
            (0, true) => Ok(SlotRequest::Get(key)),
            (1, false) => Ok(SlotRequest::Put(key, value.to_vec())),
            _ => Err(bad("unknown slot request")),
        }
    }

    async fn read_response<T>(&mut self, _: &StreamProtocol, io: &mut T) -> io::Result<SlotResponse>
    where
        T: AsyncRead + Unpin + Send,
    {
        let buf = read_all(io).await?;
        match buf.split_first() {
            Some((0, [])) => Ok(SlotResponse(None)),
            Some((1, value)) if !value.is_empty() => Ok(SlotResponse(Some(value.to_vec()))),
            _ => Err(bad("unknown slot response")),
        }
    }

    async fn write_request<T>(
        &mut self,
        _: &StreamProtocol,
        io: &mut T,
        req: SlotRequest,
    ) -> io::Result<()>
    where
        T: AsyncWrite + Unpin + Send,
    {
        let mut buf = Vec::with_capacity(1 + 32 + MAX_RECORD_BYTES);
        match req {
            SlotRequest::Get(key) => {
                buf.push(0);
                buf.extend_from_slice(&key.0);
            }
            SlotRequest::Put(key, value) => {
                buf.push(1);
                buf.extend_from_slice(&key.0);
                buf.extend_from_slice(&value);
            }
        }
        io.write_all(&buf).await?;
        io.close().await
    }

    async fn write_response<T>(
        &mut self,
        _: &StreamProtocol,
        io: &mut T,
        res: SlotResponse,
    ) -> io::Result<()>
    where
        T: AsyncWrite + Unpin + Send,
    {
        let buf = match res.0 {
            None => vec![0],
            Some(value) => {
                let mut buf = Vec::with_capacity(1 + value.len());
                buf.push(1);
                buf.extend_from_slice(&value);
                buf
            }
        };
        io.write_all(&buf).await?;
        io.close().await
    }
}

#[cfg(test)]
mod tests {
    use futures::io::Cursor;
    use request_response::Codec;

    use super::*;

    #[tokio::test]
    async fn messages_round_trip_and_junk_is_refused() {
        let mut codec = SlotCodec;
        let key = DhtKey([7; 32]);
        for request in [SlotRequest::Get(key), SlotRequest::Put(key, vec![1, 2, 3])] {
            let mut wire = Cursor::new(Vec::new());
            codec
                .write_request(&SLOT_PROTOCOL, &mut wire, request.clone())
                .await
                .unwrap();
            let mut read = Cursor::new(wire.into_inner());
            assert_eq!(
                codec.read_request(&SLOT_PROTOCOL, &mut read).await.unwrap(),
                request
            );
        }
        for response in [SlotResponse(None), SlotResponse(Some(vec![9; 100]))] {
            let mut wire = Cursor::new(Vec::new());
            codec
                .write_response(&SLOT_PROTOCOL, &mut wire, response.clone())
                .await
                .unwrap();
            let mut read = Cursor::new(wire.into_inner());
            assert_eq!(
                codec
                    .read_response(&SLOT_PROTOCOL, &mut read)
                    .await
                    .unwrap(),
                response
            );
        }
        let junk = [
            vec![],
            vec![0; 10],
            vec![2; 40],
            vec![0; 40],
            vec![1; 33],
            vec![1; 20_000],
        ];
        for bytes in junk {
            let mut read = Cursor::new(bytes);
            assert!(codec.read_request(&SLOT_PROTOCOL, &mut read).await.is_err());
        }
    }
}
