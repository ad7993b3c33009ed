//! The reference `extract` map (plugins/README.md): replaces a record's value
//! with one field of its JSON value. Configuration: `{"field": "user.id"}`.

use freshet_sdk::json::{Kind, Lookup, Scanner};
use freshet_sdk::{Emitted, Error, MapFunction, MapOutput, Module, OpenContext, Record, Result};

/// The deepest nesting of arrays and objects a document may have.
pub const MAX_DEPTH: usize = 512;

pub struct Extract {
    path: Vec<Vec<u8>>,
    not_found: String,
    scanner: Scanner,
    unescaped: Vec<u8>,
}

impl Default for Extract {
    fn default() -> Self {
        Extract {
            path: Vec::new(),
            not_found: String::new(),
            scanner: Scanner::with_max_depth(MAX_DEPTH),
            unescaped: Vec::new(),
        }
    }
}

impl MapFunction for Extract {
    fn open(&mut self, ctx: &mut OpenContext) -> Result<()> {
        let field = match ctx.config().string("field")? {
            Some(f) if !f.is_empty() => f,
            _ => return Err(Error::invalid_argument(r#"configuration needs "field", a dotted path such as user.id"#)),
        };
        self.path = field.split('.').map(|c| c.as_bytes().to_vec()).collect();
        self.not_found = format!("field not found: {}", field);
        Ok(())
    }

    fn map(&mut self, r: &Record, out: MapOutput) -> Result<Emitted> {
        if !self.scanner.validate(r.value) {
            return Err(Error::new("invalid json"));
        }
        match self.scanner.find(r.value, self.path.iter().map(|c| &c[..])) {
            Lookup::Found(v) if v.kind() == Kind::String => {
                self.unescaped.clear();
                if !v.unescape_into(&mut self.unescaped) {
                    return Err(Error::new("invalid json"));
                }
                Ok(out.value(&self.unescaped))
            }
            Lookup::Found(v) => Ok(out.value(v.raw())),
            Lookup::Missing => Err(Error::new(self.not_found.clone())),
            Lookup::NotObject => Err(Error::new("invalid json")),
        }
    }
}

pub fn register(m: &mut Module) {
    m.map("extract", Extract::default());
}

freshet_sdk::export!(register);

#[cfg(test)]
mod tests {
    use super::*;
    use freshet_sdk::abi::{entry_kind, status};
    use freshet_sdk::testing::{Harness, Input};

    fn extract(path: &str, doc: &str) -> std::result::Result<String, String> {
        let mut h = Harness::new(register);
        h.open("extract", &format!(r#"{{"field": "{}"}}"#, path)).unwrap();
        let out = h.process(&[Input::data(b"k", doc.as_bytes(), 3)]).unwrap();
        assert_eq!(out.len(), 1);
        let o = &out[0];
        match o.kind {
            entry_kind::OUTPUT => {
                assert_eq!((&o.key[..], o.timestamp), (&b"k"[..], 3));
                Ok(String::from_utf8(o.value.clone()).unwrap())
            }
            entry_kind::ERROR => Err(o.error_message().unwrap().to_owned()),
            k => panic!("unexpected kind {}", k),
        }
    }

    #[test]
    fn table() {
        let doc = r#"{"user": {"id": "a\u00e9"}, "n": 1}"#;
        let cases: &[(&str, &str, std::result::Result<&str, &str>)] = &[
            ("user.id", doc, Ok("aé")),
            ("n", doc, Ok("1")),
            ("user", doc, Ok(r#"{"id": "a\u00e9"}"#)),
            ("user.name", doc, Err("field not found: user.name")),
            ("n.x", doc, Err("invalid json")),
            ("a", r#"{"a": [1, 2]} "#, Ok("[1, 2]")),
            ("a", r#" {"a" : true }"#, Ok("true")),
            ("a", r#"{"a": null}"#, Ok("null")),
            ("a", r#"{"a": -1.5e3}"#, Ok("-1.5e3")),
            ("a", r#"{"a": "\ud83d\ude00"}"#, Ok("😀")),
            ("a", r#"{"a": 1, "a": 2}"#, Ok("1")),
            ("a", r#"{"a": 1} x"#, Err("invalid json")),
            ("a", r#"{"a": 1, "b": "\ud800"}"#, Err("invalid json")),
            ("a", "{\"a\": \"tab\there\"}", Err("invalid json")),
            ("a", "[1]", Err("invalid json")),
            ("a", "", Err("invalid json")),
            ("a", "{}", Err("field not found: a")),
        ];
        for (path, doc, want) in cases {
            let want = want.map(str::to_owned).map_err(str::to_owned);
            assert_eq!(extract(path, doc), want, "{} in {}", path, doc);
        }
        let deep = |n: usize| format!(r#"{{"a": 1, "b": {}{}}}"#, "[".repeat(n - 1), "]".repeat(n - 1));
        assert_eq!(extract("a", &deep(MAX_DEPTH)), Ok("1".to_owned()));
        assert_eq!(extract("a", &deep(MAX_DEPTH + 1)), Err("invalid json".to_owned()));
    }

    #[test]
    fn configuration() {
        for (config, ok) in [
            (r#"{"field": "a.b"}"#, true),
            (r#"{"field": ""}"#, false),
            (r#"{}"#, false),
            (r#"{"field": 1}"#, false),
            (r#"{"field": null}"#, false),
        ] {
            let mut h = Harness::new(register);
            let want = if ok { Ok(()) } else { Err(status::INVALID_ARGUMENT) };
            assert_eq!(h.open("extract", config), want, "{}", config);
        }
    }
}
