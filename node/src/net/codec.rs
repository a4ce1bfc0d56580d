//! Request-response codec on CBOR (ciborium, through the protocol crate) with a size limit per
//! direction. A stream carries one message and is closed after it; the reader takes at most
//! `limit + 1` bytes, so an oversized or endless message is refused before it is decoded and
//! never buffered beyond the limit.

use std::io;
use std::marker::PhantomData;

use argus_protocol::codec::{decode, encode};
use futures::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use libp2p::StreamProtocol;
use serde::Serialize;
use serde::de::DeserializeOwned;

/// CBOR codec for one request-response protocol.
pub struct CborCodec<Req, Resp> {
    request_limit_bytes: usize,
    response_limit_bytes: usize,
    _types: PhantomData<fn() -> (Req, Resp)>,
}

impl<Req, Resp> CborCodec<Req, Resp> {
    pub fn new(request_limit_bytes: usize, response_limit_bytes: usize) -> Self {
        Self { request_limit_bytes, response_limit_bytes, _types: PhantomData }
    }
}

impl<Req, Resp> Clone for CborCodec<Req, Resp> {
    fn clone(&self) -> Self {
        Self::new(self.request_limit_bytes, self.response_limit_bytes)
    }
}

async fn read_limited<T, R>(io: &mut R, limit: usize) -> io::Result<T>
where
    T: DeserializeOwned,
    R: AsyncRead + Unpin + Send,
{
    let mut buf = Vec::new();
    io.take(limit as u64 + 1).read_to_end(&mut buf).await?;
    if buf.len() > limit {
        return Err(io::Error::new(io::ErrorKind::InvalidData, "message over size limit"));
    }
    decode(&buf, limit).map_err(|e| io::Error::new(io::ErrorKind::InvalidData, e))
}

fn encode_one<T: Serialize>(value: &T, limit: usize) -> io::Result<Vec<u8>> {
    encode(value, limit).map_err(|e| io::Error::new(io::ErrorKind::InvalidData, e))
}

async fn write_all_close<W: AsyncWrite + Unpin + Send>(io: &mut W, bytes: Vec<u8>) -> io::Result<()> {
    io.write_all(&bytes).await?;
    io.close().await
}

impl<Req, Resp> libp2p::request_response::Codec for CborCodec<Req, Resp>
where
    Req: Serialize + DeserializeOwned + Send + 'static,
    Resp: Serialize + DeserializeOwned + Send + 'static,
{
    type Protocol = StreamProtocol;
    type Request = Req;
    type Response = Resp;

    async fn read_request<T>(&mut self, _: &StreamProtocol, io: &mut T) -> io::Result<Req>
    where
        T: AsyncRead + Unpin + Send,
    {
        read_limited(io, self.request_limit_bytes).await
    }

    async fn read_response<T>(&mut self, _: &StreamProtocol, io: &mut T) -> io::Result<Resp>
    where
        T: AsyncRead + Unpin + Send,
    {
        read_limited(io, self.response_limit_bytes).await
    }

    async fn write_request<T>(&mut self, _: &StreamProtocol, io: &mut T, req: Req) -> io::Result<()>
    where
        T: AsyncWrite + Unpin + Send,
    {
        let bytes = encode_one(&req, self.request_limit_bytes);
        write_all_close(io, bytes?).await
    }

    async fn write_response<T>(&mut self, _: &StreamProtocol, io: &mut T, resp: Resp) -> io::Result<()>
    where
        T: AsyncWrite + Unpin + Send,
    {
        let bytes = encode_one(&resp, self.response_limit_bytes);
        write_all_close(io, bytes?).await
    }
}
