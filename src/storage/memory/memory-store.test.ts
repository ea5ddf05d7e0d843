import { describeBlobStoreConformance } from '../conformance.ts';
import { MemoryBlobStore } from './memory-store.ts';

describeBlobStoreConformance(
  'memory',
  async () => {
    const store = new MemoryBlobStore();
    return { store, cleanup: () => store.close() };
  },
  // The memory backend keeps every byte in memory by design; only its semantics are checked.
  { boundedMemory: false, largeObjectBytes: 32 * 1024 * 1024 },
);
