//! Audit events and the per-org hash chain.
//!
//! `hash(n) = SHA-256(hash(n-1) ‖ canonical(event n))`, with 32 zero bytes before the first
//! event, where `canonical` is the RFC 8785 form of [`AuditEvent::canonical_json`]. The chain
//! head (last sequence number and hash) is kept apart from the events, so cutting events off the
//! end is caught as well as editing them.

use crate::ids::OrgId;
use crate::jcs::canonicalize;
use crate::time::Timestamp;
use serde::Serialize;
use serde_json::{json, Map, Value};
use sha2::{Digest, Sha256};

pub type Hash = [u8; 32];
pub const GENESIS_HASH: Hash = [0u8; 32];

/// Who did it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ActorKind {
    User,
    Token,
    System,
    Operator,
}

impl ActorKind {
    pub const fn as_str(self) -> &'static str {
        match self {
            ActorKind::User => "user",
            ActorKind::Token => "token",
            ActorKind::System => "system",
            ActorKind::Operator => "operator",
        }
    }
    pub fn parse(s: &str) -> Option<Self> {
        [
            ActorKind::User,
            ActorKind::Token,
            ActorKind::System,
            ActorKind::Operator,
        ]
        .into_iter()
        .find(|k| k.as_str() == s)
    }
}

/// The before/after values of the fields a change touched: `{"field": {"before": …, "after": …}}`.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Changes(Map<String, Value>);

impl Changes {
    pub fn new() -> Self {
        Self::default()
    }
    /// Records a field; a field whose value did not change is left out.
    pub fn field(mut self, name: &str, before: impl Serialize, after: impl Serialize) -> Self {
        let before = serde_json::to_value(before).unwrap_or(Value::Null);
        let after = serde_json::to_value(after).unwrap_or(Value::Null);
        if before != after {
            self.0
                .insert(name.to_owned(), json!({"before": before, "after": after}));
        }
        self
    }
    /// A new record: every field's `before` is null.
    pub fn created(self, name: &str, value: impl Serialize) -> Self {
        self.field(name, Value::Null, value)
    }
    /// A removed record: every field's `after` is null.
    pub fn removed(self, name: &str, value: impl Serialize) -> Self {
        self.field(name, value, Value::Null)
    }
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
    pub fn into_value(self) -> Value {
        Value::Object(self.0)
    }
}

/// One event as it enters the chain.
#[derive(Clone, Debug, PartialEq)]
pub struct AuditEvent {
    pub org_id: OrgId,
    pub seq: i64,
    pub at: Timestamp,
    pub actor_kind: ActorKind,
    pub actor_id: Option<String>,
    pub action: String,
    pub target_type: String,
    pub target_id: Option<String>,
    pub changes: Value,
    pub request_id: Option<String>,
    pub source_ip: Option<String>,
}

impl AuditEvent {
    /// The JSON object whose RFC 8785 form is hashed. Times are integer microseconds (UTC).
    pub fn canonical_json(&self) -> Value {
        json!({
            "org_id": self.org_id.to_string(),
            "seq": self.seq,
            "at": self.at.micros(),
            "actor_type": self.actor_kind.as_str(),
            "actor_id": self.actor_id,
            "action": self.action,
            "target_type": self.target_type,
            "target_id": self.target_id,
            "changes": self.changes,
            "request_id": self.request_id,
            "source_ip": self.source_ip,
        })
    }

    pub fn canonical(&self) -> String {
        self.canonical_with(&canonicalize(&self.changes))
    }

    /// The canonical form given the changes already in canonical form, as the store keeps them:
    /// equal to `canonicalize(&self.canonical_json())` without building a JSON tree.
    pub fn canonical_with(&self, changes: &str) -> String {
        let org_id = self.org_id.to_string();
        let mut out = String::with_capacity(320 + changes.len());
        EventColumns {
            org_id: &org_id,
            seq: self.seq,
            at: self.at.micros(),
            actor_type: self.actor_kind.as_str(),
            actor_id: self.actor_id.as_deref(),
            action: &self.action,
            target_type: &self.target_type,
            target_id: self.target_id.as_deref(),
            changes,
            request_id: self.request_id.as_deref(),
            source_ip: self.source_ip.as_deref(),
        }
        .write_canonical(&mut out);
        out
    }

    /// This event's link: SHA-256 over the previous hash and the canonical event.
    pub fn chain_hash(&self, prev: &Hash) -> Hash {
        let mut h = Sha256::new();
        h.update(prev);
        h.update(self.canonical().as_bytes());
        h.finalize().into()
    }
}

/// One stored event's columns, borrowed from a database row: what verification hashes, without
/// decoding the event. `changes` is the stored text, which the store wrote canonical, spliced in
/// as is (altered text cannot match the hash either); `org_id` is the org's id as text.
#[derive(Clone, Copy, Debug)]
pub struct EventColumns<'a> {
    pub org_id: &'a str,
    pub seq: i64,
    pub at: i64,
    pub actor_type: &'a str,
    pub actor_id: Option<&'a str>,
    pub action: &'a str,
    pub target_type: &'a str,
    pub target_id: Option<&'a str>,
    pub changes: &'a str,
    pub request_id: Option<&'a str>,
    pub source_ip: Option<&'a str>,
}

impl EventColumns<'_> {
    /// Replaces `out` with the event's canonical (RFC 8785) text: the keys of
    /// [`AuditEvent::canonical_json`] in sorted order, each value written straight from its
    /// column, so verifying allocates nothing per event once `out` has grown.
    pub fn write_canonical(&self, out: &mut String) {
        use crate::jcs::{write_i64, write_string};
        let text = |out: &mut String, v: Option<&str>| match v {
            Some(s) => write_string(out, s),
            None => out.push_str("null"),
        };
        out.clear();
        out.push_str("{\"action\":");
        write_string(out, self.action);
        out.push_str(",\"actor_id\":");
        text(out, self.actor_id);
        out.push_str(",\"actor_type\":");
        write_string(out, self.actor_type);
        out.push_str(",\"at\":");
        write_i64(out, self.at);
        out.push_str(",\"changes\":");
        out.push_str(self.changes);
        out.push_str(",\"org_id\":");
        write_string(out, self.org_id);
        out.push_str(",\"request_id\":");
        text(out, self.request_id);
        out.push_str(",\"seq\":");
        write_i64(out, self.seq);
        out.push_str(",\"source_ip\":");
        text(out, self.source_ip);
        out.push_str(",\"target_id\":");
        text(out, self.target_id);
        out.push_str(",\"target_type\":");
        write_string(out, self.target_type);
        out.push('}');
    }
}

/// Why a chain failed verification; `seq` is the first sequence number that is wrong.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum ChainBreak {
    #[error("event {seq}: stored hash does not match the recomputed hash (event altered)")]
    HashMismatch { seq: i64 },
    #[error("event {seq}: expected here but the chain jumps to {found} (events missing)")]
    Gap { seq: i64, found: i64 },
    #[error("event {seq}: the chain head records events up to {head_seq}, but the trail ends at {last} (events removed)")]
    Truncated { seq: i64, last: i64, head_seq: i64 },
    #[error("event {seq}: the trail goes past the chain head at {head_seq}, or the head's hash differs (head altered)")]
    HeadMismatch { seq: i64, head_seq: i64 },
    /// The links hold but the head's keyed seal does not: events were appended and the head
    /// moved by something that does not hold the master key.
    #[error("chain head at {seq}: head seal does not match: the head was moved outside LabLedger (events appended or altered with direct database access)")]
    HeadSealMismatch { seq: i64 },
    /// The head carries no seal at all, after its database's heads were sealed.
    #[error("chain head at {seq}: the head carries no seal: it was changed outside LabLedger")]
    HeadUnsealed { seq: i64 },
}

impl ChainBreak {
    pub fn seq(&self) -> i64 {
        match *self {
            ChainBreak::HashMismatch { seq }
            | ChainBreak::Gap { seq, .. }
            | ChainBreak::Truncated { seq, .. }
            | ChainBreak::HeadMismatch { seq, .. }
            | ChainBreak::HeadSealMismatch { seq }
            | ChainBreak::HeadUnsealed { seq } => seq,
        }
    }
}

/// Verifies a chain fed event by event in sequence order, in constant memory.
#[derive(Clone, Debug)]
pub struct ChainVerifier {
    next_seq: i64,
    prev: Hash,
    /// The canonical text of the event being checked, reused from one event to the next.
    canonical: String,
}

impl Default for ChainVerifier {
    fn default() -> Self {
        Self::resume(1, GENESIS_HASH)
    }
}

impl ChainVerifier {
    pub fn new() -> Self {
        Self::default()
    }

    /// A verifier that goes on from the middle of a chain: the next event expected is
    /// `next_seq`, linked to `prev` (the stored hash of event `next_seq - 1`). Link n needs only
    /// event n and the hash of n-1, which is what lets ranges of a chain be checked in parallel.
    pub fn resume(next_seq: i64, prev: Hash) -> Self {
        Self {
            next_seq,
            prev,
            canonical: String::with_capacity(1024),
        }
    }

    /// The sequence number expected next.
    pub fn next_seq(&self) -> i64 {
        self.next_seq
    }

    /// The hash of the last event checked (or the one it resumed from).
    pub fn prev(&self) -> &Hash {
        &self.prev
    }

    /// Checks one stored event given as its columns (see [`EventColumns`]), with the same
    /// verdicts as decoding it and calling [`ChainVerifier::feed`]: a row whose actor type is
    /// none LabLedger writes cannot be decoded, so it cannot be the event that was hashed.
    pub fn feed_columns(
        &mut self,
        columns: &EventColumns<'_>,
        stored_hash: &[u8],
    ) -> Result<(), ChainBreak> {
        if ActorKind::parse(columns.actor_type).is_none() {
            return Err(ChainBreak::HashMismatch { seq: columns.seq });
        }
        let mut canonical = std::mem::take(&mut self.canonical);
        columns.write_canonical(&mut canonical);
        let fed = self.feed_canonical(columns.seq, &canonical, stored_hash);
        self.canonical = canonical;
        fed
    }

    /// Checks one stored event and its stored hash.
    pub fn feed(&mut self, event: &AuditEvent, stored_hash: &[u8]) -> Result<(), ChainBreak> {
        self.feed_canonical(event.seq, &event.canonical(), stored_hash)
    }

    /// Checks one stored event given in canonical form (see [`AuditEvent::canonical_with`]).
    pub fn feed_canonical(
        &mut self,
        seq: i64,
        canonical: &str,
        stored_hash: &[u8],
    ) -> Result<(), ChainBreak> {
        if seq != self.next_seq {
            return Err(ChainBreak::Gap {
                seq: self.next_seq,
                found: seq,
            });
        }
        let mut h = Sha256::new();
        h.update(self.prev);
        h.update(canonical.as_bytes());
        let hash: Hash = h.finalize().into();
        if hash.as_slice() != stored_hash {
            return Err(ChainBreak::HashMismatch { seq });
        }
        self.prev = hash;
        self.next_seq += 1;
        Ok(())
    }

    pub fn verified(&self) -> i64 {
        self.next_seq - 1
    }

    /// After the last event: the trail must end exactly at the head kept apart.
    pub fn finish(self, head_seq: i64, head_hash: &[u8]) -> Result<(i64, Hash), ChainBreak> {
        let last = self.next_seq - 1;
        if head_seq > last {
            return Err(ChainBreak::Truncated {
                seq: last + 1,
                last,
                head_seq,
            });
        }
        if head_seq < last || head_hash != self.prev.as_slice() {
            return Err(ChainBreak::HeadMismatch {
                seq: head_seq.max(1),
                head_seq,
            });
        }
        Ok((last, self.prev))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn event(org: OrgId, seq: i64) -> AuditEvent {
        AuditEvent {
            org_id: org,
            seq,
            at: Timestamp::from_micros(1_700_000_000_000_000 + seq),
            actor_kind: ActorKind::User,
            actor_id: Some("u1".into()),
            action: "member.add".into(),
            target_type: "member".into(),
            target_id: Some(format!("t{seq}")),
            changes: Changes::new()
                .created("email", "a@example.org")
                .into_value(),
            request_id: Some("r".into()),
            source_ip: None,
        }
    }

    fn chain(n: i64) -> (Vec<(AuditEvent, Hash)>, Hash) {
        let org = OrgId::new();
        let mut prev = GENESIS_HASH;
        let mut out = Vec::new();
        for seq in 1..=n {
            let e = event(org, seq);
            prev = e.chain_hash(&prev);
            out.push((e, prev));
        }
        (out, prev)
    }

    fn verify(
        events: &[(AuditEvent, Hash)],
        head_seq: i64,
        head: &Hash,
    ) -> Result<(i64, Hash), ChainBreak> {
        let mut v = ChainVerifier::new();
        for (e, h) in events {
            v.feed(e, h)?;
        }
        v.finish(head_seq, head)
    }

    #[test]
    fn intact_chain_verifies() {
        let (events, head) = chain(5);
        assert_eq!(verify(&events, 5, &head).unwrap(), (5, head));
        assert_eq!(verify(&[], 0, &GENESIS_HASH).unwrap().0, 0);
    }

    #[test]
    fn altered_event_is_named() {
        let (mut events, head) = chain(5);
        events[2].0.action = "member.remove".into();
        assert_eq!(
            verify(&events, 5, &head),
            Err(ChainBreak::HashMismatch { seq: 3 })
        );
    }

    #[test]
    fn truncation_is_caught_against_the_head() {
        let (events, head) = chain(5);
        let err = verify(&events[..3], 5, &head).unwrap_err();
        assert_eq!(err.seq(), 4);
        assert!(matches!(err, ChainBreak::Truncated { .. }));
    }

    #[test]
    fn missing_middle_event_is_a_gap() {
        let (mut events, head) = chain(5);
        events.remove(1);
        assert_eq!(
            verify(&events, 5, &head),
            Err(ChainBreak::Gap { seq: 2, found: 3 })
        );
    }

    #[test]
    fn head_hash_mismatch_is_caught() {
        let (events, _) = chain(3);
        assert!(matches!(
            verify(&events, 3, &[7u8; 32]),
            Err(ChainBreak::HeadMismatch { .. })
        ));
    }

    #[test]
    fn the_direct_canonical_form_equals_generic_jcs() {
        let mut e = event(OrgId::new(), 7);
        e.action = "quote\" é \u{1d11e} \n".into();
        e.actor_id = None;
        e.source_ip = Some("::1".into());
        e.changes = json!({"z": {"before": 1.5, "after": [null, "ß"]}, "a": {"before": null, "after": {"y": 1, "x": 2}}});
        assert_eq!(e.canonical(), canonicalize(&e.canonical_json()));
    }

    /// Events as varied as the store can hold: every actor kind, every optional null or set,
    /// text with quotes, backslashes, control characters and non-ASCII, odd numbers.
    fn varied_events(org: OrgId) -> Vec<AuditEvent> {
        let texts = [
            "plain",
            "",
            "quote\" back\\ slash/",
            "nl\n cr\r tab\t bs\u{8} ff\u{c} nul\u{0} bell\u{7} us\u{1f} del\u{7f}",
            "é ß € \u{1d11e} \u{fb01} 日本語 \u{2028}\u{2029}",
        ];
        let kinds = [
            ActorKind::User,
            ActorKind::Token,
            ActorKind::System,
            ActorKind::Operator,
        ];
        let changes = [
            json!({}),
            json!({"name": {"before": null, "after": "a\"b"}}),
            json!({"z": {"before": 1.5, "after": [null, "ß", true]}, "a": {"before": -0.000001, "after": {"y": 1e21, "x": 2}}, "\u{fb01}": 0, "\u{1d11e}": 1}),
        ];
        let mut out = Vec::new();
        for (i, text) in texts.iter().enumerate() {
            for (k, kind) in kinds.iter().enumerate() {
                let n = i * kinds.len() + k;
                let some = |on: bool| on.then(|| (*text).to_owned());
                out.push(AuditEvent {
                    org_id: org,
                    seq: out.len() as i64 + 1,
                    at: Timestamp::from_micros(1_700_000_000_000_000 + n as i64 * 7919),
                    actor_kind: *kind,
                    actor_id: some(n.is_multiple_of(2)),
                    action: format!("{text}.{n}"),
                    target_type: (*text).to_owned(),
                    target_id: some(!n.is_multiple_of(3)),
                    changes: changes[n % changes.len()].clone(),
                    request_id: some(n % 4 == 1),
                    source_ip: some(n % 5 != 2),
                });
            }
        }
        out
    }

    fn columns<'a>(e: &'a AuditEvent, org: &'a str, changes: &'a str) -> EventColumns<'a> {
        EventColumns {
            org_id: org,
            seq: e.seq,
            at: e.at.micros(),
            actor_type: e.actor_kind.as_str(),
            actor_id: e.actor_id.as_deref(),
            action: &e.action,
            target_type: &e.target_type,
            target_id: e.target_id.as_deref(),
            changes,
            request_id: e.request_id.as_deref(),
            source_ip: e.source_ip.as_deref(),
        }
    }

    #[test]
    fn the_text_written_from_columns_is_what_the_chain_hashed() {
        let org = OrgId::new();
        let org_text = org.to_string();
        let mut buf = String::from("left over from a longer event, to be cleared");
        let mut prev = GENESIS_HASH;
        let mut verifier = ChainVerifier::new();
        let mut events = varied_events(org);
        // Integers past 2^53 take RFC 8785's number form; negative times are before 1970.
        let mut far = events[0].clone();
        far.seq = events.len() as i64 + 1;
        far.at = Timestamp::from_micros(-(1 << 60));
        events.push(far);
        for e in &events {
            // As stored: changes canonicalized once at append, the org id as text.
            let stored_changes = canonicalize(&e.changes);
            columns(e, &org_text, &stored_changes).write_canonical(&mut buf);
            assert_eq!(buf, canonicalize(&e.canonical_json()), "{e:?}");
            assert_eq!(buf, e.canonical());
            let mut h = Sha256::new();
            h.update(prev);
            h.update(buf.as_bytes());
            let linked: Hash = h.finalize().into();
            assert_eq!(linked, e.chain_hash(&prev));
            prev = linked;
            verifier
                .feed_columns(&columns(e, &org_text, &stored_changes), &linked)
                .unwrap();
        }
        assert_eq!(
            verifier.finish(events.len() as i64, &prev).unwrap(),
            (events.len() as i64, prev)
        );
    }

    #[test]
    fn fed_columns_give_the_verdicts_of_decoded_events() {
        let org = OrgId::new();
        let org_text = org.to_string();
        let events = varied_events(org);
        let mut hashes = Vec::new();
        let mut prev = GENESIS_HASH;
        for e in &events {
            prev = e.chain_hash(&prev);
            hashes.push(prev);
        }
        let changes: Vec<String> = events.iter().map(|e| canonicalize(&e.changes)).collect();
        // Resumed from the stored hash before it, the second half verifies on its own.
        let mid = events.len() / 2;
        let mut second = ChainVerifier::resume(mid as i64 + 1, hashes[mid - 1]);
        for i in mid..events.len() {
            second
                .feed_columns(&columns(&events[i], &org_text, &changes[i]), &hashes[i])
                .unwrap();
        }
        assert_eq!(second.next_seq(), events.len() as i64 + 1);
        assert_eq!(second.prev(), &prev);
        // An edited column, a gap and an unknown actor type are named as before.
        let mut v = ChainVerifier::new();
        let mut edited = columns(&events[0], &org_text, &changes[0]);
        edited.action = "other";
        assert_eq!(
            v.feed_columns(&edited, &hashes[0]),
            Err(ChainBreak::HashMismatch { seq: 1 })
        );
        let mut v = ChainVerifier::new();
        assert_eq!(
            v.feed_columns(&columns(&events[1], &org_text, &changes[1]), &hashes[1]),
            Err(ChainBreak::Gap { seq: 1, found: 2 })
        );
        let mut v = ChainVerifier::new();
        let mut alien = columns(&events[0], &org_text, &changes[0]);
        alien.actor_type = "robot";
        assert_eq!(
            v.feed_columns(&alien, &hashes[0]),
            Err(ChainBreak::HashMismatch { seq: 1 })
        );
    }

    #[test]
    fn changes_skip_unchanged_fields() {
        let c = Changes::new()
            .field("name", "a", "a")
            .field("roles", ["Viewer"], ["Admin"]);
        assert_eq!(
            c.into_value(),
            json!({"roles": {"before": ["Viewer"], "after": ["Admin"]}})
        );
    }

    #[test]
    fn canonical_form_is_stable() {
        let e = event(OrgId::from(uuid::Uuid::nil()), 1);
        assert_eq!(
            e.canonical(),
            "{\"action\":\"member.add\",\"actor_id\":\"u1\",\"actor_type\":\"user\",\"at\":1700000000000001,\
             \"changes\":{\"email\":{\"after\":\"a@example.org\",\"before\":null}},\
             \"org_id\":\"00000000-0000-0000-0000-000000000000\",\"request_id\":\"r\",\"seq\":1,\
             \"source_ip\":null,\"target_id\":\"t1\",\"target_type\":\"member\"}"
        );
    }
}
