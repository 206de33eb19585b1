//! Hand-built relations and changes for the unit tests.

use std::sync::Arc;

use changes::value::decode_text;
use changes::{Change, ChangeKind, Column, Datum, PgType, Position, Relation, Row};
use pgoutput::ReplicaIdentity;

/// A relation with columns `(name, type oid, is_key)`.
pub(crate) fn relation(
    oid: u32,
    schema: &str,
    table: &str,
    columns: &[(&str, u32, bool)],
) -> Arc<Relation> {
    Arc::new(Relation {
        oid,
        schema: schema.into(),
        table: table.into(),
        identity: ReplicaIdentity::Default,
        columns: columns
            .iter()
            .map(|&(name, type_oid, is_key)| Column {
                name: name.into(),
                ty: PgType::unknown(type_oid),
                is_key,
            })
            .collect(),
    })
}

/// A value of column `index` of `relation` from its pgoutput text; `None`
/// is SQL `NULL`.
pub(crate) fn value(relation: &Relation, index: usize, text: Option<&str>) -> Datum {
    match (relation.columns.get(index), text) {
        (Some(column), Some(text)) => decode_text(&column.ty.kind, text.as_bytes()),
        _ => Datum::Null,
    }
}

/// A row from pgoutput texts: the outer `None` is an absent column, the
/// inner one SQL `NULL`.
pub(crate) fn row(relation: &Relation, texts: &[Option<Option<&str>>]) -> Row {
    Row(texts
        .iter()
        .enumerate()
        .map(|(index, text)| text.map(|text| value(relation, index, text)))
        .collect())
}

/// A change of `kind` with these images.
pub(crate) fn change(
    kind: ChangeKind,
    relation: &Arc<Relation>,
    record: Option<Row>,
    old_record: Option<Row>,
) -> Change {
    Change {
        position: Position::default(),
        xid: 1,
        kind,
        relation: Arc::clone(relation),
        commit_ts: 0,
        record,
        old_record,
    }
}
