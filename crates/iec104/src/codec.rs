//! [`ApduCodec`]: tokio-util framing of APDUs over a byte stream.
//!
//! Decoding is zero-copy: a complete frame is split off the read buffer and frozen, and the
//! ASDU is a slice of it. A frame is returned as soon as it is complete, so the read buffer never
//! holds more than one incomplete frame (at most 255 octets) plus what one read delivered.

use bytes::{Buf, BytesMut};
use tokio_util::codec::{Decoder, Encoder};

use crate::apci::{self, Apdu, FrameError, MAX_FRAME_LEN};
use crate::hex::HexHead;

/// Error of [`ApduCodec`]: IO, or a malformed frame with the octets that caused it.
#[derive(Debug, thiserror::Error)]
pub enum CodecError {
    /// The underlying stream failed.
    #[error("io: {0}")]
    Io(#[from] std::io::Error),
    /// The peer sent octets that are not a valid APDU.
    #[error("{error}; received octets: {bytes}")]
    Frame {
        /// What is wrong.
        error: FrameError,
        /// The offending octets from the start of the bad frame (bounded).
        bytes: HexHead,
    },
    /// An APDU handed to the encoder cannot be encoded.
    #[error("cannot encode APDU: {0}")]
    Encode(FrameError),
}

impl CodecError {
    /// The frame error, when this is one (decoding or encoding).
    pub fn frame_error(&self) -> Option<&FrameError> {
        match self {
            CodecError::Frame { error, .. } | CodecError::Encode(error) => Some(error),
            CodecError::Io(_) => None,
        }
    }
}

/// Frames [`Apdu`]s on a byte stream (use with `tokio_util::codec::Framed`).
#[derive(Debug, Default, Clone, Copy)]
pub struct ApduCodec {
    _private: (),
}

impl ApduCodec {
    /// A new codec.
    pub fn new() -> Self {
        ApduCodec { _private: () }
    }
}

/// The stateless frame splitter behind [`ApduCodec`]'s `decode` and `decode_eof`.
struct ApduDecoder;

impl ApduDecoder {
    fn decode(src: &mut BytesMut) -> Result<Option<Apdu>, CodecError> {
        match apci::decode(src) {
            Ok(Some((apci, total))) => {
                let frame = src.split_to(total).freeze();
                let asdu = if total > 6 {
                    frame.slice(6..)
                } else {
                    bytes::Bytes::new()
                };
                Ok(Some(Apdu { apci, asdu }))
            }
            Ok(None) => {
                // Room for the rest of this frame, never more than one maximal frame.
                src.reserve(MAX_FRAME_LEN.saturating_sub(src.len()));
                Ok(None)
            }
            Err(error) => {
                let bytes = HexHead::new(src);
                // Nothing after a bad frame is trustworthy: drop it all.
                src.advance(src.len());
                Err(CodecError::Frame { error, bytes })
            }
        }
    }
}

/// §5.1: start octet, length octet, then `length` octets.
fn frame_need(buf: &[u8]) -> usize {
    2 + usize::from(buf.get(1).copied().unwrap_or(apci::MIN_LENGTH))
}

impl Decoder for ApduCodec {
    type Item = Apdu;
    type Error = CodecError;

    fn decode(&mut self, src: &mut BytesMut) -> Result<Option<Apdu>, CodecError> {
        ApduDecoder::decode(src)
    }

    /// At the end of the stream a partial frame is bad input from the peer, reported as
    /// [`FrameError::Truncated`] with its octets (not as an untyped IO error).
    fn decode_eof(&mut self, src: &mut BytesMut) -> Result<Option<Apdu>, CodecError> {
        match ApduDecoder::decode(src)? {
            Some(apdu) => Ok(Some(apdu)),
            None if src.is_empty() => Ok(None),
            None => {
                let error = FrameError::Truncated {
                    have: src.len(),
                    need: frame_need(src),
                };
                let bytes = HexHead::new(src);
                src.advance(src.len());
                Err(CodecError::Frame { error, bytes })
            }
        }
    }
}

impl Encoder<Apdu> for ApduCodec {
    type Error = CodecError;

    fn encode(&mut self, item: Apdu, dst: &mut BytesMut) -> Result<(), CodecError> {
        apci::encode(dst, &item).map_err(CodecError::Encode)
    }
}

impl Encoder<&Apdu> for ApduCodec {
    type Error = CodecError;

    fn encode(&mut self, item: &Apdu, dst: &mut BytesMut) -> Result<(), CodecError> {
        apci::encode(dst, item).map_err(CodecError::Encode)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::apci::{Apci, UFunction};
    use proptest::prelude::*;

    fn apdu_strategy() -> impl Strategy<Value = Apdu> {
        prop_oneof![
            (
                0u16..32768,
                0u16..32768,
                proptest::collection::vec(any::<u8>(), 1..=249)
            )
                .prop_map(|(s, r, a)| Apdu::i(s, r, a.into())),
            (0u16..32768).prop_map(Apdu::s),
            (0usize..6).prop_map(|i| Apdu::u(UFunction::ALL[i])),
        ]
    }

    proptest! {
        /// However the stream is cut into reads, the same frames come out, in order.
        #[test]
        fn chunked_stream_decodes_to_the_same_frames(
            apdus in proptest::collection::vec(apdu_strategy(), 1..20),
            cuts in proptest::collection::vec(1usize..300, 1..40),
        ) {
            let mut wire = BytesMut::new();
            for a in &apdus {
                apci::encode(&mut wire, a).unwrap();
            }
            let mut codec = ApduCodec::new();
            let mut buf = BytesMut::new();
            let mut out = Vec::new();
            let mut rest = &wire[..];
            let mut cut = cuts.iter().cycle();
            while !rest.is_empty() {
                let n = (*cut.next().unwrap()).min(rest.len());
                buf.extend_from_slice(&rest[..n]);
                rest = &rest[n..];
                while let Some(a) = codec.decode(&mut buf).unwrap() {
                    out.push(a);
                }
                // Never more than one incomplete frame buffered.
                prop_assert!(buf.len() < MAX_FRAME_LEN);
            }
            prop_assert_eq!(out, apdus);
        }

        /// Arbitrary input never panics; an error leaves nothing behind.
        #[test]
        fn arbitrary_input_never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..600)) {
            let mut codec = ApduCodec::new();
            let mut buf = BytesMut::from(&bytes[..]);
            loop {
                match codec.decode(&mut buf) {
                    Ok(Some(_)) => continue,
                    Ok(None) => break,
                    Err(_) => {
                        prop_assert!(buf.is_empty());
                        break;
                    }
                }
            }
        }
    }

    #[test]
    fn splits_back_to_back_frames_and_waits_for_partial_ones() {
        // STARTDT con (68 04 0b 00 00 00), then an I frame N(S)=0 N(R)=1 with a 2-octet ASDU:
        // length 6, control 00 00 02 00 (N(R)=1 -> octet 3 = 1<<1 = 02), then the first 3
        // octets of a third frame.
        let mut buf = BytesMut::from(
            &[
                0x68, 0x04, 0x0B, 0, 0, 0, 0x68, 0x06, 0, 0, 0x02, 0, 0xAB, 0xCD, 0x68, 0x04, 0x01,
            ][..],
        );
        let mut codec = ApduCodec::new();
        let a = codec.decode(&mut buf).unwrap().unwrap();
        assert_eq!(a.apci, Apci::U(UFunction::StartDtCon));
        let b = codec.decode(&mut buf).unwrap().unwrap();
        assert_eq!(
            b.apci,
            Apci::I {
                send_seq: 0,
                recv_seq: 1
            }
        );
        assert_eq!(&b.asdu[..], &[0xAB, 0xCD]);
        assert!(codec.decode(&mut buf).unwrap().is_none());
        assert_eq!(buf.len(), 3);
        buf.extend_from_slice(&[0x00, 0x04, 0x00]);
        let c = codec.decode(&mut buf).unwrap().unwrap();
        assert_eq!(c.apci, Apci::S { recv_seq: 2 });
        assert!(buf.is_empty());
    }

    #[test]
    fn garbage_is_an_error_with_the_octets() {
        let mut buf = BytesMut::from(&[0x16, 0x01, 0x02][..]);
        let err = ApduCodec::new().decode(&mut buf).unwrap_err();
        match &err {
            CodecError::Frame {
                error: FrameError::BadStartByte { found: 0x16 },
                bytes,
            } => {
                assert_eq!(bytes.bytes(), &[0x16, 0x01, 0x02]);
            }
            other => panic!("unexpected {other:?}"),
        }
        assert!(err.to_string().contains("16 01 02"), "{err}");
    }

    /// A peer that sends the first 4 octets of a frame announcing length 0x0e (§5.1: 2 + 14 =
    /// 16 octets) and closes: a typed, truncated-frame error carrying those octets.
    #[tokio::test]
    async fn stream_ending_mid_frame_is_a_typed_error_with_the_octets() {
        use futures_util::StreamExt;
        let wire: &[u8] = &[0x68, 0x04, 0x83, 0, 0, 0, 0x68, 0x0e, 0x00, 0x00];
        let mut framed = tokio_util::codec::FramedRead::new(wire, ApduCodec::new());
        let first = framed.next().await.unwrap().unwrap();
        assert_eq!(first.apci, Apci::U(UFunction::TestFrCon));
        let err = framed.next().await.unwrap().unwrap_err();
        match &err {
            CodecError::Frame {
                error: FrameError::Truncated { have: 4, need: 16 },
                bytes,
            } => assert_eq!(bytes.bytes(), &[0x68, 0x0e, 0x00, 0x00]),
            other => panic!("unexpected {other:?}"),
        }
        assert!(err.to_string().contains("68 0e 00 00"), "{err}");
        // A lone start octet: the length is unknown, the shortest frame (6) is needed.
        let mut buf = BytesMut::from(&[0x68][..]);
        assert!(matches!(
            ApduCodec::new().decode_eof(&mut buf),
            Err(CodecError::Frame {
                error: FrameError::Truncated { have: 1, need: 6 },
                ..
            })
        ));
        assert!(buf.is_empty());
        // A clean end of stream is no error.
        assert!(ApduCodec::new()
            .decode_eof(&mut BytesMut::new())
            .unwrap()
            .is_none());
    }

    #[test]
    fn encoder_writes_hand_derived_bytes() {
        let mut dst = BytesMut::new();
        let mut codec = ApduCodec::new();
        // TESTFR con: control octet 1 = 0x83 (§5.3), length 4.
        codec
            .encode(Apdu::u(UFunction::TestFrCon), &mut dst)
            .unwrap();
        assert_eq!(&dst[..], &[0x68, 0x04, 0x83, 0, 0, 0]);
    }
}
