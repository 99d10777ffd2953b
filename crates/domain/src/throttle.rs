//! Throttling of password guesses: counters of failures (kept in the database, so every node
//! sharing it agrees) decide whether an attempt may even be checked. Pure: the store reads and
//! writes the counters, this decides.
//!
//! - The first `free_failures` failures cost nothing.
//! - From then on each attempt must wait an exponential back-off after the last failure:
//!   1 s, 2 s, 4 s, … capped at `max_backoff_secs`.
//! - A lockable counter that reaches `lockout_failures` failures is locked for `lockout_secs`;
//!   once the lock has passed, its counter starts afresh.
//! - Failures older than `forget_after_secs` are forgotten.
//! - Only attempts that were checked count: one refused by the throttle (429) counts nothing,
//!   so requests that were never checked cannot push an account into a lock.
//!
//! Three counters with their own policy ([`ThrottlePolicies`]) judge each attempt: the
//! (account, address) pair locks quickly; the account across all addresses backs off and
//! locks only much later (so guesses from elsewhere cannot quickly lock a person out of their
//! own address, yet a botnet spread over many addresses still meets a limit); the address over
//! all accounts only backs off (a shared NAT or proxy is never locked).

use crate::Timestamp;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ThrottlePolicy {
    pub free_failures: u32,
    pub lockout_failures: u32,
    pub lockout_secs: i64,
    pub max_backoff_secs: i64,
    pub forget_after_secs: i64,
}

impl Default for ThrottlePolicy {
    fn default() -> Self {
        Self {
            free_failures: 5,
            lockout_failures: 10,
            lockout_secs: 15 * 60,
            max_backoff_secs: 5 * 60,
            forget_after_secs: 15 * 60,
        }
    }
}

/// The policy of each counter an attempt is judged by.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ThrottlePolicies {
    /// One account from one address.
    pub pair: ThrottlePolicy,
    /// One account from all addresses together.
    pub account: ThrottlePolicy,
    /// One address against all accounts (never locks).
    pub address: ThrottlePolicy,
}

impl ThrottlePolicies {
    /// From the operator's settings: the pair's free failures, lock threshold and lock time;
    /// and the account-wide lock threshold (which also sets its free failures, a fifth of it).
    pub fn new(
        free_failures: u32,
        pair_lockout_failures: u32,
        account_lockout_failures: u32,
        lockout_secs: i64,
    ) -> Self {
        let pair = ThrottlePolicy {
            free_failures,
            lockout_failures: pair_lockout_failures.max(1),
            lockout_secs: lockout_secs.max(1),
            forget_after_secs: lockout_secs.max(1),
            ..ThrottlePolicy::default()
        };
        let account_lockout = account_lockout_failures.max(pair.lockout_failures);
        Self {
            pair,
            account: ThrottlePolicy {
                free_failures: (account_lockout / 5).max(free_failures),
                lockout_failures: account_lockout,
                // Slow enough to stop a spread-out guesser, short enough not to shut the person out.
                max_backoff_secs: 60,
                ..pair
            },
            address: ThrottlePolicy {
                free_failures: free_failures.saturating_mul(4),
                ..pair
            },
        }
    }
}

impl Default for ThrottlePolicies {
    fn default() -> Self {
        Self::new(5, 10, 100, 15 * 60)
    }
}

/// One key's counter as stored.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Counter {
    pub failures: u32,
    pub last_failure_at: Timestamp,
    pub locked_until: Option<Timestamp>,
}

/// What the counters say about an attempt made now.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Decision {
    Allow,
    /// Back off: retry after this many seconds.
    Throttled {
        retry_after_secs: i64,
    },
    /// The account is locked until then.
    Locked {
        retry_after_secs: i64,
    },
}

impl Decision {
    pub fn retry_after_secs(self) -> Option<i64> {
        match self {
            Decision::Allow => None,
            Decision::Throttled { retry_after_secs } | Decision::Locked { retry_after_secs } => {
                Some(retry_after_secs)
            }
        }
    }

    /// The stricter of two decisions (the longer wait; a lock over a back-off).
    pub fn max(self, other: Decision) -> Decision {
        match (self.retry_after_secs(), other.retry_after_secs()) {
            (None, _) => other,
            (_, None) => self,
            (Some(a), Some(b)) => match (self, other) {
                (Decision::Locked { .. }, Decision::Throttled { .. }) => self,
                (Decision::Throttled { .. }, Decision::Locked { .. }) => other,
                _ if b > a => other,
                _ => self,
            },
        }
    }
}

fn ceil_secs(micros: i64) -> i64 {
    (micros.max(0) + 999_999) / 1_000_000
}

impl ThrottlePolicy {
    /// The counter as it stands now: a passed lock or stale failures are forgotten.
    pub fn current(&self, c: Counter, now: Timestamp) -> Counter {
        if let Some(until) = c.locked_until {
            if now >= until {
                return Counter::default();
            }
            return c;
        }
        if now.micros() - c.last_failure_at.micros()
            > self.forget_after_secs.saturating_mul(1_000_000)
        {
            return Counter::default();
        }
        c
    }

    /// The back-off after `failures` failures, in seconds (0 while still free).
    pub fn backoff_secs(&self, failures: u32) -> i64 {
        if failures < self.free_failures {
            return 0;
        }
        let exp = (failures - self.free_failures).min(40);
        (1i64 << exp).min(self.max_backoff_secs.max(1))
    }

    /// May an attempt be checked now?
    pub fn decide(&self, c: Counter, now: Timestamp) -> Decision {
        let c = self.current(c, now);
        if let Some(until) = c.locked_until {
            return Decision::Locked {
                retry_after_secs: ceil_secs(until.micros() - now.micros()).max(1),
            };
        }
        let wait = self.backoff_secs(c.failures);
        if wait == 0 {
            return Decision::Allow;
        }
        let ready = c.last_failure_at.plus_secs(wait);
        if now >= ready {
            Decision::Allow
        } else {
            Decision::Throttled {
                retry_after_secs: ceil_secs(ready.micros() - now.micros()).max(1),
            }
        }
    }

    /// The counter after a failure now. `lockable` is true for accounts (not for addresses).
    /// Returns the new counter and whether this failure locked it.
    pub fn after_failure(&self, c: Counter, now: Timestamp, lockable: bool) -> (Counter, bool) {
        let c = self.current(c, now);
        if c.locked_until.is_some() {
            return (c, false);
        }
        let failures = c.failures.saturating_add(1);
        let lock = lockable && failures >= self.lockout_failures;
        (
            Counter {
                failures,
                last_failure_at: now,
                locked_until: lock.then(|| now.plus_secs(self.lockout_secs)),
            },
            lock,
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(secs: i64) -> Timestamp {
        Timestamp::from_micros(1_700_000_000_000_000 + secs * 1_000_000)
    }

    fn fail(p: &ThrottlePolicy, c: Counter, secs: i64, lockable: bool) -> Counter {
        p.after_failure(c, at(secs), lockable).0
    }

    #[test]
    fn five_free_failures_then_exponential_backoff_capped() {
        let p = ThrottlePolicy::default();
        let mut c = Counter::default();
        for i in 0..5 {
            assert_eq!(p.decide(c, at(i)), Decision::Allow, "failure {i} is free");
            c = fail(&p, c, i, false);
        }
        // Five failures, the last at t=4: wait 1 s.
        assert_eq!(
            p.decide(c, at(4)),
            Decision::Throttled {
                retry_after_secs: 1
            }
        );
        assert_eq!(p.decide(c, at(5)), Decision::Allow);
        c = fail(&p, c, 5, false);
        assert_eq!(
            p.decide(c, at(5)),
            Decision::Throttled {
                retry_after_secs: 2
            }
        );
        c = fail(&p, c, 7, false);
        assert_eq!(
            p.decide(c, at(7)),
            Decision::Throttled {
                retry_after_secs: 4
            }
        );
        assert_eq!(p.backoff_secs(5), 1);
        assert_eq!(p.backoff_secs(8), 8);
        assert_eq!(p.backoff_secs(30), p.max_backoff_secs);
        assert_eq!(p.backoff_secs(u32::MAX), p.max_backoff_secs);
    }

    #[test]
    fn accounts_lock_after_ten_failures_and_unlock_when_the_lock_passes() {
        let p = ThrottlePolicy::default();
        let mut c = Counter::default();
        let mut locked = false;
        for i in 0..10 {
            let (next, l) = p.after_failure(c, at(i), true);
            c = next;
            locked = l;
        }
        assert!(locked, "the tenth failure locks");
        assert_eq!(
            p.decide(c, at(9)),
            Decision::Locked {
                retry_after_secs: 900
            }
        );
        assert_eq!(
            p.decide(c, at(9 + 899)),
            Decision::Locked {
                retry_after_secs: 1
            }
        );
        // Further failures while locked neither extend nor re-lock.
        let (same, relocked) = p.after_failure(c, at(100), true);
        assert_eq!(same, c);
        assert!(!relocked);
        // Once passed, the counter starts afresh.
        assert_eq!(p.decide(c, at(9 + 900)), Decision::Allow);
        assert_eq!(p.after_failure(c, at(9 + 900), true).0.failures, 1);
    }

    #[test]
    fn addresses_never_lock_and_stale_failures_are_forgotten() {
        let p = ThrottlePolicy::default();
        let mut c = Counter::default();
        for i in 0..50 {
            c = fail(&p, c, i, false);
        }
        assert_eq!(c.locked_until, None);
        assert_eq!(
            p.decide(c, at(49)),
            Decision::Throttled {
                retry_after_secs: 300
            }
        );
        assert_eq!(p.decide(c, at(49 + 15 * 60 + 1)), Decision::Allow);
    }

    #[test]
    fn the_pair_locks_early_the_account_late_and_the_address_never() {
        let p = ThrottlePolicies::default();
        assert_eq!(p.pair, ThrottlePolicy::default());
        assert_eq!(
            (p.account.free_failures, p.account.lockout_failures),
            (20, 100)
        );
        assert_eq!(p.account.max_backoff_secs, 60);
        assert_eq!(p.address.free_failures, 20);
        let (mut pair, mut account, mut address) =
            (Counter::default(), Counter::default(), Counter::default());
        for i in 0..10 {
            pair = fail(&p.pair, pair, i, true);
            account = fail(&p.account, account, i, true);
            address = fail(&p.address, address, i, false);
        }
        assert!(matches!(
            p.pair.decide(pair, at(10)),
            Decision::Locked { .. }
        ));
        assert_eq!(p.account.decide(account, at(10)), Decision::Allow);
        assert_eq!(p.address.decide(address, at(10)), Decision::Allow);
        // The account locks only at its own, higher threshold.
        for i in 10..100 {
            account = fail(&p.account, account, i, true);
        }
        assert!(account.locked_until.is_some());
        // Settings: the account threshold is never below the pair's.
        let odd = ThrottlePolicies::new(10, 10, 3, 60);
        assert_eq!(odd.account.lockout_failures, 10);
        assert_eq!(odd.account.free_failures, 10);
    }

    #[test]
    fn the_stricter_decision_wins() {
        let t = Decision::Throttled {
            retry_after_secs: 4,
        };
        let l = Decision::Locked {
            retry_after_secs: 2,
        };
        assert_eq!(Decision::Allow.max(t), t);
        assert_eq!(t.max(Decision::Allow), t);
        assert_eq!(t.max(l), l);
        assert_eq!(l.max(t), l);
        assert_eq!(
            t.max(Decision::Throttled {
                retry_after_secs: 9
            })
            .retry_after_secs(),
            Some(9)
        );
    }
}
