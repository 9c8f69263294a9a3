//! `iec104::apci::decode` on raw bytes; a decoded frame re-encodes to identical bytes.
#![no_main]

use bytes::{Bytes, BytesMut};
use iec104::apci::{self, Apci};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let decoded = apci::decode(data);
    // `decode_bytes` (zero-copy) must agree with `decode`.
    let owned = Bytes::copy_from_slice(data);
    let decoded_bytes = apci::decode_bytes(&owned);
    match (&decoded, &decoded_bytes) {
        (Ok(Some((a, n))), Ok(Some((apdu, m)))) => {
            assert_eq!(a, &apdu.apci);
            assert_eq!(n, m);
        }
        (Ok(None), Ok(None)) => {}
        (Err(e), Err(f)) => assert_eq!(e, f),
        _ => panic!("decode {decoded:?} and decode_bytes {decoded_bytes:?} disagree"),
    }
    match decoded {
        Ok(Some((apci, total))) => {
            assert!((6..=apci::MAX_FRAME_LEN).contains(&total), "{total}");
            let frame = data
                .get(..total)
                .expect("decode claims more than the input");
            let asdu = frame.get(6..).unwrap_or(&[]);
            let mut out = BytesMut::new();
            match apci {
                Apci::I { send_seq, recv_seq } => {
                    assert!(send_seq < apci::SEQ_MODULUS && recv_seq < apci::SEQ_MODULUS);
                    apci::encode_i(&mut out, send_seq, recv_seq, asdu).expect("re-encode I");
                }
                Apci::S { recv_seq } => {
                    assert!(asdu.is_empty());
                    apci::encode_s(&mut out, recv_seq).expect("re-encode S");
                }
                Apci::U(f) => {
                    assert!(asdu.is_empty());
                    apci::encode_u(&mut out, f);
                }
            }
            assert_eq!(&out[..], frame, "re-encoding differs");
            // The generic encoder agrees with the per-format ones.
            let mut again = BytesMut::new();
            apci::encode(
                &mut again,
                &apci::Apdu {
                    apci,
                    asdu: Bytes::copy_from_slice(asdu),
                },
            )
            .expect("re-encode Apdu");
            assert_eq!(&again[..], frame);
        }
        Ok(None) => {
            // More octets needed: only a strict prefix of a frame can ask for more.
            assert!(data.len() < apci::MAX_FRAME_LEN);
        }
        Err(e) => {
            // Error messages format without panicking.
            let _ = e.to_string();
        }
    }
});
