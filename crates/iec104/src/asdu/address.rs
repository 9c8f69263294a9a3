//! The information object address on the wire, and one object's encoding: shared by the
//! decoding view and the owned builder, so that neither imports the other.

use bytes::{BufMut, BytesMut};

use super::header::AsduParams;
use super::object::InformationObject;
use super::wire::{put_u24, u24};

/// Reads an IOA of 1, 2 or 3 octets (little endian) from the start of `b`; `None` when `b`
/// is shorter than `size`.
#[inline(always)]
pub(crate) fn read_ioa(b: &[u8], size: u8) -> Option<u32> {
    match size {
        1 => b.first().map(|&x| u32::from(x)),
        2 => b
            .first_chunk::<2>()
            .map(|&x| u32::from(u16::from_le_bytes(x))),
        _ => b.first_chunk::<3>().map(|x| u24(x)),
    }
}

/// Appends an IOA of `size` octets (little endian); `ioa` is truncated to that size.
pub(crate) fn put_ioa(out: &mut BytesMut, ioa: u32, size: u8) {
    match size {
        1 => out.put_u8(ioa as u8),
        2 => out.put_u16_le(ioa as u16),
        _ => put_u24(out, ioa),
    }
}

/// Appends one object (IOA in `params.ioa_size` octets, then the element) to `out`.
/// The IOA is truncated to its size; [`super::AsduBuilder`] checks it first.
pub fn encode_object(object: &InformationObject<'_>, params: &AsduParams, out: &mut BytesMut) {
    put_ioa(out, object.ioa, params.ioa_size);
    object.element.encode(out);
}
