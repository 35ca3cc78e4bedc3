//! Options that `tracing` users type by habit: accepted where they mean something here.

use instrument::span;

struct Index {
    docs: Vec<String>,
}

impl Index {
    // `self` is never captured; skipping it is a no-op.
    #[span(skip(self), ret, err)]
    fn lookup(&self, key: &str) -> Result<usize, String> {
        self.docs
            .iter()
            .position(|doc| doc == key)
            .ok_or_else(|| format!("no {key}"))
    }

    #[span(ret(Debug), err(Display), fields(docs = self.docs.len(), first = %key, dbg = ?key))]
    async fn lookup_later(&self, key: &str) -> Result<usize, String> {
        self.lookup(key)
    }
}

#[span(fields(length = query.len(), api_key = "redacted by its name"))]
fn retrieve(query: &str) -> usize {
    query.len()
}

fn main() {
    let index = Index {
        docs: vec!["a".into()],
    };
    assert_eq!(index.lookup("a"), Ok(0));
    drop(index.lookup_later("b"));
    assert_eq!(retrieve("q"), 1);
}
