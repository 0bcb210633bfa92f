#if os(Linux)
/// glibc's `int mallopt(int param, int value)` (malloc.h, which the Glibc module does not export).
@_silgen_name("mallopt") private func mallopt(_ parameter: Int32, _ value: Int32) -> Int32
/// malloc.h: M_TRIM_THRESHOLD −1, M_MMAP_THRESHOLD −3.
private let trimThreshold: Int32 = -1, mmapThreshold: Int32 = -3
#endif

/// Process-wide allocator settings for training loops.
public enum Memory {
    /// Keeps freed tensor memory in the process for reuse instead of returning it to the kernel.
    ///
    /// A training step allocates and frees the same large buffers (activations, gradients) every
    /// step. glibc's defaults hand blocks above the (dynamic) mmap threshold and the free top of
    /// the heap back to the kernel, so the next step takes a page fault and a kernel page clear
    /// for every 4 KiB again: a quarter of the d-1024 SANE step's time in `clear_page_erms`
    /// (perf). Here the mmap threshold is set to glibc's maximum (32 MiB on 64-bit) and heap
    /// trimming is off (threshold −1, which glibc reads as SIZE_MAX: the largest positive `int`,
    /// 2 GiB, still let a d-1024 step's 4 GB heap be trimmed at every step's end). The cost: the process keeps its peak heap until it exits. No effect on
    /// other C libraries. Call once at startup (the `sane` executable does).
    public static func retainFreedMemory() {
        #if os(Linux)
        _ = mallopt(mmapThreshold, 32 << 20)
        _ = mallopt(trimThreshold, -1)
        #endif
    }
}
