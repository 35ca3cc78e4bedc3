//! A `serde::Serializer` wrapper that stops at a depth and redacts secrets on the way.
//!
//! User values reach JSON through [`Guarded`], which hands the value's own `Serialize` impl a
//! serializer that forwards everything to the real one (serde_json's, or any other) while
//! counting how deep it is, so that a value nested past [`MAX_DEPTH`] becomes [`TOO_DEEP`] instead
//! of recursing until the stack runs out, and replacing the value of every struct field and map
//! key whose name is a secret ([`crate::is_sensitive_key`]) with [`crate::REDACTED`]. Nothing is
//! serialised twice and nothing is built in between: the wrapper streams.

use std::cell::Cell;
use std::fmt;

use serde::ser::{
    self, Impossible, Serialize, SerializeMap, SerializeSeq, SerializeStruct,
    SerializeStructVariant, SerializeTuple, SerializeTupleStruct, SerializeTupleVariant,
    Serializer,
};

use crate::values::sensitive::REDACTED;
use crate::values::sensitive::is_sensitive_key;

/// How many levels below the top a part of a value may lie when the library serialises it: the
/// items, fields and entries of the value itself are one level down, theirs two, and so on;
/// `Some` and newtype wrappers count as a level too. A part more than `MAX_DEPTH` levels down
/// becomes [`TOO_DEEP`].
///
/// The bound keeps serialisation's recursion, and every later clone and drop of the JSON made, well
/// within a 2 MiB thread stack, whatever the input. It is 64 rather than more so that the records
/// that carry such a value (a JSON Lines span, a Chrome trace event, an OTLP attribute's JSON
/// text) stay within the 128 levels that `serde_json` (and so the handlers' `read_jsonl`) reads
/// by default.
pub const MAX_DEPTH: usize = 64;

/// What a value nested deeper than [`MAX_DEPTH`] is serialised as.
pub const TOO_DEEP: &str = "<too deep>";

/// `value` as serialised by the library: nested no deeper than [`MAX_DEPTH`] (what lies deeper is
/// [`TOO_DEEP`]), and with the value of every struct field and map key named like a secret
/// ([`crate::is_sensitive_key`]) replaced by [`crate::REDACTED`].
///
/// Wrap a value in it and hand it to any serializer; [`crate::to_json_guarded`] also survives a
/// failing or panicking `Serialize` impl.
///
/// ```
/// use instrument::{Guarded, MAX_DEPTH, TOO_DEEP};
/// use serde_json::json;
///
/// let config = json!({"auth": {"api_key": "sk-123"}});
/// let text = serde_json::to_string(&Guarded::new(&config)).unwrap();
/// assert_eq!(text, r#"{"auth":{"api_key":"[REDACTED]"}}"#);
///
/// // A list nested 1000 deep stops at the bound.
/// let mut deep = json!(0);
/// for _ in 0..1000 {
///     deep = serde_json::Value::Array(vec![deep]);
/// }
/// let bounded = serde_json::to_value(Guarded::new(&deep)).unwrap();
/// let mut level = &bounded;
/// for _ in 0..=MAX_DEPTH {
///     level = &level[0];
/// }
/// assert_eq!(level, &json!(TOO_DEEP));
/// # let mut stack = vec![deep];
/// # while let Some(serde_json::Value::Array(items)) = stack.pop() { stack.extend(items); }
/// ```
pub struct Guarded<'a, T: ?Sized> {
    value: &'a T,
    depth: usize,
}

impl<'a, T: ?Sized> Guarded<'a, T> {
    /// `value`, to be serialised with the library's guards.
    #[must_use]
    pub fn new(value: &'a T) -> Self {
        Self { value, depth: 0 }
    }
}

thread_local! {
    /// How many times a [`Guarded`] on this thread cut something at the bound: a value that deep
    /// may also be too deep to drop by recursion. A count that only grows, so that watching it is
    /// two reads, and watches nest for free.
    static CUTS: Cell<usize> = const { Cell::new(0) };
}

/// Watches whether anything serialised on this thread, until [`CutWatch::finish`], lies deeper than
/// [`MAX_DEPTH`]. Watches nest.
pub(crate) struct CutWatch {
    before: usize,
}

impl CutWatch {
    #[inline]
    pub(crate) fn start() -> Self {
        Self {
            before: CUTS.with(Cell::get),
        }
    }

    /// Whether something was cut since [`CutWatch::start`].
    #[inline]
    pub(crate) fn finish(self) -> bool {
        CUTS.with(Cell::get) != self.before
    }
}

impl<T: ?Sized> Clone for Guarded<'_, T> {
    fn clone(&self) -> Self {
        *self
    }
}

impl<T: ?Sized> Copy for Guarded<'_, T> {}

impl<T: ?Sized> fmt::Debug for Guarded<'_, T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Guarded")
            .field("depth", &self.depth)
            .finish_non_exhaustive()
    }
}

impl<T: Serialize + ?Sized> Serialize for Guarded<'_, T> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        if self.depth > MAX_DEPTH {
            CUTS.with(|cuts| cuts.set(cuts.get().wrapping_add(1)));
            return serializer.serialize_str(TOO_DEEP);
        }
        self.value.serialize(Bounded {
            inner: serializer,
            depth: self.depth,
        })
    }
}

/// The serializer handed to user `Serialize` impls: forwards to `inner`, counting depth.
struct Bounded<S> {
    inner: S,
    depth: usize,
}

impl<S> Bounded<S> {
    /// `value` one level further down.
    fn child<'v, T: ?Sized>(&self, value: &'v T) -> Guarded<'v, T> {
        Guarded {
            value,
            depth: self.depth + 1,
        }
    }
}

/// A sequence, tuple, map or struct being serialised: forwards each part one level down, and
/// redacts the values of secret keys.
struct Compound<C> {
    inner: C,
    depth: usize,
    /// The map key just written names a secret.
    redact_value: bool,
}

impl<C> Compound<C> {
    fn new(inner: C, depth: usize) -> Self {
        Self {
            inner,
            depth,
            redact_value: false,
        }
    }

    fn child<'v, T: ?Sized>(&self, value: &'v T) -> Guarded<'v, T> {
        Guarded {
            value,
            depth: self.depth + 1,
        }
    }

    /// A map key, at the map's own depth: a map that is kept keeps its keys, and a key type that
    /// nests itself is still bounded.
    fn key<'v, T: ?Sized>(&self, key: &'v T) -> Guarded<'v, T> {
        Guarded {
            value: key,
            depth: self.depth,
        }
    }
}

impl<S: Serializer> Serializer for Bounded<S> {
    type Ok = S::Ok;
    type Error = S::Error;
    type SerializeSeq = Compound<S::SerializeSeq>;
    type SerializeTuple = Compound<S::SerializeTuple>;
    type SerializeTupleStruct = Compound<S::SerializeTupleStruct>;
    type SerializeTupleVariant = Compound<S::SerializeTupleVariant>;
    type SerializeMap = Compound<S::SerializeMap>;
    type SerializeStruct = Compound<S::SerializeStruct>;
    type SerializeStructVariant = Compound<S::SerializeStructVariant>;

    fn serialize_bool(self, v: bool) -> Result<S::Ok, S::Error> {
        self.inner.serialize_bool(v)
    }
    fn serialize_i8(self, v: i8) -> Result<S::Ok, S::Error> {
        self.inner.serialize_i8(v)
    }
    fn serialize_i16(self, v: i16) -> Result<S::Ok, S::Error> {
        self.inner.serialize_i16(v)
    }
    fn serialize_i32(self, v: i32) -> Result<S::Ok, S::Error> {
        self.inner.serialize_i32(v)
    }
    fn serialize_i64(self, v: i64) -> Result<S::Ok, S::Error> {
        self.inner.serialize_i64(v)
    }
    fn serialize_i128(self, v: i128) -> Result<S::Ok, S::Error> {
        self.inner.serialize_i128(v)
    }
    fn serialize_u8(self, v: u8) -> Result<S::Ok, S::Error> {
        self.inner.serialize_u8(v)
    }
    fn serialize_u16(self, v: u16) -> Result<S::Ok, S::Error> {
        self.inner.serialize_u16(v)
    }
    fn serialize_u32(self, v: u32) -> Result<S::Ok, S::Error> {
        self.inner.serialize_u32(v)
    }
    fn serialize_u64(self, v: u64) -> Result<S::Ok, S::Error> {
        self.inner.serialize_u64(v)
    }
    fn serialize_u128(self, v: u128) -> Result<S::Ok, S::Error> {
        self.inner.serialize_u128(v)
    }
    fn serialize_f32(self, v: f32) -> Result<S::Ok, S::Error> {
        self.inner.serialize_f32(v)
    }
    fn serialize_f64(self, v: f64) -> Result<S::Ok, S::Error> {
        self.inner.serialize_f64(v)
    }
    fn serialize_char(self, v: char) -> Result<S::Ok, S::Error> {
        self.inner.serialize_char(v)
    }
    fn serialize_str(self, v: &str) -> Result<S::Ok, S::Error> {
        self.inner.serialize_str(v)
    }
    fn serialize_bytes(self, v: &[u8]) -> Result<S::Ok, S::Error> {
        self.inner.serialize_bytes(v)
    }
    fn serialize_none(self) -> Result<S::Ok, S::Error> {
        self.inner.serialize_none()
    }
    fn serialize_some<T: Serialize + ?Sized>(self, value: &T) -> Result<S::Ok, S::Error> {
        let child = self.child(value);
        self.inner.serialize_some(&child)
    }
    fn serialize_unit(self) -> Result<S::Ok, S::Error> {
        self.inner.serialize_unit()
    }
    fn serialize_unit_struct(self, name: &'static str) -> Result<S::Ok, S::Error> {
        self.inner.serialize_unit_struct(name)
    }
    fn serialize_unit_variant(
        self,
        name: &'static str,
        index: u32,
        variant: &'static str,
    ) -> Result<S::Ok, S::Error> {
        self.inner.serialize_unit_variant(name, index, variant)
    }
    fn serialize_newtype_struct<T: Serialize + ?Sized>(
        self,
        name: &'static str,
        value: &T,
    ) -> Result<S::Ok, S::Error> {
        let child = self.child(value);
        self.inner.serialize_newtype_struct(name, &child)
    }
    fn serialize_newtype_variant<T: Serialize + ?Sized>(
        self,
        name: &'static str,
        index: u32,
        variant: &'static str,
        value: &T,
    ) -> Result<S::Ok, S::Error> {
        let child = self.child(value);
        self.inner
            .serialize_newtype_variant(name, index, variant, &child)
    }
    fn serialize_seq(self, len: Option<usize>) -> Result<Self::SerializeSeq, S::Error> {
        let depth = self.depth;
        Ok(Compound::new(self.inner.serialize_seq(len)?, depth))
    }
    fn serialize_tuple(self, len: usize) -> Result<Self::SerializeTuple, S::Error> {
        let depth = self.depth;
        let inner = self.inner.serialize_tuple(len)?;
        Ok(Compound::new(inner, depth))
    }
    fn serialize_tuple_struct(
        self,
        name: &'static str,
        len: usize,
    ) -> Result<Self::SerializeTupleStruct, S::Error> {
        let depth = self.depth;
        let inner = self.inner.serialize_tuple_struct(name, len)?;
        Ok(Compound::new(inner, depth))
    }
    fn serialize_tuple_variant(
        self,
        name: &'static str,
        index: u32,
        variant: &'static str,
        len: usize,
    ) -> Result<Self::SerializeTupleVariant, S::Error> {
        let depth = self.depth;
        let inner = self
            .inner
            .serialize_tuple_variant(name, index, variant, len)?;
        Ok(Compound::new(inner, depth))
    }
    fn serialize_map(self, len: Option<usize>) -> Result<Self::SerializeMap, S::Error> {
        let depth = self.depth;
        let inner = self.inner.serialize_map(len)?;
        Ok(Compound::new(inner, depth))
    }
    fn serialize_struct(
        self,
        name: &'static str,
        len: usize,
    ) -> Result<Self::SerializeStruct, S::Error> {
        let depth = self.depth;
        let inner = self.inner.serialize_struct(name, len)?;
        Ok(Compound::new(inner, depth))
    }
    fn serialize_struct_variant(
        self,
        name: &'static str,
        index: u32,
        variant: &'static str,
        len: usize,
    ) -> Result<Self::SerializeStructVariant, S::Error> {
        let depth = self.depth;
        let inner = self
            .inner
            .serialize_struct_variant(name, index, variant, len)?;
        Ok(Compound::new(inner, depth))
    }
    fn collect_str<T: fmt::Display + ?Sized>(self, value: &T) -> Result<S::Ok, S::Error> {
        self.inner.collect_str(value)
    }
    fn is_human_readable(&self) -> bool {
        self.inner.is_human_readable()
    }
}

impl<C: SerializeSeq> SerializeSeq for Compound<C> {
    type Ok = C::Ok;
    type Error = C::Error;

    fn serialize_element<T: Serialize + ?Sized>(&mut self, value: &T) -> Result<(), C::Error> {
        let child = self.child(value);
        self.inner.serialize_element(&child)
    }
    fn end(self) -> Result<C::Ok, C::Error> {
        self.inner.end()
    }
}

impl<C: SerializeTuple> SerializeTuple for Compound<C> {
    type Ok = C::Ok;
    type Error = C::Error;

    fn serialize_element<T: Serialize + ?Sized>(&mut self, value: &T) -> Result<(), C::Error> {
        let child = self.child(value);
        self.inner.serialize_element(&child)
    }
    fn end(self) -> Result<C::Ok, C::Error> {
        self.inner.end()
    }
}

impl<C: SerializeTupleStruct> SerializeTupleStruct for Compound<C> {
    type Ok = C::Ok;
    type Error = C::Error;

    fn serialize_field<T: Serialize + ?Sized>(&mut self, value: &T) -> Result<(), C::Error> {
        let child = self.child(value);
        self.inner.serialize_field(&child)
    }
    fn end(self) -> Result<C::Ok, C::Error> {
        self.inner.end()
    }
}

impl<C: SerializeTupleVariant> SerializeTupleVariant for Compound<C> {
    type Ok = C::Ok;
    type Error = C::Error;

    fn serialize_field<T: Serialize + ?Sized>(&mut self, value: &T) -> Result<(), C::Error> {
        let child = self.child(value);
        self.inner.serialize_field(&child)
    }
    fn end(self) -> Result<C::Ok, C::Error> {
        self.inner.end()
    }
}

impl<C: SerializeMap> SerializeMap for Compound<C> {
    type Ok = C::Ok;
    type Error = C::Error;

    fn serialize_key<T: Serialize + ?Sized>(&mut self, key: &T) -> Result<(), C::Error> {
        self.redact_value = key_is_sensitive(key);
        let key = self.key(key);
        self.inner.serialize_key(&key)
    }
    fn serialize_value<T: Serialize + ?Sized>(&mut self, value: &T) -> Result<(), C::Error> {
        if std::mem::take(&mut self.redact_value) {
            self.inner.serialize_value(REDACTED)
        } else {
            let child = self.child(value);
            self.inner.serialize_value(&child)
        }
    }
    fn serialize_entry<K: Serialize + ?Sized, V: Serialize + ?Sized>(
        &mut self,
        key: &K,
        value: &V,
    ) -> Result<(), C::Error> {
        let guarded_key = self.key(key);
        if key_is_sensitive(key) {
            self.inner.serialize_entry(&guarded_key, REDACTED)
        } else {
            let child = self.child(value);
            self.inner.serialize_entry(&guarded_key, &child)
        }
    }
    fn end(self) -> Result<C::Ok, C::Error> {
        self.inner.end()
    }
}

impl<C: SerializeStruct> SerializeStruct for Compound<C> {
    type Ok = C::Ok;
    type Error = C::Error;

    fn serialize_field<T: Serialize + ?Sized>(
        &mut self,
        key: &'static str,
        value: &T,
    ) -> Result<(), C::Error> {
        if is_sensitive_key(key) {
            self.inner.serialize_field(key, REDACTED)
        } else {
            let child = self.child(value);
            self.inner.serialize_field(key, &child)
        }
    }
    fn skip_field(&mut self, key: &'static str) -> Result<(), C::Error> {
        self.inner.skip_field(key)
    }
    fn end(self) -> Result<C::Ok, C::Error> {
        self.inner.end()
    }
}

impl<C: SerializeStructVariant> SerializeStructVariant for Compound<C> {
    type Ok = C::Ok;
    type Error = C::Error;

    fn serialize_field<T: Serialize + ?Sized>(
        &mut self,
        key: &'static str,
        value: &T,
    ) -> Result<(), C::Error> {
        if is_sensitive_key(key) {
            self.inner.serialize_field(key, REDACTED)
        } else {
            let child = self.child(value);
            self.inner.serialize_field(key, &child)
        }
    }
    fn skip_field(&mut self, key: &'static str) -> Result<(), C::Error> {
        self.inner.skip_field(key)
    }
    fn end(self) -> Result<C::Ok, C::Error> {
        self.inner.end()
    }
}

/// Whether a map key is a string (or a unit variant, or a newtype around one) that names a secret.
fn key_is_sensitive<K: Serialize + ?Sized>(key: &K) -> bool {
    key.serialize(KeyName).unwrap_or(false)
}

/// A serializer that only reads a map key's name and says whether it is a secret. Keys that are not
/// names (numbers, compounds) are not secrets.
struct KeyName;

/// [`KeyName`] met a key that is not a name.
#[derive(Debug)]
struct NotAName;

impl fmt::Display for NotAName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("not a name")
    }
}

impl std::error::Error for NotAName {}

impl ser::Error for NotAName {
    fn custom<T: fmt::Display>(_: T) -> Self {
        Self
    }
}

impl Serializer for KeyName {
    type Ok = bool;
    type Error = NotAName;
    type SerializeSeq = Impossible<bool, NotAName>;
    type SerializeTuple = Impossible<bool, NotAName>;
    type SerializeTupleStruct = Impossible<bool, NotAName>;
    type SerializeTupleVariant = Impossible<bool, NotAName>;
    type SerializeMap = Impossible<bool, NotAName>;
    type SerializeStruct = Impossible<bool, NotAName>;
    type SerializeStructVariant = Impossible<bool, NotAName>;

    fn serialize_str(self, v: &str) -> Result<bool, NotAName> {
        Ok(is_sensitive_key(v))
    }
    fn serialize_unit_variant(
        self,
        _: &'static str,
        _: u32,
        variant: &'static str,
    ) -> Result<bool, NotAName> {
        Ok(is_sensitive_key(variant))
    }
    fn serialize_newtype_struct<T: Serialize + ?Sized>(
        self,
        _: &'static str,
        _: &T,
    ) -> Result<bool, NotAName> {
        // Not followed: a key type that wraps itself would recurse without bound.
        Ok(false)
    }
    fn serialize_bool(self, _: bool) -> Result<bool, NotAName> {
        Ok(false)
    }
    fn serialize_i8(self, _: i8) -> Result<bool, NotAName> {
        Ok(false)
    }
    fn serialize_i16(self, _: i16) -> Result<bool, NotAName> {
        Ok(false)
    }
    fn serialize_i32(self, _: i32) -> Result<bool, NotAName> {
        Ok(false)
    }
    fn serialize_i64(self, _: i64) -> Result<bool, NotAName> {
        Ok(false)
    }
    fn serialize_u8(self, _: u8) -> Result<bool, NotAName> {
        Ok(false)
    }
    fn serialize_u16(self, _: u16) -> Result<bool, NotAName> {
        Ok(false)
    }
    fn serialize_u32(self, _: u32) -> Result<bool, NotAName> {
        Ok(false)
    }
    fn serialize_u64(self, _: u64) -> Result<bool, NotAName> {
        Ok(false)
    }
    fn serialize_f32(self, _: f32) -> Result<bool, NotAName> {
        Ok(false)
    }
    fn serialize_f64(self, _: f64) -> Result<bool, NotAName> {
        Ok(false)
    }
    fn serialize_char(self, v: char) -> Result<bool, NotAName> {
        Ok(is_sensitive_key(v.encode_utf8(&mut [0; 4])))
    }
    fn serialize_bytes(self, _: &[u8]) -> Result<bool, NotAName> {
        Ok(false)
    }
    fn serialize_none(self) -> Result<bool, NotAName> {
        Ok(false)
    }
    fn serialize_some<T: Serialize + ?Sized>(self, _: &T) -> Result<bool, NotAName> {
        Ok(false)
    }
    fn serialize_unit(self) -> Result<bool, NotAName> {
        Ok(false)
    }
    fn serialize_unit_struct(self, _: &'static str) -> Result<bool, NotAName> {
        Ok(false)
    }
    fn serialize_newtype_variant<T: Serialize + ?Sized>(
        self,
        _: &'static str,
        _: u32,
        _: &'static str,
        _: &T,
    ) -> Result<bool, NotAName> {
        Ok(false)
    }
    fn serialize_seq(self, _: Option<usize>) -> Result<Self::SerializeSeq, NotAName> {
        Err(NotAName)
    }
    fn serialize_tuple(self, _: usize) -> Result<Self::SerializeTuple, NotAName> {
        Err(NotAName)
    }
    fn serialize_tuple_struct(
        self,
        _: &'static str,
        _: usize,
    ) -> Result<Self::SerializeTupleStruct, NotAName> {
        Err(NotAName)
    }
    fn serialize_tuple_variant(
        self,
        _: &'static str,
        _: u32,
        _: &'static str,
        _: usize,
    ) -> Result<Self::SerializeTupleVariant, NotAName> {
        Err(NotAName)
    }
    fn serialize_map(self, _: Option<usize>) -> Result<Self::SerializeMap, NotAName> {
        Err(NotAName)
    }
    fn serialize_struct(
        self,
        _: &'static str,
        _: usize,
    ) -> Result<Self::SerializeStruct, NotAName> {
        Err(NotAName)
    }
    fn serialize_struct_variant(
        self,
        _: &'static str,
        _: u32,
        _: &'static str,
        _: usize,
    ) -> Result<Self::SerializeStructVariant, NotAName> {
        Err(NotAName)
    }
    fn collect_str<T: fmt::Display + ?Sized>(self, _: &T) -> Result<bool, NotAName> {
        // A key made from `Display` is not read: formatting it would run user code twice.
        Ok(false)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::{Value, json};

    #[derive(serde::Serialize)]
    struct Config {
        model: &'static str,
        api_key: &'static str,
        nested: Inner,
    }

    #[derive(serde::Serialize)]
    struct Inner {
        password: Option<&'static str>,
        extra: std::collections::BTreeMap<&'static str, u32>,
    }

    #[test]
    fn redacts_fields_and_keys_at_any_depth() {
        let config = Config {
            model: "m",
            api_key: "k",
            nested: Inner {
                password: Some("p"),
                extra: [("access_token", 1), ("n", 2)].into(),
            },
        };
        let value = serde_json::to_value(Guarded::new(&config)).unwrap();
        assert_eq!(
            value,
            json!({
                "model": "m",
                "api_key": REDACTED,
                "nested": {"password": REDACTED, "extra": {"access_token": REDACTED, "n": 2}},
            })
        );
    }

    /// `Nest(n)` serialises as `n` nested one-element lists, with no memory behind it.
    struct Nest(usize);

    impl Serialize for Nest {
        fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
            if self.0 == 0 {
                return serializer.serialize_u8(0);
            }
            let mut seq = serializer.serialize_seq(Some(1))?;
            seq.serialize_element(&Nest(self.0 - 1))?;
            seq.end()
        }
    }

    fn depth(value: &Value) -> usize {
        let mut depth = 0;
        let mut at = value;
        while let Some(first) = at.get(0) {
            depth += 1;
            at = first;
        }
        depth
    }

    #[test]
    fn stops_at_the_bound_and_says_so() {
        let watch = CutWatch::start();
        let value = serde_json::to_value(Guarded::new(&Nest(MAX_DEPTH))).unwrap();
        assert_eq!(depth(&value), MAX_DEPTH);
        assert!(!watch.finish());
        let watch = CutWatch::start();

        let value = serde_json::to_value(Guarded::new(&Nest(100_000))).unwrap();
        // The list at depth `MAX_DEPTH` is kept; what it holds is one level too deep.
        assert_eq!(depth(&value), MAX_DEPTH + 1);
        assert!(watch.finish());
        let mut at = &value;
        while let Some(first) = at.get(0) {
            at = first;
        }
        assert_eq!(at, &json!(TOO_DEEP));
    }

    #[test]
    fn maps_at_the_bound_keep_their_keys() {
        let mut deep = Value::Null;
        for _ in 0..=MAX_DEPTH + 1 {
            let mut map = serde_json::Map::new();
            map.insert("next".to_owned(), deep);
            deep = Value::Object(map);
        }
        let value = serde_json::to_value(Guarded::new(&deep)).unwrap();
        let mut at = &value;
        for _ in 0..MAX_DEPTH {
            at = &at["next"];
        }
        assert_eq!(at, &json!({ "next": TOO_DEEP }));
    }

    #[test]
    fn non_string_keys_are_kept() {
        let map: std::collections::BTreeMap<u32, &str> = [(1, "a")].into();
        assert_eq!(
            serde_json::to_value(Guarded::new(&map)).unwrap(),
            json!({"1": "a"})
        );
    }
}
