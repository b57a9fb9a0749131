//! Safe rendering of MITRE's Markdown descriptions (imported releases only).
//!
//! Raw HTML in the source is shown as text, link targets are limited to
//! http(s), mail and site-relative addresses, and site-relative links are
//! pointed at the official ATLAS website.

use pulldown_cmark::{CowStr, Event, Options, Parser, Tag, html};

use super::model::OFFICIAL_SITE;

pub fn render(markdown: &str) -> String {
    let parser =
        Parser::new_ext(markdown, Options::ENABLE_TABLES | Options::ENABLE_STRIKETHROUGH).map(|event| match event {
            Event::Html(raw) | Event::InlineHtml(raw) => Event::Text(raw),
            Event::Start(Tag::Link { link_type, dest_url, title, id }) => {
                Event::Start(Tag::Link { link_type, dest_url: safe_destination(dest_url), title, id })
            }
            Event::Start(Tag::Image { dest_url, .. }) => Event::Text(dest_url),
            Event::End(pulldown_cmark::TagEnd::Image) => Event::Text(CowStr::Borrowed("")),
            other => other,
        });
    let mut out = String::with_capacity(markdown.len() * 5 / 4);
    html::push_html(&mut out, parser);
    out
}

fn safe_destination(url: CowStr<'_>) -> CowStr<'_> {
    let lower = url.trim().to_ascii_lowercase();
    if url.starts_with('/') && !url.starts_with("//") {
        CowStr::from(format!("{OFFICIAL_SITE}{url}"))
    } else if lower.starts_with("https://")
        || lower.starts_with("http://")
        || lower.starts_with("mailto:")
        || url.starts_with('#')
    {
        url
    } else {
        CowStr::Borrowed("#")
    }
}

#[cfg(test)]
mod tests {
    use super::render;

    #[test]
    fn site_relative_links_point_at_the_official_site() {
        let html = render("See [Craft](/techniques/AML.T0043).");
        assert!(html.contains(r#"href="https://atlas.mitre.org/techniques/AML.T0043""#), "{html}");
    }

    #[test]
    fn raw_html_and_script_links_are_neutralised() {
        let html = render(
            "<script>alert(1)</script> and [x](javascript:void) <img src=x onerror=alert(1)> ![i](https://x/y.png)",
        );
        assert!(!html.contains("<script"), "{html}");
        assert!(!html.contains("<img"), "{html}");
        assert!(!html.contains("href=\"javascript"), "{html}");
        assert!(html.contains("&lt;script&gt;"), "{html}");
    }
}
