//! The decode loop (APDU checks, `AsduView::parse`, iterating and reading every object) makes
//! no heap allocation. A counting global allocator wraps the system allocator in this test
//! binary only; the library itself stays `forbid(unsafe_code)`.

use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicUsize, Ordering};

#[path = "../benches/corpus.rs"]
mod corpus;

struct Counting;

static ALLOCATIONS: AtomicUsize = AtomicUsize::new(0);

// SAFETY: every call is forwarded unchanged to the system allocator; only a counter is added.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        ALLOCATIONS.fetch_add(1, Ordering::Relaxed);
        // SAFETY: same contract as the caller's.
        unsafe { System.alloc(layout) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: same contract as the caller's.
        unsafe { System.dealloc(ptr, layout) }
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        ALLOCATIONS.fetch_add(1, Ordering::Relaxed);
        // SAFETY: same contract as the caller's.
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

#[test]
fn decoding_the_corpus_allocates_nothing() {
    let apdus = corpus::apdus();
    // The counter must see allocations at all, or the test would prove nothing.
    let before = ALLOCATIONS.load(Ordering::Relaxed);
    let probe = std::hint::black_box(vec![1u8; 16]);
    assert!(ALLOCATIONS.load(Ordering::Relaxed) > before);
    drop(probe);

    let before = ALLOCATIONS.load(Ordering::Relaxed);
    let mut objects = 0;
    for _ in 0..1000 {
        let (acc, n) = corpus::decode_all(std::hint::black_box(&apdus));
        std::hint::black_box(acc);
        objects += n;
    }
    let after = ALLOCATIONS.load(Ordering::Relaxed);
    assert_eq!(objects, 1000 * corpus::OBJECTS);
    assert_eq!(after - before, 0, "allocations while decoding");
}
