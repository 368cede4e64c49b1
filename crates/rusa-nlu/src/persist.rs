//! Helpers for the saved form of trained components.

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use serde::{Deserialize, Deserializer, Serializer};

/// Writes 4-byte values as base64 of their little-endian bytes.
fn serialize_le<T: Copy, S: Serializer>(
    values: &[T],
    to_le: impl Fn(T) -> [u8; 4],
    s: S,
) -> Result<S::Ok, S::Error> {
    let mut bytes = Vec::with_capacity(values.len() * 4);
    for v in values {
        bytes.extend_from_slice(&to_le(*v));
    }
    s.serialize_str(&STANDARD.encode(bytes))
}

/// Reads what [`serialize_le`] wrote; `what` names the type in the error.
fn deserialize_le<'de, T, D: Deserializer<'de>>(
    d: D,
    what: &str,
    from_le: impl Fn([u8; 4]) -> T,
) -> Result<Vec<T>, D::Error> {
    let text = String::deserialize(d)?;
    let bytes = STANDARD
        .decode(text.as_bytes())
        .map_err(serde::de::Error::custom)?;
    if bytes.len() % 4 != 0 {
        return Err(serde::de::Error::custom(format!(
            "{what} data is not a multiple of 4 bytes"
        )));
    }
    Ok(bytes
        .chunks_exact(4)
        .map(|c| from_le([c[0], c[1], c[2], c[3]]))
        .collect())
}

/// Serialises a `Vec<f32>` as base64 of its little-endian bytes: compact in JSON and exact.
pub(crate) mod f32_base64 {
    use serde::{Deserializer, Serializer};

    pub(crate) fn serialize<S: Serializer>(values: &[f32], s: S) -> Result<S::Ok, S::Error> {
        super::serialize_le(values, f32::to_le_bytes, s)
    }

    pub(crate) fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<f32>, D::Error> {
        super::deserialize_le(d, "f32", f32::from_le_bytes)
    }
}

/// Serialises a `Vec<u32>` as base64 of its little-endian bytes.
pub(crate) mod u32_base64 {
    use serde::{Deserializer, Serializer};

    pub(crate) fn serialize<S: Serializer>(values: &[u32], s: S) -> Result<S::Ok, S::Error> {
        super::serialize_le(values, u32::to_le_bytes, s)
    }

    pub(crate) fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<u32>, D::Error> {
        super::deserialize_le(d, "u32", u32::from_le_bytes)
    }
}
