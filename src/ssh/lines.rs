//! Splits a byte stream arriving in arbitrary chunks into complete lines.

/// Accumulates chunks and yields complete lines: without `\n`, a trailing `\r` stripped,
/// invalid UTF-8 replaced. [`LineSplitter::finish`] yields a last partial line.
#[derive(Default, Debug)]
pub struct LineSplitter {
    pending: Vec<u8>,
}

impl LineSplitter {
    pub fn new() -> LineSplitter {
        LineSplitter::default()
    }

    /// Adds a chunk; calls `emit` for every line it completes.
    pub fn push(&mut self, chunk: &[u8], mut emit: impl FnMut(String)) {
        let mut rest = chunk;
        while let Some(pos) = rest.iter().position(|&b| b == b'\n') {
            let (head, tail) = rest.split_at(pos);
            if self.pending.is_empty() {
                emit(to_line(head));
            } else {
                self.pending.extend_from_slice(head);
                emit(to_line(&self.pending));
                self.pending.clear();
            }
            rest = &tail[1..];
        }
        self.pending.extend_from_slice(rest);
    }

    /// Emits what is left (a last line without newline), if anything.
    pub fn finish(&mut self, mut emit: impl FnMut(String)) {
        if !self.pending.is_empty() {
            emit(to_line(&self.pending));
            self.pending.clear();
        }
    }
}

fn to_line(bytes: &[u8]) -> String {
    let bytes = bytes.strip_suffix(b"\r").unwrap_or(bytes);
    String::from_utf8_lossy(bytes).into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn split_all(chunks: &[&[u8]]) -> Vec<String> {
        let mut s = LineSplitter::new();
        let mut out = Vec::new();
        for c in chunks {
            s.push(c, |l| out.push(l));
        }
        s.finish(|l| out.push(l));
        out
    }

    #[test]
    fn lines_across_chunk_boundaries() {
        assert_eq!(
            split_all(&[b"he", b"llo\nwor", b"ld\r\n", b"\n", b"tail"]),
            vec!["hello", "world", "", "tail"]
        );
        assert_eq!(split_all(&[b"a\nb\n"]), vec!["a", "b"]);
        assert_eq!(split_all(&[b"", b"x", b"", b"\n"]), vec!["x"]);
        assert!(split_all(&[]).is_empty());
    }

    #[test]
    fn every_split_point_gives_the_same_lines() {
        let text = "één\r\ntwo\n\nthree\nfour".as_bytes();
        let want = vec!["één", "two", "", "three", "four"];
        for i in 0..=text.len() {
            for j in i..=text.len() {
                assert_eq!(
                    split_all(&[&text[..i], &text[i..j], &text[j..]]),
                    want,
                    "split at {i},{j}"
                );
            }
        }
    }

    #[test]
    fn invalid_utf8_is_replaced() {
        assert_eq!(split_all(&[b"a\xffb\n"]), vec!["a\u{fffd}b"]);
    }
}
