//! The queue's shape as qshape prints it: a total row, then one row per group, one column per
//! age in minutes.

use std::fmt::Write as _;

use super::table::table;
use crate::api::{Shape, ShapeBy};

/// The table, and a line saying what was left out.
pub fn shape(shape: &Shape) -> String {
    let first = match shape.by {
        ShapeBy::Domain => "DOMAIN",
        ShapeBy::Reply => "LAST REPLY",
        ShapeBy::Sender => "SENDER DOMAIN",
    };
    let mut headers = vec![first, "T"];
    headers.extend(shape.columns.iter().map(String::as_str));
    let rows: Vec<Vec<String>> = std::iter::once(&shape.total)
        .chain(&shape.rows)
        .map(|row| {
            let mut cells = vec![row.key.clone(), row.total.to_string()];
            cells.extend(row.by_age.iter().map(u64::to_string));
            cells
        })
        .collect();
    let mut out = table(&headers, &rows);
    if shape.more_rows > 0 {
        let _ = writeln!(out, "({} more rows; --top shows more)", shape.more_rows);
    }
    if !shape.complete {
        let _ = writeln!(
            out,
            "(counts cover only the oldest part of a very large queue)"
        );
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::api::ShapeRow;

    #[test]
    fn total_first_then_groups_with_age_columns() {
        let shape = Shape {
            by: ShapeBy::Domain,
            columns: vec!["5".into(), "5+".into()],
            total: ShapeRow {
                key: "TOTAL".into(),
                total: 3,
                by_age: vec![1, 2],
            },
            rows: vec![ShapeRow {
                key: "example.net".into(),
                total: 3,
                by_age: vec![1, 2],
            }],
            more_rows: 2,
            complete: true,
        };
        assert_eq!(
            super::shape(&shape),
            "DOMAIN       T  5  5+\n\
             TOTAL        3  1  2\n\
             example.net  3  1  2\n\
             (2 more rows; --top shows more)\n"
        );
    }
}
