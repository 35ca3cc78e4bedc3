//! `#[span]` on methods of trait impls, trait default methods and async trait methods.

use instrument::span;

trait Retrieve {
    fn retrieve(&self, query: &str) -> Vec<String>;

    #[span]
    fn retrieve_one(&self, query: &str) -> Option<String> {
        self.retrieve(query).into_iter().next()
    }

    async fn retrieve_async(&self, query: &str) -> Vec<String>;
}

struct Index;

impl Retrieve for Index {
    #[span(dispatcher = "app::index")]
    fn retrieve(&self, query: &str) -> Vec<String> {
        vec![query.to_owned()]
    }

    #[span]
    async fn retrieve_async(&self, query: &str) -> Vec<String> {
        self.retrieve(query)
    }
}

fn main() {
    assert_eq!(Index.retrieve_one("q").as_deref(), Some("q"));
    let _ = Index.retrieve_async("q");
}
