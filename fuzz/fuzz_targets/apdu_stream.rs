//! A byte stream through `ApduCodec` in arbitrary chunkings; every ASDU is parsed with the
//! IEC 60870-5-104 sizes, read field by field and serialized to JSON (`iec104::json`, what
//! the gateway publishes).
//!
//! Input: byte 0 picks the chunk sizes (bits 0-6: first chunk 1..=128; bit 7: vary the size
//! from the stream itself), the rest is the stream. Checks: no panic; the buffer never holds
//! more than one incomplete frame; after an error the buffer is empty; at the end,
//! `decode_eof` reports a partial frame as `FrameError::Truncated` with its length; every
//! decoded frame re-encodes to the octets it was cut from; the frames are the same as when
//! the whole stream is decoded at once.
#![no_main]

use bytes::BytesMut;
use iec104::apci::{self, Apci, FrameError, MAX_FRAME_LEN};
use iec104::asdu::{AsduParams, AsduView};
use iec104::codec::ApduCodec;
use libfuzzer_sys::fuzz_target;
use tokio_util::codec::Decoder;

/// Decodes `stream` fed in chunks chosen by `next_chunk`; returns the frames and whether it
/// ended in an error.
fn run(stream: &[u8], mut next_chunk: impl FnMut(usize) -> usize) -> (Vec<iec104::apci::Apdu>, bool) {
    let mut codec = ApduCodec::new();
    let mut buf = BytesMut::new();
    let mut frames = Vec::new();
    let mut rest = stream;
    let mut consumed = 0usize;
    while !rest.is_empty() {
        let n = next_chunk(consumed).clamp(1, rest.len());
        let (chunk, tail) = rest.split_at(n);
        buf.extend_from_slice(chunk);
        rest = tail;
        consumed += n;
        loop {
            match codec.decode(&mut buf) {
                Ok(Some(apdu)) => frames.push(apdu),
                Ok(None) => break,
                Err(e) => {
                    assert!(buf.is_empty(), "octets left after an error");
                    let _ = iec104_fuzz::display_len(&e);
                    let _ = e.frame_error();
                    return (frames, true);
                }
            }
        }
        assert!(buf.len() < MAX_FRAME_LEN, "{} octets buffered", buf.len());
    }
    // End of stream: nothing left is the end; a partial frame is a typed Truncated error
    // with its octets, and nothing stays buffered.
    let left = buf.len();
    match codec.decode_eof(&mut buf) {
        Ok(None) => assert_eq!(left, 0, "decode_eof dropped {left} octets silently"),
        Ok(Some(_)) => panic!("decode_eof found a frame decode did not"),
        Err(e) => {
            match e.frame_error() {
                Some(FrameError::Truncated { have, need }) => {
                    assert_eq!(*have, left);
                    assert!(*need > *have && *need <= MAX_FRAME_LEN, "{e}");
                }
                other => panic!("decode_eof: {other:?} for {left} buffered octets"),
            }
            assert!(buf.is_empty());
            return (frames, true);
        }
    }
    (frames, false)
}

fuzz_target!(|data: &[u8]| {
    let Some((&sel, stream)) = data.split_first() else {
        return;
    };
    let first = usize::from(sel & 0x7F) + 1;
    let vary = sel & 0x80 != 0;
    let (frames, failed) = run(stream, |at| {
        if vary {
            // Chunk sizes 1..=64 taken from the stream octet at this position.
            stream.get(at).map_or(first, |b| usize::from(b & 0x3F) + 1)
        } else {
            first
        }
    });
    // The same stream in one piece gives the same frames (and the same outcome).
    let (whole, whole_failed) = run(stream, |_| usize::MAX);
    assert_eq!(frames, whole, "chunking changes the frames");
    assert_eq!(failed, whole_failed);

    let mut offset = 0usize;
    for apdu in &frames {
        // The frame re-encodes to the octets it was cut from.
        let mut out = BytesMut::new();
        apci::encode(&mut out, apdu).expect("decoded frame does not encode");
        let len = out.len();
        assert_eq!(stream.get(offset..offset + len), Some(&out[..]));
        offset += len;
        if let Apci::I { .. } = apdu.apci {
            assert!(!apdu.asdu.is_empty());
            if let Ok(view) = AsduView::parse(&apdu.asdu, &AsduParams::IEC104) {
                iec104_fuzz::touch_view(&view);
                // The gateway's path from the peer to MQTT.
                iec104_fuzz::touch_json(&view);
            }
        } else {
            assert!(apdu.asdu.is_empty());
        }
    }
});
