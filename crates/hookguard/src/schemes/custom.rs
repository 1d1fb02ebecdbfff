//! [`CustomScheme`]: a builder for any HMAC-SHA256 provider that the presets do not cover.

use http::HeaderName;

use crate::error::SchemeError;
use crate::key::KeyFormat;
use crate::scheme::{Encoding, Part, Scheme, SchemeDef, SignatureFormat, TimestampSource};

/// Describes an HMAC-SHA256 scheme; start it with [`Scheme::custom`].
///
/// The signed content is a template over `{id}`, `{timestamp}` and `{payload}` (default `{payload}`); the
/// signature is hex (default) or base64, after an optional prefix. Keys are used as their raw UTF-8 bytes.
#[derive(Clone, Debug)]
#[must_use]
pub struct CustomScheme {
    name: &'static str,
    signature: Option<String>,
    prefix: String,
    encoding: Encoding,
    timestamp: Option<String>,
    id: Option<String>,
    template: String,
}

impl CustomScheme {
    pub(crate) fn new(name: &'static str) -> Self {
        Self {
            name,
            signature: None,
            prefix: String::new(),
            encoding: Encoding::Hex,
            timestamp: None,
            id: None,
            template: "{payload}".to_owned(),
        }
    }

    /// The header that carries the signature (required).
    pub fn signature_header(mut self, name: &str) -> Self {
        self.signature = Some(name.to_owned());
        self
    }

    /// A fixed prefix before the encoded signature, such as `sha256=`.
    pub fn prefix(mut self, prefix: &str) -> Self {
        prefix.clone_into(&mut self.prefix);
        self
    }

    /// How the signature is encoded (default [`Encoding::Hex`]).
    pub fn encoding(mut self, encoding: Encoding) -> Self {
        self.encoding = encoding;
        self
    }

    /// The header with the Unix timestamp in seconds; with it, the tolerance window applies. The template
    /// must then sign `{timestamp}` (see [`signed_content`](Self::signed_content)): an unsigned timestamp
    /// proves nothing about freshness.
    pub fn timestamp_header(mut self, name: &str) -> Self {
        self.timestamp = Some(name.to_owned());
        self
    }

    /// The header with the event id (the idempotency key).
    pub fn id_header(mut self, name: &str) -> Self {
        self.id = Some(name.to_owned());
        self
    }

    /// The bytes that are signed, as a template over `{id}`, `{timestamp}` and `{payload}`, e.g.
    /// `"{timestamp}.{payload}"`.
    pub fn signed_content(mut self, template: &str) -> Self {
        template.clone_into(&mut self.template);
        self
    }

    /// Checks the description and builds the scheme.
    ///
    /// # Errors
    /// A [`SchemeError`] naming the first problem: no or an invalid header name, or a template that does not
    /// sign the payload, names an unknown placeholder, uses one without a header to read it from, or leaves a
    /// configured timestamp unsigned.
    pub fn build(self) -> Result<Scheme, SchemeError> {
        let header = |name: &str| {
            let name = HeaderName::from_bytes(name.as_bytes())
                .map_err(|_| SchemeError::InvalidHeaderName(name.to_owned()))?;
            // A name built at run time holds its bytes in a buffer whose first clone allocates a shared handle.
            // Clone it once now, so that naming it in a `VerifyError` never allocates on the verify path.
            drop(name.clone());
            Ok(name)
        };
        let signature = header(
            self.signature
                .as_deref()
                .ok_or(SchemeError::MissingSignatureHeader)?,
        )?;
        let timestamp = self.timestamp.as_deref().map(header).transpose()?;
        let id = self.id.as_deref().map(header).transpose()?;
        // Printable ASCII, and no leading space: HTTP trims it from field values, so it could never arrive.
        let printable = self.prefix.bytes().all(|b| (b' '..=b'~').contains(&b));
        if !printable || self.prefix.starts_with(' ') {
            return Err(SchemeError::InvalidPrefix);
        }
        let content = parse_template(&self.template)?;
        if !content.contains(&Part::Payload) {
            return Err(SchemeError::PayloadNotSigned);
        }
        if timestamp.is_none() && content.contains(&Part::Timestamp) {
            return Err(SchemeError::PlaceholderWithoutHeader("timestamp"));
        }
        if timestamp.is_some() && !content.contains(&Part::Timestamp) {
            return Err(SchemeError::TimestampNotSigned);
        }
        if id.is_none() && content.contains(&Part::Id) {
            return Err(SchemeError::PlaceholderWithoutHeader("id"));
        }
        Ok(Scheme::from_def(SchemeDef {
            name: self.name,
            signature,
            alternate: None,
            id,
            id_fallback: None,
            timestamp: timestamp.map_or(TimestampSource::None, TimestampSource::Header),
            format: SignatureFormat::Single {
                prefix: self.prefix.into(),
                encoding: self.encoding,
            },
            content,
            keys: KeyFormat::Raw,
        }))
    }
}

fn parse_template(template: &str) -> Result<Vec<Part>, SchemeError> {
    let mut parts = Vec::new();
    let mut rest = template;
    while let Some(open) = rest.find('{') {
        if open > 0 {
            parts.push(Part::Literal(rest.as_bytes()[..open].to_vec().into()));
        }
        let after = &rest[open + 1..];
        let close = after.find('}').ok_or(SchemeError::UnclosedPlaceholder)?;
        parts.push(match &after[..close] {
            "id" => Part::Id,
            "timestamp" => Part::Timestamp,
            "payload" | "body" => Part::Payload,
            other => return Err(SchemeError::UnknownPlaceholder(other.to_owned())),
        });
        rest = &after[close + 1..];
    }
    if !rest.is_empty() {
        parts.push(Part::Literal(rest.as_bytes().to_vec().into()));
    }
    Ok(parts)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn template_with_literals_and_placeholders() {
        assert_eq!(
            parse_template("v0:{timestamp}:{body}").unwrap(),
            vec![
                Part::Literal(b"v0:".to_vec().into()),
                Part::Timestamp,
                Part::Literal(b":".to_vec().into()),
                Part::Payload
            ]
        );
    }

    #[test]
    fn prefixes_that_cannot_round_trip_are_refused() {
        // Shown with the `roundtrip` fuzz target: a leading space was signed, then trimmed away on receipt.
        let scheme = |prefix: &str| {
            Scheme::custom("t")
                .signature_header("x-t")
                .prefix(prefix)
                .build()
                .map(|_| ())
        };
        for bad in [" sig=", "\tsig=", "sïg=", "sig\u{7f}"] {
            assert_eq!(scheme(bad), Err(SchemeError::InvalidPrefix), "{bad:?}");
        }
        assert_eq!(scheme("sha256="), Ok(()));
        assert_eq!(scheme("v1 "), Ok(()));
    }

    #[test]
    fn template_errors() {
        assert_eq!(
            parse_template("{nope}"),
            Err(SchemeError::UnknownPlaceholder("nope".into()))
        );
        assert_eq!(
            parse_template("{payload"),
            Err(SchemeError::UnclosedPlaceholder)
        );
        let err = Scheme::custom("x")
            .signature_header("x-sig")
            .signed_content("{id}.{payload}")
            .build();
        assert_eq!(
            err.unwrap_err(),
            SchemeError::PlaceholderWithoutHeader("id")
        );
        let err = Scheme::custom("x")
            .signature_header("x-sig")
            .signed_content("{id}")
            .id_header("x-id")
            .build();
        assert_eq!(err.unwrap_err(), SchemeError::PayloadNotSigned);
        let err = Scheme::custom("x").signature_header("bad header").build();
        assert_eq!(
            err.unwrap_err(),
            SchemeError::InvalidHeaderName("bad header".into())
        );
        assert_eq!(
            Scheme::custom("x").build().unwrap_err(),
            SchemeError::MissingSignatureHeader
        );
    }
}
