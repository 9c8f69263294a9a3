//! Decoding throughput over a mixed corpus (see `corpus.rs`): full APDU parse, every value
//! read. Also the encoding of the same corpus.
//!
//! `cargo bench -p iec104 --bench decode -- --warm-up-time 1 --measurement-time 3`

use std::hint::black_box;

use criterion::{criterion_group, criterion_main, Criterion, Throughput};

mod corpus;

fn decode(c: &mut Criterion) {
    let apdus = corpus::apdus();
    assert_eq!(corpus::decode_all(&apdus).1, corpus::OBJECTS);
    let mut g = c.benchmark_group("asdu");
    g.throughput(Throughput::Elements(corpus::OBJECTS));
    g.bench_function("decode_mixed_80_objects", |b| {
        b.iter(|| black_box(corpus::decode_all(black_box(&apdus))))
    });
    let objects = corpus::objects();
    g.bench_function("encode_mixed_80_objects", |b| {
        b.iter(|| {
            let mut total = 0usize;
            for (i, (t, cause, sq, objs)) in black_box(&objects).iter().enumerate() {
                let asdu = corpus::build_asdu(*t, *cause, *sq, objs);
                let mut apdu = Vec::with_capacity(255);
                corpus::apdu(asdu.as_bytes(), i as u16, 0, &mut apdu);
                total += black_box(apdu).len();
            }
            total
        })
    });
    g.finish();
}

criterion_group!(benches, decode);
criterion_main!(benches);
