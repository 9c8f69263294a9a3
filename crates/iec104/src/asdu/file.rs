//! Information elements of file transfer (IEC 60870-5-101 §7.2.6.33–38, §7.3.6): NOF, NOS,
//! LOF, LOS, FRQ, SRQ, SCQ, LSQ, AFQ, CHS, SOF and the segment.
//!
//! Each file-transfer type id has one struct holding its elements in wire order. Qualifier
//! octets (FRQ, SRQ, SCQ, LSQ, AFQ) are kept raw. LOF is 24 bits on the wire: a larger
//! `length` is sent truncated to its low 24 bits.

use bytes::BufMut;

use super::elements::octet_element;
use super::wire::{arr, put_u24, u24, Wire};
use crate::time::Cp56Time2a;

octet_element! {
    /// SOF, status of file (§7.2.6.38): STATUS bits 0–4, LFD 0x20 (last file of the
    /// directory), FOR 0x40 (name defines a subdirectory), FA 0x80 (file transfer active).
    Sof
}

impl Sof {
    /// STATUS 0..=31.
    pub const fn status(self) -> u8 {
        self.0 & 0x1F
    }
    /// LFD: last file of the directory.
    pub const fn last_file(self) -> bool {
        self.0 & 0x20 != 0
    }
    /// FOR: the name defines a subdirectory.
    pub const fn directory(self) -> bool {
        self.0 & 0x40 != 0
    }
    /// FA: file transfer of this file is active.
    pub const fn active(self) -> bool {
        self.0 & 0x80 != 0
    }
}

/// F_FR_NA_1 file ready: NOF (2), LOF (3), FRQ (1).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct FileReady {
    /// NOF: name of file.
    pub file: u16,
    /// LOF: length of file, 24 bits.
    pub length: u32,
    /// FRQ: bits 0–6 0 default, bit 7 (BS1) 1 = negative confirm.
    pub frq: u8,
}

impl Wire for FileReady {
    const SIZE: usize = 6;
    #[inline]
    fn read(b: &[u8]) -> Self {
        let [a, c, d, e, f, g] = arr::<6>(b);
        FileReady {
            file: u16::from_le_bytes([a, c]),
            length: u24(&[d, e, f]),
            frq: g,
        }
    }
    fn write<B: BufMut>(&self, out: &mut B) {
        out.put_u16_le(self.file);
        put_u24(out, self.length);
        out.put_u8(self.frq);
    }
}

/// F_SR_NA_1 section ready: NOF (2), NOS (1), LOF (3), SRQ (1).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct SectionReady {
    /// NOF: name of file.
    pub file: u16,
    /// NOS: name of section.
    pub section: u8,
    /// LOF: length of the section, 24 bits.
    pub length: u32,
    /// SRQ: bit 7 1 = section not ready.
    pub srq: u8,
}

impl Wire for SectionReady {
    const SIZE: usize = 7;
    #[inline]
    fn read(b: &[u8]) -> Self {
        let [a, c, s, d, e, f, g] = arr::<7>(b);
        SectionReady {
            file: u16::from_le_bytes([a, c]),
            section: s,
            length: u24(&[d, e, f]),
            srq: g,
        }
    }
    fn write<B: BufMut>(&self, out: &mut B) {
        out.put_u16_le(self.file);
        out.put_u8(self.section);
        put_u24(out, self.length);
        out.put_u8(self.srq);
    }
}

/// Elements NOF (2), NOS (1) and one qualifier octet: F_SC_NA_1 (SCQ), F_AF_NA_1 (AFQ).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct FileCommand {
    /// NOF: name of file.
    pub file: u16,
    /// NOS: name of section.
    pub section: u8,
    /// SCQ (select and call qualifier) or AFQ (acknowledge file or section qualifier).
    pub qualifier: u8,
}

impl Wire for FileCommand {
    const SIZE: usize = 4;
    #[inline]
    fn read(b: &[u8]) -> Self {
        let [a, c, s, q] = arr::<4>(b);
        FileCommand {
            file: u16::from_le_bytes([a, c]),
            section: s,
            qualifier: q,
        }
    }
    fn write<B: BufMut>(&self, out: &mut B) {
        out.put_u16_le(self.file);
        out.put_u8(self.section);
        out.put_u8(self.qualifier);
    }
}

/// F_LS_NA_1 last section, last segment: NOF (2), NOS (1), LSQ (1), CHS (1).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct LastSection {
    /// NOF: name of file.
    pub file: u16,
    /// NOS: name of section.
    pub section: u8,
    /// LSQ: 1 file transfer without deactivation, 2 with deactivation, 3 section transfer
    /// without deactivation, 4 with deactivation.
    pub lsq: u8,
    /// CHS: checksum, the sum modulo 256 of the octets of the file or section.
    pub checksum: u8,
}

impl Wire for LastSection {
    const SIZE: usize = 5;
    #[inline]
    fn read(b: &[u8]) -> Self {
        let [a, c, s, q, k] = arr::<5>(b);
        LastSection {
            file: u16::from_le_bytes([a, c]),
            section: s,
            lsq: q,
            checksum: k,
        }
    }
    fn write<B: BufMut>(&self, out: &mut B) {
        out.put_u16_le(self.file);
        out.put_u8(self.section);
        out.put_u8(self.lsq);
        out.put_u8(self.checksum);
    }
}

/// F_SG_NA_1 segment: NOF (2), NOS (1), LOS (1) and LOS octets of file data, borrowed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct Segment<'a> {
    /// NOF: name of file.
    pub file: u16,
    /// NOS: name of section.
    pub section: u8,
    /// The segment octets (LOS is their length, at most 255 and bounded by the ASDU size).
    pub data: &'a [u8],
}

impl<'a> Segment<'a> {
    /// Octets before the data: NOF, NOS, LOS.
    pub const HEADER: usize = 4;

    /// Reads a segment at the start of `b`, `None` if `b` is shorter than LOS says.
    #[inline]
    pub(crate) fn read(b: &'a [u8]) -> Option<Segment<'a>> {
        let (&[a, c, s, los], rest) = b.split_first_chunk::<4>()?;
        let data = rest.get(..usize::from(los))?;
        Some(Segment {
            file: u16::from_le_bytes([a, c]),
            section: s,
            data,
        })
    }

    /// Encoded size (header and data).
    pub fn encoded_len(&self) -> usize {
        Segment::HEADER + self.data.len()
    }

    /// Appends NOF, NOS, LOS and the data. The data is cut at 255 octets (LOS is one octet);
    /// the builder refuses such segments before calling this.
    pub(crate) fn write<B: BufMut>(&self, out: &mut B) {
        let data = self.data.get(..255).unwrap_or(self.data);
        out.put_u16_le(self.file);
        out.put_u8(self.section);
        out.put_u8(data.len() as u8);
        out.put_slice(data);
    }
}

/// F_DR_TA_1 directory entry: NOF (2), LOF (3), SOF (1), CP56Time2a (7) creation time.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct DirectoryEntry {
    /// NOF: name of file.
    pub file: u16,
    /// LOF: length of file, 24 bits.
    pub length: u32,
    /// SOF: status of file.
    pub sof: Sof,
    /// Creation time of the file.
    pub time: Cp56Time2a,
}

impl Wire for DirectoryEntry {
    const SIZE: usize = 13;
    #[inline]
    fn read(b: &[u8]) -> Self {
        let [a, c, d, e, f, s, t @ ..] = arr::<13>(b);
        DirectoryEntry {
            file: u16::from_le_bytes([a, c]),
            length: u24(&[d, e, f]),
            sof: Sof(s),
            time: Cp56Time2a::decode(&t),
        }
    }
    fn write<B: BufMut>(&self, out: &mut B) {
        out.put_u16_le(self.file);
        put_u24(out, self.length);
        out.put_u8(self.sof.0);
        out.put_slice(&self.time.encode());
    }
}

/// F_SC_NB_1 query log / request archive file: NOF (2), range start time CP56Time2a (7),
/// range stop time CP56Time2a (7).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct QueryLog {
    /// NOF: name of file.
    pub file: u16,
    /// Start of the requested range.
    pub start: Cp56Time2a,
    /// End of the requested range.
    pub stop: Cp56Time2a,
}

impl Wire for QueryLog {
    const SIZE: usize = 16;
    #[inline]
    fn read(b: &[u8]) -> Self {
        let [a, c, s0, s1, s2, s3, s4, s5, s6, t @ ..] = arr::<16>(b);
        QueryLog {
            file: u16::from_le_bytes([a, c]),
            start: Cp56Time2a::decode(&[s0, s1, s2, s3, s4, s5, s6]),
            stop: Cp56Time2a::decode(&t),
        }
    }
    fn write<B: BufMut>(&self, out: &mut B) {
        out.put_u16_le(self.file);
        out.put_slice(&self.start.encode());
        out.put_slice(&self.stop.encode());
    }
}
