//! Fiscal identification numbers of contacts (POLICY.md section 2): the Portuguese NIF with
//! its prefix and check digit, the Cape Verdean NIF's format, and a plain length and character
//! check for every other country.

/// Why a fiscal identification number is refused.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum FiscalIdError {
    /// No number given.
    #[error("the fiscal identification number is empty")]
    Empty,
    /// The number does not have the country's format.
    #[error("the fiscal identification number has the wrong format: {0}")]
    Format(String),
    /// A Portuguese NIF whose check digit does not match its first eight digits.
    #[error("the fiscal identification number's check digit is wrong")]
    CheckDigit,
}

/// First digit(s) a Portuguese NIF may start with.
const PT_PREFIXES: &[&str] =
    &["1", "2", "3", "45", "5", "6", "70", "71", "72", "74", "75", "77", "78", "79", "90", "91", "98", "99"];

/// The check digit of a Portuguese NIF from its first eight digits (POLICY.md: weights 9..2,
/// the sum mod 11 = r, 0 if r < 2, else 11 - r). Used by the check and by whatever makes
/// sample data (the demo, the scale dataset).
pub fn nif_check_digit(first_eight: &[u32]) -> u32 {
    let sum: u32 = first_eight.iter().take(8).zip((2..=9).rev()).map(|(d, w)| d * w).sum();
    let r = sum % 11;
    if r < 2 { 0 } else { 11 - r }
}

/// Check `id` as a fiscal identification number of the country `country_code` (ISO 3166-1
/// alpha-2, compared case-insensitively). `PT`: the NIF (9 digits, known prefix, check digit);
/// `CV`: 9 digits, first digit 1-5; any other country: 1 to 20 ASCII letters or digits.
pub fn check_fiscal_id(country_code: &str, id: &str) -> Result<(), FiscalIdError> {
    if id.is_empty() {
        return Err(FiscalIdError::Empty);
    }
    let nine_digits = id.len() == 9 && id.bytes().all(|b| b.is_ascii_digit());
    if country_code.eq_ignore_ascii_case("pt") {
        if !nine_digits {
            return Err(FiscalIdError::Format("a Portuguese NIF has exactly 9 digits".to_owned()));
        }
        if !PT_PREFIXES.iter().any(|p| id.starts_with(p)) {
            return Err(FiscalIdError::Format(format!(
                "a Portuguese NIF starts with one of {}",
                PT_PREFIXES.join(", ")
            )));
        }
        let digits: Vec<u32> = id.bytes().map(|b| u32::from(b - b'0')).collect();
        if digits.get(8) != Some(&nif_check_digit(&digits[..8])) {
            return Err(FiscalIdError::CheckDigit);
        }
        Ok(())
    } else if country_code.eq_ignore_ascii_case("cv") {
        if !nine_digits {
            return Err(FiscalIdError::Format("a Cape Verdean NIF has exactly 9 digits".to_owned()));
        }
        if !matches!(id.as_bytes().first(), Some(b'1'..=b'5')) {
            return Err(FiscalIdError::Format("a Cape Verdean NIF starts with a digit from 1 to 5".to_owned()));
        }
        Ok(())
    } else if id.len() > 20 || !id.bytes().all(|b| b.is_ascii_alphanumeric()) {
        Err(FiscalIdError::Format("a fiscal identification number has 1 to 20 letters or digits (A-Z, 0-9)".to_owned()))
    } else {
        Ok(())
    }
}
