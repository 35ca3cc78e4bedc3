//! The expansion of `#[span]` and `#[derive(Event)]` adds no warning, even under `clippy::pedantic`:
//! `cargo clippy --all-targets -- -D warnings` compiles this file with every lint below denied.

#![deny(warnings, clippy::pedantic)]

use std::fmt::Display;
use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};

use futures_core::Stream;
use instrument::{Event, span};

#[span]
fn unit(value: u32) {
    let _ = value;
}

#[span]
fn no_args() -> u32 {
    7
}

#[span(skip_all, skip_ret)]
fn skipping(value: &str, count: usize) -> String {
    value.repeat(count)
}

#[span]
fn fallible(text: &str) -> Result<u32, std::num::ParseIntError> {
    let value: u32 = text.parse()?;
    Ok(value + 1)
}

#[span]
fn early(value: i32) -> i32 {
    if value < 0 {
        return 0;
    }
    value
}

#[span]
fn generic<T: Display>(value: &T, width: usize) -> String {
    format!("{value:>width$}")
}

#[span]
fn opaque(value: u8) -> impl Display {
    value
}

#[span(name = "secret.call", capture(api_key))]
fn secret(api_key: &str, password: &str) -> usize {
    api_key.len() + password.len()
}

#[span]
fn patterns((left, right): (u8, u8), mut extra: u8, _: u8) -> u8 {
    extra += 1;
    left + right + extra
}

struct Service {
    prefix: String,
}

impl Service {
    #[span]
    fn greet(&self, name: &str) -> String {
        format!("{}{name}", self.prefix)
    }

    #[span]
    fn rename(&mut self, prefix: &str) {
        prefix.clone_into(&mut self.prefix);
    }

    #[span]
    async fn greet_later(&self, name: &str) -> Result<String, String> {
        if name.is_empty() {
            return Err("no name".to_owned());
        }
        Ok(self.greet(name))
    }

    #[span]
    fn into_prefix(self) -> String {
        self.prefix
    }
}

#[span]
async fn plain_async(value: u32) -> u32 {
    value + 1
}

#[span]
async fn unit_async(value: u32) {
    let _ = value;
}

#[span]
fn future(value: u32) -> impl Future<Output = u32> {
    async move { value * 2 }
}

struct Once(Option<u32>);

impl Stream for Once {
    type Item = u32;

    fn poll_next(mut self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<Option<u32>> {
        Poll::Ready(self.0.take())
    }
}

#[span]
fn stream(value: u32) -> impl Stream<Item = u32> {
    Once(Some(value))
}

#[derive(Event, serde::Serialize)]
struct Named {
    value: u32,
}

#[derive(Event, serde::Serialize)]
#[event(name = "Renamed")]
struct Tuple(u32, String);

#[derive(Event, serde::Serialize)]
enum Kind {
    A,
    B { value: u32 },
}

#[derive(Event, serde::Serialize)]
struct Generic<T>
where
    T: Clone,
{
    value: T,
}

// Bodies of one expression written on one line: rustc's `unused_braces` must not ask to remove
// their braces (the fix `cargo fix` would write does not compile).
#[rustfmt::skip]
#[span]
fn one_expression() -> u32 { 2 }

#[rustfmt::skip]
#[span]
fn one_call(value: u32) -> String { value.to_string() }

#[rustfmt::skip]
#[span]
async fn one_expression_async(value: u32) -> u32 { value * 2 }

#[span]
#[must_use]
fn kept(value: u32) -> u32 {
    value + 1
}

#[span]
fn with_unsafe(values: &[u32]) -> u32 {
    // SAFETY: the slice is never empty here.
    unsafe { *values.get_unchecked(0) }
}

#[span]
fn closures_and_question_marks(texts: &[&str]) -> Result<u32, std::num::ParseIntError> {
    let parse = |text: &str| -> Result<u32, std::num::ParseIntError> { text.parse::<u32>() };
    let mut total = 0;
    for text in texts {
        total += parse(text)?;
    }
    Ok(total)
}

#[span]
async fn with_async_block(value: u32) -> u32 {
    let inner = async move { value + 1 };
    inner.await
}

#[span]
fn returns_impl_iterator(count: u32) -> impl Iterator<Item = u32> {
    (0..count).map(|i| i * 2)
}

#[tokio::test]
async fn expansions_compile_without_warnings() {
    assert_eq!(one_expression(), 2);
    assert_eq!(one_call(3), "3");
    assert_eq!(one_expression_async(2).await, 4);
    assert_eq!(kept(1), 2);
    assert_eq!(with_unsafe(&[5]), 5);
    assert_eq!(closures_and_question_marks(&["1", "2"]), Ok(3));
    assert_eq!(with_async_block(1).await, 2);
    assert_eq!(returns_impl_iterator(3).sum::<u32>(), 6);
    unit(1);
    assert_eq!(no_args(), 7);
    assert_eq!(skipping("a", 2), "aa");
    assert_eq!(fallible("1"), Ok(2));
    assert_eq!(early(-1), 0);
    assert_eq!(generic(&1, 2), " 1");
    assert_eq!(opaque(3).to_string(), "3");
    assert_eq!(secret("a", "b"), 2);
    assert_eq!(patterns((1, 2), 3, 4), 7);
    let mut service = Service {
        prefix: "hi ".into(),
    };
    assert_eq!(service.greet("a"), "hi a");
    service.rename("yo ");
    assert_eq!(service.greet_later("b").await, Ok("yo b".to_owned()));
    assert_eq!(service.into_prefix(), "yo ");
    assert_eq!(plain_async(1).await, 2);
    unit_async(1).await;
    assert_eq!(future(2).await, 4);
    let mut stream = Box::pin(stream(5));
    assert_eq!(
        std::future::poll_fn(|cx| stream.as_mut().poll_next(cx)).await,
        Some(5)
    );
    assert_eq!(Named { value: 1 }.class_name(), "Named");
    assert_eq!(Tuple(1, "x".into()).class_name(), "Renamed");
    assert_eq!(Kind::A.class_name(), "Kind");
    assert_eq!(Kind::B { value: 1 }.to_json().unwrap()["B"]["value"], 1);
    assert_eq!(Generic { value: 1 }.to_json().unwrap()["value"], 1);
}
