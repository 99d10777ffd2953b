//! Verifying an org's audit chain fast: every link, the event count against the head kept apart,
//! and the head's keyed seal, at the speed of reading the rows.
//!
//! Link n needs only event n and the stored hash of event n-1, so the chain is split into ranges
//! of sequence numbers checked in parallel, each on its own connection and starting from the
//! stored hash of the row before it ([`plan`]). [`merge`] then reads the ranges' outcomes in order
//! and gives exactly the verdict of one pass from event 1: the first break in sequence order, a
//! gap named from the last event that held, truncation and the head checked at the end.
//!
//! Each engine reads rows its own way, without sqlx's `Any` layer: SQLite through rusqlite on
//! blocking threads ([`sqlite`]), PostgreSQL through typed sqlx rows ([`postgres`]). The head is
//! read in the same snapshot as the last range, so events appended while verifying are not
//! mistaken for events past the head; the rows of earlier ranges were committed before that
//! head and are append-only.

mod postgres;
mod sqlite;

use crate::chain::Verification;
use crate::engine::Engine;
use crate::error::Result;
use crate::seal::HeadSealKey;
use labledger_domain::audit::{ChainBreak, ChainVerifier, EventColumns, Hash, GENESIS_HASH};
use labledger_domain::OrgId;

/// The columns every range reads, in this order (the org id is the one queried).
const COLUMNS: &str = "seq, at, actor_type, actor_id, action, target_type, target_id, changes, \
                       request_id, source_ip, hash";

/// Below this many events per range, a second connection costs more than it saves.
const MIN_EVENTS_PER_RANGE: i64 = 20_000;

/// At most this many connections per verification, however many cores: PostgreSQL's connection
/// limit is shared with the pool, and the reads stop scaling well before.
const MAX_RANGES: usize = 8;

/// Verifies one org's chain; see the module documentation. Without `key`, every link and the
/// head, but not the head's seal (a restore drill run without the master key).
pub(crate) async fn verify(
    pool: &crate::read_conn::Reader,
    engine: Engine,
    key: Option<&HeadSealKey>,
    org: OrgId,
) -> Result<Verification> {
    let url = pool.database_url();
    let parts = std::thread::available_parallelism()
        .map_or(1, usize::from)
        .min(MAX_RANGES);
    let (head, outcomes) = match engine {
        Engine::Sqlite => sqlite::verify_ranges(url.as_str(), org, parts).await?,
        Engine::Postgres => postgres::verify_ranges(url.as_str(), org, parts).await?,
    };
    Ok(merge(&head, &outcomes)
        .and_then(|()| key.map_or(Ok(()), |key| seal_break(key, org, &head)))
        .map_or_else(Verification::Broken, |()| Verification::Intact {
            events: head.seq,
            head_hash: head.hash_array(),
        }))
}

/// The chain head as stored, apart from the events.
#[derive(Clone, Debug)]
pub(super) struct Head {
    pub seq: i64,
    pub hash: Vec<u8>,
    pub seal: Option<Vec<u8>>,
}

impl Head {
    fn hash_array(&self) -> Hash {
        self.hash.as_slice().try_into().unwrap_or(GENESIS_HASH)
    }
}

/// A range of sequence numbers one worker checks: rows with `low <= seq <= high`, the first
/// expected being `start`. The first range has no lower bound (rows numbered below 1 are a gap)
/// and the last no upper bound (rows past the head are caught at the end).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) struct Range {
    pub start: i64,
    pub low: i64,
    pub high: i64,
}

/// What one range found, checked from the stored hash before it.
#[derive(Clone, Debug)]
pub(super) struct RangeOutcome {
    /// The sequence number of the range's first row, if it has any.
    pub first_row: Option<i64>,
    /// The first break within the range, reading from `start`.
    pub broken: Option<ChainBreak>,
    /// Where the range's verifier ended: the next sequence number expected and the last hash.
    pub next_seq: i64,
    pub prev: Hash,
}

/// Splits the chain up to the head into at most `parts` ranges of nearly equal length.
pub(super) fn plan(head_seq: i64, parts: usize) -> Vec<Range> {
    plan_sized(head_seq, parts, MIN_EVENTS_PER_RANGE)
}

fn plan_sized(head_seq: i64, parts: usize, min_per_range: i64) -> Vec<Range> {
    let by_size = head_seq / min_per_range;
    let parts = i64::try_from(parts).unwrap_or(1).min(by_size).max(1);
    let per = (head_seq + parts - 1) / parts;
    (0..parts)
        .map(|k| {
            let start = 1 + k * per;
            Range {
                start,
                low: if k == 0 { i64::MIN } else { start },
                high: if k == parts - 1 {
                    i64::MAX
                } else {
                    start + per - 1
                },
            }
        })
        .collect()
}

/// Checks the rows of one range, fed in sequence order.
pub(super) struct RangeCheck {
    verifier: ChainVerifier,
    first_row: Option<i64>,
    broken: Option<ChainBreak>,
}

impl RangeCheck {
    /// `anchor` is the stored hash of the row before the range (None when there is no such
    /// row: then this range's own verdict is never used, see [`merge`]).
    pub fn new(range: Range, anchor: Option<Hash>) -> Self {
        Self {
            verifier: ChainVerifier::resume(range.start, anchor.unwrap_or(GENESIS_HASH)),
            first_row: None,
            broken: None,
        }
    }

    /// Checks the next row; false once the range is broken (the rows after do not matter).
    pub fn feed(&mut self, columns: &EventColumns<'_>, stored_hash: &[u8]) -> bool {
        self.first_row.get_or_insert(columns.seq);
        match self.verifier.feed_columns(columns, stored_hash) {
            Ok(()) => true,
            Err(b) => {
                self.broken = Some(b);
                false
            }
        }
    }

    pub fn finish(self) -> RangeOutcome {
        RangeOutcome {
            first_row: self.first_row,
            broken: self.broken,
            next_seq: self.verifier.next_seq(),
            prev: *self.verifier.prev(),
        }
    }
}

/// The verdict of one pass over the whole chain, from the ranges' outcomes (in range order).
///
/// A range is read as the pass would read it only if the ranges before it ended exactly where it
/// starts (every row up to it present and intact); its start state is then the pass's. If an
/// earlier range ended short with no break, the pass would next meet this range's first row:
/// a gap from where the chain stopped.
pub(super) fn merge(head: &Head, ranges: &[(Range, RangeOutcome)]) -> Result<(), ChainBreak> {
    let mut next_seq = 1;
    let mut prev = GENESIS_HASH;
    for (range, outcome) in ranges {
        let Some(first) = outcome.first_row else {
            continue;
        };
        if next_seq != range.start {
            return Err(ChainBreak::Gap {
                seq: next_seq,
                found: first,
            });
        }
        if let Some(b) = &outcome.broken {
            return Err(b.clone());
        }
        next_seq = outcome.next_seq;
        prev = outcome.prev;
    }
    ChainVerifier::resume(next_seq, prev)
        .finish(head.seq, &head.hash)
        .map(|_| ())
}

/// A chain whose links all hold may still have been extended with plain SQL: only the seal,
/// made with a key the database does not hold, tells LabLedger's heads from others.
fn seal_break(key: &HeadSealKey, org: OrgId, head: &Head) -> Result<(), ChainBreak> {
    match &head.seal {
        None => Err(ChainBreak::HeadUnsealed { seq: head.seq }),
        Some(s) if !key.matches(org, head.seq, &head.hash, s) => {
            Err(ChainBreak::HeadSealMismatch { seq: head.seq })
        }
        Some(_) => Ok(()),
    }
}

/// A stored hash as 32 bytes (a row whose hash has another length cannot anchor a range).
pub(super) fn anchor_of(stored: Option<&[u8]>) -> Option<Hash> {
    stored.and_then(|h| h.try_into().ok())
}

#[cfg(test)]
mod tests;
