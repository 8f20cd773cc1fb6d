//! Stored values: postcard behind a version byte.
//!
//! The first byte names the encoding of the rest, so a later release can read a file written by
//! this one and migrate it. Postcard is compact and not self-describing: stored types must keep
//! plain serde shapes (see `model`).

use serde::Serialize;
use serde::de::DeserializeOwned;

use super::StoreError;

/// Encoding version of every value this binary writes.
pub const VALUE_VERSION: u8 = 1;

pub fn encode<T: Serialize>(value: &T) -> Result<Vec<u8>, StoreError> {
    let out = vec![VALUE_VERSION];
    postcard::to_extend(value, out).map_err(|e| StoreError::Encode(e.to_string())).map(|mut v| {
        v.shrink_to_fit();
        v
    })
}

/// Decodes a value that borrows its text from `bytes` (the views of `model::view`).
pub fn decode_view<'a, T: serde::Deserialize<'a>>(bytes: &'a [u8]) -> Result<T, StoreError> {
    match bytes.split_first() {
        Some((&VALUE_VERSION, rest)) => postcard::from_bytes(rest).map_err(|e| StoreError::Decode(e.to_string())),
        Some((&v, _)) => Err(StoreError::Decode(format!("unknown value encoding version {v}"))),
        None => Err(StoreError::Decode("empty value".into())),
    }
}

/// Decodes a value that owns its data.
pub fn decode<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, StoreError> {
    decode_view(bytes)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{Contact, ContactKind, Timestamp};

    #[test]
    fn round_trip_keeps_accents() {
        let c = Contact {
            handle: "C1".into(),
            registrar: "r1".into(),
            kind: ContactKind::Person,
            name: "João Conceição".into(),
            organization: None,
            street: vec!["Rua da Prata 12, 3.º Esq.".into()],
            city: "Évora".into(),
            postal_code: "7000-001".into(),
            country_code: "PT".into(),
            email: "joao@example.pt".into(),
            phone: Some("+351.912345678".into()),
            fiscal_id: Some("123456789".into()),
            created: Timestamp(1),
            updated: Timestamp(2),
        };
        let bytes = encode(&c).unwrap();
        assert_eq!(bytes[0], VALUE_VERSION);
        let back: Contact = decode(&bytes).unwrap();
        assert_eq!(back, c);
    }

    #[test]
    fn unknown_version_is_refused() {
        let mut bytes = encode(&5u32).unwrap();
        bytes[0] = 99;
        assert!(matches!(decode::<u32>(&bytes), Err(StoreError::Decode(_))));
        assert!(decode::<u32>(&[]).is_err());
    }
}
