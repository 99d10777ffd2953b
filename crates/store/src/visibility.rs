//! Which of the org's records a scope may see: one rule per record kind, written once, here.
//!
//! A member limited to projects sees the samples of their projects and what hangs off them; every
//! other member sees the whole org. The rules are SQL conditions over a row alias, so the store
//! applies them inside the query that reads or loads the record (a list, a load by id, a lookup
//! by code, the row a write is about to change): a record the viewer may not see is never read,
//! and answers exactly like one that does not exist.
//!
//! Every query that reads a guarded table through a scope asks its [`Viewer`] for the condition
//! of that kind and binds the viewer (`Viewer::bind`); for a whole-org viewer the condition is
//! empty and nothing is bound, so the common case costs nothing. `tests::guarded_tables` checks
//! that no statement in the store reads a guarded table without a rule or a stated reason.

use crate::scope::OrgScope;
use crate::tx::Q;

/// A kind of record with a visibility rule.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Kind {
    /// A sample of one of the viewer's projects.
    Sample,
    /// A batch the viewer made, or holding one of their samples.
    Batch,
    /// A workflow run the viewer started, or covering one of their samples.
    Run,
    /// An evidence file the viewer uploaded, filed under one of their projects, or attached to a
    /// sample, batch or run they see.
    File,
    /// An analysis the viewer made, or with an input or output they see.
    Analysis,
    /// One of the viewer's projects.
    Project,
    /// An audit event about a record the viewer sees (see [`Viewer::event`]).
    Event,
}

/// Who is reading: the whole org, or one project-limited member.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum Viewer {
    Everything,
    /// The member's user id: they see their projects' records.
    Projects(String),
}

impl Viewer {
    pub(crate) fn of(scope: &OrgScope) -> Self {
        if scope.is_project_limited() {
            Viewer::Projects(scope.user_id().to_string())
        } else {
            Viewer::Everything
        }
    }

    pub(crate) fn is_limited(&self) -> bool {
        matches!(self, Viewer::Projects(_))
    }

    /// ` AND <condition>` keeping the rows of `kind` (aliased `alias`) the viewer may see, with the
    /// viewer bound as `$n`; empty for a whole-org viewer.
    pub(crate) fn filter(&self, kind: Kind, alias: &str, n: usize) -> String {
        match self {
            Viewer::Everything => String::new(),
            Viewer::Projects(_) => format!(" AND {}", rule(kind, alias, &format!("${n}"))),
        }
    }

    /// The bare condition (true for a whole-org viewer), for a `CASE WHEN` or a join.
    pub(crate) fn condition(&self, kind: Kind, alias: &str, n: usize) -> String {
        match self {
            Viewer::Everything => "1 = 1".to_owned(),
            Viewer::Projects(_) => rule(kind, alias, &format!("${n}")),
        }
    }

    /// The condition that the row of `table` (kind `kind`) whose id is `id`, in the org of the row
    /// aliased `outer`, exists and is visible; true for a whole-org viewer.
    pub(crate) fn sees(&self, table: &str, kind: Kind, outer: &str, id: &str, n: usize) -> String {
        match self {
            Viewer::Everything => "1 = 1".to_owned(),
            Viewer::Projects(_) => exists(table, kind, outer, id, &format!("${n}")),
        }
    }

    /// Binds the viewer as the next parameter, when the conditions name one.
    pub(crate) fn bind<'q>(&self, q: Q<'q>) -> Q<'q> {
        match self {
            Viewer::Everything => q,
            Viewer::Projects(user) => q.bind(user.clone()),
        }
    }
}

/// The SQL condition of one kind; `a` is the row alias, `u` the viewer's parameter. Inner aliases
/// extend `a`, so rules nest without clashing.
fn rule(kind: Kind, a: &str, u: &str) -> String {
    match kind {
        Kind::Sample => format!("{a}.project_id IN ({})", my_projects(a, u)),
        Kind::Project => format!("{a}.id IN ({})", my_projects(a, u)),
        Kind::Batch => format!(
            "({} OR EXISTS (SELECT 1 FROM batch_samples {a}_bs JOIN samples {a}_s \
             ON {a}_s.org_id = {a}_bs.org_id AND {a}_s.id = {a}_bs.sample_id \
             WHERE {a}_bs.org_id = {a}.org_id AND {a}_bs.batch_id = {a}.id AND {}))",
            by_me(&format!("{a}.created_by"), a, u),
            rule(Kind::Sample, &format!("{a}_s"), u)
        ),
        Kind::Run => format!(
            "({} OR EXISTS (SELECT 1 FROM workflow_run_samples {a}_rs JOIN samples {a}_s \
             ON {a}_s.org_id = {a}_rs.org_id AND {a}_s.id = {a}_rs.sample_id \
             WHERE {a}_rs.org_id = {a}.org_id AND {a}_rs.run_id = {a}.id AND {}))",
            by_me(&format!("{a}.started_by"), a, u),
            rule(Kind::Sample, &format!("{a}_s"), u)
        ),
        Kind::File => {
            let fa = format!("{a}_fa");
            format!(
                "({} OR EXISTS (SELECT 1 FROM project_files {a}_pf WHERE {a}_pf.org_id = {a}.org_id \
                 AND {a}_pf.file_id = {a}.id AND {a}_pf.project_id IN ({})) \
                 OR EXISTS (SELECT 1 FROM file_attachments {fa} WHERE {fa}.org_id = {a}.org_id \
                 AND {fa}.file_id = {a}.id AND ({} OR {} OR {})))",
                by_me(&format!("{a}.created_by"), a, u),
                my_projects(a, u),
                exists("samples", Kind::Sample, &fa, &format!("{fa}.sample_id"), u),
                exists("batches", Kind::Batch, &fa, &format!("{fa}.batch_id"), u),
                exists("workflow_runs", Kind::Run, &fa, &format!("{fa}.run_id"), u),
            )
        }
        Kind::Analysis => {
            let ai = format!("{a}_ai");
            format!(
                "({} OR {} OR EXISTS (SELECT 1 FROM analysis_inputs {ai} WHERE {ai}.org_id = {a}.org_id \
                 AND {ai}.analysis_id = {a}.id AND (({ai}.input_type = 'sample' AND {}) \
                 OR ({ai}.input_type = 'file' AND {}) OR ({ai}.input_type = 'workflow_run' AND {}))))",
                by_me(&format!("{a}.created_by"), a, u),
                exists("files", Kind::File, a, &format!("{a}.output_file_id"), u),
                exists("samples", Kind::Sample, &ai, &format!("{ai}.input_id"), u),
                exists("files", Kind::File, &ai, &format!("{ai}.input_id"), u),
                exists("workflow_runs", Kind::Run, &ai, &format!("{ai}.input_id"), u),
            )
        }
        Kind::Event => event_rule(a, u),
    }
}

/// An audit event is visible when its target is: records of a guarded kind by their rule, the
/// viewer's projects, org-wide reference records (protocols, compliance records, locations), and
/// a signature when the record it signs is. Events about members, roles, settings, tokens and
/// the like are the org administration's, not a project member's.
fn event_rule(a: &str, u: &str) -> String {
    let t = format!("{a}.target_id");
    let of = |kind: &str, rule: String| format!("({a}.target_type = '{kind}' AND {rule})");
    let sig = format!("{a}_sig");
    let parts = [
        of("sample", exists("samples", Kind::Sample, a, &t, u)),
        of("file", exists("files", Kind::File, a, &t, u)),
        of("batch", exists("batches", Kind::Batch, a, &t, u)),
        of(
            crate::workflows::WORKFLOW_RUN,
            exists("workflow_runs", Kind::Run, a, &t, u),
        ),
        of("analysis", exists("analyses", Kind::Analysis, a, &t, u)),
        of("project", format!("{t} IN ({})", my_projects(a, u))),
        format!(
            "{a}.target_type IN ('protocol', '{}', '{}', 'location')",
            crate::protocols::PROTOCOL_VERSION,
            crate::compliance::COMPLIANCE_RECORD
        ),
        of(
            "signature",
            format!(
                "EXISTS (SELECT 1 FROM signatures {sig} WHERE {sig}.org_id = {a}.org_id AND {sig}.id = {t} \
                 AND ({sig}.record_type IN ('{}', '{}') OR ({sig}.record_type = '{}' AND {}) \
                 OR ({sig}.record_type = '{}' AND {})))",
                crate::protocols::PROTOCOL_VERSION,
                crate::compliance::COMPLIANCE_RECORD,
                crate::workflows::WORKFLOW_RUN,
                exists("workflow_runs", Kind::Run, &sig, &format!("{sig}.record_id"), u),
                crate::workflows::WORKFLOW_STEP,
                step_run_visible(&sig, u),
            ),
        ),
    ];
    format!("({})", parts.join(" OR "))
}

/// A workflow step's signature names `{run id}/{index}`: visible when its run is.
fn step_run_visible(sig: &str, u: &str) -> String {
    let r = format!("{sig}_r");
    format!(
        "EXISTS (SELECT 1 FROM workflow_runs {r} WHERE {r}.org_id = {sig}.org_id \
         AND {sig}.record_id LIKE {r}.id || '/%' AND {})",
        rule(Kind::Run, &r, u)
    )
}

/// `EXISTS` a row of `table` (kind `kind`) with id `id`, in the org of the row aliased `outer`,
/// that the viewer may see.
fn exists(table: &str, kind: Kind, outer: &str, id: &str, u: &str) -> String {
    let x = format!("{outer}_x");
    format!(
        "EXISTS (SELECT 1 FROM {table} {x} WHERE {x}.org_id = {outer}.org_id AND {x}.id = {id} AND {})",
        rule(kind, &x, u)
    )
}

/// The viewer's projects in the org of the row aliased `a`.
fn my_projects(a: &str, u: &str) -> String {
    format!(
        "SELECT {a}_pm.project_id FROM project_members {a}_pm \
         WHERE {a}_pm.org_id = {a}.org_id AND {a}_pm.user_id = {u}"
    )
}

/// The actor column `col` names the viewer or one of their API tokens.
fn by_me(col: &str, a: &str, u: &str) -> String {
    format!(
        "({col} = {u} OR {col} IN (SELECT {a}_t.id FROM api_tokens {a}_t \
         WHERE {a}_t.org_id = {a}.org_id AND {a}_t.user_id = {u}))"
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Tables holding records under a visibility rule, or what hangs off them.
    const GUARDED: &[&str] = &[
        "samples",
        "sample_positions",
        "custody_events",
        "sample_lineage",
        "sample_custom_values",
        "batches",
        "batch_samples",
        "workflow_runs",
        "workflow_run_samples",
        "files",
        "file_attachments",
        "project_files",
        "analyses",
        "analysis_inputs",
        "projects",
        "record_links",
        "audit_events",
    ];

    /// The store's sources, by file name.
    fn sources() -> Vec<(String, String)> {
        let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/src");
        let mut out = Vec::new();
        for entry in std::fs::read_dir(dir).expect("the store's sources") {
            let path = entry.expect("a source entry").path();
            if path.extension().is_some_and(|e| e == "rs") {
                let name = path
                    .file_name()
                    .expect("a name")
                    .to_string_lossy()
                    .into_owned();
                out.push((
                    name,
                    std::fs::read_to_string(&path).expect("a readable source"),
                ));
            }
        }
        assert!(out.len() > 20, "found the store's sources");
        out
    }

    /// A read of a guarded table is near its viewer's rule, or says why it needs none
    /// (`// unscoped: …` just above it): a new query cannot forget the rule silently.
    #[test]
    fn guarded_tables_are_read_through_a_rule() {
        let mut unguarded = Vec::new();
        for (name, text) in sources() {
            if name == "visibility.rs" || name == "tests.rs" {
                continue;
            }
            let lines: Vec<&str> = text.lines().collect();
            for (i, line) in lines.iter().enumerate() {
                if line.trim_start().starts_with("//") || !reads_guarded(line) {
                    continue;
                }
                let near = |from: usize, to: usize| {
                    lines
                        .get(from..to.min(lines.len()))
                        .unwrap_or_default()
                        .iter()
                        .any(|l| l.contains("viewer"))
                };
                let justified = lines
                    .get(i.saturating_sub(8)..i)
                    .unwrap_or_default()
                    .iter()
                    .any(|l| l.contains("// unscoped:"));
                if !justified && !near(i.saturating_sub(15), i + 16) {
                    unguarded.push(format!("{name}:{}: {}", i + 1, line.trim()));
                }
            }
        }
        assert!(
            unguarded.is_empty(),
            "reads of guarded tables without a visibility rule (use the viewer, or say \
             `// unscoped: why`):\n{}",
            unguarded.join("\n")
        );
    }

    fn reads_guarded(line: &str) -> bool {
        let words: Vec<&str> = line
            .split(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
            .filter(|w| !w.is_empty())
            .collect();
        words.windows(2).any(|w| {
            matches!(w, [kw, table] if (*kw == "FROM" || *kw == "JOIN") && GUARDED.contains(table))
        })
    }

    #[test]
    fn the_whole_org_adds_nothing() {
        let v = Viewer::Everything;
        for kind in [
            Kind::Sample,
            Kind::Batch,
            Kind::Run,
            Kind::File,
            Kind::Analysis,
            Kind::Project,
            Kind::Event,
        ] {
            assert_eq!(v.filter(kind, "x", 3), "");
            assert_eq!(v.condition(kind, "x", 3), "1 = 1");
        }
    }

    #[test]
    fn a_member_rule_names_only_their_parameter() {
        let v = Viewer::Projects("u".into());
        for kind in [
            Kind::Sample,
            Kind::Batch,
            Kind::Run,
            Kind::File,
            Kind::Analysis,
            Kind::Project,
            Kind::Event,
        ] {
            let sql = v.filter(kind, "x", 7);
            assert!(sql.starts_with(" AND "), "{sql}");
            assert!(sql.contains("$7"), "{sql}");
            // No other parameter: the rule binds exactly one value.
            let others = sql
                .match_indices('$')
                .filter(|(i, _)| !sql[*i..].starts_with("$7"));
            assert_eq!(others.count(), 0, "{sql}");
        }
    }
}
