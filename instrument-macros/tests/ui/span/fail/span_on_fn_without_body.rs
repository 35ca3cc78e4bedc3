use instrument::span;

trait Retrieve {
    #[span]
    fn retrieve(&self, query: &str) -> usize;
}

fn main() {}
