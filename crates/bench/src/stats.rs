//! Percentiles, medians, and a minimal metrics recorder that reads the store's group-commit
//! batch sizes (`labledger_store_group_commit_jobs`).

use metrics::{
    Counter, Gauge, Histogram, HistogramFn, Key, KeyName, Metadata, Recorder, SharedString, Unit,
};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, OnceLock};
use std::time::Duration;

/// Nearest-rank percentile of sorted durations (`p` in 0..=100).
pub(crate) fn percentile(sorted: &[Duration], p: f64) -> Duration {
    if sorted.is_empty() {
        return Duration::ZERO;
    }
    let rank = ((p / 100.0) * sorted.len() as f64).ceil() as usize;
    let index = rank.clamp(1, sorted.len()) - 1;
    sorted.get(index).copied().unwrap_or_default()
}

/// Median of a few measurements.
pub(crate) fn median(mut values: Vec<Duration>) -> Duration {
    values.sort();
    percentile(&values, 50.0)
}

pub(crate) fn ms(d: Duration) -> String {
    format!("{:.2} ms", d.as_secs_f64() * 1e3)
}

/// Group-commit batches seen since the last [`BatchStats::take`].
#[derive(Default)]
pub(crate) struct BatchStats {
    batches: AtomicU64,
    jobs: AtomicU64,
    largest: AtomicU64,
}

impl BatchStats {
    /// (commits, jobs committed, largest batch), resetting the counts.
    pub(crate) fn take(&self) -> (u64, u64, u64) {
        (
            self.batches.swap(0, Ordering::Relaxed),
            self.jobs.swap(0, Ordering::Relaxed),
            self.largest.swap(0, Ordering::Relaxed),
        )
    }
}

impl HistogramFn for BatchStats {
    fn record(&self, value: f64) {
        let jobs = value as u64;
        self.batches.fetch_add(1, Ordering::Relaxed);
        self.jobs.fetch_add(jobs, Ordering::Relaxed);
        self.largest.fetch_max(jobs, Ordering::Relaxed);
    }
}

struct BatchRecorder(Arc<BatchStats>);

impl Recorder for BatchRecorder {
    fn describe_counter(&self, _: KeyName, _: Option<Unit>, _: SharedString) {}
    fn describe_gauge(&self, _: KeyName, _: Option<Unit>, _: SharedString) {}
    fn describe_histogram(&self, _: KeyName, _: Option<Unit>, _: SharedString) {}
    fn register_counter(&self, _: &Key, _: &Metadata<'_>) -> Counter {
        Counter::noop()
    }
    fn register_gauge(&self, _: &Key, _: &Metadata<'_>) -> Gauge {
        Gauge::noop()
    }
    fn register_histogram(&self, key: &Key, _: &Metadata<'_>) -> Histogram {
        if key.name() == "labledger_store_group_commit_jobs" {
            Histogram::from_arc(self.0.clone())
        } else {
            Histogram::noop()
        }
    }
}

/// The process-wide batch statistics, installing the recorder on first use.
pub(crate) fn batches() -> Arc<BatchStats> {
    static STATS: OnceLock<Arc<BatchStats>> = OnceLock::new();
    STATS
        .get_or_init(|| {
            let stats = Arc::new(BatchStats::default());
            // Fails only if another recorder is installed, and this binary installs none.
            let _ = metrics::set_global_recorder(BatchRecorder(stats.clone()));
            stats
        })
        .clone()
}

/// CPU time (user + system) this process has used, from /proc/self/stat (Linux; USER_HZ = 100).
pub(crate) fn process_cpu() -> Duration {
    let Ok(stat) = std::fs::read_to_string("/proc/self/stat") else {
        return Duration::ZERO;
    };
    // Fields after the parenthesised command name; utime and stime are fields 14 and 15.
    let Some((_, rest)) = stat.rsplit_once(')') else {
        return Duration::ZERO;
    };
    let mut fields = rest.split_whitespace().skip(11);
    let utime: u64 = fields.next().and_then(|f| f.parse().ok()).unwrap_or(0);
    let stime: u64 = fields.next().and_then(|f| f.parse().ok()).unwrap_or(0);
    Duration::from_millis((utime + stime) * 10)
}
