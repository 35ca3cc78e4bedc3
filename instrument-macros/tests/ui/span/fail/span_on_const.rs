use instrument::span;

#[span]
const TOP_K: usize = 2;

fn main() {
    let _ = TOP_K;
}
