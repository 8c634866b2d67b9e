//! PostgreSQL types that tokio-postgres does not bring: `interval`, read and written in the
//! binary format exactly as PostgreSQL stores it (microseconds, days, months), so what is read
//! back compares equal, field by field, to what was written. Touches nothing but bytes.

use bytes::{BufMut, BytesMut};
use slo_core::definitions::Interval;
use std::error::Error;
use tokio_postgres::types::{to_sql_checked, FromSql, IsNull, ToSql, Type};

/// An `interval` value.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PgInterval(pub Interval);

impl<'a> FromSql<'a> for PgInterval {
    fn from_sql(_: &Type, raw: &'a [u8]) -> Result<Self, Box<dyn Error + Sync + Send>> {
        let bytes: [u8; 16] = raw
            .try_into()
            .map_err(|_| format!("an interval is 16 bytes, got {}", raw.len()))?;
        let micros = i64::from_be_bytes(bytes[0..8].try_into()?);
        let days = i32::from_be_bytes(bytes[8..12].try_into()?);
        let months = i32::from_be_bytes(bytes[12..16].try_into()?);
        Ok(PgInterval(Interval::new(months, days, micros)))
    }

    fn accepts(ty: &Type) -> bool {
        *ty == Type::INTERVAL
    }
}

impl ToSql for PgInterval {
    fn to_sql(&self, _: &Type, out: &mut BytesMut) -> Result<IsNull, Box<dyn Error + Sync + Send>> {
        out.put_i64(self.0.micros);
        out.put_i32(self.0.days);
        out.put_i32(self.0.months);
        Ok(IsNull::No)
    }

    fn accepts(ty: &Type) -> bool {
        *ty == Type::INTERVAL
    }

    to_sql_checked!();
}
