//! The registry's one error type: a stable code from CONTRACT.md section 3 plus a human detail,
//! or an internal failure (storage, a writer that has stopped) that front ends log and hide.

use crate::policy::{FiscalIdError, NameError};
use crate::store::StoreError;

macro_rules! codes {
    ($($variant:ident = $text:literal / $status:literal),* $(,)?) => {
        /// Stable error codes of the registrar API (and, later, EPP result mapping).
        #[derive(Debug, Clone, Copy, PartialEq, Eq)]
        pub enum Code { $($variant),* }

        impl Code {
            pub const ALL: &'static [Code] = &[$(Code::$variant),*];
            pub fn as_str(self) -> &'static str {
                match self { $(Code::$variant => $text),* }
            }
            /// The HTTP status the contract gives this code.
            pub fn http_status(self) -> u16 {
                match self { $(Code::$variant => $status),* }
            }
        }
    };
}

codes! {
    InvalidRequest = "invalid_request" / 400,
    Unauthorized = "unauthorized" / 401,
    InsufficientFunds = "insufficient_funds" / 402,
    NotSponsor = "not_sponsor" / 403,
    Forbidden = "forbidden" / 403,
    NotFound = "not_found" / 404,
    NotAvailable = "not_available" / 409,
    StatusProhibits = "status_prohibits" / 409,
    ContactInUse = "contact_in_use" / 409,
    ExpiryYearMismatch = "expiry_year_mismatch" / 409,
    Conflict = "conflict" / 409,
    TooLarge = "too_large" / 413,
    InvalidName = "invalid_name" / 422,
    ReservedName = "reserved_name" / 422,
    ZoneClosed = "zone_closed" / 422,
    InvalidPeriod = "invalid_period" / 422,
    MissingFiscalId = "missing_fiscal_id" / 422,
    InvalidFiscalId = "invalid_fiscal_id" / 422,
    TooManyNameservers = "too_many_nameservers" / 422,
    MissingGlue = "missing_glue" / 422,
    InvalidContact = "invalid_contact" / 422,
    BadAuthCode = "bad_auth_code" / 422,
    RenewTooEarly = "renew_too_early" / 422,
    RestorePeriodOver = "restore_period_over" / 422,
    RateLimited = "rate_limited" / 429,
    Internal = "internal" / 500,
    Unavailable = "unavailable" / 503,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{}: {detail}", code.as_str())]
pub struct RegistryError {
    pub code: Code,
    pub detail: String,
}

impl RegistryError {
    pub fn new(code: Code, detail: impl Into<String>) -> RegistryError {
        RegistryError { code, detail: detail.into() }
    }

    /// A failure that is not the client's and says nothing it may read: logged by the front
    /// end, answered without detail. (`Unavailable`, such as writes paused on a full disk, is
    /// answered with its detail: it tells the client to come back.)
    pub fn is_internal(&self) -> bool {
        matches!(self.code, Code::Internal)
    }
}

pub fn err<T>(code: Code, detail: impl Into<String>) -> Result<T, RegistryError> {
    Err(RegistryError::new(code, detail))
}

impl From<StoreError> for RegistryError {
    fn from(e: StoreError) -> Self {
        match e {
            StoreError::Full { .. } => RegistryError::new(
                Code::Unavailable,
                "the registry's storage is full: changes are paused until it has room again (reads work); retry later",
            ),
            StoreError::Io(detail) => {
                tracing::error!(%detail, "the database cannot write");
                RegistryError::new(
                    Code::Unavailable,
                    "the registry cannot write its database: changes are paused (reads work); retry later",
                )
            }
            e => RegistryError::new(Code::Internal, e.to_string()),
        }
    }
}

impl From<NameError> for RegistryError {
    fn from(e: NameError) -> Self {
        let code = match e.code() {
            "zone_closed" => Code::ZoneClosed,
            "reserved_name" => Code::ReservedName,
            _ => Code::InvalidName,
        };
        RegistryError::new(code, e.to_string())
    }
}

impl From<FiscalIdError> for RegistryError {
    fn from(e: FiscalIdError) -> Self {
        RegistryError::new(Code::InvalidFiscalId, e.to_string())
    }
}
