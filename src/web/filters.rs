//! Template filters for typed values: times and days as people read them.
//! A module that renders templates brings these in with `use super::filters;`.

use askama::Values;
use time::{Date, OffsetDateTime};

use crate::domain::records::format_date;

/// A moment as `2026-12-01 06:02 UTC`.
pub fn exact(at: OffsetDateTime) -> String {
    let at = at.to_offset(time::UtcOffset::UTC);
    format!("{} {:02}:{:02} UTC", format_date(at.date()), at.hour(), at.minute())
}

/// How long ago (or ahead) a moment is, in words: "just now", "12 minutes
/// ago", "yesterday", "in 3 days", or the day itself when further away.
pub fn in_words(at: OffsetDateTime, now: OffsetDateTime) -> String {
    let seconds = (now - at).whole_seconds();
    let ahead = seconds < 0;
    let span = seconds.unsigned_abs();
    let said = |n: u64, unit: &str| {
        let plural = if n == 1 { "" } else { "s" };
        if ahead { format!("in {n} {unit}{plural}") } else { format!("{n} {unit}{plural} ago") }
    };
    match span {
        0..60 => "just now".to_string(),
        60..3600 => said(span / 60, "minute"),
        3600..86_400 => said(span / 3600, "hour"),
        86_400..172_800 if !ahead => "yesterday".to_string(),
        86_400..604_800 => said(span / 86_400, "day"),
        _ => {
            let day = at.to_offset(time::UtcOffset::UTC).date();
            format!("{} {} {}", day.day(), &day.month().to_string()[..3], day.year())
        }
    }
}

/// A moment in words, with the exact time on hover and for machines
/// (`<time>`; the page's script keeps the words current).
#[askama::filter_fn]
pub fn when<T: Moment>(at: T, _: &dyn Values) -> askama::Result<askama::filters::Safe<String>> {
    let at = at.moment();
    let words = in_words(at, OffsetDateTime::now_utc());
    let machine = crate::domain::records::format_timestamp(at);
    Ok(askama::filters::Safe(format!(r#"<time datetime="{machine}" title="{}">{words}</time>"#, exact(at))))
}

/// Long words with soft hyphens where two consonants meet or before a
/// consonant between vowels ("Recon­nais­sance", "Exe­cution"), so a narrow
/// column breaks them like a typesetter rather than anywhere.
#[askama::filter_fn]
pub fn soft_hyphens<T: std::fmt::Display>(text: T, _: &dyn Values) -> askama::Result<String> {
    Ok(hyphenate(&text.to_string()))
}

pub fn hyphenate(text: &str) -> String {
    const SHORTEST: usize = 3;
    let vowel = |c: char| "aeiouyAEIOUY".contains(c);
    let consonant = |c: char| c.is_ascii_alphabetic() && !vowel(c);
    let word = |word: &str| {
        let letters: Vec<char> = word.chars().collect();
        if letters.len() < 8 {
            return word.to_string();
        }
        let mut out = String::new();
        let mut last = 0;
        for (i, &c) in letters.iter().enumerate() {
            let breaks = i >= SHORTEST
                && letters.len() - i >= SHORTEST
                && i - last >= SHORTEST
                && consonant(c)
                && (consonant(letters[i - 1]) || (vowel(letters[i - 1]) && vowel(letters[i + 1])))
                && letters[last..i].iter().any(|&l| vowel(l))
                && letters[i..].iter().any(|&l| vowel(l));
            if breaks {
                out.push('\u{ad}');
                last = i;
            }
            out.push(c);
        }
        out
    };
    text.split(' ').map(word).collect::<Vec<_>>().join(" ")
}

/// A calendar day as `2026-12-01`.
#[askama::filter_fn]
pub fn day<T: Day>(date: T, _: &dyn Values) -> askama::Result<String> {
    Ok(format_date(date.day()))
}

/// A time, however many references deep a template holds it.
pub trait Moment {
    fn moment(&self) -> OffsetDateTime;
}

impl Moment for OffsetDateTime {
    fn moment(&self) -> OffsetDateTime {
        *self
    }
}

impl<T: Moment + ?Sized> Moment for &T {
    fn moment(&self) -> OffsetDateTime {
        (**self).moment()
    }
}

/// A day, however many references deep a template holds it.
pub trait Day {
    fn day(&self) -> Date;
}

impl Day for Date {
    fn day(&self) -> Date {
        *self
    }
}

impl<T: Day + ?Sized> Day for &T {
    fn day(&self) -> Date {
        (**self).day()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use time::macros::datetime;

    #[test]
    fn long_words_break_where_two_consonants_meet() {
        let shown = |text: &str| hyphenate(text).replace('\u{ad}', "-");
        assert_eq!(shown("Reconnaissance"), "Recon-nais-sance");
        assert_eq!(shown("Resource Development"), "Resource Deve-lop-ment");
        assert_eq!(shown("Exfiltration"), "Exfil-tra-tion");
        assert_eq!(shown("Privilege Escalation"), "Pri-vilege Esca-lation");
        assert_eq!(shown("Execution"), "Exe-cution");
        assert_eq!(shown("AI Model Access"), "AI Model Access");
    }

    #[test]
    fn moments_read_in_words() {
        let now = datetime!(2026-12-01 10:00 UTC);
        assert_eq!(in_words(datetime!(2026-12-01 09:59:30 UTC), now), "just now");
        assert_eq!(in_words(datetime!(2026-12-01 09:48 UTC), now), "12 minutes ago");
        assert_eq!(in_words(datetime!(2026-12-01 09:00 UTC), now), "1 hour ago");
        assert_eq!(in_words(datetime!(2026-11-30 08:00 UTC), now), "yesterday");
        assert_eq!(in_words(datetime!(2026-12-04 10:00 UTC), now), "in 3 days");
        assert_eq!(in_words(datetime!(2026-03-15 10:00 UTC), now), "15 Mar 2026");
        assert_eq!(exact(datetime!(2026-03-15 10:05 UTC)), "2026-03-15 10:05 UTC");
    }
}
