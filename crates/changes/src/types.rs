//! PostgreSQL types as walcast needs them: the `typname` reported in
//! `columns[].type`, and the kind that decides how a value becomes JSON.
//!
//! ```text
//!  Relation column type OID ──PgType::builtin──────────▶ PgType { oid, name, kind }
//!         │ (not built in)                                        │
//!         └──Type message ──PgType::from_type_message──▶          ▼
//!                                                 value::decode_text(kind, text)
//! ```
//!
//! pgoutput names a column's type only by OID. For built-in types (OIDs below
//! 10000) it sends nothing more, so walcast carries a table of them, taken
//! from `pg_type` of PostgreSQL 15. For any other type (enums, domains,
//! composites, extension types such as citext) it sends a Type message with
//! the name first.

use std::sync::Arc;

use pgoutput::Oid;

/// How a column's values become JSON, following what `to_jsonb` does with
/// each type (Supabase sends `to_jsonb(value::type)` for every column).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum TypeKind {
    /// `bool`: `true` / `false`.
    Bool,
    /// `int2`, `int4`, `int8`: a JSON number.
    Int,
    /// `float4`, `float8`: a JSON number with PostgreSQL's digits; `NaN` and
    /// the infinities as strings.
    Float,
    /// `numeric`: a JSON number with its exact digits; `NaN` and the
    /// infinities as strings.
    Numeric,
    /// Character types (`text`, `varchar`, `bpchar`, `name`, `"char"`) and
    /// types announced by a Type message (enums, citext, domains): the text
    /// as a JSON string.
    Text,
    /// `uuid`: the text as a JSON string. Separate from [`TypeKind::Text`]
    /// because filter literals need PostgreSQL's uuid spelling rules.
    Uuid,
    /// `json`, `jsonb`: the JSON itself, embedded.
    Json,
    /// `bytea`: the hex text (`\x0102`) as a JSON string.
    Bytea,
    /// `timestamptz`: ISO 8601 with `T` and a `+HH:MM` offset.
    Timestamptz,
    /// `timestamp`: ISO 8601 with `T`, no offset.
    Timestamp,
    /// `date`: the text as a JSON string.
    Date,
    /// `time`: the text as a JSON string.
    Time,
    /// `timetz`: the text as a JSON string (`to_jsonb` keeps the short
    /// offset, `09:32:55+00`).
    Timetz,
    /// `interval`: the text as a JSON string.
    Interval,
    /// An array: a JSON array (nested for several dimensions) whose
    /// elements follow the element kind. Never an array of arrays.
    Array(&'static TypeKind),
    /// Any other type (money, inet, ranges, geometry, oid, …): the text as a
    /// JSON string.
    Other,
}

/// A column type: its OID, its `pg_type.typname` and its [`TypeKind`].
///
/// Cheap to clone: the name is shared.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct PgType {
    /// `pg_type.oid`.
    pub oid: Oid,
    /// `pg_type.typname`, e.g. `int4`, `_int4`, `timestamptz`, `citext`.
    pub name: Arc<str>,
    /// How values of this type become JSON.
    pub kind: TypeKind,
}

impl PgType {
    /// The built-in type with this OID, if walcast knows it.
    ///
    /// Covers every built-in base, range and multirange type a table column
    /// can have, and their array types.
    pub fn builtin(oid: Oid) -> Option<PgType> {
        let index = BUILTINS
            .binary_search_by_key(&oid, |&(oid, _, _)| oid)
            .ok()?;
        let &(oid, name, kind) = BUILTINS.get(index)?;
        Some(PgType {
            oid,
            name: Arc::from(name),
            kind,
        })
    }

    /// The kind of the built-in type with this OID, without building a
    /// [`PgType`] (for array elements in binary format).
    pub(crate) fn builtin_kind(oid: Oid) -> Option<TypeKind> {
        let index = BUILTINS
            .binary_search_by_key(&oid, |&(oid, _, _)| oid)
            .ok()?;
        BUILTINS.get(index).map(|&(_, _, kind)| kind)
    }

    /// The type a pgoutput Type message announces (enums, domains,
    /// composites, extension types).
    ///
    /// The message carries only the name, so the kind is a guess: a name
    /// starting with `_` is an array of strings, anything else a string.
    /// That is exact for enums and citext. Domains, composites and
    /// extension types become their text, where `to_jsonb` would follow the
    /// base type (a number for a domain over `int4`) or build an object (a
    /// composite). A built-in OID keeps its built-in entry.
    pub fn from_type_message(oid: Oid, name: &str) -> PgType {
        if let Some(builtin) = PgType::builtin(oid) {
            return builtin;
        }
        let kind = if name.starts_with('_') {
            TypeKind::Array(&TypeKind::Text)
        } else {
            TypeKind::Text
        };
        PgType {
            oid,
            name: Arc::from(name),
            kind,
        }
    }

    /// A type walcast knows nothing about: neither built in nor announced by
    /// a Type message (pgoutput always announces non-built-in types, so this
    /// is a fallback).
    ///
    /// Its name is the OID in decimal, e.g. `"16392"`, so that a client sees
    /// something it can look up in `pg_type`; its values are their text as
    /// strings.
    pub fn unknown(oid: Oid) -> PgType {
        PgType::builtin(oid).unwrap_or_else(|| PgType {
            oid,
            name: Arc::from(oid.to_string()),
            kind: TypeKind::Other,
        })
    }
}

use TypeKind as K;

/// `(oid, typname, kind)` of built-in types, sorted by OID, generated from
/// PostgreSQL 15's `pg_type` (`oid < 10000`, base, range and multirange
/// types that have an array type, plus those array types).
///
/// `oid` and `xid` are strings, not numbers: `to_jsonb` only treats `int2`,
/// `int4`, `int8`, `float4`, `float8` and `numeric` as numbers. `_box` is
/// [`TypeKind::Other`] because its array literal separates elements with `;`.
static BUILTINS: &[(Oid, &str, TypeKind)] = &[
    (16, "bool", K::Bool),
    (17, "bytea", K::Bytea),
    (18, "char", K::Text),
    (19, "name", K::Text),
    (20, "int8", K::Int),
    (21, "int2", K::Int),
    (22, "int2vector", K::Other),
    (23, "int4", K::Int),
    (24, "regproc", K::Other),
    (25, "text", K::Text),
    (26, "oid", K::Other),
    (27, "tid", K::Other),
    (28, "xid", K::Other),
    (29, "cid", K::Other),
    (30, "oidvector", K::Other),
    (114, "json", K::Json),
    (142, "xml", K::Other),
    (143, "_xml", K::Array(&K::Other)),
    (199, "_json", K::Array(&K::Json)),
    (271, "_xid8", K::Array(&K::Other)),
    (600, "point", K::Other),
    (601, "lseg", K::Other),
    (602, "path", K::Other),
    (603, "box", K::Other),
    (604, "polygon", K::Other),
    (628, "line", K::Other),
    (629, "_line", K::Array(&K::Other)),
    (650, "cidr", K::Other),
    (651, "_cidr", K::Array(&K::Other)),
    (700, "float4", K::Float),
    (701, "float8", K::Float),
    (718, "circle", K::Other),
    (719, "_circle", K::Array(&K::Other)),
    (774, "macaddr8", K::Other),
    (775, "_macaddr8", K::Array(&K::Other)),
    (790, "money", K::Other),
    (791, "_money", K::Array(&K::Other)),
    (829, "macaddr", K::Other),
    (869, "inet", K::Other),
    (1000, "_bool", K::Array(&K::Bool)),
    (1001, "_bytea", K::Array(&K::Bytea)),
    (1002, "_char", K::Array(&K::Text)),
    (1003, "_name", K::Array(&K::Text)),
    (1005, "_int2", K::Array(&K::Int)),
    (1006, "_int2vector", K::Array(&K::Other)),
    (1007, "_int4", K::Array(&K::Int)),
    (1008, "_regproc", K::Array(&K::Other)),
    (1009, "_text", K::Array(&K::Text)),
    (1010, "_tid", K::Array(&K::Other)),
    (1011, "_xid", K::Array(&K::Other)),
    (1012, "_cid", K::Array(&K::Other)),
    (1013, "_oidvector", K::Array(&K::Other)),
    (1014, "_bpchar", K::Array(&K::Text)),
    (1015, "_varchar", K::Array(&K::Text)),
    (1016, "_int8", K::Array(&K::Int)),
    (1017, "_point", K::Array(&K::Other)),
    (1018, "_lseg", K::Array(&K::Other)),
    (1019, "_path", K::Array(&K::Other)),
    (1020, "_box", K::Other),
    (1021, "_float4", K::Array(&K::Float)),
    (1022, "_float8", K::Array(&K::Float)),
    (1027, "_polygon", K::Array(&K::Other)),
    (1028, "_oid", K::Array(&K::Other)),
    (1033, "aclitem", K::Other),
    (1034, "_aclitem", K::Array(&K::Other)),
    (1040, "_macaddr", K::Array(&K::Other)),
    (1041, "_inet", K::Array(&K::Other)),
    (1042, "bpchar", K::Text),
    (1043, "varchar", K::Text),
    (1082, "date", K::Date),
    (1083, "time", K::Time),
    (1114, "timestamp", K::Timestamp),
    (1115, "_timestamp", K::Array(&K::Timestamp)),
    (1182, "_date", K::Array(&K::Date)),
    (1183, "_time", K::Array(&K::Time)),
    (1184, "timestamptz", K::Timestamptz),
    (1185, "_timestamptz", K::Array(&K::Timestamptz)),
    (1186, "interval", K::Interval),
    (1187, "_interval", K::Array(&K::Interval)),
    (1231, "_numeric", K::Array(&K::Numeric)),
    (1266, "timetz", K::Timetz),
    (1270, "_timetz", K::Array(&K::Timetz)),
    (1560, "bit", K::Other),
    (1561, "_bit", K::Array(&K::Other)),
    (1562, "varbit", K::Other),
    (1563, "_varbit", K::Array(&K::Other)),
    (1700, "numeric", K::Numeric),
    (1790, "refcursor", K::Other),
    (2201, "_refcursor", K::Array(&K::Other)),
    (2202, "regprocedure", K::Other),
    (2203, "regoper", K::Other),
    (2204, "regoperator", K::Other),
    (2205, "regclass", K::Other),
    (2206, "regtype", K::Other),
    (2207, "_regprocedure", K::Array(&K::Other)),
    (2208, "_regoper", K::Array(&K::Other)),
    (2209, "_regoperator", K::Array(&K::Other)),
    (2210, "_regclass", K::Array(&K::Other)),
    (2211, "_regtype", K::Array(&K::Other)),
    (2949, "_txid_snapshot", K::Array(&K::Other)),
    (2950, "uuid", K::Uuid),
    (2951, "_uuid", K::Array(&K::Uuid)),
    (2970, "txid_snapshot", K::Other),
    (3220, "pg_lsn", K::Other),
    (3221, "_pg_lsn", K::Array(&K::Other)),
    (3614, "tsvector", K::Other),
    (3615, "tsquery", K::Other),
    (3643, "_tsvector", K::Array(&K::Other)),
    (3645, "_tsquery", K::Array(&K::Other)),
    (3734, "regconfig", K::Other),
    (3735, "_regconfig", K::Array(&K::Other)),
    (3769, "regdictionary", K::Other),
    (3770, "_regdictionary", K::Array(&K::Other)),
    (3802, "jsonb", K::Json),
    (3807, "_jsonb", K::Array(&K::Json)),
    (3904, "int4range", K::Other),
    (3905, "_int4range", K::Array(&K::Other)),
    (3906, "numrange", K::Other),
    (3907, "_numrange", K::Array(&K::Other)),
    (3908, "tsrange", K::Other),
    (3909, "_tsrange", K::Array(&K::Other)),
    (3910, "tstzrange", K::Other),
    (3911, "_tstzrange", K::Array(&K::Other)),
    (3912, "daterange", K::Other),
    (3913, "_daterange", K::Array(&K::Other)),
    (3926, "int8range", K::Other),
    (3927, "_int8range", K::Array(&K::Other)),
    (4072, "jsonpath", K::Other),
    (4073, "_jsonpath", K::Array(&K::Other)),
    (4089, "regnamespace", K::Other),
    (4090, "_regnamespace", K::Array(&K::Other)),
    (4096, "regrole", K::Other),
    (4097, "_regrole", K::Array(&K::Other)),
    (4191, "regcollation", K::Other),
    (4192, "_regcollation", K::Array(&K::Other)),
    (4451, "int4multirange", K::Other),
    (4532, "nummultirange", K::Other),
    (4533, "tsmultirange", K::Other),
    (4534, "tstzmultirange", K::Other),
    (4535, "datemultirange", K::Other),
    (4536, "int8multirange", K::Other),
    (5038, "pg_snapshot", K::Other),
    (5039, "_pg_snapshot", K::Array(&K::Other)),
    (5069, "xid8", K::Other),
    (6150, "_int4multirange", K::Array(&K::Other)),
    (6151, "_nummultirange", K::Array(&K::Other)),
    (6152, "_tsmultirange", K::Array(&K::Other)),
    (6153, "_tstzmultirange", K::Array(&K::Other)),
    (6155, "_datemultirange", K::Array(&K::Other)),
    (6157, "_int8multirange", K::Array(&K::Other)),
];

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn table_is_sorted_and_unique() {
        assert!(BUILTINS.windows(2).all(|pair| pair[0].0 < pair[1].0));
    }

    #[test]
    fn array_names_match_element_kinds() {
        for &(oid, name, kind) in BUILTINS {
            if let TypeKind::Array(element) = kind {
                assert!(name.starts_with('_'), "{oid} {name}");
                assert!(!matches!(element, TypeKind::Array(_)), "{oid} {name}");
                let element_name = &name[1..];
                let (_, _, element_kind) = BUILTINS
                    .iter()
                    .find(|(_, n, _)| *n == element_name)
                    .expect("element type is in the table");
                assert_eq!(element_kind, element, "{name}");
            } else {
                assert!(!name.starts_with('_') || name == "_box", "{oid} {name}");
            }
        }
    }

    #[test]
    fn common_builtins() {
        let cases: &[(Oid, &str, TypeKind)] = &[
            (16, "bool", TypeKind::Bool),
            (1000, "_bool", TypeKind::Array(&TypeKind::Bool)),
            (17, "bytea", TypeKind::Bytea),
            (18, "char", TypeKind::Text),
            (19, "name", TypeKind::Text),
            (20, "int8", TypeKind::Int),
            (21, "int2", TypeKind::Int),
            (23, "int4", TypeKind::Int),
            (1007, "_int4", TypeKind::Array(&TypeKind::Int)),
            (25, "text", TypeKind::Text),
            (1009, "_text", TypeKind::Array(&TypeKind::Text)),
            (26, "oid", TypeKind::Other),
            (114, "json", TypeKind::Json),
            (199, "_json", TypeKind::Array(&TypeKind::Json)),
            (700, "float4", TypeKind::Float),
            (701, "float8", TypeKind::Float),
            (1042, "bpchar", TypeKind::Text),
            (1043, "varchar", TypeKind::Text),
            (1082, "date", TypeKind::Date),
            (1083, "time", TypeKind::Time),
            (1114, "timestamp", TypeKind::Timestamp),
            (1184, "timestamptz", TypeKind::Timestamptz),
            (
                1185,
                "_timestamptz",
                TypeKind::Array(&TypeKind::Timestamptz),
            ),
            (1186, "interval", TypeKind::Interval),
            (1266, "timetz", TypeKind::Timetz),
            (1700, "numeric", TypeKind::Numeric),
            (1231, "_numeric", TypeKind::Array(&TypeKind::Numeric)),
            (2950, "uuid", TypeKind::Uuid),
            (2951, "_uuid", TypeKind::Array(&TypeKind::Uuid)),
            (3802, "jsonb", TypeKind::Json),
            (3807, "_jsonb", TypeKind::Array(&TypeKind::Json)),
            (790, "money", TypeKind::Other),
            (3904, "int4range", TypeKind::Other),
            (3614, "tsvector", TypeKind::Other),
            (1020, "_box", TypeKind::Other),
        ];
        for &(oid, name, kind) in cases {
            let ty = PgType::builtin(oid).expect("built in");
            assert_eq!((ty.oid, &*ty.name, ty.kind), (oid, name, kind));
        }
        assert_eq!(PgType::builtin(0), None);
        assert_eq!(PgType::builtin(16_384), None);
        assert_eq!(
            PgType::builtin_kind(1016),
            Some(TypeKind::Array(&TypeKind::Int))
        );
    }

    #[test]
    fn announced_types() {
        let mood = PgType::from_type_message(16_390, "mood");
        assert_eq!((&*mood.name, mood.kind), ("mood", TypeKind::Text));
        let moods = PgType::from_type_message(16_389, "_mood");
        assert_eq!(moods.kind, TypeKind::Array(&TypeKind::Text));
        let citext = PgType::from_type_message(16_500, "citext");
        assert_eq!(citext.kind, TypeKind::Text);
        assert_eq!(PgType::from_type_message(23, "int4").kind, TypeKind::Int);
    }

    #[test]
    fn unknown_types() {
        let ty = PgType::unknown(16_392);
        assert_eq!((&*ty.name, ty.kind), ("16392", TypeKind::Other));
        assert_eq!(&*PgType::unknown(25).name, "text");
        let clone = ty.clone();
        assert!(Arc::ptr_eq(&clone.name, &ty.name));
    }
}
