#!/usr/bin/env -S node --initial-old-space-size=64
// The larger initial old space keeps V8 from running a full collection every few tens of MB of
// relayed data (socket buffers live outside the heap but still drive its growth heuristics):
// about twice the session throughput, measured in docs/benchmarks.md.
import '../dist/src/cli/main.js';
