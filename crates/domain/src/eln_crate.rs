//! Reading another system's `.eln` (an RO-Crate's `ro-crate-metadata.json`) into what LabLedger
//! makes of it: every entity of the graph with what it becomes (or why it is skipped), the
//! samples (one per `Dataset` that describes a thing), the custom fields their properties need,
//! the files and the aliquot links. Pure: the caller reads the archive and writes the result.
//!
//! The rules, in the order they apply to a `Dataset` other than the root:
//! - one whose `genre` names an experiment, a folder or a workflow is not a thing: skipped;
//! - one without an `identifier` is a folder or a version of another entry (SampleDB's
//!   `versions/0/`, PASTA's folders): skipped;
//! - every other one is a sample: its name, identifier, author, dates, keywords and text are kept
//!   as provenance (never as a LabLedger user's act), its `variableMeasured` `PropertyValue`s
//!   become custom field values (a number with its `unitText`, a date, or text), its `hasPart`
//!   Datasets that are samples too become its aliquots, its `hasPart` Files its attachments.
//!
//! Every `File` with a local path must be in the archive; a `sha256` given must match.

use crate::custom_field::{number_text, parse_key, FieldDef, FieldKind, MAX_FIELDS, MAX_TEXT};
use serde::Serialize;
use serde_json::{Map, Value};
use std::collections::{BTreeMap, HashMap, HashSet};

/// Why a crate's metadata cannot be read (422).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct CrateError(pub String);

fn bad(m: impl Into<String>) -> CrateError {
    CrateError(m.into())
}

/// One entity of the graph and what the import makes of it.
#[derive(Clone, Debug, Serialize, PartialEq)]
pub struct EntityPlan {
    pub id: String,
    #[serde(rename = "type")]
    pub kind: String,
    /// `sample`, `file`, `custom_field`, `person` (provenance), `skipped`, …
    pub becomes: String,
    pub reason: Option<String>,
}

/// A sample to register.
#[derive(Clone, Debug, PartialEq)]
pub struct SamplePlan {
    pub node_id: String,
    pub name: String,
    pub sample_type: String,
    pub identifier: String,
    pub author: Option<String>,
    pub created: Option<String>,
    pub modified: Option<String>,
    pub keywords: Option<String>,
    pub text: Option<String>,
    pub quantity: Option<(f64, Option<String>)>,
    /// Custom values by field key (checked against the fields by the caller).
    pub values: BTreeMap<String, Value>,
    /// Indexes into [`Plan::files`].
    pub files: Vec<usize>,
    /// Index into [`Plan::samples`] of the sample it is part of.
    pub parent: Option<usize>,
}

/// A file of the archive to store.
#[derive(Clone, Debug, PartialEq)]
pub struct FilePlan {
    pub node_id: String,
    /// Relative to the crate root, `/`-separated, normalised.
    pub path: String,
    pub name: String,
    pub media_type: String,
    pub sha256: Option<String>,
}

/// Everything an import does.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Plan {
    /// The crate's name (the new project's).
    pub name: String,
    /// Who wrote the crate (the `sdPublisher`'s name).
    pub publisher: String,
    pub entities: Vec<EntityPlan>,
    pub samples: Vec<SamplePlan>,
    pub files: Vec<FilePlan>,
    /// Fields to define (keys not yet in the org).
    pub new_fields: Vec<FieldDef>,
}

/// Entries of an archive that the graph need not name: RO-Crate's preview and signatures.
pub fn is_sidecar(path: &str) -> bool {
    matches!(
        path,
        "ro-crate-metadata.json" | "ro-crate-preview.html" | "ro-crate.pubkey"
    ) || path.ends_with(".minisig")
        || matches!(path, "manifest.json" | "manifest.sig" | "manifest.pub")
}

/// A local path of an `@id` (`./a/b`, `a/b`, `a//b`), or `None` for a URL, a `#fragment` or the
/// root. Refuses a path that climbs (`..`) or is absolute.
pub fn local_path(id: &str) -> Result<Option<String>, CrateError> {
    if id.starts_with('#') || id.contains("://") || id.starts_with("mailto:") {
        return Ok(None);
    }
    if id.starts_with('/') || id.contains('\\') {
        return Err(bad(format!(
            "the entity {id:?} names a path outside the crate"
        )));
    }
    let decoded = percent_decode(id);
    let mut parts = Vec::new();
    for part in decoded.split('/') {
        match part {
            "" | "." => {}
            ".." => {
                return Err(bad(format!(
                    "the entity {id:?} names a path outside the crate"
                )))
            }
            p => parts.push(p),
        }
    }
    if parts.is_empty() {
        return Ok(None);
    }
    Ok(Some(parts.join("/")))
}

fn percent_decode(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while let Some(&b) = bytes.get(i) {
        if b == b'%' {
            if let Some(v) = bytes
                .get(i + 1..i + 3)
                .and_then(|h| std::str::from_utf8(h).ok())
                .and_then(|h| u8::from_str_radix(h, 16).ok())
            {
                out.push(v);
                i += 3;
                continue;
            }
        }
        out.push(b);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// An archive entry's name below the root folder, normalised like [`local_path`] (empty parts
/// dropped); `Err` for one that climbs, is absolute or has a backslash.
pub fn entry_path(name: &str) -> Result<String, CrateError> {
    if name.starts_with('/') || name.contains('\\') || name.contains('\0') {
        return Err(bad(format!(
            "the archive entry {name:?} is outside the root folder"
        )));
    }
    let mut parts = Vec::new();
    for part in name.split('/') {
        match part {
            "" | "." => {}
            ".." => {
                return Err(bad(format!(
                    "the archive entry {name:?} is outside the root folder"
                )))
            }
            p => parts.push(p),
        }
    }
    Ok(parts.join("/"))
}

fn types(node: &Map<String, Value>) -> Vec<String> {
    match node.get("@type") {
        Some(Value::String(s)) => vec![s.clone()],
        Some(Value::Array(a)) => a
            .iter()
            .filter_map(|t| t.as_str().map(str::to_owned))
            .collect(),
        _ => Vec::new(),
    }
}

/// The `@id`s a property refers to (one reference, a list, or a list serialised as a string as
/// some exporters write it).
fn refs(v: Option<&Value>) -> Vec<String> {
    match v {
        Some(Value::Object(o)) => o
            .get("@id")
            .and_then(Value::as_str)
            .map(|s| vec![s.to_owned()])
            .unwrap_or_default(),
        Some(Value::Array(a)) => a.iter().flat_map(|x| refs(Some(x))).collect(),
        Some(Value::String(s)) if s.trim_start().starts_with('[') => {
            serde_json::from_str::<Value>(s)
                .map(|v| refs(Some(&v)))
                .unwrap_or_default()
        }
        _ => Vec::new(),
    }
}

fn text(node: &Map<String, Value>, key: &str) -> Option<String> {
    match node.get(key)? {
        Value::String(s) if !s.trim().is_empty() => Some(s.trim().to_owned()),
        Value::Number(n) => Some(n.to_string()),
        _ => None,
    }
}

fn single_line(s: &str, max: usize) -> String {
    let one: String = s
        .chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect();
    let one = one.trim();
    if one.chars().count() > max {
        let mut t: String = one.chars().take(max.saturating_sub(1)).collect();
        t.push('…');
        t
    } else {
        one.to_owned()
    }
}

/// A sample type from a genre or category name: lower case, allowed characters only.
fn sample_type_of(raw: &str) -> String {
    let s: String = raw
        .to_lowercase()
        .chars()
        .map(|c| {
            if c.is_alphanumeric() || matches!(c, ' ' | '-' | '_' | '/' | '.') {
                c
            } else {
                ' '
            }
        })
        .collect();
    let s = s.split_whitespace().collect::<Vec<_>>().join(" ");
    let s: String = s.chars().take(64).collect();
    if s.is_empty() {
        "imported".into()
    } else {
        s
    }
}

/// A snake_case field key from a property's id or name.
fn key_of(raw: &str) -> String {
    let mut k = String::new();
    for c in raw.chars() {
        let c = c.to_ascii_lowercase();
        if c.is_ascii_lowercase() || c.is_ascii_digit() {
            k.push(c);
        } else if !k.ends_with('_') && !k.is_empty() {
            k.push('_');
        }
    }
    let mut k = k.trim_matches('_').to_owned();
    if !k.starts_with(|c: char| c.is_ascii_lowercase()) {
        k.insert_str(0, "p_");
    }
    k.truncate(40);
    let k = k.trim_end_matches('_').to_owned();
    parse_key("key", &k).unwrap_or_else(|_| "property".into())
}

fn genre_is_not_a_thing(genre: &str) -> Option<&'static str> {
    let g = genre.to_lowercase();
    if g.starts_with("experiment") {
        Some("an experiment: LabLedger has no notebook entry for it (its files are kept under the project)")
    } else if g.starts_with("folder") || g.starts_with("project") || g.starts_with("collection") {
        Some("a folder: its samples and files are imported, not the folder itself")
    } else if g.starts_with("workflow") || g.starts_with("procedure") {
        Some("a procedure: LabLedger keeps protocols separately (its files are kept)")
    } else {
        None
    }
}

/// A property value: a number (with its unit), a date, or text; `None` when empty.
enum Prop {
    Number(f64),
    Date(String),
    Text(String),
}

fn prop_value(v: &Value) -> Option<Prop> {
    match v {
        Value::Number(n) => n.as_f64().filter(|f| f.is_finite()).map(Prop::Number),
        Value::Bool(b) => Some(Prop::Text(b.to_string())),
        Value::String(s) => {
            let t = s.trim();
            if t.is_empty() {
                None
            } else if let Some(n) = t.parse::<f64>().ok().filter(|f| f.is_finite()) {
                Some(Prop::Number(n))
            } else if t.len() == 10 && crate::Timestamp::parse_rfc3339(t).is_some() {
                Some(Prop::Date(t.to_owned()))
            } else {
                Some(Prop::Text(t.to_owned()))
            }
        }
        Value::Object(o) => o
            .get("@id")
            .and_then(Value::as_str)
            .map(|s| Prop::Text(s.to_owned())),
        _ => None,
    }
}

struct Graph<'a> {
    nodes: HashMap<&'a str, &'a Map<String, Value>>,
    order: Vec<&'a Map<String, Value>>,
}

impl<'a> Graph<'a> {
    fn parse(metadata: &'a Value) -> Result<Self, CrateError> {
        let graph = metadata
            .get("@graph")
            .and_then(Value::as_array)
            .ok_or_else(|| bad("ro-crate-metadata.json has no @graph list: it is not JSON-LD as RO-Crate writes it"))?;
        if metadata.get("@context").is_none() {
            return Err(bad("ro-crate-metadata.json has no @context"));
        }
        let mut nodes = HashMap::new();
        let mut order = Vec::new();
        for (i, n) in graph.iter().enumerate() {
            let o = n
                .as_object()
                .ok_or_else(|| bad(format!("@graph item {i} is not an object")))?;
            let id = o
                .get("@id")
                .and_then(Value::as_str)
                .ok_or_else(|| bad(format!("@graph item {i} has no @id")))?;
            if types(o).is_empty() {
                return Err(bad(format!("the entity {id:?} has no @type")));
            }
            if nodes.insert(id, o).is_some() {
                return Err(bad(format!("the entity {id:?} appears twice in @graph")));
            }
            order.push(o);
        }
        if !nodes.contains_key("ro-crate-metadata.json") {
            return Err(bad("the graph has no ro-crate-metadata.json descriptor"));
        }
        if !nodes.contains_key("./") {
            return Err(bad("the graph has no root Dataset \"./\""));
        }
        Ok(Self { nodes, order })
    }

    fn get(&self, id: &str) -> Option<&'a Map<String, Value>> {
        self.nodes.get(id).copied()
    }

    fn name_of(&self, id: &str) -> Option<String> {
        let n = self.get(id)?;
        text(n, "name").or_else(|| match (text(n, "givenName"), text(n, "familyName")) {
            (Some(g), Some(f)) => Some(format!("{g} {f}")),
            (g, f) => g.or(f),
        })
    }
}

/// One property of a sample, before field types are settled.
struct RawProp {
    key: String,
    label: String,
    unit: Option<String>,
    value: Prop,
}

/// Reads the crate's metadata into a plan. `existing` are the org's field definitions: a
/// property whose key exists and whose value fits it reuses it; otherwise a field is proposed
/// (the key suffixed when the existing one does not fit).
pub fn plan(metadata: &Value, existing: &[FieldDef]) -> Result<Plan, CrateError> {
    let g = Graph::parse(metadata)?;
    let descriptor = g.get("ro-crate-metadata.json").cloned().unwrap_or_default();
    let root = g.get("./").cloned().unwrap_or_default();
    let publisher = refs(descriptor.get("sdPublisher"))
        .first()
        .map(|p| g.name_of(p).unwrap_or_else(|| p.clone()))
        .unwrap_or_else(|| "another system".into());
    let mut out = Plan {
        name: text(&root, "name")
            .map(|n| single_line(&n, 200))
            .unwrap_or_else(|| "Imported .eln".into()),
        publisher,
        ..Plan::default()
    };
    // Files first: samples point at them.
    let mut file_index: HashMap<String, usize> = HashMap::new();
    for n in &g.order {
        let id = n.get("@id").and_then(Value::as_str).unwrap_or_default();
        if !types(n).iter().any(|t| t == "File") {
            continue;
        }
        let Some(path) = local_path(id)? else {
            out.entities.push(EntityPlan {
                id: id.to_owned(),
                kind: "File".into(),
                becomes: "skipped".into(),
                reason: Some("not in the archive (a web address): nothing to store".into()),
            });
            continue;
        };
        if is_sidecar(&path) {
            continue;
        }
        let name = text(n, "name")
            .map(|s| single_line(&s, 200))
            .unwrap_or_else(|| path.rsplit('/').next().unwrap_or(&path).to_owned());
        let sha256 = text(n, "sha256").map(|s| s.to_ascii_lowercase());
        if let Some(s) = &sha256 {
            if s.len() != 64 || !s.chars().all(|c| c.is_ascii_hexdigit()) {
                return Err(bad(format!(
                    "the file {id:?} has a sha256 that is not 64 hex digits"
                )));
            }
        }
        let media_type = text(n, "encodingFormat")
            .filter(|m| m.contains('/') && m.len() <= 200 && !m.chars().any(char::is_control))
            .unwrap_or_else(|| "application/octet-stream".into())
            .to_ascii_lowercase();
        file_index.insert(id.to_owned(), out.files.len());
        out.files.push(FilePlan {
            node_id: id.to_owned(),
            path,
            name,
            media_type,
            sha256,
        });
        out.entities.push(EntityPlan {
            id: id.to_owned(),
            kind: "File".into(),
            becomes: "file".into(),
            reason: None,
        });
    }
    // Samples.
    let mut raw_props: Vec<Vec<RawProp>> = Vec::new();
    let mut sample_index: HashMap<String, usize> = HashMap::new();
    for n in &g.order {
        let id = n.get("@id").and_then(Value::as_str).unwrap_or_default();
        let ty = types(n);
        if !ty.iter().any(|t| t == "Dataset") || id == "./" {
            if !ty.iter().any(|t| t == "File") && id != "./" {
                out.entities.push(describe_other(id, &ty));
            }
            continue;
        }
        let genre = text(n, "genre").unwrap_or_default();
        let skip = |reason: String| EntityPlan {
            id: id.to_owned(),
            kind: "Dataset".into(),
            becomes: "skipped".into(),
            reason: Some(reason),
        };
        if let Some(reason) = genre_is_not_a_thing(&genre) {
            out.entities.push(skip(reason.into()));
            continue;
        }
        let Some(identifier) = text(n, "identifier") else {
            out.entities.push(skip(
                "no identifier: a folder or a version of another entry, not a thing".into(),
            ));
            continue;
        };
        let category = refs(n.get("about")).first().and_then(|a| g.name_of(a));
        let labledger = text(n, "additionalType").as_deref() == Some("Sample");
        let sample_type = sample_type_of(&if labledger || category.is_none() {
            if genre.is_empty() {
                "imported".into()
            } else {
                genre.clone()
            }
        } else {
            category.unwrap_or_default()
        });
        let author = refs(n.get("author"))
            .first()
            .map(|a| g.name_of(a).unwrap_or_else(|| a.clone()));
        let mut props = Vec::new();
        let mut quantity = None;
        for pid in refs(n.get("variableMeasured")) {
            let Some(p) = g.get(&pid) else { continue };
            let Some(value) = p.get("value").and_then(prop_value) else {
                continue;
            };
            let raw_key = text(p, "propertyID")
                .or_else(|| text(p, "name"))
                .unwrap_or(pid.clone());
            let unit = text(p, "unitText").map(|u| single_line(&u, 32));
            // LabLedger's own quantity (not a custom field that happens to be called so).
            if labledger && pid.ends_with("-quantity") && !pid.contains("-field-") {
                if let Prop::Number(q) = value {
                    quantity = Some((q, unit));
                    continue;
                }
            }
            props.push(RawProp {
                key: key_of(&raw_key),
                label: single_line(&text(p, "name").unwrap_or(raw_key), 100),
                unit,
                value,
            });
        }
        let files = refs(n.get("hasPart"))
            .iter()
            .filter_map(|f| file_index.get(f).copied())
            .collect();
        sample_index.insert(id.to_owned(), out.samples.len());
        out.samples.push(SamplePlan {
            node_id: id.to_owned(),
            name: single_line(&text(n, "name").unwrap_or_else(|| identifier.clone()), 200),
            sample_type,
            identifier: single_line(&identifier, 200),
            author,
            created: text(n, "dateCreated"),
            modified: text(n, "dateModified"),
            keywords: text(n, "keywords").map(|k| single_line(&k, 500)),
            text: text(n, "text").or_else(|| text(n, "description")),
            quantity,
            values: BTreeMap::new(),
            files,
            parent: None,
        });
        raw_props.push(props);
        out.entities.push(EntityPlan {
            id: id.to_owned(),
            kind: "Dataset".into(),
            becomes: "sample".into(),
            reason: None,
        });
    }
    // Lineage: a sample that is part of another sample (hasPart one way, isPartOf the other).
    let parents: Vec<(usize, usize)> = out
        .samples
        .iter()
        .enumerate()
        .flat_map(|(pi, s)| {
            let node = g.get(&s.node_id);
            refs(node.and_then(|n| n.get("hasPart")))
                .into_iter()
                .filter_map(|c| sample_index.get(&c).copied())
                .map(move |ci| (pi, ci))
                .collect::<Vec<_>>()
        })
        .chain(out.samples.iter().enumerate().filter_map(|(ci, s)| {
            let node = g.get(&s.node_id)?;
            let p = refs(node.get("isPartOf"))
                .into_iter()
                .find_map(|p| sample_index.get(&p).copied())?;
            Some((p, ci))
        }))
        .collect();
    for (p, c) in parents {
        if p != c && !is_ancestor(&out.samples, c, p) {
            if let Some(s) = out.samples.get_mut(c) {
                s.parent = Some(p);
            }
        }
    }
    settle_fields(&mut out, raw_props, existing);
    Ok(out)
}

/// Whether `a` is `b` or one of `b`'s ancestors (a link that would close a cycle).
fn is_ancestor(samples: &[SamplePlan], a: usize, b: usize) -> bool {
    let mut at = Some(b);
    for _ in 0..=samples.len() {
        match at {
            Some(x) if x == a => return true,
            Some(x) => at = samples.get(x).and_then(|s| s.parent),
            None => return false,
        }
    }
    true
}

fn describe_other(id: &str, ty: &[String]) -> EntityPlan {
    let kind = ty.join(", ");
    let (becomes, reason) = if ty.iter().any(|t| t == "Person") {
        (
            "provenance",
            "kept as the original author of what they wrote, never as a LabLedger user",
        )
    } else if ty.iter().any(|t| t == "PropertyValue") {
        ("custom_field_value", "a property of the entry it describes")
    } else if ty.iter().any(|t| t == "Comment") {
        (
            "skipped",
            "a comment: kept in the original metadata file of the project",
        )
    } else if id == "ro-crate-metadata.json" {
        (
            "evidence_file",
            "the original metadata, kept as a file of the project",
        )
    } else {
        (
            "skipped",
            "context of the crate: kept in the original metadata file of the project",
        )
    };
    EntityPlan {
        id: id.to_owned(),
        kind,
        becomes: becomes.into(),
        reason: Some(reason.into()),
    }
}

/// Decides each property's field (reused or new, with its type and unit) and puts the values
/// on the samples. A field's type is a number when every value is one (its unit the first
/// given), a date when every value is one, text otherwise; a value longer than text allows, or
/// a field past the org's limit, is left out with the reason in the entity list.
fn settle_fields(out: &mut Plan, raw: Vec<Vec<RawProp>>, existing: &[FieldDef]) {
    struct Seen {
        label: String,
        unit: Option<String>,
        all_numbers: bool,
        all_dates: bool,
    }
    let mut seen: BTreeMap<String, Seen> = BTreeMap::new();
    for p in raw.iter().flatten() {
        let e = seen.entry(p.key.clone()).or_insert(Seen {
            label: p.label.clone(),
            unit: None,
            all_numbers: true,
            all_dates: true,
        });
        e.all_numbers &= matches!(p.value, Prop::Number(_));
        e.all_dates &= matches!(p.value, Prop::Date(_));
        if e.unit.is_none() {
            e.unit = p.unit.clone();
        }
    }
    let mut chosen: HashMap<String, FieldDef> = HashMap::new();
    let mut taken: HashSet<String> = existing.iter().map(|d| d.key.clone()).collect();
    let mut room = MAX_FIELDS.saturating_sub(existing.len());
    for (key, s) in &seen {
        let kind = if s.all_numbers {
            FieldKind::Number {
                unit: s.unit.clone().filter(|u| !u.is_empty()),
                min: None,
                max: None,
            }
        } else if s.all_dates {
            FieldKind::Date
        } else {
            FieldKind::Text
        };
        let fits = |d: &FieldDef| !d.sensitive && !d.required && d.kind == kind;
        if let Some(d) = existing.iter().find(|d| &d.key == key).filter(|d| fits(d)) {
            chosen.insert(key.clone(), d.clone());
            continue;
        }
        let mut new_key = key.clone();
        let mut n = 2;
        while taken.contains(&new_key) {
            let mut base = key.clone();
            base.truncate(36);
            new_key = format!("{}_{n}", base.trim_end_matches('_'));
            n += 1;
        }
        if room == 0 {
            out.entities.push(EntityPlan {
                id: format!("field:{key}"),
                kind: "PropertyValue".into(),
                becomes: "skipped".into(),
                reason: Some(format!(
                    "the organization already has {MAX_FIELDS} custom fields (kept in the original metadata file)"
                )),
            });
            continue;
        }
        room -= 1;
        taken.insert(new_key.clone());
        let def = FieldDef {
            key: new_key.clone(),
            label: if s.label.is_empty() {
                new_key.clone()
            } else {
                s.label.clone()
            },
            kind,
            required: false,
            sensitive: false,
        };
        out.entities.push(EntityPlan {
            id: format!("field:{new_key}"),
            kind: "PropertyValue".into(),
            becomes: "custom_field".into(),
            reason: Some(format!("new {} field", describe_kind(&def.kind))),
        });
        out.new_fields.push(def.clone());
        chosen.insert(key.clone(), def);
    }
    for (sample, props) in out.samples.iter_mut().zip(raw) {
        for p in props {
            let Some(def) = chosen.get(&p.key) else {
                continue;
            };
            let value = match p.value {
                Prop::Number(n) => serde_json::Number::from_f64(n).map(Value::Number),
                Prop::Date(d) => Some(Value::String(d)),
                Prop::Text(t)
                    if t.chars().count() > MAX_TEXT || t.chars().any(char::is_control) =>
                {
                    let one = single_line(&t, MAX_TEXT);
                    Some(Value::String(one))
                }
                Prop::Text(t) => Some(Value::String(t)),
            };
            if let Some(v) = value {
                sample.values.entry(def.key.clone()).or_insert(v);
            }
        }
    }
}

fn describe_kind(k: &FieldKind) -> String {
    match k {
        FieldKind::Number { unit: Some(u), .. } => format!("number ({u})"),
        other => other.type_name().to_owned(),
    }
}

/// The provenance sentence kept in an imported sample's notes.
pub fn provenance(s: &SamplePlan, publisher: &str) -> String {
    let mut t = format!(
        "Imported from {publisher} (.eln): “{}”, identifier {}",
        s.name, s.identifier
    );
    if let Some(a) = &s.author {
        t.push_str(&format!(", author {a}"));
    }
    if let Some(c) = &s.created {
        t.push_str(&format!(", created {c}"));
    }
    if let Some(m) = &s.modified {
        t.push_str(&format!(", modified {m}"));
    }
    if let Some(k) = &s.keywords {
        t.push_str(&format!(", keywords {k}"));
    }
    t.push('.');
    single_line(&t, 1900)
}

/// A number as the text a field stores.
pub fn quantity_text(q: f64) -> String {
    number_text(q)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::indexing_slicing)]
    use super::*;
    use serde_json::json;

    fn crate_of(graph: Value) -> Value {
        json!({"@context": "https://w3id.org/ro/crate/1.1/context", "@graph": graph})
    }

    fn base() -> Vec<Value> {
        vec![
            json!({"@id": "ro-crate-metadata.json", "@type": "CreativeWork", "about": {"@id": "./"}}),
            json!({"@id": "./", "@type": "Dataset", "name": "Crate", "hasPart": [{"@id": "./s1/"}]}),
        ]
    }

    #[test]
    fn a_thing_becomes_a_sample_with_typed_fields_and_its_aliquot() {
        let mut g = base();
        g.push(
            json!({"@id": "./s1/", "@type": "Dataset", "name": "Steel", "identifier": "S-1",
            "genre": "sample", "variableMeasured": [{"@id": "#m"}, {"@id": "#d"}],
            "hasPart": [{"@id": "./s1/a.txt"}, {"@id": "./s2/"}], "author": {"@id": "#p"}}),
        );
        g.push(
            json!({"@id": "./s2/", "@type": "Dataset", "name": "Steel piece", "identifier": "S-2"}),
        );
        g.push(json!({"@id": "#m", "@type": "PropertyValue", "propertyID": "Mass", "value": "12.5", "unitText": "g"}));
        g.push(json!({"@id": "#d", "@type": "PropertyValue", "propertyID": "made on", "value": "2024-01-02"}));
        g.push(json!({"@id": "#p", "@type": "Person", "name": "Ada"}));
        g.push(json!({"@id": "./s1/a.txt", "@type": "File", "name": "a.txt", "sha256": "AB".repeat(32)}));
        let p = plan(&crate_of(Value::Array(g)), &[]).unwrap();
        assert_eq!(p.samples.len(), 2);
        assert_eq!(p.samples[0].values["mass"], json!(12.5));
        assert_eq!(p.samples[0].values["made_on"], json!("2024-01-02"));
        assert_eq!(p.samples[0].author.as_deref(), Some("Ada"));
        assert_eq!(p.samples[0].files, vec![0]);
        assert_eq!(p.samples[1].parent, Some(0));
        assert_eq!(p.files[0].sha256.as_deref(), Some("ab".repeat(32).as_str()));
        let mass = p.new_fields.iter().find(|f| f.key == "mass").unwrap();
        assert_eq!(
            mass.kind,
            FieldKind::Number {
                unit: Some("g".into()),
                min: None,
                max: None
            }
        );
    }

    #[test]
    fn experiments_folders_and_versions_are_skipped_with_a_reason() {
        let mut g = base();
        g.push(json!({"@id": "./e/", "@type": "Dataset", "name": "E", "identifier": "1", "genre": "experiment"}));
        g.push(json!({"@id": "./v/", "@type": "Dataset", "name": "V"}));
        let p = plan(&crate_of(Value::Array(g)), &[]).unwrap();
        assert!(p.samples.is_empty());
        assert!(p
            .entities
            .iter()
            .filter(|e| e.id == "./e/" || e.id == "./v/")
            .all(|e| e.becomes == "skipped" && e.reason.is_some()));
    }

    #[test]
    fn bad_graphs_and_climbing_paths_are_refused() {
        assert!(plan(&json!({"@graph": 1}), &[]).is_err());
        assert!(plan(&crate_of(json!([{"@type": "File"}])), &[]).is_err());
        assert!(plan(&crate_of(json!([])), &[]).is_err());
        let mut g = base();
        g.push(json!({"@id": "../etc/passwd", "@type": "File", "name": "x"}));
        assert!(plan(&crate_of(Value::Array(g)), &[]).is_err());
        assert!(entry_path("/abs").is_err());
        assert!(entry_path("a/../../b").is_err());
        assert_eq!(entry_path("a//b/").unwrap(), "a/b");
        assert_eq!(local_path("./a%20b/c").unwrap().as_deref(), Some("a b/c"));
        assert_eq!(local_path("https://x.org/a").unwrap(), None);
    }

    #[test]
    fn an_existing_field_is_reused_when_the_values_fit_and_renamed_when_not() {
        let existing = vec![FieldDef {
            key: "mass".into(),
            label: "Mass".into(),
            kind: FieldKind::Text,
            required: false,
            sensitive: false,
        }];
        let mut g = base();
        g.push(
            json!({"@id": "./s1/", "@type": "Dataset", "name": "S", "identifier": "1",
            "variableMeasured": [{"@id": "#m"}]}),
        );
        g.push(json!({"@id": "#m", "@type": "PropertyValue", "propertyID": "mass", "value": 3}));
        let p = plan(&crate_of(Value::Array(g)), &existing).unwrap();
        assert_eq!(p.new_fields[0].key, "mass_2");
        assert_eq!(p.samples[0].values["mass_2"], json!(3.0));
    }

    #[test]
    fn random_json_ld_never_panics() {
        // Bounded property test: graphs of random nodes (random ids, types, references, values,
        // lists serialised as strings, cycles) give a plan or an error, never a panic.
        let mut seed = 0x0123_4567_89AB_CDEFu64;
        let mut next = move || {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            seed
        };
        let ids = [
            "./",
            "./a/",
            "./b/",
            "./a/f.txt",
            "#p",
            "#v",
            "../x",
            "/abs",
            "https://x/y",
            "./a//g",
        ];
        let types = [
            "Dataset",
            "File",
            "Person",
            "PropertyValue",
            "Comment",
            "Thing",
        ];
        for _ in 0..2000 {
            let mut graph = vec![json!({"@id": "ro-crate-metadata.json", "@type": "CreativeWork"})];
            for _ in 0..(next() % 8) {
                let pick = |n: u64| ids[(n % ids.len() as u64) as usize];
                let mut node = serde_json::Map::new();
                node.insert("@id".into(), json!(pick(next())));
                node.insert(
                    "@type".into(),
                    json!(types[(next() % types.len() as u64) as usize]),
                );
                for key in ["hasPart", "isPartOf", "variableMeasured", "author", "about"] {
                    match next() % 4 {
                        0 => {}
                        1 => {
                            node.insert(key.into(), json!({"@id": pick(next())}));
                        }
                        2 => {
                            node.insert(
                                key.into(),
                                json!([{"@id": pick(next())}, {"@id": pick(next())}]),
                            );
                        }
                        _ => {
                            node.insert(
                                key.into(),
                                json!(format!("[{{\"@id\": \"{}\"}}]", pick(next()))),
                            );
                        }
                    }
                }
                for key in [
                    "identifier",
                    "name",
                    "genre",
                    "value",
                    "unitText",
                    "sha256",
                    "propertyID",
                ] {
                    let v = match next() % 5 {
                        0 => continue,
                        1 => json!(next() as f64 / 7.0),
                        2 => json!("2024-02-30"),
                        3 => json!("x".repeat((next() % 700) as usize)),
                        _ => json!(null),
                    };
                    node.insert(key.into(), v);
                }
                graph.push(Value::Object(node));
            }
            let _ = plan(&crate_of(Value::Array(graph)), &[]);
        }
    }
}
