//! argon2id checks off the async executor, bounded by a semaphore, with a short-lived
//! cache of successful checks keyed by a keyed hash (never the password).

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use hmac::{Hmac, KeyInit as _, Mac as _};
use sha2::Sha256;
use tokio::sync::Semaphore;

use crate::password::{Argon2Cost, PasswordVerifiers, random_bytes, verify_argon2};

/// How long a successful check is remembered.
pub const CACHE_LIFETIME: Duration = Duration::from_secs(15 * 60);
/// Entries the cache holds at most; it is emptied when full.
pub const CACHE_CAPACITY: usize = 10_000;

/// Checks passwords against argon2id hashes.
pub struct PasswordChecker {
    secret: [u8; 32],
    permits: Semaphore,
    cache: Mutex<HashMap<[u8; 32], Instant>>,
    dummy_phc: String,
}

impl PasswordChecker {
    /// A checker running at most `parallel` hashes at once. Makes a dummy hash with the
    /// configured cost, checked for unknown users so they take as long as known ones.
    pub fn new(
        secret: [u8; 32],
        cost: Argon2Cost,
        parallel: usize,
    ) -> Result<PasswordChecker, String> {
        let throwaway = String::from_utf8_lossy(&random_bytes(12)).into_owned() + "dummy pw";
        let dummy = PasswordVerifiers::derive(&throwaway, cost).map_err(|e| e.to_string())?;
        Ok(PasswordChecker {
            secret,
            permits: Semaphore::new(parallel.max(1)),
            cache: Mutex::new(HashMap::new()),
            dummy_phc: dummy.argon2id,
        })
    }

    fn cache_key(&self, account: &str, phc: &str, password: &str) -> [u8; 32] {
        let mut mac =
            <Hmac<Sha256>>::new_from_slice(&self.secret).expect("HMAC takes any key length");
        for part in [account, phc, password] {
            mac.update(&(part.len() as u64).to_le_bytes());
            mac.update(part.as_bytes());
        }
        mac.finalize().into_bytes().into()
    }

    fn cached(&self, key: &[u8; 32]) -> bool {
        let cache = self.cache.lock().unwrap_or_else(|e| e.into_inner());
        cache
            .get(key)
            .is_some_and(|at| at.elapsed() < CACHE_LIFETIME)
    }

    fn remember(&self, key: [u8; 32]) {
        let mut cache = self.cache.lock().unwrap_or_else(|e| e.into_inner());
        if cache.len() >= CACHE_CAPACITY {
            cache.retain(|_, at| at.elapsed() < CACHE_LIFETIME);
            if cache.len() >= CACHE_CAPACITY {
                cache.clear();
            }
        }
        cache.insert(key, Instant::now());
    }

    /// Whether `password` (PRECIS-prepared, or `None` when PRECIS refused it) matches
    /// the account's hash. Unknown accounts and refused passwords take the same time.
    pub async fn check(
        self: &Arc<Self>,
        account: Option<&str>,
        phc: Option<&str>,
        password: Option<&str>,
    ) -> bool {
        let (Some(account), Some(phc), Some(password)) = (account, phc, password) else {
            self.burn().await;
            return false;
        };
        let key = self.cache_key(account, phc, password);
        if self.cached(&key) {
            return true;
        }
        let Ok(_permit) = self.permits.acquire().await else {
            return false;
        };
        let (phc, password) = (
            phc.to_string(),
            zeroize::Zeroizing::new(password.to_string()),
        );
        let ok = tokio::task::spawn_blocking(move || verify_argon2(&phc, &password))
            .await
            .unwrap_or(false);
        if ok {
            self.remember(key);
        }
        ok
    }

    /// Spends the time of one real check.
    async fn burn(self: &Arc<Self>) {
        let Ok(_permit) = self.permits.acquire().await else {
            return;
        };
        let phc = self.dummy_phc.clone();
        let _ = tokio::task::spawn_blocking(move || verify_argon2(&phc, "not the password")).await;
    }
}
