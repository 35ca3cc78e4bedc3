use instrument::span;

#[span]
struct Retriever {
    top_k: usize,
}

fn main() {
    let _ = Retriever { top_k: 2 };
}
