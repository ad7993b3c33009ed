//! The reference `tokenize` flat-map (plugins/README.md): splits text into
//! lower-case words, one record per word, key and value both the word.

use freshet_sdk::{Context, FlatMapFunction, Module, Record, Result};

/// A word byte: an ASCII letter or digit, or any byte of a multi-byte UTF-8
/// sequence (≥ 0x80), so non-ASCII letters stay inside words.
fn is_word_byte(b: u8) -> bool {
    b >= 0x80 || b.is_ascii_alphanumeric()
}

#[derive(Default)]
pub struct Tokenizer {
    lowered: Vec<u8>,
}

impl FlatMapFunction for Tokenizer {
    fn flat_map(&mut self, r: &Record, ctx: &mut Context) -> Result<()> {
        let v = r.value;
        let mut i = 0;
        while i < v.len() {
            if !is_word_byte(v[i]) {
                i += 1;
                continue;
            }
            let start = i;
            while i < v.len() && is_word_byte(v[i]) {
                i += 1;
            }
            let word = &v[start..i];
            if word.iter().any(u8::is_ascii_uppercase) {
                self.lowered.clear();
                self.lowered.extend(word.iter().map(u8::to_ascii_lowercase));
                ctx.emit(&self.lowered, &self.lowered);
            } else {
                ctx.emit(word, word);
            }
        }
        Ok(())
    }
}

pub fn register(m: &mut Module) {
    m.flat_map("tokenize", Tokenizer::default());
}

freshet_sdk::export!(register);

#[cfg(test)]
mod tests {
    use super::*;
    use freshet_sdk::testing::{Harness, Input};

    fn words(value: &[u8]) -> Vec<String> {
        let mut h = Harness::new(register);
        h.open("tokenize", "{}").unwrap();
        let out = h.process(&[Input::data(b"k", value, 7)]).unwrap();
        for o in &out {
            assert_eq!(o.key, o.value);
            assert_eq!(o.timestamp, 7);
            assert!(o.headers.is_empty());
        }
        out.into_iter().map(|o| String::from_utf8_lossy(&o.key).into_owned()).collect()
    }

    #[test]
    fn table() {
        let cases: &[(&[u8], &[&str])] = &[
            ("Hello, wörld! 42x".as_bytes(), &["hello", "wörld", "42x"]),
            (b"", &[]),
            (b"  ,;  ", &[]),
            (b"ONE two\tThree\nFOUR", &["one", "two", "three", "four"]),
            (b"a-b_c", &["a", "b", "c"]),
            ("ÄÖÜ straße".as_bytes(), &["ÄÖÜ", "straße"]), // non-ASCII is not lowered
        ];
        for (input, want) in cases {
            assert_eq!(words(input), *want, "{:?}", String::from_utf8_lossy(input));
        }
        // Invalid UTF-8 bytes are word bytes too.
        let mut h = Harness::new(register);
        h.open("tokenize", "{}").unwrap();
        let out = h.process(&[Input::data(b"", b"A\xff\xfeB c", 0)]).unwrap();
        assert_eq!(out[0].key, b"a\xff\xfeb");
        assert_eq!(out[1].key, b"c");
    }
}
