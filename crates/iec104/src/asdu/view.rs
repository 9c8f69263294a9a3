//! Zero-copy decoding: [`AsduView`] borrows the ASDU octets, validates them once, and then
//! iterates over the information objects without failing or allocating.

use std::iter::FusedIterator;

use bytes::BytesMut;

use super::address::{encode_object, read_ioa};
use super::error::{AsduError, HexPrefix};
use super::header::{AsduHeader, AsduParams};
use super::object::{Element, InformationObject};
use crate::type_id::TypeId;

/// A validated ASDU borrowed from a receive buffer.
///
/// [`AsduView::parse`] checks the whole length up front, so [`AsduView::objects`] cannot fail.
/// An ASDU with a type id the standard does not define is accepted as a raw view: its header
/// is decoded, [`AsduView::objects`] yields nothing and [`AsduView::raw_body`] gives the rest.
///
/// ```
/// use iec104::asdu::{AsduParams, AsduView, Element};
/// // M_ME_NC_1, one object, spont, CA 47, IOA 100, R32 21.5 (0x41AC0000), QDS 0.
/// let bytes = [0x0D, 0x01, 0x03, 0x00, 0x2F, 0x00, 0x64, 0x00, 0x00, 0x00, 0x00, 0xAC, 0x41, 0x00];
/// let view = AsduView::parse(&bytes, &AsduParams::IEC104)?;
/// for obj in view.objects() {
///     if let Element::M_ME_NC_1(value, qds) = obj.element {
///         assert_eq!((obj.ioa, value), (100, 21.5));
///         assert!(qds.quality().is_good());
///     }
/// }
/// # Ok::<(), iec104::asdu::AsduError>(())
/// ```
#[derive(Debug, Clone, Copy)]
pub struct AsduView<'a> {
    bytes: &'a [u8],
    header: AsduHeader,
    params: AsduParams,
    type_id: Option<TypeId>,
}

impl<'a> AsduView<'a> {
    /// A view of octets an [`crate::asdu::Asdu`] has already validated.
    #[inline]
    pub(crate) fn from_validated(
        bytes: &'a [u8],
        header: AsduHeader,
        params: AsduParams,
        type_id: Option<TypeId>,
    ) -> AsduView<'a> {
        AsduView {
            bytes,
            header,
            params,
            type_id,
        }
    }

    /// Decodes the header and validates the length of the whole ASDU `bytes` (exactly one
    /// ASDU: the APDU without its 6-octet APCI).
    ///
    /// Errors: invalid `params`; shorter than the header; a known type id with zero objects;
    /// a length that is not exactly what the type id, SQ bit and number imply (short or with
    /// trailing octets); a segment running past the end. The 249-octet limit of an APDU is
    /// the APCI layer's to enforce; the SQ bit is accepted for every type.
    pub fn parse(bytes: &'a [u8], params: &AsduParams) -> Result<AsduView<'a>, AsduError> {
        if !params.is_valid() {
            return Err(AsduError::InvalidParams(*params));
        }
        let header =
            AsduHeader::decode(bytes, params).ok_or_else(|| AsduError::TruncatedHeader {
                expected: params.header_len(),
                actual: bytes.len(),
                bytes: HexPrefix::new(bytes),
            })?;
        let type_id = TypeId::from_u8(header.type_id);
        if let Some(t) = type_id {
            validate_length(bytes, &header, t, params)?;
        }
        Ok(AsduView {
            bytes,
            header,
            params: *params,
            type_id,
        })
    }

    /// The data unit identifier.
    #[inline]
    pub fn header(&self) -> &AsduHeader {
        &self.header
    }

    /// The type id, or `None` when the standard does not define the raw value.
    #[inline]
    pub fn type_id(&self) -> Option<TypeId> {
        self.type_id
    }

    /// The field sizes it was parsed with.
    #[inline]
    pub fn params(&self) -> &AsduParams {
        &self.params
    }

    /// The whole ASDU.
    #[inline]
    pub fn as_bytes(&self) -> &'a [u8] {
        self.bytes
    }

    /// Everything after the data unit identifier (the information objects).
    #[inline]
    pub fn raw_body(&self) -> &'a [u8] {
        self.bytes.get(self.params.header_len()..).unwrap_or(&[])
    }

    /// The number of information objects [`AsduView::objects`] yields (0 for an unknown type).
    #[inline]
    pub fn len(&self) -> usize {
        if self.type_id.is_some() {
            usize::from(self.header.count)
        } else {
            0
        }
    }

    /// True when [`AsduView::objects`] yields nothing (only for unknown type ids).
    #[inline]
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The information objects, in order. With SQ=1 the address of element k is the first
    /// address + k (not wrapped at the IOA width).
    #[inline]
    pub fn objects(&self) -> Objects<'a> {
        let body = self.raw_body();
        let ioa_size = self.params.ioa_size;
        match self.type_id {
            Some(type_id) => {
                let (next_ioa, rest) = if self.header.sequence {
                    let first = read_ioa(body, ioa_size).unwrap_or(0);
                    (first, body.get(usize::from(ioa_size)..).unwrap_or(&[]))
                } else {
                    (0, body)
                };
                Objects {
                    rest,
                    remaining: self.header.count,
                    type_id,
                    ioa_size,
                    sequence: self.header.sequence,
                    next_ioa,
                }
            }
            None => Objects {
                rest: &[],
                remaining: 0,
                type_id: TypeId::M_SP_NA_1,
                ioa_size,
                sequence: false,
                next_ioa: 0,
            },
        }
    }
}

impl AsduView<'_> {
    /// Encodes the header and every object again (for an unknown type id: the raw body).
    /// This reproduces the parsed octets except for the reserved bits of time tags, which are
    /// sent as 0 (see [`crate::time::Cp56Time2a`]); the result has the same length and
    /// encodes to itself again. A fuzzer's round-trip check, and a way to forward a view.
    pub fn encode_to(&self, out: &mut BytesMut) {
        self.header.encode(&self.params, out);
        if self.type_id.is_none() {
            out.extend_from_slice(self.raw_body());
            return;
        }
        for (k, o) in self.objects().enumerate() {
            if self.header.sequence && k > 0 {
                o.element.encode(out);
            } else {
                encode_object(&o, &self.params, out);
            }
        }
    }
}

/// Parses `bytes` and reads every information object: the single entry point for a fuzzer
/// (it must never panic, whatever the input). Returns the number of objects read.
pub fn decode_all(bytes: &[u8], params: &AsduParams) -> Result<usize, AsduError> {
    let view = AsduView::parse(bytes, params)?;
    let mut n = 0;
    for o in view.objects() {
        std::hint::black_box(o);
        n += 1;
    }
    Ok(n)
}

impl<'a> IntoIterator for &AsduView<'a> {
    type Item = InformationObject<'a>;
    type IntoIter = Objects<'a>;
    fn into_iter(self) -> Objects<'a> {
        self.objects()
    }
}

fn validate_length(
    bytes: &[u8],
    header: &AsduHeader,
    t: TypeId,
    params: &AsduParams,
) -> Result<(), AsduError> {
    let count = usize::from(header.count);
    if count == 0 {
        return Err(AsduError::NoObjects {
            type_id: header.type_id,
            bytes: HexPrefix::new(bytes),
        });
    }
    let ioa = usize::from(params.ioa_size);
    let start = params.header_len();
    let expected = match Element::fixed_size(t) {
        Some(n) => {
            start
                + if header.sequence {
                    ioa + count * n
                } else {
                    count * (ioa + n)
                }
        }
        None => walk_segments(bytes, header, start, ioa)?,
    };
    if header.sequence {
        // SQ=1 addresses the elements with consecutive IOAs from the one given
        // (IEC 60870-5-101 §7.2.2.1); one past the IOA field's width cannot be expressed.
        let first = bytes
            .get(start..)
            .and_then(|b| read_ioa(b, params.ioa_size));
        if let Some(first) = first {
            let last = u64::from(first) + count as u64 - 1;
            if last >= 1u64 << (8 * ioa) {
                return Err(AsduError::BadAddress {
                    type_id: header.type_id,
                    ioa: first,
                    expected: None,
                });
            }
        }
    }
    if bytes.len() != expected {
        return Err(AsduError::LengthMismatch {
            type_id: header.type_id,
            expected,
            actual: bytes.len(),
            bytes: HexPrefix::new(bytes),
        });
    }
    Ok(())
}

/// Walks the variable-length segments of F_SG_NA_1 once; returns the end offset.
fn walk_segments(
    bytes: &[u8],
    header: &AsduHeader,
    start: usize,
    ioa: usize,
) -> Result<usize, AsduError> {
    let mut pos = start + if header.sequence { ioa } else { 0 };
    for _ in 0..header.count {
        if !header.sequence {
            pos += ioa;
        }
        let available = bytes.len().saturating_sub(pos);
        let overrun = |needed| AsduError::SegmentOverrun {
            type_id: header.type_id,
            offset: pos,
            needed,
            available,
        };
        let los = match bytes.get(pos + 3) {
            Some(&los) => usize::from(los),
            None => return Err(overrun(4)),
        };
        let needed = 4 + los;
        if needed > available {
            return Err(overrun(needed));
        }
        pos += needed;
    }
    Ok(pos)
}

/// Iterator over the information objects of an [`AsduView`]; never fails, never allocates.
#[derive(Debug, Clone)]
pub struct Objects<'a> {
    rest: &'a [u8],
    remaining: u8,
    type_id: TypeId,
    ioa_size: u8,
    sequence: bool,
    next_ioa: u32,
}

impl<'a> Iterator for Objects<'a> {
    type Item = InformationObject<'a>;

    #[inline]
    fn next(&mut self) -> Option<InformationObject<'a>> {
        if self.remaining == 0 {
            return None;
        }
        self.remaining -= 1;
        let next = self.decode_next();
        if next.is_none() {
            // Unreachable after validation; keeps the iterator fused all the same.
            self.remaining = 0;
        }
        next
    }

    #[inline]
    fn size_hint(&self) -> (usize, Option<usize>) {
        let n = usize::from(self.remaining);
        (n, Some(n))
    }
}

impl<'a> Objects<'a> {
    #[inline(always)]
    fn decode_next(&mut self) -> Option<InformationObject<'a>> {
        let ioa = if self.sequence {
            let ioa = self.next_ioa;
            self.next_ioa = ioa.wrapping_add(1);
            ioa
        } else {
            let ioa = read_ioa(self.rest, self.ioa_size)?;
            self.rest = self.rest.get(usize::from(self.ioa_size)..)?;
            ioa
        };
        let (element, used) = Element::decode(self.type_id, self.rest)?;
        self.rest = self.rest.get(used..)?;
        Some(InformationObject { ioa, element })
    }
}

impl ExactSizeIterator for Objects<'_> {}
impl FusedIterator for Objects<'_> {}
