//! Fixed workload for instruction counts: the decode benchmark's corpus, decoded N times.
use std::hint::black_box;
#[path = "../benches/corpus.rs"]
#[allow(dead_code)]
mod corpus;
fn main() {
    let apdus = corpus::apdus();
    let mut acc = 0u64;
    for _ in 0..200_000 {
        let (a, n) = corpus::decode_all(black_box(&apdus));
        acc ^= a ^ n;
    }
    println!("{acc}");
}
