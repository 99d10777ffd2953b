//! A short memory of who a credential is and what they may do in an org, so a request does not
//! read the session, the membership, the roles, the org's policy and its sample fields again on
//! every call.
//!
//! Correctness first. Every write that could change an answer bumps a generation counter when
//! it commits (every write outside an org, and every org write recording an event that is not
//! plainly about lab records: see `touches_access`); an answer is remembered with the generation
//! read *before* its query ran and used only while the generation is unchanged, so a revoked
//! session, a removed member or a changed role stops working at once on this node. Changes made
//! by another node or an operator command reach this node within [`REMEMBER_FOR`].

use std::collections::HashMap;
use std::hash::Hash;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// The longest an answer is used without reading it again (the bound for changes this node did
/// not make).
pub const REMEMBER_FOR: Duration = Duration::from_secs(1);

/// How many answers of one kind are kept; past that the oldest half is forgotten.
const CAPACITY: usize = 4096;

/// The generation a reader saw before it queried.
#[derive(Clone, Copy)]
pub(crate) struct Generation(u64);

#[derive(Default)]
pub(crate) struct Recall {
    generation: AtomicU64,
}

impl Recall {
    pub(crate) fn generation(&self) -> Generation {
        Generation(self.generation.load(Ordering::Acquire))
    }

    /// Forgets every answer (a write that may change one has committed).
    pub(crate) fn forget_all(&self) {
        self.generation.fetch_add(1, Ordering::AcqRel);
    }

    fn current(&self, g: Generation) -> bool {
        self.generation.load(Ordering::Acquire) == g.0
    }
}

/// Answers of one kind, by key.
pub(crate) struct Answers<K, V> {
    entries: Mutex<HashMap<K, (V, u64, Instant)>>,
}

impl<K, V> Default for Answers<K, V> {
    fn default() -> Self {
        Self {
            entries: Mutex::new(HashMap::new()),
        }
    }
}

impl<K: Hash + Eq, V: Clone> Answers<K, V> {
    /// The remembered answer for `key` while `usable` says it still holds, or else `read`'s,
    /// remembered (when usable) under the generation seen before reading.
    pub(crate) async fn get_or_read<E, Fut>(
        &self,
        recall: &Recall,
        key: K,
        usable: impl Fn(&V) -> bool,
        read: impl FnOnce() -> Fut,
    ) -> Result<V, E>
    where
        Fut: std::future::Future<Output = Result<V, E>>,
    {
        if let Some(value) = self.get(recall, &key).filter(|v| usable(v)) {
            return Ok(value);
        }
        let seen = recall.generation();
        let value = read().await?;
        if usable(&value) {
            self.put(recall, seen, key, value.clone());
        }
        Ok(value)
    }

    fn get(&self, recall: &Recall, key: &K) -> Option<V> {
        let entries = self.entries.lock().ok()?;
        let (value, generation, at) = entries.get(key)?;
        (recall.current(Generation(*generation)) && at.elapsed() < REMEMBER_FOR)
            .then(|| value.clone())
    }

    /// Remembers an answer read under generation `seen`, unless a write committed since.
    fn put(&self, recall: &Recall, seen: Generation, key: K, value: V) {
        if !recall.current(seen) {
            return;
        }
        let Ok(mut entries) = self.entries.lock() else {
            return;
        };
        if entries.len() >= CAPACITY {
            let stale = Instant::now() - REMEMBER_FOR;
            entries.retain(|_, (_, g, at)| *g == seen.0 && *at > stale);
            if entries.len() >= CAPACITY {
                entries.clear();
            }
        }
        entries.insert(key, (value, seen.0, Instant::now()));
    }
}

/// Whether an org write recording `action` may change a remembered answer (who may do what, the
/// org's policy or its sample fields): anything but an event about lab records. Unknown actions
/// count (forgetting is always safe).
pub(crate) fn touches_access(action: &str) -> bool {
    const LAB_RECORDS: &[&str] = &[
        "sample.",
        "batch.",
        "analysis.",
        "compliance.",
        "file.",
        "location.",
        "protocol.",
        "workflow.",
        "signature.",
        "export.",
        "retention.",
        "project.create",
        "project.update",
        "project.file_add",
    ];
    !LAB_RECORDS.iter().any(|p| action.starts_with(p))
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    #[test]
    fn an_answer_read_before_a_write_is_not_remembered_after_it() {
        let recall = Recall::default();
        let answers: Answers<&str, bool> = Answers::default();
        let seen = recall.generation();
        answers.put(&recall, seen, "a", true);
        assert_eq!(answers.get(&recall, &"a"), Some(true));
        recall.forget_all();
        assert_eq!(answers.get(&recall, &"a"), None, "a write forgets it");
        // A reader that queried before the write must not store its (old) answer.
        answers.put(&recall, seen, "a", true);
        assert_eq!(answers.get(&recall, &"a"), None);
    }

    #[test]
    fn access_changes_are_told_from_lab_records() {
        for action in [
            "member.remove",
            "role.update",
            "org.settings_change",
            "api_token.revoke",
        ] {
            assert!(touches_access(action), "{action}");
        }
        for action in ["sample.create", "batch.add_samples", "workflow.step"] {
            assert!(!touches_access(action), "{action}");
        }
        assert!(touches_access("project.add_member"));
        assert!(touches_access("sample_field.create"));
        assert!(touches_access("something.new"));
    }
}
