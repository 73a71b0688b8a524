//! Decompression bombs must be refused without allocating their full size:
//! a counting global allocator records the peak heap use during `decode`.

mod common;

use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicUsize, Ordering};

use balsa_push::decode;
use common::*;

struct Counting;

static CURRENT: AtomicUsize = AtomicUsize::new(0);
static PEAK: AtomicUsize = AtomicUsize::new(0);

unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        let p = unsafe { System.alloc(layout) };
        if !p.is_null() {
            let now = CURRENT.fetch_add(layout.size(), Ordering::SeqCst) + layout.size();
            PEAK.fetch_max(now, Ordering::SeqCst);
        }
        p
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        unsafe { System.dealloc(ptr, layout) };
        CURRENT.fetch_sub(layout.size(), Ordering::SeqCst);
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

#[test]
fn bombs_are_refused_with_bounded_memory() {
    let zeros = vec![0u8; 10 * MB];
    let bodies = [("gzip", gzip(&zeros)), ("deflate", zlib(&zeros)), ("deflate", raw_deflate(&zeros))];
    drop(zeros);
    for (enc, body) in &bodies {
        for ct in [Some("application/json"), None] {
            let base = CURRENT.load(Ordering::SeqCst);
            PEAK.store(base, Ordering::SeqCst);
            let err = decode(ct, Some(enc), body, MB).unwrap_err();
            assert_eq!(err.status(), 413);
            let extra = PEAK.load(Ordering::SeqCst) - base;
            assert!(extra < 3 * MB, "{enc}: peak extra heap {extra} bytes for a 1 MiB bound");
        }
    }
    // Snappy declaring 4 GiB: refused before allocating.
    let base = CURRENT.load(Ordering::SeqCst);
    PEAK.store(base, Ordering::SeqCst);
    assert_eq!(decode(None, None, &[0xff, 0xff, 0xff, 0xff, 0x0f, 0, 0], MB).unwrap_err().status(), 413);
    assert!(PEAK.load(Ordering::SeqCst) - base < 64 * 1024);
}
