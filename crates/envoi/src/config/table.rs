//! One TOML table read into a section and the library structs whose keys it holds.
//!
//! `[smtp]` holds `max_message_size` (a field of `envoi_edge::Limits`) beside `certificate`
//! (the binary's own). serde's `flatten` would join them, but it buffers the table first, so an
//! error would point at the `[smtp]` header without naming the key, and unknown keys would lose
//! the list of accepted ones. Here each key is routed as it is read:
//! - the section's own keys go straight to its derived `Deserialize`;
//! - a library struct's key is checked at once by reading that struct from this one key (so toml
//!   reports the key's line), kept, and the struct is read from all its keys when the table ends;
//! - any other key is refused at its line, naming every accepted key.
//!
//! A library struct's keys should be scalars or lists: an error inside a nested table would point
//! at the table, so a nested table (like `[relay.timeouts]`) is a field of the section instead.

use std::fmt;
use std::marker::PhantomData;

use serde::de::{self, DeserializeOwned, DeserializeSeed, Deserializer, MapAccess, Visitor};
use serde::{ser, Deserialize, Serialize, Serializer};

/// A section whose table also holds the keys of library structs, its [`Parts`]. The section's
/// fields for them are `#[serde(skip)]`; [`section`] reads them and hands them to
/// [`Embeds::with_parts`].
pub trait Embeds: Sized {
    /// The library structs, as a tuple.
    type Parts: Parts;
    /// The section with the library structs read from its table.
    fn with_parts(self, parts: Self::Parts) -> Self;
    /// The library structs' keys, one table per struct, for writing the section back out.
    ///
    /// # Errors
    /// A struct that TOML cannot hold.
    fn part_tables(&self) -> Result<Vec<toml::Table>, String>;
}

/// A value's keys as a TOML table.
///
/// # Errors
/// The value is not a struct or map TOML can hold.
pub fn to_table<T: Serialize>(value: &T) -> Result<toml::Table, String> {
    match toml::Value::try_from(value) {
        Ok(toml::Value::Table(table)) => Ok(table),
        Ok(other) => Err(format!("expected a table, got {}", other.type_str())),
        Err(error) => Err(error.to_string()),
    }
}

/// Writes a section that [`Embeds`] library structs as one table holding its own keys and
/// theirs, as the file states them; use as `serialize_with = "table::serialize_section"`
/// beside [`section`].
///
/// # Errors
/// The serializer's, or a struct that TOML cannot hold.
pub fn serialize_section<S, W>(section: &S, serializer: W) -> Result<W::Ok, W::Error>
where
    S: Serialize + Embeds,
    W: Serializer,
{
    let mut table = to_table(section).map_err(ser::Error::custom)?;
    for part in section.part_tables().map_err(ser::Error::custom)? {
        table.extend(part);
    }
    table.serialize(serializer)
}

/// Reads a section that [`Embeds`] library structs; use as
/// `#[serde(default, deserialize_with = "table::section")]` on the field holding the section.
///
/// # Errors
/// The deserializer's error for the first wrong or unknown key.
pub fn section<'de, D, S>(deserializer: D) -> Result<S, D::Error>
where
    D: Deserializer<'de>,
    S: Deserialize<'de> + Embeds,
{
    deserializer.deserialize_map(SectionVisitor(PhantomData))
}

/// Library structs read from keys of one table: implemented for tuples of structs whose
/// `Deserialize` is derived with `#[serde(default, deny_unknown_fields)]`.
pub trait Parts: Sized {
    /// One empty [`Keys`] per struct, in tuple order.
    fn keys() -> Vec<Keys>;
    /// The structs read from the keys met.
    ///
    /// # Errors
    /// What a struct's `Deserialize` says (not expected: each key was checked when met).
    fn read(keys: Vec<Keys>) -> Result<Self, String>;
}

/// The keys of one library struct met so far in a table.
pub struct Keys {
    accepted: &'static [&'static str],
    check: fn(toml::Table) -> Result<(), String>,
    met: toml::Table,
}

impl Keys {
    /// The keys the struct accepts.
    pub fn accepted(&self) -> &'static [&'static str] {
        self.accepted
    }

    fn of<T: DeserializeOwned>() -> Self {
        Self {
            accepted: fields_of::<T>(),
            check: |table| read::<T>(table).map(drop),
            met: toml::Table::new(),
        }
    }
}

fn read<T: DeserializeOwned>(table: toml::Table) -> Result<T, String> {
    T::deserialize(toml::Value::Table(table)).map_err(|e| e.message().to_owned())
}

impl<A: DeserializeOwned> Parts for (A,) {
    fn keys() -> Vec<Keys> {
        vec![Keys::of::<A>()]
    }

    fn read(keys: Vec<Keys>) -> Result<Self, String> {
        let [a]: [Keys; 1] = keys.try_into().map_err(|_| "one struct expected")?;
        Ok((read(a.met)?,))
    }
}

impl<A: DeserializeOwned, B: DeserializeOwned> Parts for (A, B) {
    fn keys() -> Vec<Keys> {
        vec![Keys::of::<A>(), Keys::of::<B>()]
    }

    fn read(keys: Vec<Keys>) -> Result<Self, String> {
        let [a, b]: [Keys; 2] = keys.try_into().map_err(|_| "two structs expected")?;
        Ok((read(a.met)?, read(b.met)?))
    }
}

/// The keys a derived `Deserialize` accepts: serde hands them to `deserialize_struct`.
pub fn fields_of<'de, T: Deserialize<'de>>() -> &'static [&'static str] {
    let mut fields: &'static [&'static str] = &[];
    // The probe always fails; it only records the list.
    let _ = T::deserialize(FieldProbe(&mut fields));
    fields
}

struct FieldProbe<'a>(&'a mut &'static [&'static str]);

impl<'de> Deserializer<'de> for FieldProbe<'_> {
    type Error = de::value::Error;

    fn deserialize_any<V: Visitor<'de>>(self, _: V) -> Result<V::Value, Self::Error> {
        Err(de::Error::custom("not a struct with named fields"))
    }

    fn deserialize_struct<V: Visitor<'de>>(
        self,
        _: &'static str,
        fields: &'static [&'static str],
        _: V,
    ) -> Result<V::Value, Self::Error> {
        *self.0 = fields;
        Err(de::Error::custom("probe"))
    }

    serde::forward_to_deserialize_any! {
        bool i8 i16 i32 i64 i128 u8 u16 u32 u64 u128 f32 f64 char str string bytes byte_buf
        option unit unit_struct newtype_struct seq tuple tuple_struct map enum identifier
        ignored_any
    }
}

struct SectionVisitor<S>(PhantomData<S>);

impl<'de, S: Deserialize<'de> + Embeds> Visitor<'de> for SectionVisitor<S> {
    type Value = S;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a table")
    }

    fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<S, A::Error> {
        let mut parts = S::Parts::keys();
        let own = S::deserialize(Routed {
            map,
            own: fields_of::<S>(),
            parts: &mut parts,
        })?;
        let parts = S::Parts::read(parts).map_err(de::Error::custom)?;
        Ok(own.with_parts(parts))
    }
}

/// The table as the section's derived `Deserialize` sees it: only its own keys; the library
/// structs' keys are taken on the way.
struct Routed<'p, A> {
    map: A,
    own: &'static [&'static str],
    parts: &'p mut [Keys],
}

impl<'de, A: MapAccess<'de>> Deserializer<'de> for Routed<'_, A> {
    type Error = A::Error;

    fn deserialize_any<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, A::Error> {
        visitor.visit_map(self)
    }

    serde::forward_to_deserialize_any! {
        bool i8 i16 i32 i64 i128 u8 u16 u32 u64 u128 f32 f64 char str string bytes byte_buf
        option unit unit_struct newtype_struct seq tuple tuple_struct map struct enum
        identifier ignored_any
    }
}

impl<'de, A: MapAccess<'de>> MapAccess<'de> for Routed<'_, A> {
    type Error = A::Error;

    fn next_key_seed<K: DeserializeSeed<'de>>(
        &mut self,
        seed: K,
    ) -> Result<Option<K::Value>, A::Error> {
        loop {
            let classify = Classify {
                own: self.own,
                parts: self.parts,
            };
            let Some(key) = self.map.next_key_seed(classify)? else {
                return Ok(None);
            };
            match key {
                Key::Own(name) => {
                    let name = de::IntoDeserializer::<A::Error>::into_deserializer(name);
                    return seed.deserialize(name).map(Some);
                }
                Key::Part(index, name) => {
                    let keys = &mut self.parts[index];
                    let value = self.map.next_value_seed(CheckedValue {
                        key: &name,
                        check: keys.check,
                    })?;
                    keys.met.insert(name, value);
                }
            }
        }
    }

    fn next_value_seed<V: DeserializeSeed<'de>>(&mut self, seed: V) -> Result<V::Value, A::Error> {
        self.map.next_value_seed(seed)
    }
}

/// Whose key it is.
enum Key {
    Own(String),
    Part(usize, String),
}

/// Reads a key and tells whose it is; an unknown key is an error while the key is read, so
/// the deserializer places it at the key's line.
struct Classify<'a> {
    own: &'static [&'static str],
    parts: &'a [Keys],
}

impl<'de> DeserializeSeed<'de> for Classify<'_> {
    type Value = Key;

    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<Key, D::Error> {
        deserializer.deserialize_str(self)
    }
}

impl Visitor<'_> for Classify<'_> {
    type Value = Key;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a key")
    }

    fn visit_str<E: de::Error>(self, key: &str) -> Result<Key, E> {
        if self.own.contains(&key) {
            return Ok(Key::Own(key.to_owned()));
        }
        match self.parts.iter().position(|p| p.accepted.contains(&key)) {
            Some(index) => Ok(Key::Part(index, key.to_owned())),
            None => Err(E::custom(unknown_key(key, &self.accepted()))),
        }
    }
}

impl Classify<'_> {
    fn accepted(&self) -> Vec<&'static str> {
        let parts = self.parts.iter().flat_map(|p| p.accepted());
        self.own.iter().chain(parts).copied().collect()
    }
}

/// serde's own wording for an unknown field, with the section's and the structs' keys.
fn unknown_key(key: &str, accepted: &[&str]) -> String {
    let quoted: Vec<String> = accepted.iter().map(|k| format!("`{k}`")).collect();
    let expected = match quoted.as_slice() {
        [] => "there are no fields".to_owned(),
        [one] => format!("expected {one}"),
        [a, b] => format!("expected {a} or {b}"),
        more => format!("expected one of {}", more.join(", ")),
    };
    format!("unknown field `{key}`, {expected}")
}

/// A library struct's value: read, then checked by reading the struct from this key alone, so
/// an error is returned while the deserializer still knows the value's line.
struct CheckedValue<'k> {
    key: &'k str,
    check: fn(toml::Table) -> Result<(), String>,
}

impl<'de> DeserializeSeed<'de> for CheckedValue<'_> {
    type Value = toml::Value;

    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<toml::Value, D::Error> {
        let value = toml::Value::deserialize(deserializer)?;
        let alone = toml::Table::from_iter([(self.key.to_owned(), value.clone())]);
        (self.check)(alone).map_err(de::Error::custom)?;
        Ok(value)
    }
}
