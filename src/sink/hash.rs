//! [`Hash`]: an entity's hash content as the sink writes it, rendered once from the engine's view.
//!
//! Redis stores strings: string fields as they are, numbers and booleans in their JSON spelling, `null` as
//! the empty string, objects and arrays as JSON text. The messages carry the same fields as JSON. A `Hash`
//! keeps each value as its Redis string plus whether it is JSON text, so both come from one buffer: the
//! `HSET` arguments are slices of it, and a message writes string values escaped and the others verbatim.
//! Why one buffer: the sink holds every call of the last `call_ttl` for a full rewrite; a map of JSON values
//! per call took several times the bytes, in a tree of small allocations that the allocator kept after the
//! start-up rewrite.

use crate::engine::Fields;
use serde::Serialize;
use serde::ser::{self, Impossible, Serializer};
use serde_json::Value;
use std::fmt;

/// Fields in ascending name order (the order of the engine's views and of a JSON object's keys).
#[derive(Clone, Default, PartialEq, Eq)]
pub struct Hash {
    /// Each field's name then its Redis value, back to back.
    text: String,
    spans: Vec<Span>,
}

/// Where a field ends in `text`: 8 bytes per field, on each of a day's calls the mirror holds, so the
/// value's kind rides in the top two bits of `value_end` (a hash's text is kept below [`MAX_TEXT_BYTES`]).
#[derive(Clone, Copy, PartialEq, Eq)]
struct Span {
    name_end: u32,
    value_end_and_kind: u32,
}

/// Largest text a hash holds; a larger one is no hash at all (Redis' own limit on a value is half this).
const MAX_TEXT_BYTES: usize = (1 << 30) - 1;
const KIND_SHIFT: u32 = 30;

impl Span {
    fn new(name_end: usize, value_end: usize, kind: Kind) -> Self {
        // Both fit: `Hash::of` drops a hash whose text outgrew MAX_TEXT_BYTES, and the bits above it
        // are masked off here.
        let end = |n: usize| (n.min(MAX_TEXT_BYTES)) as u32;
        Self { name_end: end(name_end), value_end_and_kind: end(value_end) | (kind as u32) << KIND_SHIFT }
    }

    fn value_end(self) -> usize {
        (self.value_end_and_kind & ((1 << KIND_SHIFT) - 1)) as usize
    }

    fn kind(self) -> Kind {
        match self.value_end_and_kind >> KIND_SHIFT {
            0 => Kind::Text,
            1 => Kind::Null,
            _ => Kind::Json,
        }
    }
}

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Kind {
    /// A JSON string; the text is its content.
    Text = 0,
    Null = 1,
    /// A number, boolean, object or array; the text is its JSON.
    Json = 2,
}

/// One field's value.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum FieldValue<'a> {
    Text(&'a str),
    Null,
    Json(&'a str),
}

impl<'a> FieldValue<'a> {
    /// As Redis stores it.
    pub fn redis(self) -> &'a str {
        match self {
            FieldValue::Text(s) | FieldValue::Json(s) => s,
            FieldValue::Null => "",
        }
    }

    /// As JSON.
    pub fn write_json(self, out: &mut Vec<u8>) {
        match self {
            // Writing a string into a Vec cannot fail.
            FieldValue::Text(s) => drop(serde_json::to_writer(&mut *out, s)),
            FieldValue::Null => out.extend_from_slice(b"null"),
            FieldValue::Json(s) => out.extend_from_slice(s.as_bytes()),
        }
    }

    fn to_value(self) -> Value {
        match self {
            FieldValue::Text(s) => Value::String(s.to_owned()),
            FieldValue::Null => Value::Null,
            FieldValue::Json(s) => serde_json::from_str(s).unwrap_or_default(),
        }
    }
}

impl Hash {
    pub fn new() -> Self {
        Self::default()
    }

    /// The fields of a struct or map that serializes with string keys in ascending order (an engine view).
    pub fn of(view: &impl Serialize) -> Self {
        let mut hash = Hash::new();
        // Only a value that is neither a struct nor a map fails; it has no fields.
        if view.serialize(HashWriter { hash: &mut hash }).is_err() || hash.text.len() > MAX_TEXT_BYTES {
            hash = Hash::new();
        }
        hash.text.shrink_to_fit();
        hash.spans.shrink_to_fit();
        hash
    }

    pub fn is_empty(&self) -> bool {
        self.spans.is_empty()
    }

    pub fn len(&self) -> usize {
        self.spans.len()
    }

    /// Bytes of names and values.
    pub fn text_len(&self) -> usize {
        self.text.len()
    }

    pub fn iter(&self) -> impl Iterator<Item = (&str, FieldValue<'_>)> {
        let mut start = 0;
        self.spans.iter().map(move |&span| {
            let (name_end, value_end) = (span.name_end as usize, span.value_end());
            let name = &self.text[start..name_end];
            let value = &self.text[name_end..value_end];
            start = value_end;
            let value = match span.kind() {
                Kind::Text => FieldValue::Text(value),
                Kind::Null => FieldValue::Null,
                Kind::Json => FieldValue::Json(value),
            };
            (name, value)
        })
    }

    pub fn names(&self) -> impl Iterator<Item = &str> {
        self.iter().map(|(name, _)| name)
    }

    /// Sets `name` to `value` (tests and tools; the engine's fields come through [`Hash::of`]).
    pub fn insert(&mut self, name: String, value: Value) {
        let mut fields = self.to_fields();
        fields.insert(name, value);
        *self = Hash::from(fields);
    }

    /// The fields as JSON values.
    pub fn to_fields(&self) -> Fields {
        self.iter().map(|(name, value)| (name.to_owned(), value.to_value())).collect()
    }

    fn push_name(&mut self, name: &str) {
        self.text.push_str(name);
    }

    /// Ends the field whose name was pushed last, its value written after it.
    fn end_field(&mut self, name_end: usize, kind: Kind) {
        self.spans.push(Span::new(name_end, self.text.len(), kind));
    }
}

impl From<Fields> for Hash {
    fn from(fields: Fields) -> Self {
        Hash::of(&fields)
    }
}

impl fmt::Debug for Hash {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_map().entries(self.iter()).finish()
    }
}

/// Serializes a struct or map into a [`Hash`], one field per entry.
struct HashWriter<'h> {
    hash: &'h mut Hash,
}

/// Why a value is not rendered in place: it is not a struct or map (top level), or not a scalar (field).
#[derive(Debug)]
struct Unsupported;

impl fmt::Display for Unsupported {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("not a hash field")
    }
}

impl std::error::Error for Unsupported {}

impl ser::Error for Unsupported {
    fn custom<T: fmt::Display>(_: T) -> Self {
        Unsupported
    }
}

impl HashWriter<'_> {
    /// Writes `value` after the field name ending at `name_end`: a scalar in place, anything else as JSON.
    fn value<T: ?Sized + Serialize>(&mut self, name_end: usize, value: &T) -> Result<(), Unsupported> {
        let kind = match value.serialize(Scalar { text: &mut self.hash.text }) {
            Ok(kind) => kind,
            Err(Unsupported) => {
                self.hash.text.truncate(name_end);
                let json = serde_json::to_string(value).map_err(|_| Unsupported)?;
                self.hash.text.push_str(&json);
                Kind::Json
            }
        };
        self.hash.end_field(name_end, kind);
        Ok(())
    }
}

/// `Some` and newtype structs are their content; a newtype variant is an object, never a scalar.
macro_rules! wrappers {
    ($ok:ty) => {
        fn serialize_some<T: ?Sized + Serialize>(self, v: &T) -> Result<$ok, Unsupported> {
            v.serialize(self)
        }

        fn serialize_newtype_struct<T: ?Sized + Serialize>(
            self,
            _: &'static str,
            v: &T,
        ) -> Result<$ok, Unsupported> {
            v.serialize(self)
        }

        fn serialize_newtype_variant<T: ?Sized + Serialize>(
            self,
            _: &'static str,
            _: u32,
            _: &'static str,
            _: &T,
        ) -> Result<$ok, Unsupported> {
            Err(Unsupported)
        }
    };
}

macro_rules! unsupported {
    ($($method:ident($($ty:ty),*) -> $ret:ty;)*) => {
        $(fn $method(self, $(_: $ty),*) -> Result<$ret, Unsupported> { Err(Unsupported) })*
    };
}

impl<'h> Serializer for HashWriter<'h> {
    type Ok = ();
    type Error = Unsupported;
    type SerializeSeq = Impossible<(), Unsupported>;
    type SerializeTuple = Impossible<(), Unsupported>;
    type SerializeTupleStruct = Impossible<(), Unsupported>;
    type SerializeTupleVariant = Impossible<(), Unsupported>;
    type SerializeMap = Self;
    type SerializeStruct = Self;
    type SerializeStructVariant = Impossible<(), Unsupported>;

    wrappers!(());

    fn serialize_map(self, _: Option<usize>) -> Result<Self, Unsupported> {
        Ok(self)
    }

    fn serialize_struct(self, _: &'static str, len: usize) -> Result<Self, Unsupported> {
        self.hash.spans.reserve(len);
        Ok(self)
    }

    fn serialize_unit_variant(self, _: &'static str, _: u32, _: &'static str) -> Result<(), Unsupported> {
        Err(Unsupported)
    }

    unsupported! {
        serialize_bool(bool) -> ();
        serialize_i8(i8) -> (); serialize_i16(i16) -> (); serialize_i32(i32) -> (); serialize_i64(i64) -> ();
        serialize_u8(u8) -> (); serialize_u16(u16) -> (); serialize_u32(u32) -> (); serialize_u64(u64) -> ();
        serialize_f32(f32) -> (); serialize_f64(f64) -> (); serialize_char(char) -> ();
        serialize_str(&str) -> (); serialize_bytes(&[u8]) -> ();
        serialize_none() -> (); serialize_unit() -> (); serialize_unit_struct(&'static str) -> ();
        serialize_seq(Option<usize>) -> Self::SerializeSeq;
        serialize_tuple(usize) -> Self::SerializeTuple;
        serialize_tuple_struct(&'static str, usize) -> Self::SerializeTupleStruct;
        serialize_tuple_variant(&'static str, u32, &'static str, usize) -> Self::SerializeTupleVariant;
        serialize_struct_variant(&'static str, u32, &'static str, usize) -> Self::SerializeStructVariant;
    }
}

impl ser::SerializeStruct for HashWriter<'_> {
    type Ok = ();
    type Error = Unsupported;

    fn serialize_field<T: ?Sized + Serialize>(
        &mut self,
        key: &'static str,
        value: &T,
    ) -> Result<(), Unsupported> {
        self.hash.push_name(key);
        let name_end = self.hash.text.len();
        self.value(name_end, value)
    }

    fn skip_field(&mut self, _: &'static str) -> Result<(), Unsupported> {
        Ok(())
    }

    fn end(self) -> Result<(), Unsupported> {
        Ok(())
    }
}

impl ser::SerializeMap for HashWriter<'_> {
    type Ok = ();
    type Error = Unsupported;

    fn serialize_key<T: ?Sized + Serialize>(&mut self, key: &T) -> Result<(), Unsupported> {
        match key.serialize(Scalar { text: &mut self.hash.text })? {
            Kind::Text => Ok(()),
            Kind::Null | Kind::Json => Err(Unsupported),
        }
    }

    fn serialize_value<T: ?Sized + Serialize>(&mut self, value: &T) -> Result<(), Unsupported> {
        let name_end = self.hash.text.len();
        self.value(name_end, value)
    }

    fn end(self) -> Result<(), Unsupported> {
        Ok(())
    }
}

/// Writes a string, number, boolean or null into the hash text as Redis stores it; anything else is
/// [`Unsupported`] (written as JSON by the caller).
struct Scalar<'t> {
    text: &'t mut String,
}

impl Scalar<'_> {
    fn json(self, value: impl Serialize) -> Result<Kind, Unsupported> {
        let json = serde_json::to_string(&value).map_err(|_| Unsupported)?;
        self.text.push_str(&json);
        Ok(Kind::Json)
    }
}

macro_rules! scalar_json {
    ($($method:ident($ty:ty);)*) => {
        $(fn $method(self, v: $ty) -> Result<Kind, Unsupported> { self.json(v) })*
    };
}

impl Serializer for Scalar<'_> {
    type Ok = Kind;
    type Error = Unsupported;
    type SerializeSeq = Impossible<Kind, Unsupported>;
    type SerializeTuple = Impossible<Kind, Unsupported>;
    type SerializeTupleStruct = Impossible<Kind, Unsupported>;
    type SerializeTupleVariant = Impossible<Kind, Unsupported>;
    type SerializeMap = Impossible<Kind, Unsupported>;
    type SerializeStruct = Impossible<Kind, Unsupported>;
    type SerializeStructVariant = Impossible<Kind, Unsupported>;

    wrappers!(Kind);

    scalar_json! {
        serialize_bool(bool);
        serialize_i8(i8); serialize_i16(i16); serialize_i32(i32); serialize_i64(i64);
        serialize_u8(u8); serialize_u16(u16); serialize_u32(u32); serialize_u64(u64);
    }

    fn serialize_f32(self, v: f32) -> Result<Kind, Unsupported> {
        if v.is_finite() { self.json(v) } else { Ok(Kind::Null) }
    }

    fn serialize_f64(self, v: f64) -> Result<Kind, Unsupported> {
        if v.is_finite() { self.json(v) } else { Ok(Kind::Null) }
    }

    fn serialize_char(self, v: char) -> Result<Kind, Unsupported> {
        self.text.push(v);
        Ok(Kind::Text)
    }

    fn serialize_str(self, v: &str) -> Result<Kind, Unsupported> {
        self.text.push_str(v);
        Ok(Kind::Text)
    }

    fn serialize_none(self) -> Result<Kind, Unsupported> {
        Ok(Kind::Null)
    }

    fn serialize_unit(self) -> Result<Kind, Unsupported> {
        Ok(Kind::Null)
    }

    fn serialize_unit_struct(self, _: &'static str) -> Result<Kind, Unsupported> {
        Ok(Kind::Null)
    }

    fn serialize_unit_variant(
        self,
        _: &'static str,
        _: u32,
        variant: &'static str,
    ) -> Result<Kind, Unsupported> {
        self.serialize_str(variant)
    }

    fn serialize_bytes(self, _: &[u8]) -> Result<Kind, Unsupported> {
        Err(Unsupported)
    }

    fn serialize_seq(self, _: Option<usize>) -> Result<Self::SerializeSeq, Unsupported> {
        Err(Unsupported)
    }

    fn serialize_tuple(self, _: usize) -> Result<Self::SerializeTuple, Unsupported> {
        Err(Unsupported)
    }

    fn serialize_tuple_struct(
        self,
        _: &'static str,
        _: usize,
    ) -> Result<Self::SerializeTupleStruct, Unsupported> {
        Err(Unsupported)
    }

    fn serialize_tuple_variant(
        self,
        _: &'static str,
        _: u32,
        _: &'static str,
        _: usize,
    ) -> Result<Self::SerializeTupleVariant, Unsupported> {
        Err(Unsupported)
    }

    fn serialize_map(self, _: Option<usize>) -> Result<Self::SerializeMap, Unsupported> {
        Err(Unsupported)
    }

    fn serialize_struct(self, _: &'static str, _: usize) -> Result<Self::SerializeStruct, Unsupported> {
        Err(Unsupported)
    }

    fn serialize_struct_variant(
        self,
        _: &'static str,
        _: u32,
        _: &'static str,
        _: usize,
    ) -> Result<Self::SerializeStructVariant, Unsupported> {
        Err(Unsupported)
    }
}

#[cfg(test)]
#[path = "hash_tests.rs"]
mod tests;
