//! Values whose stored type differs between the back ends, so that one
//! query body serves both: times (RFC 3339 text on SQLite, `TIMESTAMPTZ` on
//! PostgreSQL), days (`YYYY-MM-DD` text, `DATE`) and JSON lists and records
//! (text, `JSONB`). A `…Param` is bound; a `…Text` is read back as the text
//! SQLite stores, so decoding it (and naming the table, row and column when
//! it does not decode) is written once for both back ends.

use std::ops::Deref;

use sqlx::encode::IsNull;
use sqlx::error::BoxDynError;
use sqlx::postgres::{PgArgumentBuffer, PgTypeInfo, PgValueRef};
use sqlx::sqlite::{SqliteArgumentValue, SqliteTypeInfo, SqliteValueRef};
use sqlx::{Decode, Encode, Postgres, Sqlite, Type};

use crate::domain::records::{Timestamp, format_date, format_timestamp};

/// A time to bind: stored to the second, in UTC.
#[derive(Debug, Clone, Copy)]
pub struct TimeParam(pub Timestamp);

/// A day to bind.
#[derive(Debug, Clone, Copy)]
pub struct DayParam(pub time::Date);

/// A JSON document to bind, already serialised.
#[derive(Debug, Clone)]
pub struct JsonParam(pub String);

/// A stored time, read as RFC 3339 text.
#[derive(Debug, Clone)]
pub struct TimeText(String);

/// A stored day, read as `YYYY-MM-DD`.
#[derive(Debug, Clone)]
pub struct DayText(String);

/// A stored JSON document, read as its text.
#[derive(Debug, Clone)]
pub struct JsonText(String);

macro_rules! text_deref {
    ($($name:ident),*) => {$(
        impl Deref for $name {
            type Target = str;
            fn deref(&self) -> &str {
                &self.0
            }
        }

        impl Type<Sqlite> for $name {
            fn type_info() -> SqliteTypeInfo {
                <String as Type<Sqlite>>::type_info()
            }
            fn compatible(ty: &SqliteTypeInfo) -> bool {
                <String as Type<Sqlite>>::compatible(ty)
            }
        }

        impl<'r> Decode<'r, Sqlite> for $name {
            fn decode(value: SqliteValueRef<'r>) -> Result<Self, BoxDynError> {
                Ok($name(<String as Decode<Sqlite>>::decode(value)?))
            }
        }
    )*};
}
text_deref!(TimeText, DayText, JsonText);

macro_rules! text_param_on_sqlite {
    ($($name:ident => |$value:ident| $text:expr),*) => {$(
        impl Type<Sqlite> for $name {
            fn type_info() -> SqliteTypeInfo {
                <String as Type<Sqlite>>::type_info()
            }
        }

        impl<'q> Encode<'q, Sqlite> for $name {
            fn encode_by_ref(&self, buf: &mut Vec<SqliteArgumentValue<'q>>) -> Result<IsNull, BoxDynError> {
                let $value = self;
                <String as Encode<'q, Sqlite>>::encode($text, buf)
            }
        }
    )*};
}
text_param_on_sqlite!(
    TimeParam => |at| format_timestamp(at.0),
    DayParam => |day| format_date(day.0),
    JsonParam => |json| json.0.clone()
);

impl Type<Postgres> for TimeParam {
    fn type_info() -> PgTypeInfo {
        <Timestamp as Type<Postgres>>::type_info()
    }
}

impl Encode<'_, Postgres> for TimeParam {
    fn encode_by_ref(&self, buf: &mut PgArgumentBuffer) -> Result<IsNull, BoxDynError> {
        let whole_seconds = self.0.replace_nanosecond(0).unwrap_or(self.0);
        <Timestamp as Encode<Postgres>>::encode_by_ref(&whole_seconds, buf)
    }
}

impl Type<Postgres> for TimeText {
    fn type_info() -> PgTypeInfo {
        <Timestamp as Type<Postgres>>::type_info()
    }
}

impl<'r> Decode<'r, Postgres> for TimeText {
    fn decode(value: PgValueRef<'r>) -> Result<Self, BoxDynError> {
        Ok(TimeText(format_timestamp(<Timestamp as Decode<Postgres>>::decode(value)?)))
    }
}

impl Type<Postgres> for DayParam {
    fn type_info() -> PgTypeInfo {
        <time::Date as Type<Postgres>>::type_info()
    }
}

impl Encode<'_, Postgres> for DayParam {
    fn encode_by_ref(&self, buf: &mut PgArgumentBuffer) -> Result<IsNull, BoxDynError> {
        <time::Date as Encode<Postgres>>::encode_by_ref(&self.0, buf)
    }
}

impl Type<Postgres> for DayText {
    fn type_info() -> PgTypeInfo {
        <time::Date as Type<Postgres>>::type_info()
    }
}

impl<'r> Decode<'r, Postgres> for DayText {
    fn decode(value: PgValueRef<'r>) -> Result<Self, BoxDynError> {
        Ok(DayText(format_date(<time::Date as Decode<Postgres>>::decode(value)?)))
    }
}

impl Type<Postgres> for JsonParam {
    fn type_info() -> PgTypeInfo {
        PgTypeInfo::with_name("jsonb")
    }
}

impl Encode<'_, Postgres> for JsonParam {
    fn encode_by_ref(&self, buf: &mut PgArgumentBuffer) -> Result<IsNull, BoxDynError> {
        // JSONB's binary form: a version byte, then the text.
        buf.push(1);
        buf.extend_from_slice(self.0.as_bytes());
        Ok(IsNull::No)
    }
}

impl Type<Postgres> for JsonText {
    fn type_info() -> PgTypeInfo {
        PgTypeInfo::with_name("jsonb")
    }
    fn compatible(ty: &PgTypeInfo) -> bool {
        <sqlx::types::Json<serde_json::Value> as Type<Postgres>>::compatible(ty)
    }
}

impl<'r> Decode<'r, Postgres> for JsonText {
    fn decode(value: PgValueRef<'r>) -> Result<Self, BoxDynError> {
        let document = <sqlx::types::Json<serde_json::Value> as Decode<Postgres>>::decode(value)?;
        Ok(JsonText(document.0.to_string()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_time_is_bound_to_the_second_as_rfc_3339_text_on_sqlite() {
        let at = time::macros::datetime!(2026-12-02 06:31:44.987 +02:00);
        let mut buf = Vec::new();
        let _ = Encode::<Sqlite>::encode_by_ref(&TimeParam(at), &mut buf).expect("encodes");
        assert!(format!("{buf:?}").contains("2026-12-02T04:31:44Z"), "{buf:?}");
    }
}
