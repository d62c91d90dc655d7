//! Line and column (1-based, in characters) of the end of a text: where a
//! byte offset into a suite file is, for errors found before any YAML
//! reader has positions to give.
/// The 1-based line and column (in characters, as the YAML readers count)
/// of the character after `text`. CR LF, LF and a lone CR each end a line.
pub(crate) fn end_position(text: &str) -> (usize, usize) {
    let mut line = 1;
    let mut column = 1;
    let mut chars = text.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '\r' if chars.peek() == Some(&'\n') => {}
            '\n' | '\r' => {
                line += 1;
                column = 1;
            }
            _ => column += 1,
        }
    }
    (line, column)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn positions_count_characters_and_line_breaks() {
        assert_eq!(end_position(""), (1, 1));
        assert_eq!(end_position("ab"), (1, 3));
        assert_eq!(end_position("a\nbé"), (2, 3));
        assert_eq!(end_position("a\r\nb"), (2, 2));
        assert_eq!(end_position("a\rb"), (2, 2));
    }
}
