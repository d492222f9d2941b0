//! The ipc frame decoder for the request type of every socket: the auth socket
//! (`AuthRequest`, protocol daemons and webd), the admin socket (`AdminRequest`), the
//! store socket (`StoreRequest`), the supervisor's control socket (`ControlRequest`)
//! and a daemon's control socket (`DaemonControl`), each with its limit. Bytes go
//! through the length-prefixed stream codec (auth, admin, control) or as one datagram
//! payload (store, daemon control). A frame that decodes encodes again and decodes to
//! the same value's encoding; nothing panics.
//!
//! Input: a selector byte, then the bytes the socket receives.
#![no_main]

use bytes::BytesMut;
use libfuzzer_sys::fuzz_target;
use postern_ipc::FrameCodec;
use postern_ipc::admin::{AdminRequest, AdminResponse, MAX_ADMIN_REQUEST_FRAME};
use postern_ipc::auth::{AuthRequest, AuthResponse, MAX_AUTH_REQUEST_FRAME};
use postern_ipc::control::{
    ControlRequest, ControlResponse, DaemonControl, MAX_CONTROL_FRAME, MAX_DAEMON_CONTROL_MESSAGE,
};
use postern_ipc::frame::{decode_payload, encode_payload};
use postern_ipc::store::{MAX_STORE_REQUEST, StoreRequest};
use serde::Serialize;
use serde::de::DeserializeOwned;
use tokio_util::codec::Decoder;

fuzz_target!(|data: &[u8]| {
    let Some((&selector, input)) = data.split_first() else {
        return;
    };
    match selector % 5 {
        0 => stream::<AuthRequest, AuthResponse>(input, MAX_AUTH_REQUEST_FRAME),
        1 => stream::<AdminRequest, AdminResponse>(input, MAX_ADMIN_REQUEST_FRAME),
        2 => stream::<ControlRequest, ControlResponse>(input, MAX_CONTROL_FRAME),
        3 => datagram::<StoreRequest>(input, MAX_STORE_REQUEST),
        _ => datagram::<DaemonControl>(input, MAX_DAEMON_CONTROL_MESSAGE),
    }
});

/// Frames read from a stream socket until one fails or the bytes run out.
fn stream<In: DeserializeOwned + Serialize, Out>(input: &[u8], limit: usize) {
    let mut codec: FrameCodec<In, Out> = FrameCodec::new(limit, limit);
    let mut buffer = BytesMut::from(input);
    while let Ok(Some(request)) = codec.decode(&mut buffer) {
        round_trip(&request, limit);
    }
}

/// One datagram's payload.
fn datagram<In: DeserializeOwned + Serialize>(input: &[u8], limit: usize) {
    if let Ok(request) = decode_payload::<In>(input, limit) {
        round_trip(&request, limit);
    }
}

/// A decoded request encodes within its limit and decodes to the same encoding.
fn round_trip<In: DeserializeOwned + Serialize>(request: &In, limit: usize) {
    let encoded = encode_payload(request, limit).expect("a decoded request encodes");
    let again: In = decode_payload(&encoded, limit).expect("an encoded request decodes");
    assert_eq!(encode_payload(&again, limit).ok(), Some(encoded));
}
