//! SASL server mechanisms.
