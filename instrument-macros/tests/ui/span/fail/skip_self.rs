use instrument::span;

struct Index;

impl Index {
    #[span(skip(self))]
    fn size(&self) -> usize {
        0
    }
}

fn main() {
    Index.size();
}
