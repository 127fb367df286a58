//! Spin's variable templates: `{{ name }}` expressions between literal text, as
//! `crates/expressions/src/template.rs` (`Template::new`) parses them.

use std::collections::HashMap;

/// A parsed template.
#[derive(Debug, Clone, PartialEq)]
pub struct Template {
    parts: Vec<Part>,
}

#[derive(Debug, Clone, PartialEq)]
enum Part {
    Lit(String),
    Expr(String),
}

impl Template {
    /// Parses `text`; the error is Spin's `unmatched '{{' in template`.
    pub fn new(text: &str) -> Result<Template, String> {
        let mut parts = Vec::new();
        let mut rest = text;
        while !rest.is_empty() {
            if let Some(expr_rest) = rest.strip_prefix("{{") {
                let Some((expr, after)) = expr_rest.split_once("}}") else {
                    return Err("unmatched '{{' in template".into());
                };
                parts.push(Part::Expr(expr.trim().to_string()));
                rest = after;
            } else {
                let end = rest.find("{{").unwrap_or(rest.len());
                parts.push(Part::Lit(rest[..end].to_string()));
                rest = &rest[end..];
            }
        }
        Ok(Template { parts })
    }

    /// Whether the template has no expression.
    pub fn is_literal(&self) -> bool {
        self.parts.iter().all(|p| matches!(p, Part::Lit(_)))
    }

    /// The variable names it refers to, in order.
    pub fn vars(&self) -> impl Iterator<Item = &str> {
        self.parts.iter().filter_map(|p| match p {
            Part::Expr(e) => Some(e.as_str()),
            Part::Lit(_) => None,
        })
    }

    /// The text with every expression replaced from `values`; `Err(name)` names the first
    /// variable `values` lacks (Spin's `invalid variable name: <name>`).
    pub fn render(&self, values: &HashMap<String, String>) -> Result<String, String> {
        let mut out = String::new();
        for p in &self.parts {
            match p {
                Part::Lit(l) => out.push_str(l),
                Part::Expr(e) => out.push_str(values.get(e).ok_or_else(|| e.clone())?),
            }
        }
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// spin v4.0.2 crates/expressions/src/template.rs: `template_parts`, `template_parts_bad`.
    #[test]
    fn parses_like_spin() {
        let t = Template::new("a-{{ expr }}-b").unwrap();
        assert_eq!(t.vars().collect::<Vec<_>>(), ["expr"]);
        assert!(!t.is_literal());
        assert!(Template::new("http://x").unwrap().is_literal());
        assert!(Template::new("").unwrap().is_literal());
        let both = Template::new("{{ a }}{{b}}").unwrap();
        assert_eq!(both.vars().collect::<Vec<_>>(), ["a", "b"]);
        assert_eq!(
            Template::new("{{ matched }} {{ unmatched").unwrap_err(),
            "unmatched '{{' in template"
        );
        let values = HashMap::from([("a".to_string(), "1".to_string())]);
        assert_eq!(
            Template::new("x{{ a }}y").unwrap().render(&values).unwrap(),
            "x1y"
        );
        assert_eq!(
            Template::new("{{ b }}")
                .unwrap()
                .render(&values)
                .unwrap_err(),
            "b"
        );
    }
}
