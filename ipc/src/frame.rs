//! Framing: a u32 big-endian length prefix, then one bincode-encoded value.
//!
//! Both directions have a named maximum size, checked before any allocation. A frame
//! that does not decode, decodes with bytes left over, or exceeds its limit is an error
//! that ends the connection it came on, and no other.
#![forbid(unsafe_code)]

use std::io;
use std::marker::PhantomData;

use bytes::{Bytes, BytesMut};
use serde::Serialize;
use serde::de::DeserializeOwned;
use tokio_util::codec::{Decoder, Encoder, LengthDelimitedCodec};

/// Why a frame could not be read or written.
#[derive(Debug, thiserror::Error)]
pub enum FrameError {
    /// The socket failed, or the length prefix announced more than the limit.
    #[error("i/o: {0}")]
    Io(#[from] io::Error),
    /// The payload is not a valid encoding of the expected type.
    #[error("undecodable frame: {0}")]
    Decode(String),
    /// The payload decoded but had bytes left over.
    #[error("frame has {0} trailing bytes")]
    TrailingBytes(usize),
    /// The value to send encodes larger than the limit.
    #[error("frame of {size} bytes exceeds the limit of {limit}")]
    TooLarge {
        /// Encoded size.
        size: usize,
        /// The limit.
        limit: usize,
    },
    /// Could not encode the value.
    #[error("unencodable value: {0}")]
    Encode(String),
    /// The length prefix announced more than the limit; nothing was buffered.
    #[error("announced frame exceeds the limit of {limit} bytes")]
    Oversized {
        /// The limit.
        limit: usize,
    },
}

fn bincode_config() -> impl bincode::config::Config {
    // The size limit is enforced by the length prefix before decoding starts; the
    // decoder limit below additionally bounds any allocation a length field inside
    // the payload could ask for.
    bincode::config::standard().with_limit::<{ 64 * 1024 * 1024 }>()
}

/// Encodes one value as a frame payload (without the length prefix).
pub fn encode_payload<T: Serialize>(value: &T, limit: usize) -> Result<Vec<u8>, FrameError> {
    let bytes = bincode::serde::encode_to_vec(value, bincode_config())
        .map_err(|e| FrameError::Encode(e.to_string()))?;
    if bytes.len() > limit {
        return Err(FrameError::TooLarge {
            size: bytes.len(),
            limit,
        });
    }
    Ok(bytes)
}

/// Decodes one frame payload, refusing trailing bytes and anything over `limit`.
pub fn decode_payload<T: DeserializeOwned>(payload: &[u8], limit: usize) -> Result<T, FrameError> {
    if payload.len() > limit {
        return Err(FrameError::TooLarge {
            size: payload.len(),
            limit,
        });
    }
    let (value, consumed) = bincode::serde::decode_from_slice(payload, bincode_config())
        .map_err(|e| FrameError::Decode(e.to_string()))?;
    if consumed != payload.len() {
        return Err(FrameError::TrailingBytes(payload.len() - consumed));
    }
    Ok(value)
}

/// A tokio codec reading frames of type `In` (at most `max_in` bytes) and writing frames
/// of type `Out` (at most `max_out` bytes).
#[derive(Debug)]
pub struct FrameCodec<In, Out> {
    reader: LengthDelimitedCodec,
    writer: LengthDelimitedCodec,
    max_in: usize,
    max_out: usize,
    _types: PhantomData<fn(Out) -> In>,
}

impl<In, Out> FrameCodec<In, Out> {
    /// A codec with the given limits for each direction.
    pub fn new(max_in: usize, max_out: usize) -> Self {
        let lengths = |max| {
            LengthDelimitedCodec::builder()
                .length_field_type::<u32>()
                .max_frame_length(max)
                .new_codec()
        };
        FrameCodec {
            reader: lengths(max_in),
            writer: lengths(max_out),
            max_in,
            max_out,
            _types: PhantomData,
        }
    }
}

impl<In: DeserializeOwned, Out> Decoder for FrameCodec<In, Out> {
    type Item = In;
    type Error = FrameError;

    fn decode(&mut self, src: &mut BytesMut) -> Result<Option<In>, FrameError> {
        // The length codec keeps state between calls (it consumes the prefix first) and
        // refuses an oversized prefix before buffering the frame.
        let frame = self.reader.decode(src).map_err(|e| {
            if e.kind() == io::ErrorKind::InvalidData {
                FrameError::Oversized { limit: self.max_in }
            } else {
                FrameError::Io(e)
            }
        })?;
        match frame {
            Some(frame) => decode_payload(&frame, self.max_in).map(Some),
            None => Ok(None),
        }
    }
}

impl<In, Out: Serialize> Encoder<Out> for FrameCodec<In, Out> {
    type Error = FrameError;

    fn encode(&mut self, item: Out, dst: &mut BytesMut) -> Result<(), FrameError> {
        let payload = encode_payload(&item, self.max_out)?;
        self.writer.encode(Bytes::from(payload), dst)?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::auth::{AuthRequest, AuthResponse};

    fn codec() -> FrameCodec<AuthRequest, AuthResponse> {
        FrameCodec::new(1024, 1024)
    }

    #[test]
    fn round_trip() {
        let mut writer: FrameCodec<AuthResponse, AuthRequest> = FrameCodec::new(1024, 1024);
        let mut buf = BytesMut::new();
        let req = AuthRequest::ResolveAddress {
            address: "a@example.org".into(),
        };
        writer.encode(req.clone(), &mut buf).unwrap();
        assert_eq!(codec().decode(&mut buf).unwrap(), Some(req));
        assert!(buf.is_empty());
    }

    #[test]
    fn partial_frame_waits() {
        let mut buf = BytesMut::from(&[0u8, 0, 0, 10, 1, 2][..]);
        assert!(codec().decode(&mut buf).unwrap().is_none());
    }

    #[test]
    fn oversized_length_is_refused_without_buffering() {
        let mut buf = BytesMut::from(&[0xffu8, 0xff, 0xff, 0xff][..]);
        assert!(matches!(
            codec().decode(&mut buf),
            Err(FrameError::Oversized { limit: 1024 })
        ));
    }

    #[test]
    fn a_frame_arriving_in_pieces_decodes() {
        let mut writer: FrameCodec<AuthResponse, AuthRequest> = FrameCodec::new(1024, 1024);
        let mut whole = BytesMut::new();
        let req = AuthRequest::ResolveAddress {
            address: "someone@example.org".into(),
        };
        writer.encode(req.clone(), &mut whole).unwrap();
        writer.encode(AuthRequest::SaslAbort, &mut whole).unwrap();
        for split in 1..whole.len() {
            let mut reader = codec();
            let mut buf = BytesMut::from(&whole[..split]);
            let mut got = Vec::new();
            while let Some(item) = reader.decode(&mut buf).unwrap() {
                got.push(item);
            }
            buf.extend_from_slice(&whole[split..]);
            while let Some(item) = reader.decode(&mut buf).unwrap() {
                got.push(item);
            }
            assert_eq!(
                got,
                vec![req.clone(), AuthRequest::SaslAbort],
                "split at {split}"
            );
        }
    }

    #[test]
    fn trailing_bytes_are_refused() {
        let mut payload = encode_payload(&AuthRequest::SaslAbort, 1024).unwrap();
        payload.push(0);
        let mut buf = BytesMut::new();
        buf.extend_from_slice(&(payload.len() as u32).to_be_bytes());
        buf.extend_from_slice(&payload);
        assert!(matches!(
            codec().decode(&mut buf),
            Err(FrameError::TrailingBytes(1))
        ));
    }

    #[test]
    fn garbage_is_an_error_not_a_panic() {
        let mut buf = BytesMut::from(&[0u8, 0, 0, 3, 0xff, 0xfe, 0xfd][..]);
        assert!(matches!(
            codec().decode(&mut buf),
            Err(FrameError::Decode(_))
        ));
    }

    #[test]
    fn encoding_over_the_limit_fails() {
        let mut writer: FrameCodec<AuthResponse, AuthRequest> = FrameCodec::new(1024, 16);
        let req = AuthRequest::ResolveAddress {
            address: "x".repeat(100),
        };
        assert!(matches!(
            writer.encode(req, &mut BytesMut::new()),
            Err(FrameError::TooLarge { .. })
        ));
    }

    proptest::proptest! {
        #[test]
        fn arbitrary_bytes_never_panic(data in proptest::collection::vec(proptest::num::u8::ANY, 0..2048)) {
            let mut buf = BytesMut::from(&data[..]);
            let mut c = codec();
            for _ in 0..8 {
                match c.decode(&mut buf) {
                    Ok(Some(_)) => continue,
                    _ => break,
                }
            }
        }
    }
}
