//! An export document read entity by entity: serde visits the top-level array
//! (or an OData feed's `value` / `d.results` array) and hands each entity on
//! as soon as it is parsed, so memory holds one entity at a time, never the
//! whole document.
//!
//! The entities of a document: the items of a bare array; of an object, the
//! items of its `value` array (an OData feed), else those of `d.results`
//! (OData verbose), else `d` itself, else the object itself (one entity).

use std::fmt;

use serde::de::value::{MapAccessDeserializer, SeqAccessDeserializer};
use serde::de::{DeserializeSeed, Deserializer, MapAccess, SeqAccess, Visitor};
use serde::Deserialize;
use serde_json::{Map, Value};

/// Calls `each` with every entity of the document `d` reads, in order.
pub(super) fn for_each_entity<'de, D: Deserializer<'de>>(d: D, each: &mut dyn FnMut(Value)) -> Result<(), D::Error> {
    d.deserialize_any(Document { each })
}

/// Hands on each item of a sequence, one parsed at a time.
fn each_item<'de, A: SeqAccess<'de>>(mut seq: A, each: &mut dyn FnMut(Value)) -> Result<(), A::Error> {
    while let Some(item) = seq.next_element::<Value>()? {
        each(item);
    }
    Ok(())
}

struct Document<'f> {
    each: &'f mut dyn FnMut(Value),
}

impl<'de> Visitor<'de> for Document<'_> {
    type Value = ();

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("an array of records, an OData feed or one record")
    }

    fn visit_seq<A: SeqAccess<'de>>(self, seq: A) -> Result<(), A::Error> {
        each_item(seq, self.each)
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<(), A::Error> {
        let mut rest = Map::new();
        let mut streamed = false;
        let mut d_entity = None;
        while let Some(key) = map.next_key::<String>()? {
            match key.as_str() {
                "value" => match map.next_value_seed(Nested { each: &mut *self.each, stream_key: None })? {
                    None => streamed = true,
                    Some(v) => {
                        rest.insert(key, v);
                    }
                },
                "d" => match map.next_value_seed(Nested { each: &mut *self.each, stream_key: Some("results") })? {
                    None => streamed = true,
                    Some(v) => d_entity = Some(v),
                },
                _ => {
                    let v: Value = map.next_value()?;
                    rest.insert(key, v);
                }
            }
        }
        if !streamed {
            (self.each)(d_entity.unwrap_or(Value::Object(rest)));
        }
        Ok(())
    }

    // A scalar document holds no entities.
    fn visit_bool<E>(self, _: bool) -> Result<(), E> {
        Ok(())
    }
    fn visit_i64<E>(self, _: i64) -> Result<(), E> {
        Ok(())
    }
    fn visit_u64<E>(self, _: u64) -> Result<(), E> {
        Ok(())
    }
    fn visit_f64<E>(self, _: f64) -> Result<(), E> {
        Ok(())
    }
    fn visit_str<E>(self, _: &str) -> Result<(), E> {
        Ok(())
    }
    fn visit_unit<E>(self) -> Result<(), E> {
        Ok(())
    }
}

/// A value that may hold the entities: with `stream_key: None`, an array is
/// streamed (its items handed on, `None` returned); with `Some(key)`, an
/// object's `key` array is, and the object is `None` then (it was a feed
/// wrapper). Anything else is returned whole as the entity it is.
struct Nested<'f> {
    each: &'f mut dyn FnMut(Value),
    stream_key: Option<&'static str>,
}

impl<'de> DeserializeSeed<'de> for Nested<'_> {
    type Value = Option<Value>;

    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<Option<Value>, D::Error> {
        d.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for Nested<'_> {
    type Value = Option<Value>;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("any JSON value")
    }

    fn visit_seq<A: SeqAccess<'de>>(self, seq: A) -> Result<Option<Value>, A::Error> {
        if self.stream_key.is_none() {
            each_item(seq, self.each)?;
            return Ok(None);
        }
        Value::deserialize(SeqAccessDeserializer::new(seq)).map(Some)
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Option<Value>, A::Error> {
        let Some(stream_key) = self.stream_key else {
            return Value::deserialize(MapAccessDeserializer::new(map)).map(Some);
        };
        let mut object = Map::new();
        let mut streamed = false;
        while let Some(key) = map.next_key::<String>()? {
            if key == stream_key {
                match map.next_value_seed(Nested { each: &mut *self.each, stream_key: None })? {
                    None => streamed = true,
                    Some(v) => {
                        object.insert(key, v);
                    }
                }
            } else {
                let v: Value = map.next_value()?;
                object.insert(key, v);
            }
        }
        Ok((!streamed).then_some(Value::Object(object)))
    }

    fn visit_bool<E>(self, v: bool) -> Result<Option<Value>, E> {
        Ok(Some(Value::Bool(v)))
    }
    fn visit_i64<E>(self, v: i64) -> Result<Option<Value>, E> {
        Ok(Some(v.into()))
    }
    fn visit_u64<E>(self, v: u64) -> Result<Option<Value>, E> {
        Ok(Some(v.into()))
    }
    fn visit_f64<E>(self, v: f64) -> Result<Option<Value>, E> {
        Ok(Some(v.into()))
    }
    fn visit_str<E>(self, v: &str) -> Result<Option<Value>, E> {
        Ok(Some(v.into()))
    }
    fn visit_unit<E>(self) -> Result<Option<Value>, E> {
        Ok(Some(Value::Null))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entities_of(text: &str) -> Vec<Value> {
        let mut found = Vec::new();
        let mut de = serde_json::Deserializer::from_str(text);
        for_each_entity(&mut de, &mut |v| found.push(v)).unwrap();
        de.end().unwrap();
        found
    }

    #[test]
    fn arrays_feeds_and_single_records_yield_their_entities() {
        assert_eq!(entities_of(r#"[{"a":1},{"b":2}]"#), [serde_json::json!({"a":1}), serde_json::json!({"b":2})]);
        assert_eq!(entities_of(r#"{"odata.metadata":"x","value":[{"a":1}]}"#), [serde_json::json!({"a":1})]);
        assert_eq!(entities_of(r#"{"d":{"__count":"1","results":[{"a":1}]}}"#), [serde_json::json!({"a":1})]);
        assert_eq!(entities_of(r#"{"d":{"a":1}}"#), [serde_json::json!({"a":1})]);
        assert_eq!(entities_of(r#"{"a":1,"value":"x"}"#), [serde_json::json!({"a":1,"value":"x"})]);
        assert_eq!(entities_of(r#"{"a":{"value":[1]}}"#), [serde_json::json!({"a":{"value":[1]}})]);
        assert!(entities_of("42").is_empty() && entities_of("null").is_empty());
    }
}
