//! Bounded hex rendering of octets for errors and log lines.

use std::fmt;

/// How many octets a hex rendering shows at most.
pub const HEX_LIMIT: usize = 64;

/// Displays borrowed octets as space-separated hex, at most [`HEX_LIMIT`] of them, followed by
/// `… (N octets)` when cut.
#[derive(Clone, Copy)]
pub struct HexBytes<'a>(&'a [u8]);

impl<'a> HexBytes<'a> {
    /// Wraps `bytes` for display.
    pub fn new(bytes: &'a [u8]) -> Self {
        HexBytes(bytes)
    }
}

fn write_hex(f: &mut fmt::Formatter<'_>, shown: &[u8], total: usize) -> fmt::Result {
    for (i, b) in shown.iter().enumerate() {
        if i > 0 {
            f.write_str(" ")?;
        }
        write!(f, "{b:02x}")?;
    }
    if total > shown.len() {
        write!(f, " … ({total} octets)")?;
    }
    Ok(())
}

impl fmt::Display for HexBytes<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let shown = self.0.get(..HEX_LIMIT).unwrap_or(self.0);
        write_hex(f, shown, self.0.len())
    }
}

impl fmt::Debug for HexBytes<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}

/// An owned copy of at most `N` (by default [`HEX_LIMIT`]) leading octets of some larger
/// input, for errors that must outlive the buffer. Displays like [`HexBytes`] (lowercase hex,
/// then `… (N octets)` when cut). `asdu::HexPrefix` is the 16-octet variant.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct HexHead<const N: usize = HEX_LIMIT> {
    head: [u8; N],
    len: usize,
    total: usize,
}

impl<const N: usize> HexHead<N> {
    /// Copies the first `N` octets of `bytes` and remembers the full length.
    pub fn new(bytes: &[u8]) -> Self {
        let n = bytes.len().min(N);
        let mut head = [0u8; N];
        if let (Some(dst), Some(src)) = (head.get_mut(..n), bytes.get(..n)) {
            dst.copy_from_slice(src);
        }
        HexHead {
            head,
            len: n,
            total: bytes.len(),
        }
    }

    /// The octets kept (at most `N`).
    pub fn bytes(&self) -> &[u8] {
        self.head.get(..self.len).unwrap_or(&[])
    }

    /// Length of the original input.
    pub fn total_len(&self) -> usize {
        self.total
    }
}

impl<const N: usize> fmt::Display for HexHead<N> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write_hex(f, self.bytes(), self.total)
    }
}

impl<const N: usize> fmt::Debug for HexHead<N> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "HexHead({self})")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn short_input_is_shown_whole() {
        assert_eq!(HexBytes::new(&[0x68, 0x04, 0x0b]).to_string(), "68 04 0b");
        assert_eq!(<HexHead>::new(&[0x00, 0xff]).to_string(), "00 ff");
        assert_eq!(HexHead::<4>::new(&[0x00, 0xff]).to_string(), "00 ff");
    }

    #[test]
    fn long_input_is_cut_at_the_limit() {
        let data = [0xAAu8; 100];
        let s = <HexHead>::new(&data).to_string();
        assert!(s.ends_with(" … (100 octets)"), "{s}");
        assert_eq!(s.matches("aa").count(), HEX_LIMIT);
        assert_eq!(HexBytes::new(&data).to_string(), s);
        let short = HexHead::<2>::new(&data);
        assert_eq!(short.bytes(), &[0xAA, 0xAA]);
        assert_eq!(short.total_len(), 100);
        assert_eq!(short.to_string(), "aa aa … (100 octets)");
    }
}
