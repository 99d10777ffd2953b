//! Progress of a long backup or restore on stderr: a line every few seconds.

use std::time::{Duration, Instant};

const EVERY: Duration = Duration::from_secs(2);

pub struct Progress {
    verb: &'static str,
    enabled: bool,
    started: Instant,
    last: Instant,
}

impl Progress {
    pub fn new(verb: &'static str) -> Self {
        let now = Instant::now();
        Self {
            verb,
            enabled: true,
            started: now,
            last: now,
        }
    }

    pub fn quiet() -> Self {
        Self {
            enabled: false,
            ..Self::new("")
        }
    }

    pub fn tick(&mut self, entries: u64, bytes: u64) {
        if self.enabled && self.last.elapsed() >= EVERY {
            self.last = Instant::now();
            eprintln!(
                "{}: {entries} entries, {:.1} MiB, {:.0?} so far",
                self.verb,
                bytes as f64 / 1_048_576.0,
                self.started.elapsed()
            );
        }
    }

    pub fn done(&mut self, bytes: u64) {
        if self.enabled && self.started.elapsed() >= EVERY {
            eprintln!(
                "{}: done, {:.1} MiB in {:.1?}",
                self.verb,
                bytes as f64 / 1_048_576.0,
                self.started.elapsed()
            );
        }
    }
}
