//! A minimal classic-pcap writer: one TCP connection on 127.0.0.1 with fake Ethernet/IPv4/TCP
//! headers around payloads we choose, so that tshark can dissect bytes our encoder produced
//! without live capture (no privileges, no timing).
//!
//! Formats (all from the public specifications):
//! - pcap global header (libpcap "classic", little endian): magic a1b2c3d4, version 2.4,
//!   thiszone 0, sigfigs 0, snaplen 65535, linktype 1 (Ethernet);
//! - per record: ts_sec, ts_usec, incl_len, orig_len (u32 LE each);
//! - Ethernet II: dst MAC, src MAC, ethertype 0x0800;
//! - IPv4 (RFC 791): version 4 / IHL 5, total length, id, DF, TTL 64, protocol 6, header
//!   checksum, 127.0.0.1 → 127.0.0.1;
//! - TCP (RFC 793): ports, seq, ack, data offset 5, flags, window, checksum 0 (tshark does not
//!   verify TCP checksums by default).

/// Which side sends a segment.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Side {
    /// The controlling station (client), ephemeral port.
    Client,
    /// The controlled station (server), the IEC 104 port.
    Server,
}

const CLIENT_PORT: u16 = 40_000;
const SYN: u8 = 0x02;
const ACK: u8 = 0x10;
const PSH: u8 = 0x08;

/// A pcap file being built in memory.
pub struct PcapWriter {
    out: Vec<u8>,
    server_port: u16,
    client_seq: u32,
    server_seq: u32,
    packets: u32,
}

impl PcapWriter {
    /// A capture of one connection to `server_port`, starting with the TCP three-way handshake.
    pub fn new(server_port: u16) -> PcapWriter {
        let mut out = Vec::new();
        out.extend_from_slice(&0xa1b2_c3d4u32.to_le_bytes());
        out.extend_from_slice(&2u16.to_le_bytes());
        out.extend_from_slice(&4u16.to_le_bytes());
        out.extend_from_slice(&0i32.to_le_bytes());
        out.extend_from_slice(&0u32.to_le_bytes());
        out.extend_from_slice(&65_535u32.to_le_bytes());
        out.extend_from_slice(&1u32.to_le_bytes());
        let mut w = PcapWriter {
            out,
            server_port,
            client_seq: 1_000,
            server_seq: 5_000,
            packets: 0,
        };
        w.segment(Side::Client, SYN, &[]);
        w.client_seq += 1;
        w.segment(Side::Server, SYN | ACK, &[]);
        w.server_seq += 1;
        w.segment(Side::Client, ACK, &[]);
        w
    }

    /// Appends one TCP segment carrying `payload` (e.g. one APDU) sent by `side`.
    /// Returns the pcap frame number (1-based) of that segment.
    pub fn push(&mut self, side: Side, payload: &[u8]) -> u32 {
        self.segment(side, PSH | ACK, payload);
        match side {
            Side::Client => self.client_seq = self.client_seq.wrapping_add(payload.len() as u32),
            Side::Server => self.server_seq = self.server_seq.wrapping_add(payload.len() as u32),
        }
        self.packets
    }

    /// The file's bytes.
    pub fn finish(self) -> Vec<u8> {
        self.out
    }

    fn segment(&mut self, side: Side, flags: u8, payload: &[u8]) {
        let (sport, dport, seq, ack) = match side {
            Side::Client => (
                CLIENT_PORT,
                self.server_port,
                self.client_seq,
                self.server_seq,
            ),
            Side::Server => (
                self.server_port,
                CLIENT_PORT,
                self.server_seq,
                self.client_seq,
            ),
        };
        let ack = if flags & ACK != 0 { ack } else { 0 };
        let mut tcp = Vec::with_capacity(20);
        tcp.extend_from_slice(&sport.to_be_bytes());
        tcp.extend_from_slice(&dport.to_be_bytes());
        tcp.extend_from_slice(&seq.to_be_bytes());
        tcp.extend_from_slice(&ack.to_be_bytes());
        tcp.push(5 << 4); // data offset: 5 words, no options
        tcp.push(flags);
        tcp.extend_from_slice(&65_535u16.to_be_bytes()); // window
        tcp.extend_from_slice(&[0, 0, 0, 0]); // checksum (unverified), urgent pointer

        let total_len = (20 + tcp.len() + payload.len()) as u16;
        let mut ip = vec![0x45, 0x00];
        ip.extend_from_slice(&total_len.to_be_bytes());
        ip.extend_from_slice(&(self.packets as u16).to_be_bytes()); // identification
        ip.extend_from_slice(&[0x40, 0x00, 64, 6, 0, 0]); // DF, TTL, TCP, checksum placeholder
        ip.extend_from_slice(&[127, 0, 0, 1, 127, 0, 0, 1]);
        let sum = ipv4_checksum(&ip);
        ip[10..12].copy_from_slice(&sum.to_be_bytes());

        let mut frame = Vec::with_capacity(14 + ip.len() + tcp.len() + payload.len());
        frame.extend_from_slice(&[0; 12]); // dst and src MAC (loopback has none)
        frame.extend_from_slice(&0x0800u16.to_be_bytes());
        frame.extend_from_slice(&ip);
        frame.extend_from_slice(&tcp);
        frame.extend_from_slice(payload);

        self.packets += 1;
        // Timestamps one millisecond apart from 2026-11-24 10:15:30 UTC (1795515330).
        let ts_sec = 1_795_515_330u32 + self.packets / 1000;
        let ts_usec = (self.packets % 1000) * 1000;
        self.out.extend_from_slice(&ts_sec.to_le_bytes());
        self.out.extend_from_slice(&ts_usec.to_le_bytes());
        self.out
            .extend_from_slice(&(frame.len() as u32).to_le_bytes());
        self.out
            .extend_from_slice(&(frame.len() as u32).to_le_bytes());
        self.out.extend_from_slice(&frame);
    }
}

/// RFC 791 header checksum: one's complement of the one's complement sum of 16-bit words.
fn ipv4_checksum(header: &[u8]) -> u16 {
    let mut sum: u32 = header
        .chunks(2)
        .map(|c| u32::from(u16::from_be_bytes([c[0], *c.get(1).unwrap_or(&0)])))
        .sum();
    while sum > 0xffff {
        sum = (sum & 0xffff) + (sum >> 16);
    }
    !(sum as u16)
}

#[cfg(test)]
mod tests {
    #[test]
    fn checksum_of_rfc1071_example() {
        // RFC 1071 §3 example words 0001 f203 f4f5 f6f7: sum ddf2, complement 220d.
        assert_eq!(
            super::ipv4_checksum(&[0x00, 0x01, 0xf2, 0x03, 0xf4, 0xf5, 0xf6, 0xf7]),
            0x220d
        );
    }
}
