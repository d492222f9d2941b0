//! When a recipient that failed temporarily is tried again, and when it gives up.

use postern_config::delivery::DeliveryConfig;

/// The retry timing from `[submitd.delivery]`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RetrySchedule {
    /// Interval after the first failed attempt, seconds.
    pub first: u64,
    /// Longest interval, seconds.
    pub max_interval: u64,
    /// Seconds after reception at which temporary failures become permanent.
    pub give_up_after: u64,
}

impl RetrySchedule {
    /// The schedule configured in `config`.
    pub fn from_config(config: &DeliveryConfig) -> RetrySchedule {
        RetrySchedule {
            first: config.retry_first_seconds.max(1),
            max_interval: config.retry_max_interval_seconds.max(1),
            give_up_after: config.give_up_after_seconds,
        }
    }

    /// Seconds to wait after failed attempt number `attempts` (1 for the first):
    /// `first × 2^(attempts−1)`, at most `max_interval`, plus up to 1/16 jitter so that
    /// messages failing together do not retry in lockstep.
    pub fn interval(&self, attempts: u32, jitter_seed: u64) -> u64 {
        let doublings = attempts.saturating_sub(1).min(40);
        let base = self
            .first
            .saturating_mul(1u64 << doublings)
            .min(self.max_interval);
        let jitter_span = (base / 16).max(1);
        base.saturating_add(jitter_seed % jitter_span)
    }

    /// Whether a message received at `received` has been retried long enough by `now`.
    pub fn expired(&self, received: i64, now: i64) -> bool {
        let age = now.saturating_sub(received);
        age >= 0 && u64::try_from(age).unwrap_or(0) >= self.give_up_after
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn intervals_double_up_to_the_maximum() {
        let s = RetrySchedule::from_config(&DeliveryConfig::default());
        assert_eq!(s.interval(1, 0), 450);
        assert_eq!(s.interval(2, 0), 900);
        assert_eq!(s.interval(5, 0), 7200);
        assert_eq!(s.interval(9, 0), 57600);
        assert_eq!(s.interval(30, 0), 57600);
        assert!(s.interval(1, 27) < 450 + 450 / 16 + 1);
    }

    #[test]
    fn expiry_follows_the_age() {
        let s = RetrySchedule::from_config(&DeliveryConfig::default());
        assert!(!s.expired(1000, 1000 + 4 * 86400));
        assert!(s.expired(1000, 1000 + 5 * 86400));
    }
}
