//! Information objects: an address and one element per type id (IEC 60870-5-101 §7.3).

use bytes::BufMut;

use super::commands::{
    Coi, DoubleCommand, Fbp, Qcc, Qoi, Qos, Qpa, Qpm, Qrp, SingleCommand, StepCommand, Tsc,
};
use super::elements::{
    BinaryCounter, Bitstring, DoublePoint, Normalized, OutputCircuit, ProtectionEvent, Qdp, Qds,
    Scaled, SinglePoint, StartEvents, StatusChange, StepPosition,
};
use super::file::{
    DirectoryEntry, FileCommand, FileReady, LastSection, QueryLog, SectionReady, Segment,
};
use super::wire::{field, Wire};
use crate::time::{Cp16Time2a, Cp24Time2a, Cp56Time2a};
use crate::type_id::TypeId;

/// One information object: its address and its element(s).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct InformationObject<'a> {
    /// Information object address (1, 2 or 3 octets on the wire; 0 = irrelevant).
    pub ioa: u32,
    /// The information element(s) of the object; the variant is the type id.
    pub element: Element<'a>,
}

impl<'a> InformationObject<'a> {
    /// An object from its address and element.
    #[inline]
    pub const fn new(ioa: u32, element: Element<'a>) -> InformationObject<'a> {
        InformationObject { ioa, element }
    }
}

/// Writes the fields of a tuple variant (arity 1 to 4).
macro_rules! write_fields {
    ($e:expr, $out:ident, $name:ident, $a:ty) => {
        if let Element::$name(a) = $e {
            a.write($out);
        }
    };
    ($e:expr, $out:ident, $name:ident, $a:ty, $b:ty) => {
        if let Element::$name(a, b) = $e {
            a.write($out);
            b.write($out);
        }
    };
    ($e:expr, $out:ident, $name:ident, $a:ty, $b:ty, $c:ty) => {
        if let Element::$name(a, b, c) = $e {
            a.write($out);
            b.write($out);
            c.write($out);
        }
    };
    ($e:expr, $out:ident, $name:ident, $a:ty, $b:ty, $c:ty, $d:ty) => {
        if let Element::$name(a, b, c, d) = $e {
            a.write($out);
            b.write($out);
            c.write($out);
            d.write($out);
        }
    };
}

macro_rules! elements {
    ($( $(#[$doc:meta])* $name:ident ( $($t:ty),+ ) ),* $(,)?) => {
        /// The information element(s) of one object, one variant per type id, named like the
        /// [`TypeId`] and holding the elements in wire order (the address is in
        /// [`InformationObject`]).
        #[allow(non_camel_case_types)]
        #[derive(Debug, Clone, Copy, PartialEq)]
        pub enum Element<'a> {
            $( $(#[$doc])* $name($($t),+), )*
            /// Read command: no information element.
            C_RD_NA_1,
            /// Segment: NOF, NOS, LOS and the borrowed segment octets.
            F_SG_NA_1(Segment<'a>),
        }

        impl<'a> Element<'a> {
            /// The type id this element belongs to.
            #[inline]
            pub const fn type_id(&self) -> TypeId {
                match self {
                    $( Element::$name(..) => TypeId::$name, )*
                    Element::C_RD_NA_1 => TypeId::C_RD_NA_1,
                    Element::F_SG_NA_1(_) => TypeId::F_SG_NA_1,
                }
            }

            /// Octets of the element(s) of one object of `type_id` (without the IOA), or
            /// `None` for the variable-length F_SG_NA_1.
            #[inline]
            pub const fn fixed_size(type_id: TypeId) -> Option<usize> {
                match type_id {
                    $( TypeId::$name => Some(0 $(+ <$t as Wire>::SIZE)+), )*
                    TypeId::C_RD_NA_1 => Some(0),
                    TypeId::F_SG_NA_1 => None,
                }
            }

            /// Decodes one element of `type_id` from the start of `b`; returns it and the
            /// octets it used, or `None` when `b` is too short.
            #[inline(always)]
            pub fn decode(type_id: TypeId, b: &'a [u8]) -> Option<(Element<'a>, usize)> {
                match type_id {
                    $( TypeId::$name => {
                        const N: usize = 0 $(+ <$t as Wire>::SIZE)+;
                        let b: &[u8] = b.first_chunk::<N>()?;
                        let mut off = 0usize;
                        Some((Element::$name($( field::<$t>(b, &mut off) ),+), N))
                    } )*
                    TypeId::C_RD_NA_1 => Some((Element::C_RD_NA_1, 0)),
                    TypeId::F_SG_NA_1 => {
                        let s = Segment::read(b)?;
                        Some((Element::F_SG_NA_1(s), s.encoded_len()))
                    }
                }
            }

            /// Appends the encoded element(s), without the IOA.
            pub fn encode<B: BufMut>(&self, out: &mut B) {
                match self {
                    $( Element::$name(..) => write_fields!(self, out, $name, $($t),+), )*
                    Element::C_RD_NA_1 => {}
                    Element::F_SG_NA_1(s) => s.write(out),
                }
            }
        }
    };
}

elements! {
    /// Single-point information: SIQ.
    M_SP_NA_1(SinglePoint),
    /// Single-point information with time tag: SIQ, CP24Time2a.
    M_SP_TA_1(SinglePoint, Cp24Time2a),
    /// Double-point information: DIQ.
    M_DP_NA_1(DoublePoint),
    /// Double-point information with time tag: DIQ, CP24Time2a.
    M_DP_TA_1(DoublePoint, Cp24Time2a),
    /// Step position information: VTI, QDS.
    M_ST_NA_1(StepPosition, Qds),
    /// Step position information with time tag: VTI, QDS, CP24Time2a.
    M_ST_TA_1(StepPosition, Qds, Cp24Time2a),
    /// Bitstring of 32 bits: BSI, QDS.
    M_BO_NA_1(Bitstring, Qds),
    /// Bitstring of 32 bits with time tag: BSI, QDS, CP24Time2a.
    M_BO_TA_1(Bitstring, Qds, Cp24Time2a),
    /// Measured value, normalized: NVA, QDS.
    M_ME_NA_1(Normalized, Qds),
    /// Measured value, normalized with time tag: NVA, QDS, CP24Time2a.
    M_ME_TA_1(Normalized, Qds, Cp24Time2a),
    /// Measured value, scaled: SVA, QDS.
    M_ME_NB_1(Scaled, Qds),
    /// Measured value, scaled with time tag: SVA, QDS, CP24Time2a.
    M_ME_TB_1(Scaled, Qds, Cp24Time2a),
    /// Measured value, short floating point: R32 (IEEE 754, little endian), QDS.
    M_ME_NC_1(f32, Qds),
    /// Measured value, short floating point with time tag: R32, QDS, CP24Time2a.
    M_ME_TC_1(f32, Qds, Cp24Time2a),
    /// Integrated totals: BCR.
    M_IT_NA_1(BinaryCounter),
    /// Integrated totals with time tag: BCR, CP24Time2a.
    M_IT_TA_1(BinaryCounter, Cp24Time2a),
    /// Event of protection equipment with time tag: SEP, elapsed time CP16Time2a, CP24Time2a.
    M_EP_TA_1(ProtectionEvent, Cp16Time2a, Cp24Time2a),
    /// Packed start events of protection equipment: SPE, QDP, relay duration time
    /// CP16Time2a, CP24Time2a.
    M_EP_TB_1(StartEvents, Qdp, Cp16Time2a, Cp24Time2a),
    /// Packed output circuit information of protection equipment: OCI, QDP, relay operation
    /// time CP16Time2a, CP24Time2a.
    M_EP_TC_1(OutputCircuit, Qdp, Cp16Time2a, Cp24Time2a),
    /// Packed single-point information with status change detection: SCD, QDS.
    M_PS_NA_1(StatusChange, Qds),
    /// Measured value, normalized without quality descriptor: NVA.
    M_ME_ND_1(Normalized),
    /// Single-point information with CP56Time2a: SIQ, CP56Time2a.
    M_SP_TB_1(SinglePoint, Cp56Time2a),
    /// Double-point information with CP56Time2a: DIQ, CP56Time2a.
    M_DP_TB_1(DoublePoint, Cp56Time2a),
    /// Step position information with CP56Time2a: VTI, QDS, CP56Time2a.
    M_ST_TB_1(StepPosition, Qds, Cp56Time2a),
    /// Bitstring of 32 bits with CP56Time2a: BSI, QDS, CP56Time2a.
    M_BO_TB_1(Bitstring, Qds, Cp56Time2a),
    /// Measured value, normalized with CP56Time2a: NVA, QDS, CP56Time2a.
    M_ME_TD_1(Normalized, Qds, Cp56Time2a),
    /// Measured value, scaled with CP56Time2a: SVA, QDS, CP56Time2a.
    M_ME_TE_1(Scaled, Qds, Cp56Time2a),
    /// Measured value, short floating point with CP56Time2a: R32, QDS, CP56Time2a.
    M_ME_TF_1(f32, Qds, Cp56Time2a),
    /// Integrated totals with CP56Time2a: BCR, CP56Time2a.
    M_IT_TB_1(BinaryCounter, Cp56Time2a),
    /// Event of protection equipment with CP56Time2a: SEP, CP16Time2a, CP56Time2a.
    M_EP_TD_1(ProtectionEvent, Cp16Time2a, Cp56Time2a),
    /// Packed start events of protection equipment with CP56Time2a: SPE, QDP, CP16Time2a,
    /// CP56Time2a.
    M_EP_TE_1(StartEvents, Qdp, Cp16Time2a, Cp56Time2a),
    /// Packed output circuit information with CP56Time2a: OCI, QDP, CP16Time2a, CP56Time2a.
    M_EP_TF_1(OutputCircuit, Qdp, Cp16Time2a, Cp56Time2a),
    /// Single command: SCO.
    C_SC_NA_1(SingleCommand),
    /// Double command: DCO.
    C_DC_NA_1(DoubleCommand),
    /// Regulating step command: RCO.
    C_RC_NA_1(StepCommand),
    /// Set-point command, normalized value: NVA, QOS.
    C_SE_NA_1(Normalized, Qos),
    /// Set-point command, scaled value: SVA, QOS.
    C_SE_NB_1(Scaled, Qos),
    /// Set-point command, short floating point: R32, QOS.
    C_SE_NC_1(f32, Qos),
    /// Bitstring of 32 bits command: BSI.
    C_BO_NA_1(Bitstring),
    /// Single command with CP56Time2a: SCO, CP56Time2a.
    C_SC_TA_1(SingleCommand, Cp56Time2a),
    /// Double command with CP56Time2a: DCO, CP56Time2a.
    C_DC_TA_1(DoubleCommand, Cp56Time2a),
    /// Regulating step command with CP56Time2a: RCO, CP56Time2a.
    C_RC_TA_1(StepCommand, Cp56Time2a),
    /// Set-point command, normalized value with CP56Time2a: NVA, QOS, CP56Time2a.
    C_SE_TA_1(Normalized, Qos, Cp56Time2a),
    /// Set-point command, scaled value with CP56Time2a: SVA, QOS, CP56Time2a.
    C_SE_TB_1(Scaled, Qos, Cp56Time2a),
    /// Set-point command, short floating point with CP56Time2a: R32, QOS, CP56Time2a.
    C_SE_TC_1(f32, Qos, Cp56Time2a),
    /// Bitstring of 32 bits command with CP56Time2a: BSI, CP56Time2a.
    C_BO_TA_1(Bitstring, Cp56Time2a),
    /// End of initialization: COI.
    M_EI_NA_1(Coi),
    /// Interrogation command: QOI.
    C_IC_NA_1(Qoi),
    /// Counter interrogation command: QCC.
    C_CI_NA_1(Qcc),
    /// Clock synchronization command: CP56Time2a.
    C_CS_NA_1(Cp56Time2a),
    /// Test command: FBP.
    C_TS_NA_1(Fbp),
    /// Reset process command: QRP.
    C_RP_NA_1(Qrp),
    /// Delay acquisition command: CP16Time2a.
    C_CD_NA_1(Cp16Time2a),
    /// Test command with CP56Time2a: TSC, CP56Time2a.
    C_TS_TA_1(Tsc, Cp56Time2a),
    /// Parameter of measured value, normalized: NVA, QPM.
    P_ME_NA_1(Normalized, Qpm),
    /// Parameter of measured value, scaled: SVA, QPM.
    P_ME_NB_1(Scaled, Qpm),
    /// Parameter of measured value, short floating point: R32, QPM.
    P_ME_NC_1(f32, Qpm),
    /// Parameter activation: QPA.
    P_AC_NA_1(Qpa),
    /// File ready: NOF, LOF, FRQ.
    F_FR_NA_1(FileReady),
    /// Section ready: NOF, NOS, LOF, SRQ.
    F_SR_NA_1(SectionReady),
    /// Call directory, select file, call file, call section: NOF, NOS, SCQ.
    F_SC_NA_1(FileCommand),
    /// Last section, last segment: NOF, NOS, LSQ, CHS.
    F_LS_NA_1(LastSection),
    /// Acknowledge file, acknowledge section: NOF, NOS, AFQ.
    F_AF_NA_1(FileCommand),
    /// Directory: NOF, LOF, SOF, CP56Time2a.
    F_DR_TA_1(DirectoryEntry),
    /// Query log, request archive file: NOF, range start CP56Time2a, range stop CP56Time2a.
    F_SC_NB_1(QueryLog),
}

impl Element<'_> {
    /// Encoded size of the element(s) without the IOA.
    #[inline]
    pub fn encoded_len(&self) -> usize {
        match self {
            Element::F_SG_NA_1(s) => s.encoded_len(),
            other => Element::fixed_size(other.type_id()).unwrap_or(0),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_type_id_has_its_standard_size() {
        // Octets of the element(s) per object, IOA excluded, summed by hand from the element
        // lists of IEC 60870-5-101 §7.3 and IEC 60870-5-104 §8 (SIQ/DIQ/VTI/QDS/QDP/SEP/SPE/
        // OCI and the qualifiers 1, NVA/SVA/FBP/TSC/CP16 2, CP24 3, SCD/BSI/R32 4, BCR 5,
        // CP56 7, NOF 2, NOS 1, LOF 3). lib60870-C's getElementDataSize agrees on every one.
        use TypeId as T;
        let table: &[(TypeId, usize)] = &[
            (T::M_SP_NA_1, 1),
            (T::M_SP_TA_1, 4),
            (T::M_DP_NA_1, 1),
            (T::M_DP_TA_1, 4),
            (T::M_ST_NA_1, 2),
            (T::M_ST_TA_1, 5),
            (T::M_BO_NA_1, 5),
            (T::M_BO_TA_1, 8),
            (T::M_ME_NA_1, 3),
            (T::M_ME_TA_1, 6),
            (T::M_ME_NB_1, 3),
            (T::M_ME_TB_1, 6),
            (T::M_ME_NC_1, 5),
            (T::M_ME_TC_1, 8),
            (T::M_IT_NA_1, 5),
            (T::M_IT_TA_1, 8),
            (T::M_EP_TA_1, 6),
            (T::M_EP_TB_1, 7),
            (T::M_EP_TC_1, 7),
            (T::M_PS_NA_1, 5),
            (T::M_ME_ND_1, 2),
            (T::M_SP_TB_1, 8),
            (T::M_DP_TB_1, 8),
            (T::M_ST_TB_1, 9),
            (T::M_BO_TB_1, 12),
            (T::M_ME_TD_1, 10),
            (T::M_ME_TE_1, 10),
            (T::M_ME_TF_1, 12),
            (T::M_IT_TB_1, 12),
            (T::M_EP_TD_1, 10),
            (T::M_EP_TE_1, 11),
            (T::M_EP_TF_1, 11),
            (T::C_SC_NA_1, 1),
            (T::C_DC_NA_1, 1),
            (T::C_RC_NA_1, 1),
            (T::C_SE_NA_1, 3),
            (T::C_SE_NB_1, 3),
            (T::C_SE_NC_1, 5),
            (T::C_BO_NA_1, 4),
            (T::C_SC_TA_1, 8),
            (T::C_DC_TA_1, 8),
            (T::C_RC_TA_1, 8),
            (T::C_SE_TA_1, 10),
            (T::C_SE_TB_1, 10),
            (T::C_SE_TC_1, 12),
            (T::C_BO_TA_1, 11),
            (T::M_EI_NA_1, 1),
            (T::C_IC_NA_1, 1),
            (T::C_CI_NA_1, 1),
            (T::C_RD_NA_1, 0),
            (T::C_CS_NA_1, 7),
            (T::C_TS_NA_1, 2),
            (T::C_RP_NA_1, 1),
            (T::C_CD_NA_1, 2),
            (T::C_TS_TA_1, 9),
            (T::P_ME_NA_1, 3),
            (T::P_ME_NB_1, 3),
            (T::P_ME_NC_1, 5),
            (T::P_AC_NA_1, 1),
            (T::F_FR_NA_1, 6),
            (T::F_SR_NA_1, 7),
            (T::F_SC_NA_1, 4),
            (T::F_LS_NA_1, 5),
            (T::F_AF_NA_1, 4),
            (T::F_DR_TA_1, 13),
            (T::F_SC_NB_1, 16),
        ];
        for &(t, n) in table {
            assert_eq!(Element::fixed_size(t), Some(n), "{t}");
        }
        // F_SG_NA_1 is variable (NOF, NOS, LOS and LOS octets); every other type is listed.
        assert_eq!(Element::fixed_size(T::F_SG_NA_1), None);
        assert_eq!(table.len(), TypeId::ALL.len() - 1);
    }

    #[test]
    fn element_stays_small() {
        // The segment's borrowed slice (16 octets) sets the size; every other payload is
        // at most 28 octets (F_SC_NB_1, two time tags).
        assert!(
            std::mem::size_of::<Element<'_>>() <= 32,
            "{}",
            std::mem::size_of::<Element<'_>>()
        );
    }
}
