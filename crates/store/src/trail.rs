//! Reading an org's audit trail: filtered, newest first, keyset-paged by sequence number.

use crate::chain::{decode_event, StoredEvent, EVENT_COLUMNS};
use crate::error::Result;
use crate::org::Org;
use crate::visibility::Kind;
use labledger_domain::{Permission, Timestamp};

/// Filters of the trail; all optional, combined with AND.
#[derive(Clone, Debug, Default)]
pub struct AuditFilter {
    pub actor_id: Option<String>,
    /// Exact action (`member.add`), or a prefix ending in `.` (`member.`).
    pub action: Option<String>,
    pub target_type: Option<String>,
    pub target_id: Option<String>,
    pub from: Option<Timestamp>,
    pub to: Option<Timestamp>,
    /// Only events with a sequence number below this (the cursor of the previous page).
    pub before_seq: Option<i64>,
}

#[derive(Clone, Debug)]
pub struct AuditPage {
    pub items: Vec<StoredEvent>,
    /// The cursor of the next (older) page, if there is one.
    pub next_cursor: Option<i64>,
}

enum Arg {
    Text(String),
    Int(i64),
}

impl Org<'_> {
    pub async fn audit_page(&self, filter: AuditFilter, limit: u32) -> Result<AuditPage> {
        self.scope().require(Permission::AUDIT_READ)?;
        // The viewer's rule is appended last (after the filters' parameters).
        let viewer = self.viewer();
        let mut sql = format!("SELECT {EVENT_COLUMNS} FROM audit_events WHERE org_id = $1");
        let mut args: Vec<Arg> = Vec::new();
        let mut cond = |clause: &str, arg: Arg| {
            args.push(arg);
            sql.push_str(&clause.replace('?', &format!("${}", args.len() + 1)));
        };
        if let Some(v) = filter.actor_id {
            cond(" AND actor_id = ?", Arg::Text(v));
        }
        match filter.action {
            Some(prefix) if prefix.ends_with('.') => {
                // Range scan instead of LIKE: no wildcard escaping, and both engines use the index.
                let mut upper = prefix.clone();
                upper.pop();
                upper.push('/'); // the character after '.'
                cond(" AND action >= ?", Arg::Text(prefix));
                cond(" AND action < ?", Arg::Text(upper));
            }
            Some(exact) => cond(" AND action = ?", Arg::Text(exact)),
            None => {}
        }
        if let Some(v) = filter.target_type {
            cond(" AND target_type = ?", Arg::Text(v));
        }
        if let Some(v) = filter.target_id {
            cond(" AND target_id = ?", Arg::Text(v));
        }
        if let Some(v) = filter.from {
            cond(" AND at >= ?", Arg::Int(v.micros()));
        }
        if let Some(v) = filter.to {
            cond(" AND at < ?", Arg::Int(v.micros()));
        }
        if let Some(v) = filter.before_seq {
            cond(" AND seq < ?", Arg::Int(v));
        }
        // A project-limited reader sees only events about records they may see.
        sql.push_str(&viewer.filter(Kind::Event, "audit_events", args.len() + 2));
        let limit = limit.clamp(1, 1000);
        sql.push_str(&format!(" ORDER BY seq DESC LIMIT {}", limit + 1));
        let mut q = sqlx::query(&sql).bind(self.org_text());
        for arg in args {
            q = match arg {
                Arg::Text(s) => q.bind(s),
                Arg::Int(i) => q.bind(i),
            };
        }
        let rows = viewer.bind(q).fetch_all(self.reader()).await?;
        let mut items = rows.iter().map(decode_event).collect::<Result<Vec<_>>>()?;
        let next_cursor = if items.len() > limit as usize {
            items.truncate(limit as usize);
            items.last().map(|e| e.event.seq)
        } else {
            None
        };
        Ok(AuditPage { items, next_cursor })
    }
}
