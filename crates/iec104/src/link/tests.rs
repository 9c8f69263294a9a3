//! Tests of the link state machine in virtual time.
