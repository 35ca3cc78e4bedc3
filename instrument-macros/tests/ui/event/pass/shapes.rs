//! Every shape of type `Event` derives for, with `crate = ...` through a re-export.

use instrument::Event;

mod reexport {
    pub use instrument as inner;
}

#[derive(Event, serde::Serialize)]
struct Unit;

#[derive(Event, serde::Serialize)]
struct Tuple(u8, String);

#[derive(Event, serde::Serialize)]
enum Choice {
    A,
    B(u8),
    C { value: u8 },
}

#[derive(Event, serde::Serialize)]
struct Generic<'a, T: Clone, const N: usize>
where
    T: std::fmt::Debug,
{
    name: &'a str,
    value: T,
}

#[derive(Event, serde::Serialize)]
#[event(crate = "reexport::inner", name = "Renamed")]
struct ThroughReexport {
    value: u8,
}

#[derive(Event, serde::Serialize)]
#[event(crate = reexport::inner)]
struct ThroughReexportPath;

fn main() {
    assert_eq!(Unit.class_name(), "Unit");
    assert_eq!(Tuple(1, String::new()).class_name(), "Tuple");
    assert_eq!(Choice::A.class_name(), "Choice");
    let _ = (Choice::B(1), Choice::C { value: 1 });
    let generic = Generic::<u8, 3> { name: "static", value: 1 };
    assert_eq!(generic.class_name(), "Generic");
    assert_eq!(ThroughReexport { value: 1 }.class_name(), "Renamed");
    assert_eq!(ThroughReexportPath.class_name(), "ThroughReexportPath");
}
