//! Custom sample fields marked sensitive: their values are sealed (AES-256-GCM under the org's
//! field key, bound to org, sample and field) before the store sees them, and opened for
//! readers of samples. The field key is wrapped by the org key (`vault::fields`).

use crate::error::{ApiError, ApiResult};
use crate::state::AppState;
use base64::Engine as _;
use labledger_domain::custom_field::{as_sealed, sealed_value, FieldDef};
use labledger_domain::SampleId;
use labledger_store::{FieldKeyMaterial, NewSample, OrgScope, Sample};
use labledger_vault::fields::{FieldKey, FIELD_KEY_PURPOSE};

const B64: base64::engine::GeneralPurpose = base64::engine::general_purpose::STANDARD;

fn open_material(state: &AppState, org: &str, m: &FieldKeyMaterial) -> ApiResult<FieldKey> {
    let org_key = state
        .config()
        .vault
        .org_key(org, &m.wrapped_org_key)
        .map_err(|e| ApiError::Integrity(format!("the org key does not unwrap: {e}")))?;
    let raw = org_key
        .unwrap_secret(FIELD_KEY_PURPOSE, &m.wrapped_field_key)
        .map_err(|e| ApiError::Integrity(format!("the field key does not unwrap: {e}")))?;
    Ok(FieldKey::from_bytes(org, raw))
}

/// The org's field key, made on first use (with the org key, if the org has none yet).
async fn field_key_for_writing(state: &AppState, scope: &OrgScope) -> ApiResult<FieldKey> {
    let org_db = state.store().org(scope);
    let org = scope.org_id().to_string();
    if let Some(m) = org_db.field_key_material().await? {
        return open_material(state, &org, &m);
    }
    let vault = state.config().vault.clone();
    let (_, new_org_key) = vault
        .new_org_key(&org)
        .map_err(|e| ApiError::Internal(format!("making the org key: {e}")))?;
    let for_org = org.clone();
    let material = org_db
        .ensure_field_key(
            new_org_key,
            Box::new(move |wrapped_org_key: &[u8]| {
                let org_key = vault
                    .org_key(&for_org, wrapped_org_key)
                    .map_err(|e| format!("the org key does not unwrap: {e}"))?;
                let (_, raw) = FieldKey::generate(&for_org);
                org_key
                    .wrap_secret(FIELD_KEY_PURPOSE, raw)
                    .map_err(|e| format!("wrapping the field key: {e}"))
            }),
        )
        .await?;
    open_material(state, &org, &material)
}

/// Seals the values of sensitive fields of new samples in place, each bound to the sample's
/// id (chosen here).
pub(crate) async fn seal_new_samples(
    state: &AppState,
    scope: &OrgScope,
    defs: &[FieldDef],
    samples: &mut [NewSample],
) -> ApiResult<()> {
    let sensitive: Vec<&FieldDef> = defs.iter().filter(|d| d.sensitive).collect();
    let any = samples
        .iter()
        .any(|s| sensitive.iter().any(|d| s.custom.contains_key(&d.key)));
    if !any {
        return Ok(());
    }
    let key = field_key_for_writing(state, scope).await?;
    for s in samples.iter_mut() {
        let id = *s.id.get_or_insert_with(SampleId::new);
        let id = id.to_string();
        for def in &sensitive {
            let Some(value) = s.custom.get_mut(&def.key) else {
                continue;
            };
            let plain = serde_json::to_vec(value)
                .map_err(|e| ApiError::Internal(format!("encoding a value: {e}")))?;
            let sealed = key
                .seal(&id, &def.key, &plain)
                .map_err(|e| ApiError::Internal(format!("sealing a value: {e}")))?;
            *value = sealed_value(B64.encode(sealed), &id);
        }
    }
    Ok(())
}

/// Opens the sealed values of samples in place (for readers of samples). Without sealed values,
/// no key is read.
pub(crate) async fn reveal(
    state: &AppState,
    scope: &OrgScope,
    samples: &mut [Sample],
) -> ApiResult<()> {
    let any = samples
        .iter()
        .any(|s| s.custom.values().any(|v| as_sealed(v).is_some()));
    if !any {
        return Ok(());
    }
    let org = scope.org_id().to_string();
    let material = state
        .store()
        .org(scope)
        .field_key_material()
        .await?
        .ok_or_else(|| ApiError::Integrity("the org's field key is missing".into()))?;
    let key = open_material(state, &org, &material)?;
    for s in samples.iter_mut() {
        for (field, value) in s.custom.iter_mut() {
            let Some((b64, sealed_for)) = as_sealed(value) else {
                continue;
            };
            let sealed = B64.decode(b64).map_err(|_| {
                ApiError::Integrity(format!("sealed value of `{field}` is not base64"))
            })?;
            let plain = key.open(sealed_for, field, &sealed).map_err(|e| {
                ApiError::Integrity(format!("the value of `{field}` of {}: {e}", s.code))
            })?;
            *value = serde_json::from_slice(&plain)
                .map_err(|e| ApiError::Integrity(format!("the value of `{field}`: {e}")))?;
        }
    }
    Ok(())
}

/// [`reveal`] for one sample.
pub(crate) async fn reveal_one(
    state: &AppState,
    scope: &OrgScope,
    sample: Sample,
) -> ApiResult<Sample> {
    let mut one = [sample];
    reveal(state, scope, &mut one).await?;
    let [sample] = one;
    Ok(sample)
}

/// [`reveal`] for the samples of custody records (custody reports, project exports).
pub(crate) async fn reveal_custody(
    state: &AppState,
    scope: &OrgScope,
    records: &mut [labledger_store::CustodyRecord],
) -> ApiResult<()> {
    let mut samples: Vec<Sample> = records.iter().map(|r| r.sample.clone()).collect();
    reveal(state, scope, &mut samples).await?;
    for (r, s) in records.iter_mut().zip(samples) {
        r.sample = s;
    }
    Ok(())
}
