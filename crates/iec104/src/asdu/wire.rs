//! The fixed-size wire form shared by every information element.

use bytes::BufMut;

use crate::time::{Cp16Time2a, Cp24Time2a, Cp56Time2a};

/// A fixed-size information element.
///
/// `read` is only called with a slice of at least `SIZE` octets (the ASDU length is validated
/// before any element is read); a shorter slice reads as zeros instead of panicking.
pub(crate) trait Wire: Sized {
    /// Encoded size in octets.
    const SIZE: usize;
    /// Decodes from the first `SIZE` octets of `b`.
    fn read(b: &[u8]) -> Self;
    /// Appends the `SIZE` encoded octets.
    fn write<B: BufMut>(&self, out: &mut B);
}

/// The first `N` octets of `b`, or zeros if `b` is shorter (never the case after validation).
#[inline(always)]
pub(crate) fn arr<const N: usize>(b: &[u8]) -> [u8; N] {
    match b.first_chunk::<N>() {
        Some(a) => *a,
        None => [0; N],
    }
}

/// Reads a `T` at `*off` and advances the offset; used by the generated element decoders.
#[inline(always)]
pub(crate) fn field<T: Wire>(b: &[u8], off: &mut usize) -> T {
    let v = T::read(b.get(*off..).unwrap_or(&[]));
    *off += T::SIZE;
    v
}

impl Wire for f32 {
    const SIZE: usize = 4;
    #[inline(always)]
    fn read(b: &[u8]) -> Self {
        f32::from_le_bytes(arr(b))
    }
    #[inline]
    fn write<B: BufMut>(&self, out: &mut B) {
        out.put_f32_le(*self)
    }
}

impl Wire for Cp56Time2a {
    const SIZE: usize = 7;
    #[inline(always)]
    fn read(b: &[u8]) -> Self {
        Cp56Time2a::decode(&arr(b))
    }
    #[inline]
    fn write<B: BufMut>(&self, out: &mut B) {
        out.put_slice(&self.encode())
    }
}

impl Wire for Cp24Time2a {
    const SIZE: usize = 3;
    #[inline(always)]
    fn read(b: &[u8]) -> Self {
        Cp24Time2a::decode(&arr(b))
    }
    #[inline]
    fn write<B: BufMut>(&self, out: &mut B) {
        out.put_slice(&self.encode())
    }
}

impl Wire for Cp16Time2a {
    const SIZE: usize = 2;
    #[inline(always)]
    fn read(b: &[u8]) -> Self {
        Cp16Time2a::decode(&arr(b))
    }
    #[inline]
    fn write<B: BufMut>(&self, out: &mut B) {
        out.put_slice(&self.encode())
    }
}

/// Reads a 24-bit little-endian unsigned value (LOF, IOA).
#[inline(always)]
pub(crate) fn u24(b: &[u8]) -> u32 {
    let [a, c, d] = arr::<3>(b);
    u32::from_le_bytes([a, c, d, 0])
}

/// Appends a 24-bit little-endian value (the top octet of `v` is dropped).
#[inline]
pub(crate) fn put_u24<B: BufMut>(out: &mut B, v: u32) {
    let [a, b, c, _] = v.to_le_bytes();
    out.put_slice(&[a, b, c]);
}
