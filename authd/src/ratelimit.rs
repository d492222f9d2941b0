//! The brute-force limiter: failed logins counted per remote address and per network
//! prefix, in fixed minute and day windows. Past a limit, authd answers "rate limited"
//! without looking at credentials; a success clears that address's contribution.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::Mutex;

use postern_config::{Network, RateLimitConfig};
use postern_ipc::{LoginResult, RateLimitBlock};

/// Prefix lengths of the three levels for IPv4.
pub const IPV4_PREFIXES: [u8; 3] = [32, 26, 21];
/// Prefix lengths of the three levels for IPv6.
pub const IPV6_PREFIXES: [u8; 3] = [64, 48, 32];
/// The two windows, in seconds: a minute and a day.
pub const WINDOWS: [(i64, &str); 2] = [(60, "minute"), (86_400, "day")];
/// Entries kept before stale ones are swept.
const SWEEP_THRESHOLD: usize = 100_000;

/// A network at one level, as counted.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
struct Key {
    level: u8,
    network: Network,
}

#[derive(Clone, Copy, Debug, Default)]
struct Counter {
    window: i64,
    count: u32,
}

#[derive(Debug, Default)]
struct Counters {
    windows: [Counter; 2],
}

impl Counters {
    fn current(&self, window: usize, now: i64) -> u32 {
        let counter = self.windows[window];
        if counter.window == now.div_euclid(WINDOWS[window].0) {
            counter.count
        } else {
            0
        }
    }

    fn add(&mut self, window: usize, now: i64, n: i64) {
        let index = now.div_euclid(WINDOWS[window].0);
        let counter = &mut self.windows[window];
        let base = if counter.window == index {
            i64::from(counter.count)
        } else {
            0
        };
        counter.window = index;
        counter.count = u32::try_from((base + n).max(0)).unwrap_or(u32::MAX);
    }

    fn is_stale(&self, now: i64) -> bool {
        (0..WINDOWS.len()).all(|w| self.current(w, now) == 0)
    }
}

fn mask(ip: IpAddr, prefix: u8) -> Network {
    let address = match ip {
        IpAddr::V4(v4) => {
            let bits = u32::from(v4) & u32::MAX.checked_shl(32 - u32::from(prefix)).unwrap_or(0);
            IpAddr::V4(bits.into())
        }
        IpAddr::V6(v6) => {
            let bits = u128::from(v6) & u128::MAX.checked_shl(128 - u32::from(prefix)).unwrap_or(0);
            IpAddr::V6(bits.into())
        }
    };
    Network { address, prefix }
}

fn keys(ip: IpAddr) -> [Key; 3] {
    let ip = ip.to_canonical();
    let prefixes = if ip.is_ipv4() {
        IPV4_PREFIXES
    } else {
        IPV6_PREFIXES
    };
    [0u8, 1, 2].map(|level| Key {
        level,
        network: mask(ip, prefixes[usize::from(level)]),
    })
}

/// The limiter, shared by every protocol and connection.
#[derive(Debug)]
pub struct FailureLimiter {
    limits: [[u32; 3]; 2],
    trusted: Vec<Network>,
    counters: Mutex<HashMap<Key, Counters>>,
}

impl FailureLimiter {
    /// A limiter with the configured limits and trusted networks.
    pub fn new(config: &RateLimitConfig) -> Result<FailureLimiter, String> {
        let trusted = config
            .trusted_networks
            .iter()
            .map(|n| Network::parse(n))
            .collect::<Result<_, _>>()?;
        Ok(FailureLimiter {
            limits: [config.per_minute, config.per_day],
            trusted,
            counters: Mutex::new(HashMap::new()),
        })
    }

    fn is_trusted(&self, ip: IpAddr) -> bool {
        let ip = ip.to_canonical();
        self.trusted.iter().any(|n| n.contains(ip))
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<Key, Counters>> {
        // A panic while holding the lock cannot leave the counters inconsistent in a way
        // that matters; keep serving.
        self.counters.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Whether one more failure from `ip` would pass a limit: then authd refuses
    /// without checking credentials.
    pub fn is_limited(&self, ip: IpAddr, now: i64) -> bool {
        if self.is_trusted(ip) {
            return false;
        }
        let counters = self.lock();
        keys(ip).iter().any(|key| {
            counters.get(key).is_some_and(|c| {
                (0..WINDOWS.len())
                    .any(|w| c.current(w, now) >= self.limits[w][usize::from(key.level)])
            })
        })
    }

    /// Counts a failed login from `ip`.
    pub fn record_failure(&self, ip: IpAddr, now: i64) {
        if self.is_trusted(ip) {
            return;
        }
        let mut counters = self.lock();
        if counters.len() > SWEEP_THRESHOLD {
            counters.retain(|_, c| !c.is_stale(now));
        }
        for key in keys(ip) {
            let entry = counters.entry(key).or_default();
            for w in 0..WINDOWS.len() {
                entry.add(w, now, 1);
            }
        }
    }

    /// Counts the result of a login from `ip`: a success clears the address, a wrong
    /// credential counts against it, anything else (malformed, aborted) does not count.
    pub fn record_result(&self, ip: IpAddr, result: LoginResult, now: i64) {
        match result {
            LoginResult::Ok => self.record_success(ip, now),
            LoginResult::BadCredentials
            | LoginResult::UnknownUser
            | LoginResult::BadChannelBinding => self.record_failure(ip, now),
            _ => {}
        }
    }

    /// A success from `ip`: its own failures no longer count, at any level.
    pub fn record_success(&self, ip: IpAddr, now: i64) {
        self.clear_address(ip, now);
    }

    fn clear_address(&self, ip: IpAddr, now: i64) {
        let mut counters = self.lock();
        let [own, wider @ ..] = keys(ip);
        let Some(own_counts) = counters.remove(&own) else {
            return;
        };
        for key in wider {
            if let Some(entry) = counters.get_mut(&key) {
                for w in 0..WINDOWS.len() {
                    entry.add(w, now, -i64::from(own_counts.current(w, now)));
                }
            }
        }
    }

    /// Lifts blocks: of one address (all its prefixes lose its failures), or all.
    pub fn clear(&self, ip: Option<IpAddr>, now: i64) {
        match ip {
            Some(ip) => self.clear_address(ip, now),
            None => self.lock().clear(),
        }
    }

    /// Networks that are refused now, with their counts.
    pub fn blocks(&self, now: i64) -> Vec<RateLimitBlock> {
        let counters = self.lock();
        let mut blocks = Vec::new();
        for (key, c) in counters.iter() {
            for (w, (length, name)) in WINDOWS.iter().enumerate() {
                let limit = self.limits[w][usize::from(key.level)];
                let failures = c.current(w, now);
                if failures >= limit {
                    blocks.push(RateLimitBlock {
                        network: format!("{}/{}", key.network.address, key.network.prefix),
                        window: (*name).to_string(),
                        failures,
                        limit,
                        until: (now.div_euclid(*length) + 1) * length,
                    });
                }
            }
        }
        blocks.sort_by(|a, b| a.network.cmp(&b.network).then(a.window.cmp(&b.window)));
        blocks
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn limiter(trusted: &[&str]) -> FailureLimiter {
        FailureLimiter::new(&RateLimitConfig {
            trusted_networks: trusted.iter().map(|s| s.to_string()).collect(),
            ..RateLimitConfig::default()
        })
        .unwrap()
    }

    fn ip(text: &str) -> IpAddr {
        text.parse().unwrap()
    }

    const T: i64 = 1_800_000_000; // a minute boundary: 1.8e9 is divisible by 60

    #[test]
    fn one_address_is_limited_after_ten_failures_a_minute() {
        let l = limiter(&[]);
        for i in 0..10 {
            assert!(!l.is_limited(ip("192.0.2.1"), T + i), "limited after {i}");
            l.record_failure(ip("192.0.2.1"), T + i);
        }
        assert!(l.is_limited(ip("192.0.2.1"), T + 10));
        // Its /26 neighbour is not (30 allowed for the /26).
        assert!(!l.is_limited(ip("192.0.2.2"), T + 10));
        // The next minute window starts afresh for the minute limit.
        assert!(!l.is_limited(ip("192.0.2.1"), T + 60));
        let blocks = l.blocks(T + 10);
        assert_eq!(blocks.len(), 1);
        assert_eq!(blocks[0].network, "192.0.2.1/32");
        assert_eq!(blocks[0].until, T + 60);
    }

    #[test]
    fn prefixes_add_up() {
        let l = limiter(&[]);
        // 30 failures from 5 addresses in one /26 (6 each, under the /32 limit).
        for host in 0..5 {
            for _ in 0..6 {
                l.record_failure(ip(&format!("198.51.100.{host}")), T);
            }
        }
        assert!(l.is_limited(ip("198.51.100.60"), T), "/26 limit");
        assert!(!l.is_limited(ip("198.51.100.64"), T), "next /26 is free");
        // /21: 90 a minute over several /26s.
        let l = limiter(&[]);
        for net in 0..3 {
            for host in 0..29 {
                l.record_failure(ip(&format!("203.0.{}.{}", 112 + net, host)), T);
            }
        }
        l.record_failure(ip("203.0.115.1"), T);
        l.record_failure(ip("203.0.115.2"), T);
        l.record_failure(ip("203.0.115.3"), T);
        assert!(l.is_limited(ip("203.0.118.200"), T), "/21 limit");
        assert!(!l.is_limited(ip("203.0.120.1"), T), "outside the /21");
    }

    #[test]
    fn ipv6_prefixes() {
        let l = limiter(&[]);
        for i in 0..10 {
            l.record_failure(ip(&format!("2001:db8:1:2::{i:x}")), T);
        }
        assert!(l.is_limited(ip("2001:db8:1:2::ffff"), T), "same /64");
        assert!(!l.is_limited(ip("2001:db8:1:3::1"), T), "other /64");
        for i in 0..20 {
            l.record_failure(ip(&format!("2001:db8:1:{:x}::1", 100 + i)), T);
        }
        assert!(l.is_limited(ip("2001:db8:1:ffff::1"), T), "same /48 (30)");
        assert!(!l.is_limited(ip("2001:db8:2::1"), T), "other /48");
        // IPv4-mapped addresses count as IPv4.
        for _ in 0..10 {
            l.record_failure(ip("::ffff:192.0.2.9"), T);
        }
        assert!(l.is_limited(ip("192.0.2.9"), T));
    }

    #[test]
    fn day_limit() {
        let l = limiter(&[]);
        for minute in 0..5 {
            for _ in 0..10 {
                l.record_failure(ip("192.0.2.1"), T + minute * 60);
            }
        }
        assert!(l.is_limited(ip("192.0.2.1"), T + 3600), "50 a day");
        assert!(!l.is_limited(ip("192.0.2.1"), T + 86_400 * 2));
    }

    #[test]
    fn success_clears_its_address() {
        let l = limiter(&[]);
        for _ in 0..10 {
            l.record_failure(ip("192.0.2.1"), T);
        }
        for host in 2..22 {
            l.record_failure(ip(&format!("192.0.2.{host}")), T);
        }
        assert!(l.is_limited(ip("192.0.2.1"), T));
        assert!(l.is_limited(ip("192.0.2.30"), T), "/26 has 30");
        l.record_success(ip("192.0.2.1"), T);
        assert!(!l.is_limited(ip("192.0.2.1"), T));
        assert!(!l.is_limited(ip("192.0.2.30"), T), "its share left the /26");
        l.clear(None, T);
        assert!(l.blocks(T).is_empty());
    }

    #[test]
    fn trusted_networks_are_exempt() {
        let l = limiter(&["10.0.0.0/8", "2001:db8::/32"]);
        for _ in 0..100 {
            l.record_failure(ip("10.1.2.3"), T);
            l.record_failure(ip("2001:db8::1"), T);
        }
        assert!(!l.is_limited(ip("10.1.2.3"), T));
        assert!(!l.is_limited(ip("2001:db8::1"), T));
        assert!(
            FailureLimiter::new(&RateLimitConfig {
                trusted_networks: vec!["nonsense".into()],
                ..RateLimitConfig::default()
            })
            .is_err()
        );
    }
}
