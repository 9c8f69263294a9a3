//! One MQTT message as stored: `[1][qos][retain][topic length u16 BE][topic][payload]`.

/// A message to publish.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Message {
    /// Topic.
    pub topic: String,
    /// Payload (JSON).
    pub payload: Vec<u8>,
    /// QoS 0 or 1.
    pub qos: u8,
    /// Retain flag.
    pub retain: bool,
}

/// A stored entry that cannot be read back.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("stored message unreadable: {reason} (length {len}, first octets {head})")]
pub struct MessageError {
    /// What is wrong.
    pub reason: &'static str,
    /// Length of the entry.
    pub len: usize,
    /// Hex of its first octets (at most 16).
    pub head: String,
}

const VERSION: u8 = 1;

impl Message {
    /// Appends the stored form to `out`. Topics longer than 65535 octets are cut (they are
    /// never built that long).
    pub fn encode(&self, out: &mut Vec<u8>) {
        let topic = self.topic.as_bytes();
        let tlen = topic.len().min(u16::MAX as usize);
        out.push(VERSION);
        out.push(self.qos);
        out.push(u8::from(self.retain));
        out.extend_from_slice(&(tlen as u16).to_be_bytes());
        out.extend_from_slice(topic.get(..tlen).unwrap_or_default());
        out.extend_from_slice(&self.payload);
    }

    /// Reads the stored form.
    pub fn decode(bytes: &[u8]) -> Result<Message, MessageError> {
        let err = |reason| MessageError {
            reason,
            len: bytes.len(),
            head: bytes.iter().take(16).map(|b| format!("{b:02x}")).collect(),
        };
        let [version, qos, retain, l0, l1, rest @ ..] = bytes else {
            return Err(err("shorter than the 5-octet header"));
        };
        if *version != VERSION {
            return Err(err("unknown version"));
        }
        if *qos > 2 || *retain > 1 {
            return Err(err("bad qos or retain octet"));
        }
        let tlen = u16::from_be_bytes([*l0, *l1]) as usize;
        let (topic, payload) = rest
            .split_at_checked(tlen)
            .ok_or_else(|| err("topic longer than the entry"))?;
        let topic = std::str::from_utf8(topic).map_err(|_| err("topic is not UTF-8"))?;
        Ok(Message {
            topic: topic.to_owned(),
            payload: payload.to_vec(),
            qos: *qos,
            retain: *retain == 1,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn layout_is_as_documented() {
        let m = Message {
            topic: "a/b".into(),
            payload: b"{}".to_vec(),
            qos: 1,
            retain: true,
        };
        let mut out = Vec::new();
        m.encode(&mut out);
        // version 1, qos 1, retain 1, length 0x0003, "a/b", "{}"
        assert_eq!(out, [1, 1, 1, 0, 3, b'a', b'/', b'b', b'{', b'}']);
        assert_eq!(Message::decode(&out), Ok(m));
    }

    #[test]
    fn truncated_entries_are_errors() {
        assert!(Message::decode(&[1, 1, 0, 0]).is_err());
        assert_eq!(
            Message::decode(&[1, 1, 0, 0, 9, b'a']).unwrap_err().reason,
            "topic longer than the entry"
        );
        assert!(Message::decode(&[2, 1, 0, 0, 0]).is_err());
    }
}
