//! The brute-force limiter: failed logins counted per remote address and per network
//! prefix, and per account (or unknown login name), in fixed minute and day windows.
//! Past an address limit, authd answers "rate limited" without looking at credentials;
//! past an account limit, it does so for password guesses against that account from
//! addresses that never logged in to it.
//!
//! A success forgives only the failures it explains: those of its own address against
//! its own account (a user who mistyped, then logged in). Failures against other
//! accounts stay counted, so logging in to one's own account between guesses against
//! someone else's does not reset anything.

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
/// How long a successful login exempts its address from its account's limit.
pub const KNOWN_ADDRESS_LIFETIME: i64 = 30 * 86_400;
/// Entries a table holds before stale ones are swept. Where sweeping is not enough,
/// tables whose loss only makes the limiter stricter (forgivable shares, unknown login
/// names, known addresses) are emptied.
const SWEEP_THRESHOLD: usize = 100_000;
/// Characters of an unknown login name kept as its key.
const MAX_NAME_CHARS: usize = 256;

/// Whose password a login tried: the account its name resolved to, or the name itself
/// (lower-cased) when it resolved to none.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum LoginTarget {
    /// An existing account, by name.
    Account(String),
    /// A login name that is no account's address.
    UnknownName(String),
}

impl LoginTarget {
    /// The target of a login for `login_name` that resolved to `account`.
    pub fn of(account: Option<&str>, login_name: &str) -> LoginTarget {
        match account {
            Some(account) => LoginTarget::Account(account.to_string()),
            None => LoginTarget::UnknownName(
                login_name
                    .to_lowercase()
                    .chars()
                    .take(MAX_NAME_CHARS)
                    .collect(),
            ),
        }
    }

    /// The account, when the name resolved to one.
    pub fn account(&self) -> Option<&str> {
        match self {
            LoginTarget::Account(account) => Some(account),
            LoginTarget::UnknownName(_) => None,
        }
    }
}

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

#[derive(Clone, Copy, Debug, Default)]
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

    /// One more failure in both windows.
    fn count_one(&mut self, now: i64) {
        for w in 0..WINDOWS.len() {
            self.add(w, now, 1);
        }
    }

    /// Takes `share`'s current counts away.
    fn forgive(&mut self, share: &Counters, now: i64) {
        for w in 0..WINDOWS.len() {
            self.add(w, now, -i64::from(share.current(w, now)));
        }
    }

    /// Whether a count of either window reached its limit.
    fn reached(&self, limits: [u32; 2], now: i64) -> bool {
        (0..WINDOWS.len()).any(|w| self.current(w, now) >= limits[w])
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

/// The address as the narrowest level counts it (IPv4 /32, IPv6 /64).
fn own_network(ip: IpAddr) -> Network {
    keys(ip)[0].network
}

/// Every table, under one lock.
#[derive(Debug, Default)]
struct State {
    /// Failures per network and level.
    networks: HashMap<Key, Counters>,
    /// Failures per account or unknown login name, from all addresses.
    targets: HashMap<LoginTarget, Counters>,
    /// Failures of one address against one target: what a success of that address
    /// for that account forgives.
    shares: HashMap<(Network, LoginTarget), Counters>,
    /// Addresses that logged in to an account, with the time of the last success.
    known: HashMap<(Network, String), i64>,
}

impl State {
    fn sweep(&mut self, now: i64) {
        if self.networks.len() > SWEEP_THRESHOLD {
            self.networks.retain(|_, c| !c.is_stale(now));
        }
        if self.targets.len() > SWEEP_THRESHOLD {
            self.targets.retain(|_, c| !c.is_stale(now));
            if self.targets.len() > SWEEP_THRESHOLD {
                self.targets
                    .retain(|t, _| matches!(t, LoginTarget::Account(_)));
            }
        }
        if self.shares.len() > SWEEP_THRESHOLD {
            self.shares.retain(|_, c| !c.is_stale(now));
            if self.shares.len() > SWEEP_THRESHOLD {
                self.shares.clear();
            }
        }
        if self.known.len() > SWEEP_THRESHOLD {
            self.known
                .retain(|_, at| now - *at < KNOWN_ADDRESS_LIFETIME);
            if self.known.len() > SWEEP_THRESHOLD {
                self.known.clear();
            }
        }
    }

    /// Takes the failures of `own` against `target` away from every count they are in.
    fn forgive_share(&mut self, own: Network, target: &LoginTarget, now: i64) {
        let Some(share) = self.shares.remove(&(own, target.clone())) else {
            return;
        };
        if let Some(counters) = self.targets.get_mut(target) {
            counters.forgive(&share, now);
        }
        for key in keys(own.address) {
            if let Some(counters) = self.networks.get_mut(&key) {
                counters.forgive(&share, now);
            }
        }
    }
}

/// The limiter, shared by every protocol and connection.
#[derive(Debug)]
pub struct FailureLimiter {
    limits: [[u32; 3]; 2],
    account_limits: [u32; 2],
    trusted: Vec<Network>,
    state: Mutex<State>,
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
            account_limits: [config.account_per_minute, config.account_per_day],
            trusted,
            state: Mutex::new(State::default()),
        })
    }

    fn is_trusted(&self, ip: IpAddr) -> bool {
        let ip = ip.to_canonical();
        self.trusted.iter().any(|n| n.contains(ip))
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        // A panic while holding the lock cannot leave the counters inconsistent in a way
        // that matters; keep serving.
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn network_limits(&self, level: u8) -> [u32; 2] {
        [0, 1].map(|w| self.limits[w][usize::from(level)])
    }

    /// Whether one more failure from `ip` would pass an address limit: then authd
    /// refuses without checking credentials.
    pub fn is_limited(&self, ip: IpAddr, now: i64) -> bool {
        if self.is_trusted(ip) {
            return false;
        }
        let state = self.lock();
        keys(ip).iter().any(|key| {
            state
                .networks
                .get(key)
                .is_some_and(|c| c.reached(self.network_limits(key.level), now))
        })
    }

    /// Whether a password guess from `ip` against `target` is refused: the target
    /// reached its own limit, and `ip` did not log in to it in the last
    /// [`KNOWN_ADDRESS_LIFETIME`].
    pub fn is_guessing_limited(&self, ip: IpAddr, target: &LoginTarget, now: i64) -> bool {
        if self.is_trusted(ip) {
            return false;
        }
        let state = self.lock();
        let reached = state
            .targets
            .get(target)
            .is_some_and(|c| c.reached(self.account_limits, now));
        if !reached {
            return false;
        }
        match target {
            LoginTarget::Account(account) => state
                .known
                .get(&(own_network(ip), account.clone()))
                .is_none_or(|at| now - *at >= KNOWN_ADDRESS_LIFETIME),
            LoginTarget::UnknownName(_) => true,
        }
    }

    /// Counts a failed login from `ip`, against `target` when the login named one.
    pub fn record_failure(&self, ip: IpAddr, target: Option<&LoginTarget>, now: i64) {
        if self.is_trusted(ip) {
            return;
        }
        let mut state = self.lock();
        state.sweep(now);
        for key in keys(ip) {
            state.networks.entry(key).or_default().count_one(now);
        }
        if let Some(target) = target {
            state
                .targets
                .entry(target.clone())
                .or_default()
                .count_one(now);
            state
                .shares
                .entry((own_network(ip), target.clone()))
                .or_default()
                .count_one(now);
        }
    }

    /// Counts the result of a login from `ip` against `target`: a success forgives
    /// that address's failures against that account, a wrong credential counts,
    /// anything else (malformed, aborted, rate limited) does not count.
    pub fn record_result(&self, ip: IpAddr, target: &LoginTarget, result: LoginResult, now: i64) {
        match result {
            LoginResult::Ok => {
                if let LoginTarget::Account(account) = target {
                    self.record_success(ip, account, now);
                }
            }
            LoginResult::BadCredentials
            | LoginResult::UnknownUser
            | LoginResult::BadChannelBinding => self.record_failure(ip, Some(target), now),
            _ => {}
        }
    }

    /// A success from `ip` for `account`: the failures of that address against that
    /// account no longer count, and the address is known to the account.
    pub fn record_success(&self, ip: IpAddr, account: &str, now: i64) {
        if self.is_trusted(ip) {
            return;
        }
        let own = own_network(ip);
        let mut state = self.lock();
        state.sweep(now);
        state.forgive_share(own, &LoginTarget::Account(account.to_string()), now);
        state.known.insert((own, account.to_string()), now);
    }

    /// Lifts blocks: of one address (every count loses its failures), or all.
    pub fn clear(&self, ip: Option<IpAddr>, now: i64) {
        let mut state = self.lock();
        let Some(ip) = ip else {
            state.networks.clear();
            state.targets.clear();
            state.shares.clear();
            return;
        };
        let own = own_network(ip);
        let targets: Vec<LoginTarget> = state
            .shares
            .keys()
            .filter(|(network, _)| *network == own)
            .map(|(_, target)| target.clone())
            .collect();
        for target in &targets {
            state.forgive_share(own, target, now);
        }
        // Failures without a target (unknown certificates, bad web sessions).
        let [own_key, wider @ ..] = keys(ip);
        if let Some(rest) = state.networks.remove(&own_key) {
            for key in wider {
                if let Some(counters) = state.networks.get_mut(&key) {
                    counters.forgive(&rest, now);
                }
            }
        }
    }

    /// Networks and accounts that are refused now, with their counts.
    pub fn blocks(&self, now: i64) -> Vec<RateLimitBlock> {
        let state = self.lock();
        let mut blocks = Vec::new();
        let mut add = |name: String, counters: &Counters, limits: [u32; 2]| {
            for (w, (length, window)) in WINDOWS.iter().enumerate() {
                let failures = counters.current(w, now);
                if failures >= limits[w] {
                    blocks.push(RateLimitBlock {
                        network: name.clone(),
                        window: (*window).to_string(),
                        failures,
                        limit: limits[w],
                        until: (now.div_euclid(*length) + 1) * length,
                    });
                }
            }
        };
        for (key, counters) in &state.networks {
            let name = format!("{}/{}", key.network.address, key.network.prefix);
            add(name, counters, self.network_limits(key.level));
        }
        for (target, counters) in &state.targets {
            let name = match target {
                LoginTarget::Account(account) => format!("account {account}"),
                LoginTarget::UnknownName(name) => format!("login name {name:?}"),
            };
            add(name, counters, self.account_limits);
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

    fn account(name: &str) -> LoginTarget {
        LoginTarget::Account(name.into())
    }

    const T: i64 = 1_800_000_000; // a minute boundary: 1.8e9 is divisible by 60

    #[test]
    fn one_address_is_limited_after_ten_failures_a_minute() {
        let l = limiter(&[]);
        for i in 0..10 {
            assert!(!l.is_limited(ip("192.0.2.1"), T + i), "limited after {i}");
            l.record_failure(ip("192.0.2.1"), None, T + i);
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
                l.record_failure(ip(&format!("198.51.100.{host}")), None, T);
            }
        }
        assert!(l.is_limited(ip("198.51.100.60"), T), "/26 limit");
        assert!(!l.is_limited(ip("198.51.100.64"), T), "next /26 is free");
        // /21: 90 a minute over several /26s.
        let l = limiter(&[]);
        for net in 0..3 {
            for host in 0..29 {
                l.record_failure(ip(&format!("203.0.{}.{}", 112 + net, host)), None, T);
            }
        }
        l.record_failure(ip("203.0.115.1"), None, T);
        l.record_failure(ip("203.0.115.2"), None, T);
        l.record_failure(ip("203.0.115.3"), None, T);
        assert!(l.is_limited(ip("203.0.118.200"), T), "/21 limit");
        assert!(!l.is_limited(ip("203.0.120.1"), T), "outside the /21");
    }

    #[test]
    fn ipv6_prefixes() {
        let l = limiter(&[]);
        for i in 0..10 {
            l.record_failure(ip(&format!("2001:db8:1:2::{i:x}")), None, T);
        }
        assert!(l.is_limited(ip("2001:db8:1:2::ffff"), T), "same /64");
        assert!(!l.is_limited(ip("2001:db8:1:3::1"), T), "other /64");
        for i in 0..20 {
            l.record_failure(ip(&format!("2001:db8:1:{:x}::1", 100 + i)), None, T);
        }
        assert!(l.is_limited(ip("2001:db8:1:ffff::1"), T), "same /48 (30)");
        assert!(!l.is_limited(ip("2001:db8:2::1"), T), "other /48");
        // IPv4-mapped addresses count as IPv4.
        for _ in 0..10 {
            l.record_failure(ip("::ffff:192.0.2.9"), None, T);
        }
        assert!(l.is_limited(ip("192.0.2.9"), T));
    }

    #[test]
    fn day_limit() {
        let l = limiter(&[]);
        for minute in 0..5 {
            for _ in 0..10 {
                l.record_failure(ip("192.0.2.1"), None, T + minute * 60);
            }
        }
        assert!(l.is_limited(ip("192.0.2.1"), T + 3600), "50 a day");
        assert!(!l.is_limited(ip("192.0.2.1"), T + 86_400 * 2));
    }

    #[test]
    fn a_success_forgives_its_own_accounts_failures_from_its_address() {
        let l = limiter(&[]);
        // The user mistyped 9 times, then got it right: nothing of that counts.
        for _ in 0..9 {
            l.record_result(
                ip("192.0.2.1"),
                &account("mjl"),
                LoginResult::BadCredentials,
                T,
            );
        }
        l.record_result(ip("192.0.2.1"), &account("mjl"), LoginResult::Ok, T);
        for _ in 0..9 {
            l.record_result(
                ip("192.0.2.1"),
                &account("mjl"),
                LoginResult::BadCredentials,
                T,
            );
        }
        assert!(!l.is_limited(ip("192.0.2.1"), T));
        l.record_result(ip("192.0.2.1"), &account("mjl"), LoginResult::Ok, T);
        // Its share left the wider networks and the account too.
        for host in 2..31 {
            l.record_failure(ip(&format!("192.0.2.{host}")), None, T);
        }
        assert!(!l.is_limited(ip("192.0.2.40"), T), "/26 has 29");
        assert!(l.blocks(T).is_empty(), "{:?}", l.blocks(T));
    }

    #[test]
    fn a_success_does_not_forgive_guesses_against_another_account() {
        // The attack: 9 guesses for the victim, 1 login to the attacker's own account,
        // again and again from one address.
        let l = limiter(&[]);
        let attacker = ip("192.0.2.66");
        let mut guesses = 0;
        'attack: for _round in 0..20 {
            for _ in 0..9 {
                if l.is_limited(attacker, T) {
                    break 'attack;
                }
                l.record_result(attacker, &account("victim"), LoginResult::BadCredentials, T);
                guesses += 1;
            }
            if l.is_limited(attacker, T) {
                break;
            }
            l.record_result(attacker, &account("attacker"), LoginResult::Ok, T);
        }
        assert_eq!(guesses, 10, "the per-address limit stops it at 10 a minute");
        assert!(l.is_limited(attacker, T));
        // Unknown login names are not forgiven either.
        let l = limiter(&[]);
        for _ in 0..10 {
            l.record_result(
                attacker,
                &LoginTarget::of(None, "Nobody@Example.org"),
                LoginResult::UnknownUser,
                T,
            );
            l.record_result(attacker, &account("attacker"), LoginResult::Ok, T);
        }
        assert!(l.is_limited(attacker, T));
    }

    #[test]
    fn guessing_against_one_account_from_many_addresses_is_limited() {
        let l = limiter(&[]);
        // The owner logs in from home first.
        let home = ip("198.51.100.7");
        l.record_result(home, &account("victim"), LoginResult::Ok, T);
        // One guess each from 20 addresses in different networks: no address limit is
        // near, but the account's is reached.
        for i in 0..20 {
            let bot = ip(&format!("203.0.{}.1", i * 8));
            assert!(!l.is_guessing_limited(bot, &account("victim"), T), "at {i}");
            l.record_result(bot, &account("victim"), LoginResult::BadCredentials, T);
            assert!(!l.is_limited(bot, T));
        }
        let next_bot = ip("192.0.2.200");
        assert!(l.is_guessing_limited(next_bot, &account("victim"), T));
        // The owner's known address still gets through; other accounts are untouched.
        assert!(!l.is_guessing_limited(home, &account("victim"), T));
        assert!(!l.is_guessing_limited(next_bot, &account("other"), T));
        let blocks = l.blocks(T);
        assert_eq!(blocks.len(), 1, "{blocks:?}");
        assert_eq!(blocks[0].network, "account victim");
        assert_eq!((blocks[0].failures, blocks[0].limit), (20, 20));
        // The day limit outlasts the minute.
        for minute in 1..5 {
            for i in 0..20 {
                let bot = ip(&format!("203.1.{}.1", i * 8));
                l.record_result(
                    bot,
                    &account("victim"),
                    LoginResult::BadCredentials,
                    T + minute * 60,
                );
            }
        }
        assert!(l.is_guessing_limited(next_bot, &account("victim"), T + 3600));
        assert!(!l.is_guessing_limited(home, &account("victim"), T + 3600));
        assert!(!l.is_guessing_limited(next_bot, &account("victim"), T + 86_400));
        // Unknown names are limited the same way, so a refusal does not tell that an
        // account exists.
        for i in 0..20 {
            let bot = ip(&format!("203.2.{}.1", i * 8));
            l.record_result(
                bot,
                &LoginTarget::of(None, "ghost@example.org"),
                LoginResult::UnknownUser,
                T,
            );
        }
        assert!(l.is_guessing_limited(next_bot, &LoginTarget::of(None, "GHOST@example.org"), T));
    }

    #[test]
    fn clearing_an_address_takes_all_its_failures_away() {
        let l = limiter(&[]);
        for _ in 0..5 {
            l.record_result(
                ip("192.0.2.1"),
                &account("a"),
                LoginResult::BadCredentials,
                T,
            );
            l.record_failure(ip("192.0.2.1"), None, T);
        }
        for host in 2..22 {
            l.record_failure(ip(&format!("192.0.2.{host}")), None, T);
        }
        assert!(l.is_limited(ip("192.0.2.1"), T));
        assert!(l.is_limited(ip("192.0.2.30"), T), "/26 has 30");
        l.clear(Some(ip("192.0.2.1")), T);
        assert!(!l.is_limited(ip("192.0.2.1"), T));
        assert!(!l.is_limited(ip("192.0.2.30"), T), "its share left the /26");
        l.clear(None, T);
        assert!(l.blocks(T).is_empty());
    }

    #[test]
    fn trusted_networks_are_exempt() {
        let l = limiter(&["10.0.0.0/8", "2001:db8::/32"]);
        for _ in 0..100 {
            l.record_result(
                ip("10.1.2.3"),
                &account("a"),
                LoginResult::BadCredentials,
                T,
            );
            l.record_failure(ip("2001:db8::1"), None, T);
        }
        assert!(!l.is_limited(ip("10.1.2.3"), T));
        assert!(!l.is_limited(ip("2001:db8::1"), T));
        assert!(!l.is_guessing_limited(ip("192.0.2.1"), &account("a"), T));
        assert!(
            FailureLimiter::new(&RateLimitConfig {
                trusted_networks: vec!["nonsense".into()],
                ..RateLimitConfig::default()
            })
            .is_err()
        );
    }
}
