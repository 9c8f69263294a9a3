//! Packing information objects into ASDUs.

use bytes::Bytes;
use iec104::asdu::{AsduBuilder, InformationObject};
use iec104::cot::{Cause, Cot};
use iec104::type_id::TypeId;

/// Packs objects into as few ASDUs as possible, one type per ASDU (SQ=0), in arrival order
/// within a type.
pub(crate) struct Packer {
    cot: Cot,
    ca: u16,
    open: Vec<(TypeId, AsduBuilder)>,
    done: Vec<Bytes>,
}

impl Packer {
    pub(crate) fn new(cause: Cause, ca: u16) -> Packer {
        Packer {
            cot: Cot::new(cause),
            ca,
            open: Vec::new(),
            done: Vec::new(),
        }
    }

    pub(crate) fn push(&mut self, object: InformationObject<'_>) {
        let t = object.element.type_id();
        let index = match self.open.iter().position(|(ty, _)| *ty == t) {
            Some(i) => i,
            None => {
                self.open.push((t, AsduBuilder::new(t, self.cot, self.ca)));
                self.open.len() - 1
            }
        };
        let Some((_, builder)) = self.open.get_mut(index) else {
            return;
        };
        if builder.push(object).is_err() {
            // Full: send it and start the next ASDU of this type.
            let full = std::mem::replace(builder, AsduBuilder::new(t, self.cot, self.ca));
            if let Ok(asdu) = full.build() {
                self.done.push(asdu.into_bytes());
            }
            if let Err(error) = builder.push(object) {
                tracing::error!(%error, "cannot encode an object");
            }
        }
    }

    pub(crate) fn finish(mut self) -> Vec<Bytes> {
        for (_, b) in self.open {
            if let Ok(asdu) = b.build() {
                self.done.push(asdu.into_bytes());
            }
        }
        self.done
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use iec104::asdu::Element;

    #[test]
    fn packer_groups_by_type_and_splits_full_asdus() {
        use iec104::asdu::Quality;
        use iec104::asdu::{Qds, SinglePoint};
        let mut p = Packer::new(Cause::Spontaneous, 1);
        for i in 0..100u32 {
            p.push(InformationObject::new(
                i,
                Element::M_SP_NA_1(SinglePoint::new(true, Quality::GOOD)),
            ));
            p.push(InformationObject::new(
                1000 + i,
                Element::M_ME_NC_1(1.5, Qds(0)),
            ));
        }
        let asdus = p.finish();
        // M_SP_NA_1 objects take 4 octets (IOA 3 + SIQ 1): (249 - 6) / 4 = 60 per ASDU; floats
        // 8 octets (IOA 3 + R32 4 + QDS 1): (249 - 6) / 8 = 30 per ASDU.
        let mut counts: Vec<(u8, u8)> = asdus.iter().map(|a| (a[0], a[1])).collect();
        counts.sort();
        assert_eq!(
            counts,
            vec![(1, 40), (1, 60), (13, 10), (13, 30), (13, 30), (13, 30)]
        );
    }
}
