use instrument::span;

#[span]
const fn top_k() -> usize {
    2
}

fn main() {
    let _ = top_k();
}
