//! Signatures whose return type the expansion must repeat or infer: elided lifetimes, `Self`,
//! generics, `impl Trait`, `unsafe`, `extern`, patterns and receivers of every kind.

use std::fmt::Display;
use std::pin::Pin;

use instrument::span;

struct Doc {
    text: String,
}

impl Doc {
    #[span]
    fn new(text: &str) -> Self {
        Self { text: text.to_owned() }
    }

    #[span]
    fn text(&self) -> &str {
        &self.text
    }

    #[span]
    fn text_anon(&self) -> &'_ str {
        &self.text
    }

    #[span]
    fn first_word<'a>(&'a self, _sep: &str) -> Option<&'a str> {
        self.text.split(' ').next()
    }

    #[span]
    fn boxed(self: Box<Self>) -> usize {
        self.text.len()
    }

    #[span]
    fn pinned(self: Pin<&mut Self>) -> usize {
        self.text.len()
    }

    #[span]
    fn renamed(mut self, text: String) -> Self {
        self.text = text;
        self
    }

    #[span]
    async fn text_async(&self) -> &str {
        &self.text
    }
}

#[span]
fn shown(value: impl Display) -> impl Display {
    format!("<{value}>")
}

#[span]
fn shown_result(value: u32) -> Result<impl Display, std::num::ParseIntError> {
    let parsed: u32 = "7".parse()?;
    Ok(value + parsed)
}

#[span]
fn generic<T: Clone, U>(value: &T, _other: U) -> T
where
    U: Copy,
{
    value.clone()
}

#[span]
unsafe fn read(ptr: *const u8) -> u8 {
    // SAFETY: the caller passes a valid pointer.
    unsafe { *ptr }
}

#[span]
extern "C" fn c_abi(x: i32) -> i32 {
    x + 1
}

#[span]
fn patterns((a, b): (u8, u8), [c, _]: [u8; 2], Point { x, .. }: Point, _: u8, mut d: u8) -> u8 {
    d += 1;
    a + b + c + x + d
}

struct Point {
    x: u8,
    #[allow(dead_code)]
    y: u8,
}

#[span]
fn boxed_error(text: &str) -> Result<u32, Box<dyn std::error::Error>> {
    Ok(text.parse::<u32>()?)
}

#[span]
async fn boxed_error_async(text: &str) -> Result<u32, Box<dyn std::error::Error + Send + Sync>> {
    Ok(text.parse::<u32>()?)
}

#[span]
fn diverges() -> ! {
    panic!("never returns")
}

#[span]
fn r#type(r#struct: u8) -> u8 {
    r#struct
}

#[span]
fn returns_early(x: u8) -> u8 {
    if x > 3 {
        return 3;
    }
    x
}

#[span]
fn no_return(x: u8) {
    let _ = x;
}

#[span]
fn unit_return(x: u8) -> () {
    let _ = x;
}

fn main() {
    let doc = Doc::new("a b");
    assert_eq!(doc.text(), "a b");
    assert_eq!(doc.text_anon(), "a b");
    assert_eq!(doc.first_word(" "), Some("a"));
    let _ = doc.text_async();
    let mut doc = Doc::new("a b");
    assert_eq!(Pin::new(&mut doc).pinned(), 3);
    assert_eq!(Box::new(Doc::new("xy")).boxed(), 2);
    assert_eq!(doc.renamed("c".into()).text, "c");
    assert_eq!(shown(1).to_string(), "<1>");
    assert_eq!(shown_result(1).unwrap().to_string(), "8");
    assert_eq!(generic(&1, 2), 1);
    assert_eq!(unsafe { read(&5) }, 5);
    assert_eq!(c_abi(1), 2);
    assert_eq!(patterns((1, 2), [3, 4], Point { x: 5, y: 6 }, 7, 8), 20);
    assert_eq!(boxed_error("4").unwrap(), 4);
    let _ = boxed_error_async("4");
    let _ = diverges as fn() -> !;
    assert_eq!(r#type(1), 1);
    assert_eq!(returns_early(9), 3);
    no_return(1);
    unit_return(1);
}
