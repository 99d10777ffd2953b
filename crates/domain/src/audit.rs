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

    /// The canonical form written directly (keys in RFC 8785 order), given the changes already in
    /// canonical form, as the store keeps them: equal to `canonicalize(&self.canonical_json())`
    /// without building a JSON tree, which is what makes verifying millions of events fast.
    pub fn canonical_with(&self, changes: &str) -> String {
        use crate::jcs::{write_number, write_string};
        let mut out = String::with_capacity(320 + changes.len());
        let text = |out: &mut String, v: &Option<String>| match v {
            Some(s) => write_string(out, s),
            None => out.push_str("null"),
        };
        out.push_str("{\"action\":");
        write_string(&mut out, &self.action);
        out.push_str(",\"actor_id\":");
        text(&mut out, &self.actor_id);
        out.push_str(",\"actor_type\":");
        write_string(&mut out, self.actor_kind.as_str());
        out.push_str(",\"at\":");
        write_number(&mut out, &self.at.micros().into());
        out.push_str(",\"changes\":");
        out.push_str(changes);
        out.push_str(",\"org_id\":");
        write_string(&mut out, &self.org_id.to_string());
        out.push_str(",\"request_id\":");
        text(&mut out, &self.request_id);
        out.push_str(",\"seq\":");
        write_number(&mut out, &self.seq.into());
        out.push_str(",\"source_ip\":");
        text(&mut out, &self.source_ip);
        out.push_str(",\"target_id\":");
        text(&mut out, &self.target_id);
        out.push_str(",\"target_type\":");
        write_string(&mut out, &self.target_type);
        out.push('}');
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
}

impl Default for ChainVerifier {
    fn default() -> Self {
        Self {
            next_seq: 1,
            prev: GENESIS_HASH,
        }
    }
}

impl ChainVerifier {
    pub fn new() -> Self {
        Self::default()
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
