//! Virtual-time tests of the session machine.
