//! APDU framing: start octet, length and the four control octets of the I, S and U formats
//! (IEC 60870-5-104 §5.1), as pure functions over byte slices.
//!
//! Frame layout (§5.1, figure 3):
//!
//! ```text
//! 0x68 | length L (4..=253) | control 1 | control 2 | control 3 | control 4 | ASDU (L - 4 octets)
//! ```
//!
//! The length counts the four control octets and the ASDU, not the start and length octets.
//! Decoding never resynchronises on garbage: anything that is not a well-formed frame is a
//! [`FrameError`] and the connection is expected to close.

use bytes::{BufMut, Bytes, BytesMut};
use std::fmt;

use crate::hex::HexBytes;

/// The start octet of every APDU.
pub const START: u8 = 0x68;
/// Smallest value of the length octet (control field only: S and U frames).
pub const MIN_LENGTH: u8 = 4;
/// Largest value of the length octet (§5.1: maximum APDU length 253).
pub const MAX_LENGTH: u8 = 253;
/// Largest whole frame on the wire: start, length and 253 octets.
pub const MAX_FRAME_LEN: usize = 2 + MAX_LENGTH as usize;
/// Largest ASDU an I frame can carry (253 - 4 control octets).
pub const MAX_ASDU_LEN: usize = MAX_LENGTH as usize - 4;
/// Sequence numbers count modulo 2^15 (§5.1).
pub const SEQ_MODULUS: u16 = 32768;

/// `a - b` modulo 2^15: how far `a` is ahead of `b`.
#[inline]
pub const fn seq_distance(a: u16, b: u16) -> u16 {
    a.wrapping_sub(b) & (SEQ_MODULUS - 1)
}

/// `a + n` modulo 2^15.
#[inline]
pub const fn seq_add(a: u16, n: u16) -> u16 {
    a.wrapping_add(n) & (SEQ_MODULUS - 1)
}

/// The functions of a U-format frame (§5.3); exactly one function bit is set.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum UFunction {
    /// STARTDT act (control octet 1 = 0x07).
    StartDtAct,
    /// STARTDT con (0x0B).
    StartDtCon,
    /// STOPDT act (0x13).
    StopDtAct,
    /// STOPDT con (0x23).
    StopDtCon,
    /// TESTFR act (0x43).
    TestFrAct,
    /// TESTFR con (0x83).
    TestFrCon,
}

impl UFunction {
    /// All six functions, in bit order.
    pub const ALL: [UFunction; 6] = [
        UFunction::StartDtAct,
        UFunction::StartDtCon,
        UFunction::StopDtAct,
        UFunction::StopDtCon,
        UFunction::TestFrAct,
        UFunction::TestFrCon,
    ];

    /// Control octet 1 of this function: bits 0-1 = 11, one of bits 2..7 set.
    pub const fn octet(self) -> u8 {
        match self {
            UFunction::StartDtAct => 0x07,
            UFunction::StartDtCon => 0x0B,
            UFunction::StopDtAct => 0x13,
            UFunction::StopDtCon => 0x23,
            UFunction::TestFrAct => 0x43,
            UFunction::TestFrCon => 0x83,
        }
    }

    /// The function whose control octet 1 is `octet`, if exactly one function bit is set.
    pub const fn from_octet(octet: u8) -> Option<UFunction> {
        match octet {
            0x07 => Some(UFunction::StartDtAct),
            0x0B => Some(UFunction::StartDtCon),
            0x13 => Some(UFunction::StopDtAct),
            0x23 => Some(UFunction::StopDtCon),
            0x43 => Some(UFunction::TestFrAct),
            0x83 => Some(UFunction::TestFrCon),
            _ => None,
        }
    }

    /// True for the activations (act), false for the confirmations (con).
    pub const fn is_act(self) -> bool {
        matches!(
            self,
            UFunction::StartDtAct | UFunction::StopDtAct | UFunction::TestFrAct
        )
    }

    /// The confirmation answering this activation (itself for a confirmation).
    pub const fn confirmation(self) -> UFunction {
        match self {
            UFunction::StartDtAct => UFunction::StartDtCon,
            UFunction::StopDtAct => UFunction::StopDtCon,
            UFunction::TestFrAct => UFunction::TestFrCon,
            other => other,
        }
    }

    /// Name as written in the standard, e.g. `STARTDT act`.
    pub const fn name(self) -> &'static str {
        match self {
            UFunction::StartDtAct => "STARTDT act",
            UFunction::StartDtCon => "STARTDT con",
            UFunction::StopDtAct => "STOPDT act",
            UFunction::StopDtCon => "STOPDT con",
            UFunction::TestFrAct => "TESTFR act",
            UFunction::TestFrCon => "TESTFR con",
        }
    }
}

impl fmt::Display for UFunction {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// The application protocol control information: the decoded control field.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Apci {
    /// Numbered information transfer, carries an ASDU.
    I {
        /// N(S): the send sequence number of this frame, 0..=32767.
        send_seq: u16,
        /// N(R): every frame of the peer below this number is acknowledged, 0..=32767.
        recv_seq: u16,
    },
    /// Numbered supervisory function: an acknowledgement only.
    S {
        /// N(R): every frame of the peer below this number is acknowledged, 0..=32767.
        recv_seq: u16,
    },
    /// Unnumbered control function.
    U(UFunction),
}

/// A whole APDU: control information and (for I frames) the ASDU, still undecoded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Apdu {
    /// The control field.
    pub apci: Apci,
    /// The ASDU octets; empty for S and U frames.
    pub asdu: Bytes,
}

impl Apdu {
    /// An I frame carrying `asdu`.
    pub fn i(send_seq: u16, recv_seq: u16, asdu: Bytes) -> Apdu {
        Apdu {
            apci: Apci::I { send_seq, recv_seq },
            asdu,
        }
    }

    /// An S frame.
    pub fn s(recv_seq: u16) -> Apdu {
        Apdu {
            apci: Apci::S { recv_seq },
            asdu: Bytes::new(),
        }
    }

    /// A U frame.
    pub fn u(function: UFunction) -> Apdu {
        Apdu {
            apci: Apci::U(function),
            asdu: Bytes::new(),
        }
    }

    /// Length of this APDU on the wire (start and length octets included).
    pub fn wire_len(&self) -> usize {
        6 + self.asdu.len()
    }
}

/// A frame that is not a well-formed APDU, or an APDU that cannot be encoded.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FrameError {
    /// The first octet is not 0x68.
    #[error("bad start octet 0x{found:02x} (expected 0x68)")]
    BadStartByte {
        /// The octet found.
        found: u8,
    },
    /// The length octet is outside 4..=253.
    #[error("bad APDU length {length} (allowed 4..=253)")]
    BadLength {
        /// The length octet.
        length: u8,
    },
    /// The control field matches no format (e.g. U frame with zero or several function bits,
    /// S frame with a non-zero second octet, bit 0 of octet 3 set).
    #[error("bad control field {}", HexBytes::new(octets))]
    BadControlField {
        /// The four control octets.
        octets: [u8; 4],
    },
    /// An I frame of length 4: it carries no ASDU.
    #[error("I frame without ASDU (control field {})", HexBytes::new(octets))]
    EmptyIFrame {
        /// The four control octets.
        octets: [u8; 4],
    },
    /// An S or U frame longer than 4 octets.
    #[error(
        "S or U frame with length {length} (must be 4), control field {}",
        HexBytes::new(octets)
    )]
    UnexpectedAsdu {
        /// The length octet.
        length: u8,
        /// The four control octets.
        octets: [u8; 4],
    },
    /// Encoding: the ASDU is empty or longer than 249 octets.
    #[error("ASDU of {length} octets cannot be sent (allowed 1..=249)")]
    AsduLength {
        /// The ASDU length.
        length: usize,
    },
    /// Encoding: a sequence number above 32767.
    #[error("sequence number {value} out of range 0..=32767")]
    SeqOutOfRange {
        /// The number.
        value: u16,
    },
    /// The stream ended inside a frame.
    #[error("stream ended inside a frame: {have} of {need} octets received")]
    Truncated {
        /// Octets of the frame received.
        have: usize,
        /// Octets the frame needs (start and length octets included); the shortest frame
        /// (6) when the length octet itself is missing.
        need: usize,
    },
}

/// Checks the start and length octets at the beginning of `buf`.
///
/// Returns `Ok(Some(n))` when a whole frame of `n` octets (start and length included) is
/// available, `Ok(None)` when more octets are needed, and an error as soon as the octets
/// present cannot start a valid frame.
pub fn frame_len(buf: &[u8]) -> Result<Option<usize>, FrameError> {
    let Some(&start) = buf.first() else {
        return Ok(None);
    };
    if start != START {
        return Err(FrameError::BadStartByte { found: start });
    }
    let Some(&length) = buf.get(1) else {
        return Ok(None);
    };
    if !(MIN_LENGTH..=MAX_LENGTH).contains(&length) {
        return Err(FrameError::BadLength { length });
    }
    let total = 2 + usize::from(length);
    Ok(if buf.len() >= total {
        Some(total)
    } else {
        None
    })
}

/// Decodes the control field of a frame whose length octet is `length`.
pub fn decode_control(octets: [u8; 4], length: u8) -> Result<Apci, FrameError> {
    let [o1, o2, o3, o4] = octets;
    if o3 & 0x01 != 0 {
        // §5.1: bit 1 of octet 3 is 0 in the I and S formats and in U all of octets 3-4 are 0.
        return Err(FrameError::BadControlField { octets });
    }
    let recv_seq = (u16::from(o3) >> 1) | (u16::from(o4) << 7);
    if o1 & 0x01 == 0 {
        // I format: N(S) = (o1 >> 1) | (o2 << 7); 15 bits.
        if length == MIN_LENGTH {
            return Err(FrameError::EmptyIFrame { octets });
        }
        let send_seq = (u16::from(o1) >> 1) | (u16::from(o2) << 7);
        return Ok(Apci::I { send_seq, recv_seq });
    }
    let apci = if o1 & 0x03 == 0x01 {
        // S format: octet 1 = 0x01, octet 2 = 0.
        if o1 != 0x01 || o2 != 0 {
            return Err(FrameError::BadControlField { octets });
        }
        Apci::S { recv_seq }
    } else {
        // U format: one function bit, octets 2-4 zero.
        match UFunction::from_octet(o1) {
            Some(f) if o2 == 0 && o3 == 0 && o4 == 0 => Apci::U(f),
            _ => return Err(FrameError::BadControlField { octets }),
        }
    };
    if length != MIN_LENGTH {
        return Err(FrameError::UnexpectedAsdu { length, octets });
    }
    Ok(apci)
}

/// Decodes one frame at the start of `buf`.
///
/// Returns `Ok(None)` when more octets are needed, otherwise the control information and the
/// frame length; the ASDU is `buf[6..frame_len]` (empty for S and U frames).
pub fn decode(buf: &[u8]) -> Result<Option<(Apci, usize)>, FrameError> {
    let Some(total) = frame_len(buf)? else {
        return Ok(None);
    };
    let (length, octets) = match buf {
        [_, length, o1, o2, o3, o4, ..] => (*length, [*o1, *o2, *o3, *o4]),
        // frame_len guarantees at least 6 octets; be total anyway.
        _ => return Ok(None),
    };
    let apci = decode_control(octets, length)?;
    Ok(Some((apci, total)))
}

/// Decodes one frame from the start of `buf` into an [`Apdu`] whose ASDU is a zero-copy slice of
/// `buf`. Returns the APDU and the octets consumed, or `Ok(None)` when more octets are needed.
pub fn decode_bytes(buf: &Bytes) -> Result<Option<(Apdu, usize)>, FrameError> {
    let Some((apci, total)) = decode(buf)? else {
        return Ok(None);
    };
    let asdu = if total > 6 {
        buf.slice(6..total)
    } else {
        Bytes::new()
    };
    Ok(Some((Apdu { apci, asdu }, total)))
}

fn check_seq(value: u16) -> Result<u16, FrameError> {
    if value < SEQ_MODULUS {
        Ok(value)
    } else {
        Err(FrameError::SeqOutOfRange { value })
    }
}

fn put_seq(dst: &mut BytesMut, seq: u16) {
    // N = 15 bits; octet a = (N << 1) & 0xFE, octet b = N >> 7.
    dst.put_u8(((seq << 1) & 0xFE) as u8);
    dst.put_u8((seq >> 7) as u8);
}

/// Appends an I frame carrying `asdu` to `dst`.
pub fn encode_i(
    dst: &mut BytesMut,
    send_seq: u16,
    recv_seq: u16,
    asdu: &[u8],
) -> Result<(), FrameError> {
    if asdu.is_empty() || asdu.len() > MAX_ASDU_LEN {
        return Err(FrameError::AsduLength { length: asdu.len() });
    }
    let send_seq = check_seq(send_seq)?;
    let recv_seq = check_seq(recv_seq)?;
    dst.reserve(6 + asdu.len());
    dst.put_u8(START);
    // Checked above: 4 + asdu.len() <= 253.
    dst.put_u8((4 + asdu.len()) as u8);
    put_seq(dst, send_seq);
    put_seq(dst, recv_seq);
    dst.put_slice(asdu);
    Ok(())
}

/// Appends an S frame to `dst`.
pub fn encode_s(dst: &mut BytesMut, recv_seq: u16) -> Result<(), FrameError> {
    let recv_seq = check_seq(recv_seq)?;
    dst.reserve(6);
    dst.put_slice(&[START, 4, 0x01, 0x00]);
    put_seq(dst, recv_seq);
    Ok(())
}

/// Appends a U frame to `dst`.
pub fn encode_u(dst: &mut BytesMut, function: UFunction) {
    dst.reserve(6);
    dst.put_slice(&[START, 4, function.octet(), 0, 0, 0]);
}

/// Appends `apdu` to `dst`. S and U frames ignore (must have) an empty ASDU.
pub fn encode(dst: &mut BytesMut, apdu: &Apdu) -> Result<(), FrameError> {
    match apdu.apci {
        Apci::I { send_seq, recv_seq } => encode_i(dst, send_seq, recv_seq, &apdu.asdu),
        Apci::S { recv_seq } => {
            if !apdu.asdu.is_empty() {
                return Err(FrameError::AsduLength {
                    length: apdu.asdu.len(),
                });
            }
            encode_s(dst, recv_seq)
        }
        Apci::U(f) => {
            if !apdu.asdu.is_empty() {
                return Err(FrameError::AsduLength {
                    length: apdu.asdu.len(),
                });
            }
            encode_u(dst, f);
            Ok(())
        }
    }
}

#[cfg(test)]
mod tests;
