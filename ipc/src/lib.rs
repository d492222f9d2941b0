//! postern's inter-process vocabulary: the typed messages exchanged with authd, their
//! framing on the wire, peer credentials, socket activation and fd passing.
//!
//! Everything that crosses a process boundary is defined here, so that both sides of a
//! socket compile against one definition.
#![warn(missing_docs)]
#![deny(unsafe_op_in_unsafe_fn)]

pub mod account_ends;
pub mod activation;
pub mod admin;
pub mod auth;
pub mod client;
pub mod control;
pub mod fdpass;
pub mod frame;
pub mod peer;
pub mod sasl_relay;
pub mod seqpacket;
pub mod store;
pub mod store_client;
pub mod types;
pub mod web;

pub use frame::{FrameCodec, FrameError};
pub use types::*;
