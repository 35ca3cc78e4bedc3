//! `Usd`: an exact amount of US dollars.
//!
//! Why not `f64` dollars: a call's cost is a few millionths of a dollar, and adding millions of
//! such values in binary floating point drifts (0.1 has no exact binary form; neither has $0.075
//! per million tokens). Here an amount is a whole number of picodollars (10⁻¹² $) in a `u128`.
//! Every list price with up to six decimals per million tokens (`$0.075`, `$0.01875`) is a whole
//! number of picodollars per token, so a call's cost (tokens × rate) is an exact integer and a
//! total is an exact sum of integers, however many calls it adds up; `u128` leaves room for far
//! more money than anyone spends. Dollars as `f64` exist only at the edge, for display.

use std::fmt;
use std::iter::Sum;
use std::ops::{Add, AddAssign};
use std::str::FromStr;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// Picodollars in one dollar.
const PER_DOLLAR: u128 = 1_000_000_000_000;
/// Decimal places of a dollar a [`Usd`] keeps.
const DECIMALS: usize = 12;

/// An amount of US dollars, exact to the picodollar (10⁻¹² $).
///
/// It adds without rounding, shows as an exact decimal (`$0.0000825`), serialises as that decimal
/// in a string (`"0.0000825"`) so that JSON keeps it exact, and parses back from one.
///
/// ```
/// use instrument::handlers::token_counting::Usd;
///
/// let rate: Usd = "0.000000075".parse()?; // $0.075 per million tokens, for one token
/// let million_calls: Usd = std::iter::repeat_n(rate, 1_000_000).sum();
/// assert_eq!(million_calls.to_string(), "$0.075");
/// assert_eq!(million_calls.picodollars(), 75_000_000_000);
/// assert_eq!(million_calls.dollars(), 0.075);
/// # Ok::<(), instrument::handlers::token_counting::UsdParseError>(())
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct Usd(u128);

impl Usd {
    /// No money.
    pub const ZERO: Self = Self(0);

    /// `picodollars` × 10⁻¹² $.
    #[must_use]
    pub const fn from_picodollars(picodollars: u128) -> Self {
        Self(picodollars)
    }

    /// The amount in picodollars (10⁻¹² $), exactly.
    #[must_use]
    pub const fn picodollars(self) -> u128 {
        self.0
    }

    /// The amount in dollars, for display: the nearest `f64`, so not for adding up.
    #[must_use]
    #[allow(clippy::cast_precision_loss)] // the point of this method: an approximation to show
    pub fn dollars(self) -> f64 {
        let whole = self.0 / PER_DOLLAR;
        let fraction = self.0 % PER_DOLLAR;
        whole as f64 + fraction as f64 / PER_DOLLAR as f64
    }
}

impl Add for Usd {
    type Output = Self;

    /// The sum; it saturates rather than overflow, at about 3.4 × 10²⁶ dollars.
    fn add(self, other: Self) -> Self {
        Self(self.0.saturating_add(other.0))
    }
}

impl AddAssign for Usd {
    fn add_assign(&mut self, other: Self) {
        *self = *self + other;
    }
}

impl Sum for Usd {
    fn sum<I: Iterator<Item = Self>>(iter: I) -> Self {
        iter.fold(Self::ZERO, Add::add)
    }
}

/// The exact decimal without trailing zeros, at least two decimals: `$0.00`, `$1.50`,
/// `$0.0000825`.
impl fmt::Display for Usd {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("$")?;
        f.write_str(&decimal(*self))
    }
}

/// The amount as a decimal number of dollars, without the `$`.
fn decimal(amount: Usd) -> String {
    let fraction = format!("{:0width$}", amount.0 % PER_DOLLAR, width = DECIMALS);
    let kept = fraction.trim_end_matches('0');
    let kept = if kept.len() < 2 { &fraction[..2] } else { kept };
    format!("{}.{kept}", amount.0 / PER_DOLLAR)
}

/// A text that is not an amount of dollars [`Usd`] can hold.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "`{text}` is not an amount of dollars: expected digits with at most 12 decimals, like `0.075`"
)]
pub struct UsdParseError {
    /// The text given.
    pub text: String,
}

/// Parses a decimal number of dollars, with an optional leading `$` and at most 12 decimals:
/// `2.50`, `$0.000000075`, `3`.
impl FromStr for Usd {
    type Err = UsdParseError;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        let error = || UsdParseError {
            text: text.to_owned(),
        };
        let digits = text.trim();
        let digits = digits.strip_prefix('$').unwrap_or(digits);
        let (whole, fraction) = digits.split_once('.').unwrap_or((digits, ""));
        let all_digits = |s: &str| s.bytes().all(|b| b.is_ascii_digit());
        if whole.is_empty() || !all_digits(whole) || !all_digits(fraction) {
            return Err(error());
        }
        if fraction.len() > DECIMALS {
            return Err(error());
        }
        let whole: u128 = whole.parse().map_err(|_| error())?;
        let padded = format!("{fraction:0<width$}", width = DECIMALS);
        let fraction: u128 = padded.parse().map_err(|_| error())?;
        whole
            .checked_mul(PER_DOLLAR)
            .and_then(|w| w.checked_add(fraction))
            .map(Self)
            .ok_or_else(error)
    }
}

impl Serialize for Usd {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(&decimal(*self))
    }
}

impl<'de> Deserialize<'de> for Usd {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = String::deserialize(deserializer)?;
        text.parse().map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shows_the_exact_decimal() {
        let cases = [
            (0, "$0.00"),
            (1, "$0.000000000001"),
            (1_500_000_000_000, "$1.50"),
            (82_500_000, "$0.0000825"),
            (12_000_000_000_000, "$12.00"),
        ];
        for (picodollars, text) in cases {
            assert_eq!(Usd::from_picodollars(picodollars).to_string(), text);
        }
    }

    #[test]
    fn parses_what_it_shows() {
        for picodollars in [0, 1, 82_500_000, 1_500_000_000_000, u128::from(u64::MAX)] {
            let amount = Usd::from_picodollars(picodollars);
            assert_eq!(amount.to_string().parse::<Usd>(), Ok(amount));
        }
        assert_eq!("2".parse::<Usd>().unwrap().picodollars(), 2 * PER_DOLLAR);
    }

    #[test]
    fn rejects_what_is_not_an_amount() {
        for text in [
            "",
            ".5",
            "-1",
            "1e3",
            "0.0000000000001",
            "1.2.3",
            "abc",
            "1,5",
        ] {
            assert_eq!(
                text.parse::<Usd>(),
                Err(UsdParseError {
                    text: text.to_owned()
                }),
                "{text}"
            );
        }
    }

    #[test]
    fn adds_exactly_where_floats_drift() {
        let tenth: Usd = "0.1".parse().unwrap();
        let sum: Usd = std::iter::repeat_n(tenth, 10).sum();
        assert_eq!(sum, "1".parse().unwrap());
        let floats: f64 = std::iter::repeat_n(0.1_f64, 10).sum();
        assert_ne!(floats, 1.0);
    }

    #[test]
    fn serialises_as_a_decimal_string() {
        let amount = Usd::from_picodollars(82_500_000);
        let json = serde_json::to_value(amount).unwrap();
        assert_eq!(json, serde_json::json!("0.0000825"));
        assert_eq!(serde_json::from_value::<Usd>(json).unwrap(), amount);
    }

    #[test]
    fn saturates_instead_of_overflowing() {
        let max = Usd::from_picodollars(u128::MAX);
        assert_eq!(max + Usd::from_picodollars(1), max);
    }
}
