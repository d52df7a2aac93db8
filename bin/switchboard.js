#!/usr/bin/env -S MALLOC_TRIM_THRESHOLD_=67108864 node --initial-old-space-size=64
// The larger initial old space keeps V8 from running a full collection every few tens of MB of
// relayed data (socket buffers live outside the heap but still drive its growth heuristics):
// about twice the session throughput, measured in docs/benchmarks.md.
// The trim threshold: V8 frees relayed read buffers in batches of about 32 MB (at each scavenge),
// and glibc's default (128 KB) then hands those pages back to the kernel, only to fault them in
// again for the next reads: 200,000 page faults per GB relayed, a third more CPU per GB than a
// bare relay. Keeping up to 64 MB of freed heap for reuse removes them (docs/benchmarks.md).
import '../dist/src/cli/main.js';
