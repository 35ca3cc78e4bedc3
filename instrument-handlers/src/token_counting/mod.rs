//! Token counting and cost: reading providers' usage reports, counting tokens when they report
//! none, pricing them ([`PriceTable`], [`cost_of`]), and [`TokenCountingHandler`], which does all
//! of it for every LLM and embedding call.

mod budget;
mod builtin_prices;
mod cost;
mod event;
mod from_callbacks;
mod from_events;
mod groups;
mod handler;
pub(crate) mod model;
mod money;
mod payload;
mod price;
mod price_table;
mod tokenizer;
mod totals;
mod usage;

pub use budget::TokenBudgetExceeded;
pub use cost::{Cost, cost_of};
pub use event::TokenCountingEvent;
pub use handler::TokenCountingHandler;
pub use money::{Usd, UsdParseError};
pub use price::{Price, PriceError};
pub use price_table::PriceTable;
pub use tokenizer::Tokenizer;
pub use totals::CostTotals;
pub use usage::{Usage, usage_from};
