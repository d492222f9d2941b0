//! Loopback ports for the servers under test.

use std::net::{SocketAddr, TcpListener, TcpStream};

/// A TCP port on 127.0.0.1 that was free a moment ago (the kernel picked it).
pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|listener| listener.local_addr())
        .expect("binding a free loopback port")
        .port()
}

/// `127.0.0.1:<free_port()>`, for a server's listen address.
pub fn free_loopback_address() -> SocketAddr {
    SocketAddr::from(([127, 0, 0, 1], free_port()))
}

/// Whether something accepts TCP connections on every one of `addresses`.
pub fn is_listening(addresses: &[SocketAddr]) -> bool {
    addresses
        .iter()
        .all(|address| TcpStream::connect(address).is_ok())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_free_address_is_not_listening_until_bound() {
        let address = free_loopback_address();
        assert!(!is_listening(&[address]));
        let _listener = TcpListener::bind(address).unwrap();
        assert!(is_listening(&[address]));
    }
}
