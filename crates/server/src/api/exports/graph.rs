//! `ro-crate-metadata.json` of an export: RO-Crate 1.1 as the ELN Consortium reads it. The root
//! Dataset lists every entry; every sample is a `Dataset` (`./samples/<code>/`, holding its
//! record `sample.json`) with its identifier, dates, `author` (a `Person`), keywords, status,
//! type, storage location, custom fields as `variableMeasured` `PropertyValue`s (`value`,
//! `unitText`), its aliquots (`hasPart`/`isPartOf`), its custody events as `Comment`s and the
//! files attached to it. Every value has the type the consortium's schema asks for (strings
//! for `version`, `contentSize`, `keywords`, …).

use super::archive::Entry;
use labledger_domain::custom_field::{FieldDef, FieldKind};
use labledger_domain::Timestamp;
use labledger_store::{CustodyEvent, CustodyRecord, FileRecord};
use serde_json::{json, Map, Value};
use std::collections::{BTreeMap, HashMap};

/// What the RO-Crate's root Dataset says.
pub(super) struct CrateInfo {
    pub(super) name: String,
    pub(super) description: String,
    pub(super) identifier: String,
    pub(super) created_at: Timestamp,
    pub(super) keywords: String,
    pub(super) org_name: String,
    pub(super) now: Timestamp,
}

/// A sample as the crate describes it.
pub(super) struct SampleNode {
    pub(super) record: CustodyRecord,
    /// The sample it was taken from, if any (its id).
    pub(super) parent: Option<String>,
    /// Archive paths of the exported files attached to it.
    pub(super) files: Vec<String>,
    /// Archive path of its record (`samples/<code>/sample.json`).
    pub(super) record_path: String,
}

/// The folder of a sample in the archive.
pub(super) fn sample_dir(code: &str) -> String {
    format!("samples/{}", super::archive::safe_name(code))
}

fn person_id(e: &CustodyEvent) -> String {
    match &e.actor_id {
        Some(id) => format!("#person-{id}"),
        None => format!("#person-{}", e.actor_type),
    }
}

/// The `Person` nodes of every actor of the samples' custody events (once each).
fn persons(samples: &[SampleNode]) -> Vec<Value> {
    let mut seen = BTreeMap::new();
    for e in samples.iter().flat_map(|s| &s.record.events) {
        seen.entry(person_id(e))
            .or_insert_with(|| e.actor_name.clone());
    }
    seen.into_iter()
        .map(|(id, name)| json!({"@id": id, "@type": "Person", "name": name}))
        .collect()
}

fn custody_text(e: &CustodyEvent) -> String {
    let mut t = e.kind.as_str().to_owned();
    match (&e.from, &e.to) {
        (Some(f), Some(to)) => t.push_str(&format!(": {f} → {to}")),
        (None, Some(to)) => t.push_str(&format!(": → {to}")),
        (Some(f), None) => t.push_str(&format!(": {f} →")),
        (None, None) => {}
    }
    if let Some(r) = &e.reason {
        t.push_str(&format!(" ({r})"));
    }
    t
}

/// A custom value as a `PropertyValue` (the key as `propertyID`, the unit of a number field as
/// `unitText`).
fn property(sample_id: &str, key: &str, value: &Value, def: Option<&FieldDef>) -> Value {
    let mut p = json!({
        "@id": format!("#sample-{sample_id}-field-{key}"),
        "@type": "PropertyValue",
        "propertyID": key,
        "name": def.map(|d| d.label.clone()).unwrap_or_else(|| key.to_owned()),
        "value": value,
    });
    if let (Some(FieldKind::Number { unit: Some(u), .. }), Some(m)) =
        (def.map(|d| &d.kind), p.as_object_mut())
    {
        m.insert("unitText".into(), json!(u));
    }
    p
}

/// The nodes of one sample: its Dataset, its PropertyValues and its custody Comments.
fn sample_nodes(
    s: &SampleNode,
    defs: &[FieldDef],
    dirs: &HashMap<String, String>,
    children: &[String],
) -> Vec<Value> {
    let sample = &s.record.sample;
    let id = sample.id.to_string();
    let dir = dirs.get(&id).cloned().unwrap_or_default();
    let mut nodes = Vec::new();
    let mut measured = Vec::new();
    for (key, value) in &sample.custom {
        let p = property(&id, key, value, defs.iter().find(|d| &d.key == key));
        measured.push(json!({"@id": format!("#sample-{id}-field-{key}")}));
        nodes.push(p);
    }
    if let Some(q) = sample.quantity {
        let mut p = json!({
            "@id": format!("#sample-{id}-quantity"),
            "@type": "PropertyValue",
            "propertyID": "quantity",
            "name": "Quantity",
            "value": q,
        });
        if let (Some(u), Some(m)) = (&sample.unit, p.as_object_mut()) {
            m.insert("unitText".into(), json!(u));
        }
        measured.push(json!({"@id": format!("#sample-{id}-quantity")}));
        nodes.push(p);
    }
    let mut comments = Vec::new();
    for e in &s.record.events {
        let cid = format!("#custody-{id}-{}", e.seq);
        comments.push(json!({"@id": cid}));
        nodes.push(json!({
            "@id": cid,
            "@type": "Comment",
            "dateCreated": e.at.to_rfc3339(),
            "text": custody_text(e),
            "author": {"@id": person_id(e)},
        }));
    }
    let mut parts = vec![json!({"@id": format!("./{}", s.record_path)})];
    parts.extend(s.files.iter().map(|f| json!({"@id": format!("./{f}")})));
    parts.extend(
        children
            .iter()
            .filter_map(|c| dirs.get(c))
            .map(|d| json!({"@id": d})),
    );
    let mut keywords = vec![sample.sample_type.clone()];
    keywords.push(sample.status.as_str().to_owned());
    let mut m = Map::new();
    m.insert("@id".into(), json!(dir));
    m.insert("@type".into(), json!("Dataset"));
    m.insert("name".into(), json!(sample.code));
    m.insert("identifier".into(), json!(id));
    m.insert("additionalType".into(), json!("Sample"));
    m.insert("genre".into(), json!(sample.sample_type));
    m.insert("creativeWorkStatus".into(), json!(sample.status.as_str()));
    m.insert("dateCreated".into(), json!(sample.created_at.to_rfc3339()));
    m.insert("dateModified".into(), json!(sample.updated_at.to_rfc3339()));
    m.insert("keywords".into(), json!(keywords.join(", ")));
    if let Some(first) = s.record.events.first() {
        m.insert("author".into(), json!({"@id": person_id(first)}));
    }
    if let Some(notes) = sample.notes.as_ref().filter(|n| !n.trim().is_empty()) {
        m.insert("text".into(), json!(notes));
    }
    if let Some(p) = &s.record.placement {
        m.insert(
            "contentLocation".into(),
            json!(format!("{} / {}", p.path, p.position)),
        );
    }
    if !measured.is_empty() {
        m.insert("variableMeasured".into(), Value::Array(measured));
    }
    if !comments.is_empty() {
        m.insert("comment".into(), Value::Array(comments));
    }
    m.insert("hasPart".into(), Value::Array(parts));
    if let Some(parent) = s.parent.as_ref().and_then(|p| dirs.get(p)) {
        m.insert("isPartOf".into(), json!({"@id": parent}));
    }
    nodes.insert(0, Value::Object(m));
    nodes
}

/// The whole `ro-crate-metadata.json`.
pub(super) fn ro_crate(
    info: &CrateInfo,
    entries: &[Entry],
    files: &[(String, FileRecord)],
    samples: &[SampleNode],
    defs: &[FieldDef],
) -> Value {
    let now = info.now;
    let mut graph = vec![
        json!({
            "@id": "ro-crate-metadata.json",
            "@type": "CreativeWork",
            "about": {"@id": "./"},
            "conformsTo": {"@id": "https://w3id.org/ro/crate/1.1"},
            "dateCreated": now.to_rfc3339(),
            "sdPublisher": {"@id": "#publisher"},
            "version": "1.0",
        }),
        json!({
            "@id": "#publisher",
            "@type": "Organization",
            "name": "LabLedger",
        }),
        json!({
            "@id": "#org",
            "@type": "Organization",
            "name": info.org_name,
        }),
        // RO-Crate requires a license on the root; the data is the organization's.
        json!({
            "@id": "#license",
            "@type": "CreativeWork",
            "name": format!("Terms of {}", info.org_name),
            "description": format!(
                "Exported from LabLedger by {}: all rights reserved unless the organization states otherwise.",
                info.org_name
            ),
        }),
    ];
    let dirs: HashMap<String, String> = samples
        .iter()
        .map(|s| {
            let code = &s.record.sample.code;
            (
                s.record.sample.id.to_string(),
                format!("./{}/", sample_dir(code)),
            )
        })
        .collect();
    let mut has_part: Vec<Value> = entries
        .iter()
        .map(|e| json!({"@id": format!("./{}", e.path)}))
        .collect();
    has_part.extend(
        samples
            .iter()
            .filter_map(|s| dirs.get(&s.record.sample.id.to_string()))
            .map(|d| json!({"@id": d})),
    );
    graph.push(json!({
        "@id": "./",
        "@type": "Dataset",
        "name": info.name,
        "description": info.description,
        "identifier": info.identifier,
        "dateCreated": info.created_at.to_rfc3339(),
        "datePublished": now.to_rfc3339(),
        "publisher": {"@id": "#org"},
        "license": {"@id": "#license"},
        "keywords": info.keywords,
        "hasPart": has_part,
    }));
    graph.extend(persons(samples));
    for s in samples {
        let id = s.record.sample.id.to_string();
        let children: Vec<String> = samples
            .iter()
            .filter(|c| c.parent.as_deref() == Some(id.as_str()))
            .map(|c| c.record.sample.id.to_string())
            .collect();
        graph.extend(sample_nodes(s, defs, &dirs, &children));
    }
    let by_path: HashMap<&str, &FileRecord> = files.iter().map(|(p, f)| (p.as_str(), f)).collect();
    for e in entries {
        let name = by_path
            .get(e.path.as_str())
            .map(|f| f.name.clone())
            .unwrap_or_else(|| e.path.rsplit('/').next().unwrap_or(&e.path).to_owned());
        let mut entity = json!({
            "@id": format!("./{}", e.path),
            "@type": "File",
            "name": name,
            "encodingFormat": e.media_type,
            "contentSize": e.size.to_string(),
            "sha256": e.sha256,
            "dateCreated": now.to_rfc3339(),
        });
        if let (Some(f), Some(obj)) = (by_path.get(e.path.as_str()), entity.as_object_mut()) {
            obj.insert("identifier".into(), json!(f.id.to_string()));
            obj.insert("version".into(), json!(f.version.to_string()));
            obj.insert("dateCreated".into(), json!(f.created_at.to_rfc3339()));
        }
        graph.push(entity);
    }
    json!({
        "@context": "https://w3id.org/ro/crate/1.1/context",
        "@graph": graph,
    })
}
