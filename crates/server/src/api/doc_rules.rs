//! The statuses that follow from how a route is built, added to the generated OpenAPI document
//! by rule, in one place: an authenticated route can answer 401 and 403, a route naming a record
//! 404, a route taking query parameters 400 (they are parsed strictly), a JSON body 400, 413, 415
//! and 422, a password check 429, and any route 500 or 503. Each rule only adds a status an
//! operation does not document already, so a hand-written, more specific description stays.
//!
//! Binary bodies are declared as such (`format: binary` with their `contentMediaType`) so that
//! client generators emit them as bytes, and each binary answer is also offered as
//! `application/octet-stream` (see [`octet_stream_on_request`]), the one binary media type
//! every generator reads.

use axum::extract::Request;
use axum::http::{header, HeaderValue};
use axum::middleware::Next;
use axum::response::Response as HttpResponse;
use utoipa::openapi::path::{Operation, ParameterIn, PathItem};
use utoipa::openapi::response::{Response, ResponseBuilder};
use utoipa::openapi::schema::{KnownFormat, ObjectBuilder, SchemaFormat, Type};
use utoipa::openapi::{Content, HeaderBuilder, OpenApi as OpenApiDoc, Ref, RefOr, Schema};

/// Operations that check a password or code and so are throttled (429 with `Retry-After`).
const THROTTLED: &[&str] = &[
    "login",
    "change_password",
    "request_reset",
    "accept_invitation",
    // E-signatures re-check the signer's password.
    "approve_protocol_version",
    "sign_compliance_record",
    "close_compliance_record",
    "record_workflow_step",
    "verify_workflow_step",
    "complete_workflow_run",
];

/// One shared response: its component name, status and description.
struct Shared {
    name: &'static str,
    status: &'static str,
    description: &'static str,
}

const UNAUTHORIZED: Shared = Shared {
    name: "Unauthorized",
    status: "401",
    description: "No credential, or an invalid, expired or revoked one (`/problems/unauthorized`).",
};
const FORBIDDEN: Shared = Shared {
    name: "Forbidden",
    status: "403",
    description:
        "A valid credential that may not do this: a missing permission, a missing CSRF token \
        (unsafe methods with a session), an API token on a route for persons, a step-up or MFA \
        enrolment the organization requires, or a disabled organization.",
};
const NOT_FOUND: Shared = Shared {
    name: "NotFound",
    status: "404",
    description: "No such record for the caller (the same answer whether it does not exist or may \
        not be seen).",
};
const BAD_QUERY: Shared = Shared {
    name: "BadRequest",
    status: "400",
    description:
        "An unknown or invalid query parameter, or a body that cannot be parsed; `errors` \
        names the parameter when there is one.",
};
const TOO_LARGE: Shared = Shared {
    name: "PayloadTooLarge",
    status: "413",
    description: "The body exceeds the size limit.",
};
const UNSUPPORTED: Shared = Shared {
    name: "UnsupportedMediaType",
    status: "415",
    description: "The body is not of a media type this operation takes.",
};
const INVALID: Shared = Shared {
    name: "InvalidInput",
    status: "422",
    description: "A field is missing, unknown, mistyped or invalid; `errors` names it.",
};
const THROTTLED_RESPONSE: Shared = Shared {
    name: "Throttled",
    status: "429",
    description: "Too many failed attempts: back off for `Retry-After` seconds.",
};
const INTERNAL: Shared = Shared {
    name: "InternalError",
    status: "500",
    description: "An error on the server's side; the detail is in its log, under the request id.",
};
const UNAVAILABLE: Shared = Shared {
    name: "Unavailable",
    status: "503",
    description: "The server cannot serve this now (storage unavailable, or mail not configured \
        for routes that send mail); try again later.",
};

const ALL_SHARED: [&Shared; 10] = [
    &UNAUTHORIZED,
    &FORBIDDEN,
    &NOT_FOUND,
    &BAD_QUERY,
    &TOO_LARGE,
    &UNSUPPORTED,
    &INVALID,
    &THROTTLED_RESPONSE,
    &INTERNAL,
    &UNAVAILABLE,
];

const OCTET_STREAM: &str = "application/octet-stream";

/// Applies every rule to every operation of the document.
pub fn apply(doc: &mut OpenApiDoc) {
    let components = doc.components.get_or_insert_with(Default::default);
    for shared in ALL_SHARED {
        components
            .responses
            .insert(shared.name.to_owned(), RefOr::T(shared_response(shared)));
    }
    for (path, item) in doc.paths.paths.iter_mut() {
        for op in operations_mut(item) {
            for shared in statuses_of(path, op) {
                op.responses
                    .responses
                    .entry(shared.status.to_owned())
                    .or_insert_with(|| RefOr::Ref(Ref::from_response_name(shared.name)));
            }
            declare_binary(op);
        }
    }
}

/// Every operation of a path, whatever its method.
pub fn operations_mut(item: &mut PathItem) -> impl Iterator<Item = &mut Operation> {
    [
        &mut item.get,
        &mut item.post,
        &mut item.put,
        &mut item.patch,
        &mut item.delete,
    ]
    .into_iter()
    .flatten()
}

fn shared_response(shared: &Shared) -> Response {
    let problem = Content::new(Some(RefOr::<Schema>::Ref(Ref::from_schema_name("Problem"))));
    let mut builder = ResponseBuilder::new()
        .description(shared.description)
        .content("application/problem+json", problem);
    if shared.status == "429" {
        let seconds = ObjectBuilder::new()
            .schema_type(Type::Integer)
            .minimum(Some(1));
        builder = builder.header(
            "Retry-After",
            HeaderBuilder::new()
                .schema(seconds)
                .description(Some("Seconds to wait before the next attempt"))
                .build(),
        );
    }
    builder.build()
}

/// The statuses an operation can answer because of how it is built.
fn statuses_of(path: &str, op: &Operation) -> Vec<&'static Shared> {
    let mut statuses = Vec::new();
    let authenticated = op.security.as_ref().is_some_and(|s| !s.is_empty());
    if authenticated {
        statuses.extend([&UNAUTHORIZED, &FORBIDDEN]);
    }
    if path.contains('{') {
        statuses.push(&NOT_FOUND);
    }
    let has_query = op
        .parameters
        .iter()
        .flatten()
        .any(|p| matches!(p.parameter_in, ParameterIn::Query));
    let body_types: Vec<&str> = op
        .request_body
        .iter()
        .flat_map(|b| b.content.keys().map(String::as_str))
        .collect();
    if has_query || !body_types.is_empty() {
        statuses.push(&BAD_QUERY);
    }
    if !body_types.is_empty() {
        statuses.extend([&TOO_LARGE, &UNSUPPORTED]);
    }
    if body_types.iter().any(|t| is_json(t)) {
        statuses.push(&INVALID);
    }
    if op
        .operation_id
        .as_deref()
        .is_some_and(|id| THROTTLED.contains(&id))
    {
        statuses.push(&THROTTLED_RESPONSE);
    }
    statuses.extend([&INTERNAL, &UNAVAILABLE]);
    statuses
}

fn is_json(media_type: &str) -> bool {
    media_type == "application/json" || media_type.ends_with("+json")
}

fn is_text(media_type: &str) -> bool {
    media_type.starts_with("text/")
}

/// A string of `media_type` bytes: `format: binary` unless it is text (generators read text
/// answers as strings).
fn bytes_schema(media_type: &str) -> RefOr<Schema> {
    let mut schema = ObjectBuilder::new()
        .schema_type(Type::String)
        .content_media_type(media_type);
    if !is_text(media_type) {
        schema = schema.format(Some(SchemaFormat::KnownFormat(KnownFormat::Binary)));
    }
    RefOr::T(Schema::Object(schema.build()))
}

/// Gives every non-JSON body a bytes schema, and offers each binary success answer as
/// `application/octet-stream` too.
fn declare_binary(op: &mut Operation) {
    if let Some(body) = op.request_body.as_mut() {
        for (media_type, content) in body.content.iter_mut() {
            if !is_json(media_type) {
                content.schema = Some(bytes_schema(media_type));
            }
        }
    }
    for (status, response) in op.responses.responses.iter_mut() {
        let RefOr::T(response) = response else {
            continue;
        };
        let mut binary = false;
        for (media_type, content) in response.content.iter_mut() {
            if is_json(media_type) {
                continue;
            }
            content.schema = Some(bytes_schema(media_type));
            binary |= !is_text(media_type);
        }
        if binary && status.starts_with('2') && !response.content.contains_key(OCTET_STREAM) {
            response.content.insert(
                OCTET_STREAM.to_owned(),
                Content::new(Some(bytes_schema(OCTET_STREAM))),
            );
        }
    }
}

/// A caller that asks for `application/octet-stream` alone gets a binary answer labelled so
/// (the same bytes): the alternative media type the document offers for every binary answer.
pub async fn octet_stream_on_request(request: Request, next: Next) -> HttpResponse {
    let wants_octets = request
        .headers()
        .get(header::ACCEPT)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.trim().eq_ignore_ascii_case(OCTET_STREAM));
    let mut response = next.run(request).await;
    if wants_octets && response.status().is_success() {
        let binary = response
            .headers()
            .get(header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.split(';').next())
            .map(str::trim)
            .is_some_and(|t| !is_json(t) && !is_text(t) && !t.is_empty());
        if binary {
            response
                .headers_mut()
                .insert(header::CONTENT_TYPE, HeaderValue::from_static(OCTET_STREAM));
        }
    }
    response
}
