//! Size limits for stored fields.

/// Cuts `s` so that the result, marker included, is at most `max_bytes` long,
/// never splitting a UTF-8 character; the flag says whether it was cut.
/// If even the marker does not fit, the marker itself is cut to `max_bytes`.
pub fn truncate_utf8(s: &str, max_bytes: usize, marker: &str) -> (String, bool) {
    if s.len() <= max_bytes {
        return (s.to_owned(), false);
    }
    let Some(budget) = max_bytes.checked_sub(marker.len()) else {
        let cut = marker.floor_char_boundary(max_bytes);
        return (marker[..cut].to_owned(), true);
    };
    let cut = s.floor_char_boundary(budget);
    (format!("{}{marker}", &s[..cut]), true)
}

/// [`truncate_utf8`] of a string the caller owns: returned as it is when it fits (no copy).
pub fn truncate_owned(s: String, max_bytes: usize, marker: &str) -> (String, bool) {
    if s.len() <= max_bytes {
        return (s, false);
    }
    truncate_utf8(&s, max_bytes, marker)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn truncates_at_char_boundaries() {
        // (input, max_bytes, marker, expected, truncated)
        let cases = [
            ("hello", 10, "…", "hello", false),
            ("hello", 5, "…", "hello", false),
            ("", 0, "…", "", false),
            ("hello world", 8, "...", "hello...", true),
            ("hello world", 8, "", "hello wo", true),
            // 'é' is 2 bytes: "h" + "é" = 3 bytes, the next 'é' would not fit.
            ("héééé", 6, "..", "hé..", true),
            ("héééé", 7, "..", "héé..", true),
            // '…' is 3 bytes, so only 4 bytes of content fit in 7.
            ("abcdefgh", 7, "…", "abcd…", true),
            // CJK characters are 3 bytes each.
            ("日本語のテキスト", 10, "…", "日本…", true),
            // Emoji are 4 bytes; never split one.
            ("🦀🦀🦀", 9, "~", "🦀🦀~", true),
            ("🦀🦀🦀", 8, "~", "🦀~", true),
            ("🦀🦀🦀", 4, "~", "~", true),
            // The marker alone does not fit: it is cut too.
            ("abcdef", 2, "[truncated]", "[t", true),
            ("abcdef", 4, "……", "…", true),
            ("abcdef", 0, "…", "", true),
        ];
        for (input, max, marker, expected, truncated) in cases {
            let (out, cut) = truncate_utf8(input, max, marker);
            assert_eq!(
                (out.as_str(), cut),
                (expected, truncated),
                "truncate_utf8({input:?}, {max}, {marker:?})"
            );
            assert!(out.len() <= max || !cut, "{out:?} exceeds {max} bytes");
        }
    }

    #[test]
    fn result_always_fits_for_every_limit() {
        let input = "a€b🦀c日d";
        for max in 0..=input.len() + 2 {
            let (out, cut) = truncate_utf8(input, max, "…");
            assert!(out.len() <= max, "max {max}: {out:?}");
            assert_eq!(cut, input.len() > max, "max {max}");
        }
    }
}
