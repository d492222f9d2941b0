//! Limits on a protocol daemon's connections (IMAP, submission), checked when a
//! connection is accepted, before any TLS work: per remote network, new connections per
//! minute and open connections at once (mox §7.4), and open connections in total. Each
//! daemon tells a refused client why in its own protocol.
//!
//! Each remote address is looked at with three prefix lengths (IPv4 /32, /26, /21;
//! IPv6 /64, /48, /32); every level has its own limit and a connection must be within
//! all of them. IPv4-mapped IPv6 addresses count as IPv4. Networks in
//! `[ratelimit] trusted_networks` are not limited per network (the total still applies).

use std::collections::HashMap;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use postern_config::Network;

/// New connections allowed per [`RATE_WINDOW`] from one network, for the three prefix
/// levels (mox: 300 / 900 / 2700).
pub const MAX_NEW_CONNECTIONS_PER_WINDOW: [u32; 3] = [300, 900, 2700];
/// The window of [`MAX_NEW_CONNECTIONS_PER_WINDOW`]: one minute, counted in fixed
/// windows as mox does.
pub const RATE_WINDOW: Duration = Duration::from_secs(60);
/// Connections open at once from one network, for the three prefix levels (mox:
/// 30 / 90 / 270).
pub const MAX_OPEN_CONNECTIONS_PER_NETWORK: [u32; 3] = [30, 90, 270];
/// Connections open at once in total. Not a mox limit: it bounds memory and fds,
/// at twice the 10,000 IDLE sessions imapd is built to hold.
pub const MAX_OPEN_CONNECTIONS: u32 = 20_000;
/// Prefix lengths of the three levels for IPv4.
pub const IPV4_PREFIXES: [u8; 3] = [32, 26, 21];
/// Prefix lengths of the three levels for IPv6.
pub const IPV6_PREFIXES: [u8; 3] = [64, 48, 32];
/// Most networks counted in one rate window. A flood from more networks than this
/// within one minute is refused until the window ends, so memory stays bounded.
pub const MAX_NETWORKS_PER_WINDOW: usize = 100_000;

/// The numbers a [`ConnectionLimits`] enforces.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Limits {
    /// New connections per window, per prefix level.
    pub new_per_window: [u32; 3],
    /// The rate window.
    pub window: Duration,
    /// Open connections per network, per prefix level.
    pub open_per_network: [u32; 3],
    /// Open connections in total.
    pub open_total: u32,
    /// Most networks counted in one window.
    pub networks_per_window: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            new_per_window: MAX_NEW_CONNECTIONS_PER_WINDOW,
            window: RATE_WINDOW,
            open_per_network: MAX_OPEN_CONNECTIONS_PER_NETWORK,
            open_total: MAX_OPEN_CONNECTIONS,
            networks_per_window: MAX_NETWORKS_PER_WINDOW,
        }
    }
}

/// Why a connection was not admitted.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
pub enum Refusal {
    /// The server holds [`Limits::open_total`] connections.
    #[error("too many open connections in total")]
    OpenTotal,
    /// The remote network opened too many connections in this window.
    #[error("connection rate from the remote network too high")]
    Rate,
    /// The remote network holds too many open connections.
    #[error("too many open connections from the remote network")]
    OpenPerNetwork,
}

/// One network at one prefix level.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
struct NetworkKey {
    level: u8,
    network: IpAddr,
}

#[derive(Debug)]
struct State {
    window_start: Instant,
    new_in_window: HashMap<NetworkKey, u32>,
    open: HashMap<NetworkKey, u32>,
    open_total: u32,
}

/// The counters of every limit, shared by all listeners. Admitting a connection gives
/// a [`ConnectionSlot`] that counts it as open until it is dropped.
#[derive(Debug)]
pub struct ConnectionLimits {
    limits: Limits,
    trusted: Vec<Network>,
    state: Mutex<State>,
}

/// An admitted connection; dropping it counts the connection as closed.
#[derive(Debug)]
pub struct ConnectionSlot {
    limits: Arc<ConnectionLimits>,
    /// The networks counted as open, empty for a trusted address.
    keys: Vec<NetworkKey>,
}

impl Drop for ConnectionSlot {
    fn drop(&mut self) {
        let mut state = self.limits.lock();
        state.open_total = state.open_total.saturating_sub(1);
        for key in &self.keys {
            if let Some(count) = state.open.get_mut(key) {
                *count = count.saturating_sub(1);
                if *count == 0 {
                    state.open.remove(key);
                }
            }
        }
    }
}

impl ConnectionLimits {
    /// The default limits, with `[ratelimit] trusted_networks` exempt per network.
    pub fn for_config(config: &postern_config::Config) -> Arc<ConnectionLimits> {
        let trusted = config
            .ratelimit
            .trusted_networks
            .iter()
            .filter_map(|net| Network::parse(net).ok())
            .collect();
        ConnectionLimits::new(Limits::default(), trusted)
    }

    /// Counters enforcing `limits`, with addresses in `trusted` exempt from the
    /// per-network limits.
    pub fn new(limits: Limits, trusted: Vec<Network>) -> Arc<ConnectionLimits> {
        Arc::new(ConnectionLimits {
            limits,
            trusted,
            state: Mutex::new(State {
                window_start: Instant::now(),
                new_in_window: HashMap::new(),
                open: HashMap::new(),
                open_total: 0,
            }),
        })
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Checks a new connection from `remote` at `now`: the total, then the
    /// connection rate, then the open connections of its networks (mox's order). An
    /// admitted connection counts towards the rate and stays counted as open while
    /// the returned slot lives. A refused one counts towards nothing (unlike mox, where
    /// one refused for its networks' open connections counts towards the rate, so a
    /// flood of refused attempts kept every client of the network out for the whole
    /// window).
    pub fn admit(
        self: &Arc<Self>,
        remote: IpAddr,
        now: Instant,
    ) -> Result<ConnectionSlot, Refusal> {
        let remote = remote.to_canonical();
        let mut state = self.lock();
        if state.open_total >= self.limits.open_total {
            return Err(Refusal::OpenTotal);
        }
        let trusted = self.trusted.iter().any(|net| net.contains(remote));
        let keys: Vec<NetworkKey> = if trusted {
            Vec::new()
        } else {
            network_keys(remote).to_vec()
        };

        if now.saturating_duration_since(state.window_start) >= self.limits.window {
            state.window_start = now;
            state.new_in_window.clear();
        }
        let over_rate = keys.iter().any(|key| {
            let count = state.new_in_window.get(key).copied().unwrap_or(0);
            count >= self.limits.new_per_window[usize::from(key.level)]
        });
        let new_networks = keys
            .iter()
            .filter(|key| !state.new_in_window.contains_key(key))
            .count();
        if over_rate || state.new_in_window.len() + new_networks > self.limits.networks_per_window {
            return Err(Refusal::Rate);
        }
        let over_open = keys.iter().any(|key| {
            let count = state.open.get(key).copied().unwrap_or(0);
            count >= self.limits.open_per_network[usize::from(key.level)]
        });
        if over_open {
            return Err(Refusal::OpenPerNetwork);
        }
        for key in &keys {
            *state.new_in_window.entry(*key).or_insert(0) += 1;
        }
        for key in &keys {
            *state.open.entry(*key).or_insert(0) += 1;
        }
        state.open_total += 1;
        drop(state);
        Ok(ConnectionSlot {
            limits: Arc::clone(self),
            keys,
        })
    }

    /// Connections open now (admitted and not yet dropped).
    pub fn open_connections(&self) -> u32 {
        self.lock().open_total
    }
}

/// The three networks `ip` belongs to, one per prefix level.
fn network_keys(ip: IpAddr) -> [NetworkKey; 3] {
    let mut keys = [NetworkKey {
        level: 0,
        network: ip,
    }; 3];
    for (level, key) in keys.iter_mut().enumerate() {
        key.level = level as u8;
        key.network = match ip {
            IpAddr::V4(v4) => {
                let prefix = u32::from(IPV4_PREFIXES[level]);
                let mask = u32::MAX.checked_shl(32 - prefix).unwrap_or(0);
                IpAddr::V4(Ipv4Addr::from(u32::from(v4) & mask))
            }
            IpAddr::V6(v6) => {
                let prefix = u32::from(IPV6_PREFIXES[level]);
                let mask = u128::MAX.checked_shl(128 - prefix).unwrap_or(0);
                IpAddr::V6(Ipv6Addr::from(u128::from(v6) & mask))
            }
        };
    }
    keys
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(text: &str) -> IpAddr {
        text.parse().unwrap()
    }

    fn small() -> Limits {
        Limits {
            new_per_window: [3, 5, 7],
            window: Duration::from_secs(60),
            open_per_network: [2, 3, 4],
            open_total: 6,
            networks_per_window: 1000,
        }
    }

    #[test]
    fn the_defaults_are_mox_numbers() {
        let limits = Limits::default();
        assert_eq!(limits.new_per_window, [300, 900, 2700]);
        assert_eq!(limits.open_per_network, [30, 90, 270]);
        assert_eq!(limits.window, Duration::from_secs(60));
    }

    #[test]
    fn open_connections_per_address_are_limited_and_released_on_drop() {
        let limits = ConnectionLimits::new(
            Limits {
                new_per_window: [10, 10, 10],
                ..small()
            },
            Vec::new(),
        );
        let now = Instant::now();
        let a = limits.admit(ip("192.0.2.1"), now).unwrap();
        let b = limits.admit(ip("192.0.2.1"), now).unwrap();
        assert_eq!(
            limits.admit(ip("192.0.2.1"), now).unwrap_err(),
            Refusal::OpenPerNetwork
        );
        // Another address of the same /26 is still fine at its own level.
        let c = limits.admit(ip("192.0.2.2"), now).unwrap();
        assert_eq!(limits.open_connections(), 3);
        drop(a);
        assert_eq!(limits.open_connections(), 2);
        let _d = limits.admit(ip("192.0.2.1"), now).unwrap();
        drop((b, c));
        assert_eq!(limits.open_connections(), 1);
    }

    #[test]
    fn wider_networks_have_their_own_limits() {
        let limits = ConnectionLimits::new(small(), Vec::new());
        let now = Instant::now();
        // /26: at most 3 open; four addresses in 192.0.2.0/26.
        let _slots: Vec<_> = ["192.0.2.1", "192.0.2.2", "192.0.2.3"]
            .iter()
            .map(|a| limits.admit(ip(a), now).unwrap())
            .collect();
        assert_eq!(
            limits.admit(ip("192.0.2.4"), now).unwrap_err(),
            Refusal::OpenPerNetwork
        );
        // 192.0.2.64 is another /26 of the same /21 (limit 4).
        let _e = limits.admit(ip("192.0.2.64"), now).unwrap();
        assert_eq!(
            limits.admit(ip("192.0.2.65"), now).unwrap_err(),
            Refusal::OpenPerNetwork
        );
        // Another /21 altogether.
        assert!(limits.admit(ip("198.51.100.1"), now).is_ok());
    }

    #[test]
    fn ipv6_is_counted_per_64_and_mapped_ipv4_as_ipv4() {
        let limits = ConnectionLimits::new(small(), Vec::new());
        let now = Instant::now();
        let _a = limits.admit(ip("2001:db8:0:1::1"), now).unwrap();
        let _b = limits.admit(ip("2001:db8:0:1::2"), now).unwrap();
        assert_eq!(
            limits.admit(ip("2001:db8:0:1:ffff::3"), now).unwrap_err(),
            Refusal::OpenPerNetwork
        );
        assert!(limits.admit(ip("2001:db8:0:2::1"), now).is_ok());

        let _c = limits.admit(ip("203.0.113.9"), now).unwrap();
        let _d = limits.admit(ip("::ffff:203.0.113.9"), now).unwrap();
        assert_eq!(
            limits.admit(ip("203.0.113.9"), now).unwrap_err(),
            Refusal::OpenPerNetwork
        );
    }

    #[test]
    fn the_rate_is_counted_per_window() {
        let limits = ConnectionLimits::new(small(), Vec::new());
        let start = Instant::now();
        for _ in 0..3 {
            // Closed at once: only the rate counts.
            limits.admit(ip("192.0.2.1"), start).unwrap();
        }
        assert_eq!(
            limits
                .admit(ip("192.0.2.1"), start + Duration::from_secs(59))
                .unwrap_err(),
            Refusal::Rate
        );
        // A refused connection did not count: after the window, three more.
        let later = start + Duration::from_secs(60);
        for _ in 0..3 {
            limits.admit(ip("192.0.2.1"), later).unwrap();
        }
        assert_eq!(
            limits.admit(ip("192.0.2.1"), later).unwrap_err(),
            Refusal::Rate
        );
        assert_eq!(limits.open_connections(), 0);
    }

    #[test]
    fn attempts_refused_for_open_connections_do_not_count_towards_the_rate() {
        let limits = ConnectionLimits::new(small(), Vec::new());
        let now = Instant::now();
        let a = limits.admit(ip("192.0.2.1"), now).unwrap();
        let _b = limits.admit(ip("192.0.2.1"), now).unwrap();
        for _ in 0..10 {
            assert_eq!(
                limits.admit(ip("192.0.2.1"), now).unwrap_err(),
                Refusal::OpenPerNetwork
            );
        }
        // Two of three new connections used: a closed one makes room for the third.
        drop(a);
        assert!(limits.admit(ip("192.0.2.1"), now).is_ok());
    }

    #[test]
    fn the_total_is_limited_for_everyone() {
        let limits = ConnectionLimits::new(small(), vec![Network::parse("10.0.0.0/8").unwrap()]);
        let now = Instant::now();
        let slots: Vec<_> = (1..=6)
            .map(|i| limits.admit(ip(&format!("10.{i}.0.1")), now).unwrap())
            .collect();
        assert_eq!(
            limits.admit(ip("10.9.0.1"), now).unwrap_err(),
            Refusal::OpenTotal
        );
        assert_eq!(
            limits.admit(ip("198.51.100.1"), now).unwrap_err(),
            Refusal::OpenTotal
        );
        drop(slots);
        assert!(limits.admit(ip("198.51.100.1"), now).is_ok());
    }

    #[test]
    fn trusted_networks_skip_the_per_network_limits() {
        let limits = ConnectionLimits::new(small(), vec![Network::parse("127.0.0.0/8").unwrap()]);
        let now = Instant::now();
        let slots: Vec<_> = (0..6)
            .map(|_| limits.admit(ip("127.0.0.1"), now).unwrap())
            .collect();
        assert_eq!(slots.len(), 6);
    }

    #[test]
    fn the_number_of_networks_per_window_is_bounded() {
        let mut config = small();
        config.networks_per_window = 6;
        let limits = ConnectionLimits::new(config, Vec::new());
        let now = Instant::now();
        // Each address far from the others: three new networks each.
        limits.admit(ip("192.0.2.1"), now).unwrap();
        limits.admit(ip("198.51.100.1"), now).unwrap();
        assert_eq!(
            limits.admit(ip("203.0.113.1"), now).unwrap_err(),
            Refusal::Rate
        );
        // Known networks still get in.
        limits.admit(ip("192.0.2.1"), now).unwrap();
        // And a new window starts empty.
        limits
            .admit(ip("203.0.113.1"), now + Duration::from_secs(60))
            .unwrap();
    }
}
