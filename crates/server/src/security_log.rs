//! The security-event stream: every `tracing` event of target `security` (from the server, the
//! store and operator commands) becomes one JSON line for a SIEM, with the request it belongs to
//! (request id, source IP, actor, org: fields of the request span), and is counted in
//! `labledger_security_events_total{kind}`.
//!
//! The stream goes to a file (`--security-log FILE`, mode 0600, appended, rotated by size: the
//! file is renamed to `FILE.1` (`.1` to `.2`, … the oldest dropped) and a new one opened, under
//! a lock, so no line is split or lost), or to stderr prefixed with `SECURITY ` (`-`).

use labledger_domain::time::Timestamp;
use serde_json::{Map, Value};
use std::fs::{File, OpenOptions};
use std::io::Write;
use std::path::PathBuf;
use std::sync::Mutex;
use tracing::field::{Field, Visit};
use tracing::span::{Attributes, Id, Record};
use tracing::{Event, Subscriber};
use tracing_subscriber::layer::Context;
use tracing_subscriber::registry::LookupSpan;
use tracing_subscriber::Layer;

/// The target security events are logged under.
pub const TARGET: &str = "security";
/// Fields of the request span a security line carries.
const REQUEST_FIELDS: &[&str] = &["request_id", "client_ip", "actor", "org"];
/// The marker of security lines on stderr.
pub const STDERR_MARKER: &str = "SECURITY ";

/// Where the stream goes.
pub enum SecuritySink {
    /// Counted only (no `--security-log`).
    None,
    Stderr,
    File(Mutex<RotatingFile>),
}

impl SecuritySink {
    /// `-` is stderr; anything else a file path.
    pub fn open(spec: &str, max_bytes: u64, keep: u32) -> std::io::Result<Self> {
        if spec == "-" {
            return Ok(Self::Stderr);
        }
        Ok(Self::File(Mutex::new(RotatingFile::open(
            PathBuf::from(spec),
            max_bytes,
            keep,
        )?)))
    }

    fn write_line(&self, line: &str) {
        match self {
            Self::None => {}
            Self::Stderr => eprintln!("{STDERR_MARKER}{line}"),
            Self::File(file) => {
                let mut file = match file.lock() {
                    Ok(f) => f,
                    Err(poisoned) => poisoned.into_inner(),
                };
                if let Err(e) = file.append(line) {
                    // The stream must not go silent unnoticed: say so where operators look.
                    eprintln!("{STDERR_MARKER}{line}");
                    eprintln!("security log {} unwritable: {e}", file.path.display());
                }
            }
        }
    }
}

/// An append-only file that rotates itself by size.
pub struct RotatingFile {
    path: PathBuf,
    file: File,
    written: u64,
    max_bytes: u64,
    keep: u32,
}

impl RotatingFile {
    pub fn open(path: PathBuf, max_bytes: u64, keep: u32) -> std::io::Result<Self> {
        let file = open_append(&path)?;
        let written = file.metadata()?.len();
        Ok(Self {
            path,
            file,
            written,
            max_bytes: max_bytes.max(4096),
            keep: keep.max(1),
        })
    }

    fn append(&mut self, line: &str) -> std::io::Result<()> {
        let bytes = line.len() as u64 + 1;
        if self.written > 0 && self.written + bytes > self.max_bytes {
            self.rotate()?;
        }
        // One write per line: with O_APPEND, lines of several processes never interleave.
        let mut buf = Vec::with_capacity(line.len() + 1);
        buf.extend_from_slice(line.as_bytes());
        buf.push(b'\n');
        self.file.write_all(&buf)?;
        self.written += bytes;
        Ok(())
    }

    fn rotate(&mut self) -> std::io::Result<()> {
        let numbered = |n: u32| {
            let mut p = self.path.clone().into_os_string();
            p.push(format!(".{n}"));
            PathBuf::from(p)
        };
        for n in (1..self.keep).rev() {
            let from = numbered(n);
            if from.exists() {
                std::fs::rename(&from, numbered(n + 1))?;
            }
        }
        self.file.sync_all()?;
        std::fs::rename(&self.path, numbered(1))?;
        self.file = open_append(&self.path)?;
        self.written = 0;
        Ok(())
    }
}

fn open_append(path: &std::path::Path) -> std::io::Result<File> {
    let mut options = OpenOptions::new();
    options.create(true).append(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    options.open(path)
}

/// The `tracing` layer that writes and counts security events.
pub struct SecurityLayer {
    sink: SecuritySink,
}

impl SecurityLayer {
    pub fn new(sink: SecuritySink) -> Self {
        Self { sink }
    }
}

/// The request fields a span carries (kept as the span's extension).
#[derive(Default)]
struct RequestFields(Map<String, Value>);

struct Collect<'a>(&'a mut Map<String, Value>, Option<&'static [&'static str]>);

impl Collect<'_> {
    fn put(&mut self, field: &Field, value: Value) {
        if self.1.is_none_or(|only| only.contains(&field.name())) {
            self.0.insert(field.name().to_owned(), value);
        }
    }
}

impl Visit for Collect<'_> {
    fn record_str(&mut self, field: &Field, value: &str) {
        self.put(field, Value::from(value));
    }
    fn record_i64(&mut self, field: &Field, value: i64) {
        self.put(field, Value::from(value));
    }
    fn record_u64(&mut self, field: &Field, value: u64) {
        self.put(field, Value::from(value));
    }
    fn record_bool(&mut self, field: &Field, value: bool) {
        self.put(field, Value::from(value));
    }
    fn record_debug(&mut self, field: &Field, value: &dyn std::fmt::Debug) {
        self.put(field, Value::from(format!("{value:?}")));
    }
}

impl<S> Layer<S> for SecurityLayer
where
    S: Subscriber + for<'a> LookupSpan<'a>,
{
    fn on_new_span(&self, attrs: &Attributes<'_>, id: &Id, ctx: Context<'_, S>) {
        let mut fields = RequestFields::default();
        attrs.record(&mut Collect(&mut fields.0, Some(REQUEST_FIELDS)));
        if fields.0.is_empty() {
            return;
        }
        if let Some(span) = ctx.span(id) {
            span.extensions_mut().insert(fields);
        }
    }

    fn on_record(&self, id: &Id, values: &Record<'_>, ctx: Context<'_, S>) {
        let Some(span) = ctx.span(id) else { return };
        let mut extensions = span.extensions_mut();
        if let Some(fields) = extensions.get_mut::<RequestFields>() {
            values.record(&mut Collect(&mut fields.0, Some(REQUEST_FIELDS)));
        } else {
            let mut fields = RequestFields::default();
            values.record(&mut Collect(&mut fields.0, Some(REQUEST_FIELDS)));
            if !fields.0.is_empty() {
                extensions.insert(fields);
            }
        }
    }

    fn on_event(&self, event: &Event<'_>, ctx: Context<'_, S>) {
        if event.metadata().target() != TARGET {
            return;
        }
        let mut line = Map::new();
        line.insert("time".into(), Timestamp::now().to_rfc3339().into());
        line.insert(
            "severity".into(),
            event
                .metadata()
                .level()
                .as_str()
                .to_ascii_lowercase()
                .into(),
        );
        let mut own = Map::new();
        event.record(&mut Collect(&mut own, None));
        // The request's context, innermost span first; the event's own fields win.
        if let Some(scope) = ctx.event_scope(event) {
            for span in scope {
                if let Some(fields) = span.extensions().get::<RequestFields>() {
                    for (k, v) in &fields.0 {
                        line.entry(k.clone()).or_insert_with(|| v.clone());
                    }
                }
            }
        }
        // `event` names the kind; tracing's own `message` is its prose.
        let kind = own
            .remove("event")
            .and_then(|v| v.as_str().map(str::to_owned))
            .unwrap_or_else(|| "unnamed".to_owned());
        line.insert("kind".into(), kind.clone().into());
        for (k, v) in own {
            line.insert(k, v);
        }
        metrics::counter!("labledger_security_events_total", "kind" => kind).increment(1);
        if let Ok(text) = serde_json::to_string(&line) {
            self.sink.write_line(&text);
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::indexing_slicing)]

    use super::*;
    use tracing_subscriber::layer::SubscriberExt;

    #[test]
    fn a_security_event_is_one_json_line_with_its_request() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("security.jsonl");
        let sink = SecuritySink::open(path.to_str().unwrap(), 1 << 20, 3).unwrap();
        let subscriber = tracing_subscriber::registry().with(SecurityLayer::new(sink));
        tracing::subscriber::with_default(subscriber, || {
            let span = tracing::info_span!(
                "request",
                request_id = "r-1",
                client_ip = tracing::field::Empty,
                actor = tracing::field::Empty,
                org = tracing::field::Empty
            );
            let _in = span.enter();
            span.record("client_ip", "203.0.113.9");
            span.record("actor", "user:u-1");
            tracing::warn!(target: "security", event = "login_failed", detail = "x@y");
            tracing::info!(target: "other", "not a security event");
        });
        let text = std::fs::read_to_string(&path).unwrap();
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines.len(), 1, "{text}");
        let line: Value = serde_json::from_str(lines[0]).unwrap();
        assert_eq!(line["kind"], "login_failed");
        assert_eq!(line["severity"], "warn");
        assert_eq!(line["request_id"], "r-1");
        assert_eq!(line["client_ip"], "203.0.113.9");
        assert_eq!(line["actor"], "user:u-1");
        assert_eq!(line["detail"], "x@y");
        assert!(line.get("org").is_none(), "unrecorded fields stay out");
    }

    #[test]
    fn the_file_rotates_by_size_and_keeps_every_line() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("s.log");
        let mut file = RotatingFile::open(path.clone(), 4096, 2).unwrap();
        let line = "x".repeat(999);
        for _ in 0..10 {
            file.append(&line).unwrap();
        }
        let count = |p: &std::path::Path| {
            std::fs::read_to_string(p)
                .map(|t| t.lines().count())
                .unwrap_or(0)
        };
        let rotated = |n| dir.path().join(format!("s.log.{n}"));
        assert_eq!(count(&path) + count(&rotated(1)) + count(&rotated(2)), 10);
        assert!(!rotated(3).exists(), "only `keep` old files");
        assert!(std::fs::metadata(&path).unwrap().len() <= 4096);
    }
}
