//! Owned, validated ASDUs and the builder that encodes them.

use bytes::{BufMut, Bytes, BytesMut};

use super::address::{encode_object, put_ioa};
use super::commands::{Qcc, Qoi};
use super::error::AsduError;
use super::header::{AsduHeader, AsduParams};
use super::object::{Element, InformationObject};
use super::view::AsduView;
use crate::cot::{Cause, Cot};
use crate::time::Cp56Time2a;
use crate::type_id::TypeId;

/// Largest ASDU an IEC 60870-5-104 APDU can carry: 253 octets minus the 4 control octets.
pub const MAX_ASDU_LEN: usize = 249;

/// Largest number of objects the 7-bit VSQ number can express.
pub const MAX_OBJECTS: usize = 127;

/// A validated, encoded ASDU that owns its octets (cheap to clone: [`Bytes`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Asdu {
    bytes: Bytes,
    params: AsduParams,
    header: AsduHeader,
}

impl Asdu {
    /// Validates `bytes` as one ASDU (see [`AsduView::parse`]) and keeps it.
    pub fn parse(bytes: Bytes, params: AsduParams) -> Result<Asdu, AsduError> {
        let header = *AsduView::parse(&bytes, &params)?.header();
        Ok(Asdu {
            bytes,
            params,
            header,
        })
    }

    /// A zero-copy view for reading the objects.
    #[inline]
    pub fn view(&self) -> AsduView<'_> {
        AsduView::from_validated(
            &self.bytes,
            self.header,
            self.params,
            TypeId::from_u8(self.header.type_id),
        )
    }

    /// The data unit identifier.
    #[inline]
    pub fn header(&self) -> &AsduHeader {
        &self.header
    }

    /// The type id, `None` for a value the standard does not define.
    #[inline]
    pub fn type_id(&self) -> Option<TypeId> {
        TypeId::from_u8(self.header.type_id)
    }

    /// The field sizes.
    #[inline]
    pub fn params(&self) -> &AsduParams {
        &self.params
    }

    /// The encoded octets.
    #[inline]
    pub fn as_bytes(&self) -> &[u8] {
        &self.bytes
    }

    /// The encoded octets, without copying.
    #[inline]
    pub fn into_bytes(self) -> Bytes {
        self.bytes
    }

    /// An ASDU of one object with IEC 60870-5-104 sizes; the type id is the element's.
    pub fn single(
        cot: Cot,
        common_address: u16,
        object: InformationObject<'_>,
    ) -> Result<Asdu, AsduError> {
        let mut b = AsduBuilder::new(object.element.type_id(), cot, common_address);
        b.push(object)?;
        b.build()
    }

    /// C_IC_NA_1 (interrogation, IOA 0) with IEC 60870-5-104 sizes.
    pub fn interrogation(common_address: u16, qoi: Qoi, cot: Cot) -> Asdu {
        Asdu::single_known(cot, common_address, Element::C_IC_NA_1(qoi))
    }

    /// C_CI_NA_1 (counter interrogation, IOA 0) with IEC 60870-5-104 sizes.
    pub fn counter_interrogation(common_address: u16, qcc: Qcc, cot: Cot) -> Asdu {
        Asdu::single_known(cot, common_address, Element::C_CI_NA_1(qcc))
    }

    /// C_CS_NA_1 (clock synchronization, IOA 0) with IEC 60870-5-104 sizes.
    pub fn clock_sync(common_address: u16, time: Cp56Time2a, cot: Cot) -> Asdu {
        Asdu::single_known(cot, common_address, Element::C_CS_NA_1(time))
    }

    /// One fixed-size object at IOA 0: cannot fail, so it is encoded directly.
    fn single_known(cot: Cot, common_address: u16, element: Element<'_>) -> Asdu {
        let params = AsduParams::IEC104;
        let header = AsduHeader {
            type_id: element.type_id().as_u8(),
            sequence: false,
            count: 1,
            cot,
            common_address,
        };
        let mut out = BytesMut::with_capacity(params.header_len() + 3 + element.encoded_len());
        header.encode(&params, &mut out);
        encode_object(&InformationObject::new(0, element), &params, &mut out);
        Asdu {
            bytes: out.freeze(),
            params,
            header,
        }
    }
}

impl AsRef<[u8]> for Asdu {
    fn as_ref(&self) -> &[u8] {
        &self.bytes
    }
}

impl From<Asdu> for Bytes {
    fn from(asdu: Asdu) -> Bytes {
        asdu.bytes
    }
}

impl AsduView<'_> {
    /// The answer a station gives to this ASDU: the same octets with cause `cause` and the P/N
    /// bit `negative`; the T bit, originator address, common address and objects are kept
    /// (IEC 60870-5-101 §7.2.3: a confirmation mirrors the activation). E.g. a positive
    /// ActCon, a negative ActCon, a DeactCon, an ActTerm, or a refusal with cause 44..=47.
    ///
    /// ```
    /// use iec104::asdu::{AsduParams, AsduView};
    /// use iec104::cot::Cause;
    /// // C_IC_NA_1 act (COT 6) with T bit (0x80), originator 3, CA 1, IOA 0, QOI 20.
    /// let request = [100, 1, 0x86, 3, 1, 0, 0, 0, 0, 20];
    /// let view = AsduView::parse(&request, &AsduParams::IEC104)?;
    /// // Negative ActCon: T 0x80 | P/N 0x40 | 7.
    /// let answer = view.reply(Cause::ActivationCon, true);
    /// assert_eq!(answer.as_bytes(), [100, 1, 0xC7, 3, 1, 0, 0, 0, 0, 20]);
    /// # Ok::<(), iec104::asdu::AsduError>(())
    /// ```
    pub fn reply(&self, cause: Cause, negative: bool) -> Asdu {
        let mut header = *self.header();
        header.cot.cause = cause;
        header.cot.negative = negative;
        let mut out = BytesMut::from(self.as_bytes());
        // Octet 2 is the first COT octet (cause, P/N, T) whatever the field sizes.
        if let Some(first) = out.get_mut(2) {
            *first = header.cot.first_octet();
        }
        Asdu {
            bytes: out.freeze(),
            params: *self.params(),
            header,
        }
    }
}

/// Types whose ASDU carries exactly one object (VSQ = 0x01) in IEC 60870-5-101 §7.3: process
/// and system commands, end of initialization, and file transfer except the directory.
fn single_object_type(t: TypeId) -> bool {
    let v = t.as_u8();
    t.is_command() || v == 70 || (100..=107).contains(&v) || (120..=125).contains(&v)
}

/// Builds an [`Asdu`] object by object, checking type, size and addresses as it goes.
///
/// ```
/// use iec104::asdu::{AsduBuilder, Element, InformationObject, Qds};
/// use iec104::cot::{Cause, Cot};
/// use iec104::type_id::TypeId;
///
/// let mut b = AsduBuilder::new(TypeId::M_ME_NC_1, Cot::new(Cause::Spontaneous), 47);
/// b.push(InformationObject::new(100, Element::M_ME_NC_1(21.5, Qds(0))))?;
/// let asdu = b.build()?;
/// assert_eq!(asdu.view().objects().count(), 1);
/// # Ok::<(), iec104::asdu::AsduError>(())
/// ```
#[derive(Debug, Clone)]
pub struct AsduBuilder {
    type_id: TypeId,
    cot: Cot,
    common_address: u16,
    params: AsduParams,
    sequence: bool,
    count: usize,
    next_ioa: u32,
    /// Header placeholder followed by the encoded objects.
    buf: BytesMut,
}

impl AsduBuilder {
    /// An empty ASDU of `type_id` with IEC 60870-5-104 sizes and SQ=0.
    pub fn new(type_id: TypeId, cot: Cot, common_address: u16) -> AsduBuilder {
        AsduBuilder {
            type_id,
            cot,
            common_address,
            params: AsduParams::IEC104,
            sequence: false,
            count: 0,
            next_ioa: 0,
            buf: BytesMut::new(),
        }
    }

    /// Sets the field sizes. Objects already pushed are dropped (their IOA size would change).
    pub fn params(mut self, params: AsduParams) -> AsduBuilder {
        self.params = params;
        self.clear();
        self
    }

    /// Sets the SQ bit: objects must then have consecutive addresses, and only the first is
    /// sent. Objects already pushed are dropped.
    pub fn sequence(mut self, sequence: bool) -> AsduBuilder {
        self.sequence = sequence;
        self.clear();
        self
    }

    fn clear(&mut self) {
        self.buf.clear();
        self.count = 0;
    }

    /// Number of objects pushed.
    pub fn len(&self) -> usize {
        self.count
    }

    /// True before the first push.
    pub fn is_empty(&self) -> bool {
        self.count == 0
    }

    /// Appends one object. Refused (and nothing appended) when the element is of another type,
    /// the type allows only one object per ASDU (commands, system commands, M_EI_NA_1, file
    /// transfer except F_DR_TA_1) and one is there, the IOA does not fit the IOA size or breaks
    /// an SQ=1 sequence, the ASDU would exceed [`MAX_ASDU_LEN`] octets or [`MAX_OBJECTS`]
    /// objects, or a segment exceeds 255 octets. (Decoding accepts what it can walk.)
    pub fn push(&mut self, object: InformationObject<'_>) -> Result<(), AsduError> {
        let type_id = self.type_id.as_u8();
        if !self.params.is_valid() {
            return Err(AsduError::InvalidParams(self.params));
        }
        let actual = object.element.type_id();
        if actual != self.type_id {
            return Err(AsduError::TypeMismatch {
                expected: type_id,
                actual: actual.as_u8(),
            });
        }
        if let Element::F_SG_NA_1(s) = object.element {
            if s.data.len() > 255 {
                return Err(AsduError::SegmentTooLong { len: s.data.len() });
            }
        }
        if self.count >= 1 && single_object_type(self.type_id) {
            return Err(AsduError::SingleObjectType { type_id });
        }
        let ioa_bits = 8 * u32::from(self.params.ioa_size);
        if object.ioa >> ioa_bits != 0 {
            return Err(AsduError::BadAddress {
                type_id,
                ioa: object.ioa,
                expected: None,
            });
        }
        let with_ioa = !self.sequence || self.count == 0;
        if !with_ioa && object.ioa != self.next_ioa {
            return Err(AsduError::BadAddress {
                type_id,
                ioa: object.ioa,
                expected: Some(self.next_ioa),
            });
        }
        let header_len = self.params.header_len();
        let body = self.buf.len().saturating_sub(header_len);
        let len = header_len
            + body
            + if with_ioa {
                usize::from(self.params.ioa_size)
            } else {
                0
            }
            + object.element.encoded_len();
        if len > MAX_ASDU_LEN || self.count + 1 > MAX_OBJECTS {
            return Err(AsduError::TooLong {
                type_id,
                len,
                count: self.count + 1,
            });
        }
        if self.buf.is_empty() {
            self.buf.reserve(MAX_ASDU_LEN.min(len * 8));
            self.buf.put_bytes(0, header_len);
        }
        if with_ioa {
            put_ioa(&mut self.buf, object.ioa, self.params.ioa_size);
        }
        object.element.encode(&mut self.buf);
        self.count += 1;
        self.next_ioa = object.ioa.wrapping_add(1);
        Ok(())
    }

    /// The finished ASDU. Refused when no object was pushed. A common address wider than a
    /// one-octet CA is truncated, and the originator is dropped with a one-octet COT; the
    /// returned [`Asdu::header`] shows the octets as sent.
    pub fn build(self) -> Result<Asdu, AsduError> {
        let AsduBuilder {
            type_id,
            cot,
            common_address,
            params,
            sequence,
            count,
            mut buf,
            ..
        } = self;
        if count == 0 {
            return Err(AsduError::NoObjects {
                type_id: type_id.as_u8(),
                bytes: super::HexPrefix::new(&[]),
            });
        }
        let header = AsduHeader {
            type_id: type_id.as_u8(),
            sequence,
            count: count as u8,
            cot,
            common_address,
        };
        let mut head = Vec::with_capacity(6);
        header.encode(&params, &mut head);
        if let Some(slot) = buf.get_mut(..head.len()) {
            slot.copy_from_slice(&head);
        }
        // Read the header back so that it says what the octets say (a CA or originator the
        // sizes cannot carry is dropped by the encoding).
        let header = AsduHeader::decode(&buf, &params).unwrap_or(header);
        Ok(Asdu {
            bytes: buf.freeze(),
            params,
            header,
        })
    }
}
