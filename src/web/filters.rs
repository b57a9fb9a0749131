//! Template filters for typed values: times and days as people read them.
//! A module that renders templates brings these in with `use super::filters;`.

use askama::Values;
use time::{Date, OffsetDateTime};

use crate::domain::records::format_date;

/// A moment as `2026-12-01 06:02 UTC`.
#[askama::filter_fn]
pub fn when<T: Moment>(at: T, _: &dyn Values) -> askama::Result<String> {
    let at = at.moment().to_offset(time::UtcOffset::UTC);
    Ok(format!("{} {:02}:{:02} UTC", format_date(at.date()), at.hour(), at.minute()))
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
