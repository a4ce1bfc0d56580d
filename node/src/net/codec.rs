//! Request-response codec on CBOR (ciborium, through the protocol crate). Each direction is
//! bounded by its message type's `WireMessage::MAX_BYTES`, and every message is validated on
//! the way in and on the way out (`decode_wire`, `encode_wire`), so the protocol crate is the
//! only gatekeeper of bytes: a request outside the spec's bounds never reaches the node. A
//! stream carries one message and is closed after it; the reader takes at most `limit + 1`
//! bytes, so an oversized or endless message is refused before it is decoded.

use std::io;
use std::marker::PhantomData;

use argus_protocol::codec::{WireMessage, decode_wire, encode_wire};
use futures::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use libp2p::StreamProtocol;

/// CBOR codec for one request-response protocol.
pub struct CborCodec<Req, Resp> {
    _types: PhantomData<fn() -> (Req, Resp)>,
}

impl<Req, Resp> CborCodec<Req, Resp> {
    pub fn new() -> Self {
        Self { _types: PhantomData }
    }
}

impl<Req, Resp> Default for CborCodec<Req, Resp> {
    fn default() -> Self {
        Self::new()
    }
}

impl<Req, Resp> Clone for CborCodec<Req, Resp> {
    fn clone(&self) -> Self {
        Self::new()
    }
}

async fn read_limited<T, R>(io: &mut R) -> io::Result<T>
where
    T: WireMessage,
    R: AsyncRead + Unpin + Send,
{
    let mut buf = Vec::new();
    io.take(T::MAX_BYTES as u64 + 1).read_to_end(&mut buf).await?;
    if buf.len() > T::MAX_BYTES {
        return Err(io::Error::new(io::ErrorKind::InvalidData, "message over size limit"));
    }
    decode_wire(&buf).map_err(|e| io::Error::new(io::ErrorKind::InvalidData, e))
}

fn encode_one<T: WireMessage>(value: &T) -> io::Result<Vec<u8>> {
    encode_wire(value).map_err(|e| io::Error::new(io::ErrorKind::InvalidData, e))
}

async fn write_all_close<W: AsyncWrite + Unpin + Send>(io: &mut W, bytes: Vec<u8>) -> io::Result<()> {
    io.write_all(&bytes).await?;
    io.close().await
}

impl<Req, Resp> libp2p::request_response::Codec for CborCodec<Req, Resp>
where
    Req: WireMessage + Send + 'static,
    Resp: WireMessage + Send + 'static,
{
    type Protocol = StreamProtocol;
    type Request = Req;
    type Response = Resp;

    async fn read_request<T>(&mut self, _: &StreamProtocol, io: &mut T) -> io::Result<Req>
    where
        T: AsyncRead + Unpin + Send,
    {
        read_limited(io).await
    }

    async fn read_response<T>(&mut self, _: &StreamProtocol, io: &mut T) -> io::Result<Resp>
    where
        T: AsyncRead + Unpin + Send,
    {
        read_limited(io).await
    }

    async fn write_request<T>(&mut self, _: &StreamProtocol, io: &mut T, req: Req) -> io::Result<()>
    where
        T: AsyncWrite + Unpin + Send,
    {
        let bytes = encode_one(&req);
        write_all_close(io, bytes?).await
    }

    async fn write_response<T>(&mut self, _: &StreamProtocol, io: &mut T, resp: Resp) -> io::Result<()>
    where
        T: AsyncWrite + Unpin + Send,
    {
        let bytes = encode_one(&resp);
        write_all_close(io, bytes?).await
    }
}
