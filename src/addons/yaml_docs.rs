//! A multi-document YAML file edited in place: documents kubewiz does not touch are written
//! back byte for byte (a release's CRDs stay exactly as published, comments included); only
//! the documents it changes are serialised again.

use anyhow::{Context, Result};
use serde_yaml::Value;

pub struct Docs {
    docs: Vec<Doc>,
}

struct Doc {
    /// The document's text as read, without its `---` line.
    text: String,
    /// As parsed; a document whose value still equals it is written back as `text`.
    original: Value,
    value: Value,
}

impl Docs {
    pub fn parse(text: &str, what: &str) -> Result<Docs> {
        let mut docs = vec![];
        for (i, part) in split(text).into_iter().enumerate() {
            let value: Value = serde_yaml::from_str(&part)
                .with_context(|| format!("{what}: document {} is not valid YAML", i + 1))?;
            docs.push(Doc {
                text: part,
                original: value.clone(),
                value,
            });
        }
        Ok(Docs { docs })
    }

    /// The document of `kind` named `name`, for editing.
    pub fn object_mut(&mut self, kind: &str, name: &str) -> Option<&mut Value> {
        self.docs
            .iter_mut()
            .find(|d| is(&d.value, kind, name))
            .map(|d| &mut d.value)
    }

    /// Every document of one of `kinds`, for editing.
    pub fn objects_mut<'a>(
        &'a mut self,
        kinds: &'a [&str],
    ) -> impl Iterator<Item = &'a mut Value> + 'a {
        self.docs
            .iter_mut()
            .filter(|d| kinds.iter().any(|k| kind_of(&d.value) == Some(*k)))
            .map(|d| &mut d.value)
    }

    /// The file again: unchanged documents as they were written, changed ones serialised.
    /// A changed document with a number written with a leading zero is refused: Kubernetes
    /// reads `0644` as octal (YAML 1.1) and serialising it again would change its meaning.
    pub fn render(&self) -> Result<String> {
        let leading_zero = regex::Regex::new(r"(?m):\s+0[0-9]+\s*(#.*)?$").expect("valid regex");
        let mut out = String::new();
        for d in &self.docs {
            out.push_str("---\n");
            if d.value != d.original {
                if let Some(m) = leading_zero.find(&d.text) {
                    anyhow::bail!(
                        "cannot change {}: it has a number with a leading zero ({}), which \
                         would change meaning when written again",
                        describe(&d.original),
                        m.as_str().trim()
                    );
                }
                out.push_str(&serde_yaml::to_string(&d.value)?);
            } else {
                out.push_str(&d.text);
                if !d.text.ends_with('\n') {
                    out.push('\n');
                }
            }
        }
        Ok(out)
    }
}

/// The documents of `text`, split on `---` lines; empty documents (only comments) are kept out.
fn split(text: &str) -> Vec<String> {
    let mut parts = vec![String::new()];
    for line in text.lines() {
        if line == "---" || line.starts_with("--- ") {
            parts.push(String::new());
        } else {
            let cur = parts.last_mut().expect("one part at least");
            cur.push_str(line);
            cur.push('\n');
        }
    }
    parts
        .into_iter()
        .filter(|p| {
            p.lines()
                .any(|l| !l.trim().is_empty() && !l.trim_start().starts_with('#'))
        })
        .collect()
}

fn describe(v: &Value) -> String {
    let name = v
        .get("metadata")
        .and_then(|m| m.get("name"))
        .and_then(Value::as_str);
    format!(
        "{} {}",
        kind_of(v).unwrap_or("a document"),
        name.unwrap_or("")
    )
}

fn kind_of(v: &Value) -> Option<&str> {
    v.get("kind")?.as_str()
}

fn is(v: &Value, kind: &str, name: &str) -> bool {
    kind_of(v) == Some(kind) && v.get("metadata").and_then(|m| m.get("name")) == Some(&name.into())
}

#[cfg(test)]
mod tests {
    use super::*;

    const TEXT: &str = "---\n# Source: a.yaml\napiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: a\n\
        data:\n  x: \"1\"   # a comment kept\n---\n# only a comment\n---\napiVersion: v1\nkind: Secret\n\
        metadata:\n  name: b\n";

    #[test]
    fn untouched_documents_come_back_as_written() {
        let docs = Docs::parse(TEXT, "t").unwrap();
        let out = docs.render().unwrap();
        assert!(out.contains("x: \"1\"   # a comment kept"), "{out}");
        assert_eq!(out.matches("---\n").count(), 2, "{out}");
    }

    #[test]
    fn an_edited_document_is_serialised_again() {
        let mut docs = Docs::parse(TEXT, "t").unwrap();
        let m = docs.object_mut("ConfigMap", "a").unwrap();
        m.as_mapping_mut()
            .unwrap()
            .insert("extra".into(), "yes".into());
        let out = docs.render().unwrap();
        assert!(
            out.contains("extra: 'yes'") || out.contains("extra: yes"),
            "{out}"
        );
        assert!(out.contains("kind: Secret"), "{out}");
        assert!(docs_object_missing_is_none());
    }

    fn docs_object_missing_is_none() -> bool {
        Docs::parse(TEXT, "t")
            .unwrap()
            .object_mut("ConfigMap", "zz")
            .is_none()
    }

    #[test]
    fn a_changed_document_with_an_octal_looking_number_is_refused() {
        let text = "kind: DaemonSet\nmetadata:\n  name: n\nspec:\n  defaultMode: 0400\n";
        let mut docs = Docs::parse(text, "t").unwrap();
        assert!(docs.render().is_ok(), "unchanged: written back as is");
        let v = docs.object_mut("DaemonSet", "n").unwrap();
        v.as_mapping_mut().unwrap().insert("x".into(), 1.into());
        let e = docs.render().unwrap_err();
        assert!(format!("{e}").contains("DaemonSet n"), "{e}");
    }

    #[test]
    fn a_broken_document_names_itself() {
        let e = Docs::parse("a: 1\n---\nb: [\n", "calico-v3.29.1.yaml")
            .err()
            .unwrap();
        assert!(
            format!("{e:#}").contains("calico-v3.29.1.yaml: document 2"),
            "{e:#}"
        );
    }
}
