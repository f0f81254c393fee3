//! Plain-text tables: a header row and left-aligned columns two spaces apart.

/// Renders `rows` under `headers`; each line ends in a newline and has no trailing spaces.
/// Rows shorter than the header leave their last cells empty.
pub fn table(headers: &[&str], rows: &[Vec<String>]) -> String {
    let mut widths: Vec<usize> = headers.iter().map(|h| h.chars().count()).collect();
    for row in rows {
        for (width, cell) in widths.iter_mut().zip(row) {
            *width = (*width).max(cell.chars().count());
        }
    }
    let mut out = String::new();
    let header: Vec<String> = headers.iter().map(|h| (*h).to_owned()).collect();
    line(&mut out, &widths, &header);
    for row in rows {
        line(&mut out, &widths, row);
    }
    out
}

fn line(out: &mut String, widths: &[usize], cells: &[String]) {
    let mut text = String::new();
    for (i, width) in widths.iter().enumerate() {
        let cell = cells.get(i).map_or("", String::as_str);
        if i > 0 {
            text.push_str("  ");
        }
        text.push_str(cell);
        let pad = width.saturating_sub(cell.chars().count());
        text.extend(std::iter::repeat_n(' ', pad));
    }
    out.push_str(text.trim_end());
    out.push('\n');
}

#[cfg(test)]
mod tests {
    use super::table;

    #[test]
    fn aligns_columns_without_trailing_spaces() {
        let rows = vec![
            vec!["a".to_owned(), "bbbb".to_owned()],
            vec!["ccc".to_owned(), String::new()],
        ];
        assert_eq!(table(&["X", "Y"], &rows), "X    Y\na    bbbb\nccc\n");
    }
}
