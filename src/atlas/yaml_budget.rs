//! Budgets a YAML text must keep before it reaches the YAML parser, checked
//! in one linear pass: the YAML parser needs time quadratic in the nesting
//! depth, and its aliases can make a few kilobytes expand into gigabytes.
//!
//! - **Depth**: at most [`MAX_DEPTH`] nested collections, counting block
//!   indentation levels, compact sequences (`- - -`) and flow brackets.
//! - **Aliases**: none. ATLAS files use none, and refusing them is the one
//!   budget that bounds expansion without parsing. Anchors alone are harmless.
//!
//! The scan knows just enough YAML to not be fooled by brackets, `*` or `#`
//! inside quoted strings, comments and block scalars (`|`, `>`).

/// Most collections nested inside each other (the official files need 10).
pub const MAX_DEPTH: usize = 64;

/// Where a text breaks a budget, and which.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OverBudget {
    /// 1-based.
    pub line: usize,
    pub message: String,
}

/// Checks the budgets (see the module documentation).
pub fn check(text: &str) -> Result<(), OverBudget> {
    let mut scan = Scan::default();
    for (index, line) in text.lines().enumerate() {
        scan.line(index + 1, line)?;
    }
    Ok(())
}

#[derive(Default)]
struct Scan {
    /// Indentations of the open block collections.
    indents: Vec<usize>,
    /// Open flow brackets (`[`, `{`).
    flow: usize,
    /// Inside a quoted scalar that continues on the next line.
    quote: Option<char>,
    /// Inside a block scalar: lines indented deeper than this belong to it.
    block_scalar: Option<usize>,
}

impl Scan {
    fn line(&mut self, number: usize, line: &str) -> Result<(), OverBudget> {
        let indent = line.len() - line.trim_start_matches(' ').len();
        let content = line[indent..].trim_end();
        if let Some(owner) = self.block_scalar {
            if content.is_empty() || indent > owner {
                return Ok(());
            }
            self.block_scalar = None;
        }
        if self.quote.is_none() && self.flow == 0 {
            if content.is_empty() || content.starts_with('#') {
                return Ok(());
            }
            if content.starts_with("---") || content.starts_with("...") {
                self.indents.clear();
                return Ok(());
            }
            while self.indents.last().is_some_and(|&open| open >= indent) {
                self.indents.pop();
            }
            self.indents.push(indent);
        }
        let mut depth_here: usize = 0;
        let mut chars = content.char_indices().peekable();
        let mut at_token_start = true;
        let mut compact = self.quote.is_none() && self.flow == 0;
        while let Some((at, c)) = chars.next() {
            if let Some(quote) = self.quote {
                match c {
                    '\\' if quote == '"' => {
                        chars.next();
                    }
                    '\'' if quote == '\'' && chars.peek().is_some_and(|(_, next)| *next == '\'') => {
                        chars.next();
                    }
                    c if c == quote => self.quote = None,
                    _ => {}
                }
                at_token_start = false;
                continue;
            }
            match c {
                '-' if compact && chars.peek().is_none_or(|(_, next)| *next == ' ') => {
                    // `- - x`: each dash after the first opens one more sequence.
                    depth_here += 1;
                }
                '"' | '\'' if at_token_start => self.quote = Some(c),
                '#' if at_token_start => break,
                '[' | '{' => self.flow += 1,
                ']' | '}' => self.flow = self.flow.saturating_sub(1),
                '*' if at_token_start => {
                    return Err(OverBudget {
                        line: number,
                        message: "YAML aliases (`*name`) are not accepted: ATLAS files use none, and an alias \
                                  can expand a small file into gigabytes"
                            .into(),
                    });
                }
                '|' | '>' if at_token_start && self.flow == 0 && is_block_scalar_header(&content[at..]) => {
                    self.block_scalar = Some(indent);
                    break;
                }
                _ => {}
            }
            if c != ' ' && c != '-' {
                compact = false;
            }
            at_token_start = matches!(c, ' ' | '\t' | '[' | '{' | ',' | ':' | '-' | '?');
            let depth = self.indents.len() + depth_here.saturating_sub(1) + self.flow;
            if depth > MAX_DEPTH {
                return Err(OverBudget {
                    line: number,
                    message: format!("collections are nested more than {MAX_DEPTH} deep"),
                });
            }
        }
        Ok(())
    }
}

/// `|`, `>`, `|-`, `>+2` and the like, then nothing but a comment.
fn is_block_scalar_header(rest: &str) -> bool {
    let indicators = rest[1..].trim_start_matches(['-', '+', '1', '2', '3', '4', '5', '6', '7', '8', '9']);
    let after = indicators.trim_start();
    after.is_empty() || after.starts_with('#')
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ordinary_yaml_is_within_budget() {
        let text = "matrices:\n- id: ATLAS\n  tactics:\n  - id: AML.TA0002 # a comment with * and [\n    name: \"Recon [x] *y\"\n    description: |\n      text with *stars* and [brackets {\n      - and dashes\n    tags: [a, 'b''s', {c: d}]\n  - id: 'x: *not an alias'\n";
        assert_eq!(check(text), Ok(()));
    }

    #[test]
    fn deep_flow_nesting_is_refused_on_its_line() {
        let text = format!("a: 1\nb: {}\n", "[".repeat(100_000));
        let refused = check(&text).expect_err("too deep");
        assert_eq!(refused.line, 2);
        assert!(refused.message.contains("nested more than 64"));
    }

    #[test]
    fn deep_block_and_compact_nesting_are_refused() {
        let block: String = (0..80).map(|i| format!("{}k{i}:\n", " ".repeat(i))).collect();
        assert!(check(&block).is_err());
        let compact = format!("x:\n{}1\n", "- ".repeat(80));
        assert!(check(&compact).is_err());
        let fine = format!("x:\n{}1\n", "- ".repeat(10));
        assert_eq!(check(&fine), Ok(()));
    }

    #[test]
    fn aliases_are_refused_and_anchors_alone_are_not() {
        assert_eq!(check("a: &x 1\nb: 2\n"), Ok(()));
        let bomb = "a: &a [lol, lol]\nb: &b [*a, *a]\nc: [*b, *b]\n";
        assert_eq!(check(bomb).expect_err("an alias").line, 2);
        assert_eq!(check("a: '*quoted'\nb: \"*also\"\nc: x*y\n"), Ok(()));
    }
}
