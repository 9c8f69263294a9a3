//! Tests of APCI framing.
